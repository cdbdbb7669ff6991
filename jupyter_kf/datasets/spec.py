"""Validated values for datasets: names, references (``name``, ``name@3``, ``name@sha256:ab12...``) and mounts.

Every check happens here, once, before anything is read or written; a bad value is one line.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from jupyter_kf.errors import InvalidSpec

_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_HASH = re.compile(r"^(sha256:)?[0-9a-f]{6,64}$")


def check_name(name: str) -> str:
    if not isinstance(name, str) or len(name) > 63 or not _NAME.match(name):
        raise InvalidSpec(f"dataset name {name!r} is invalid: use at most 63 lowercase letters, digits and '-', "
                          "starting with a letter and ending with a letter or digit (e.g. mnist or clean-2)")
    return name


@dataclass(frozen=True)
class DataRef:
    """A dataset and which version: ``version`` a number, ``digest`` a content hash (prefix), or neither (latest)."""

    name: str
    version: int | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text) -> "DataRef":
        if isinstance(text, DataRef):
            return text
        name, at, which = str(text).partition("@")
        check_name(name)
        if not at or which == "latest":
            return cls(name)
        if which.isdigit() and int(which) >= 1:
            return cls(name, version=int(which))
        if _HASH.match(which) and not which.isdigit():
            return cls(name, digest=which.removeprefix("sha256:"))
        raise InvalidSpec(f"dataset version {text!r} is invalid: use NAME (the latest), NAME@N with N >= 1, "
                          "or NAME@sha256:HASH (at least 6 hex digits of the version's hash), e.g. mnist@2")

    def __str__(self):
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return f"{self.name}@sha256:{self.digest}" if self.digest else self.name


@dataclass(frozen=True)
class DataMount:
    """``NAME[@V]:MOUNT``: a dataset version seen by a job at ``mount`` (relative: under its working folder)."""

    ref: DataRef
    mount: str

    @property
    def relative(self) -> bool:
        return not self.mount.startswith("/")

    @classmethod
    def parse(cls, text) -> "DataMount":
        if isinstance(text, DataMount):
            return text
        if isinstance(text, (tuple, list)) and len(text) == 2:
            ref, mount = text
        else:
            ref, colon, mount = str(text).partition(":")
            if not colon or not mount:
                raise InvalidSpec(f"--data {text!r} is malformed: use NAME[@VERSION]:MOUNT, e.g. mnist@1:data or "
                                  "clean:/mnt/clean (a relative mount point is under the job's working folder)")
        return cls(DataRef.parse(ref), check_mount(str(mount), str(text)))

    def __str__(self):
        return f"{self.ref}:{self.mount}"


def check_mount(mount: str, given: str) -> str:
    """A mount point, normalised; a relative one must stay under the job's working folder."""
    if mount.startswith("/"):
        path = posixpath.normpath(mount)
        if path == "/" or path == "/kf" or path.startswith("/kf/"):
            raise InvalidSpec(f"--data {given!r}: mount point {mount!r} is not allowed (/ and /kf are the job's): "
                              "use a folder of its own, e.g. /mnt/data")
        return path
    path = posixpath.normpath(mount)
    if path in (".", "") or path == ".." or path.startswith("../"):
        raise InvalidSpec(f"--data {given!r}: mount point {mount!r} is outside the job's working folder: use a "
                          "relative folder below it (e.g. data) or an absolute path on a cluster")
    return path


def parse_pvc(uri: str) -> tuple[str, str]:
    """``pvc://CLAIM/PATH`` -> (claim, path inside it; "" for the whole claim)."""
    claim, _, path = uri[len("pvc://"):].partition("/")
    if not _NAME.match(claim) or len(claim) > 253:
        raise InvalidSpec(f"{uri!r}: claim {claim!r} is not a PersistentVolumeClaim name: use pvc://CLAIM/PATH, e.g. "
                          "pvc://datasets/imagenet")
    norm = posixpath.normpath(path) if path.strip("/") else ""
    if norm == ".." or norm.startswith(("../", "/")):
        raise InvalidSpec(f"{uri!r}: path {path!r} leaves the claim: give a folder inside it, e.g. pvc://{claim}/imagenet")
    return claim, norm


def parse_mounts(items) -> tuple[DataMount, ...]:
    """``["mnist@1:data", "clean:/mnt/clean"]`` checked; two datasets at one mount point are refused."""
    mounts = tuple(DataMount.parse(item) for item in items or ())
    seen: dict[str, DataMount] = {}
    for m in mounts:
        for other, earlier in seen.items():
            if m.mount == other or m.mount.startswith(other + "/") or other.startswith(m.mount + "/"):
                raise InvalidSpec(f"--data {m} and --data {earlier} overlap at {m.mount!r}: give each its own folder")
        seen[m.mount] = m
    return mounts
