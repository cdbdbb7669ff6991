"""The local dataset store: files kept by content (sha256), versions as manifests written last.

Layout under ``<state>/datasets``::

    objects/ab/cdef...      one file per distinct content, read-only (0400)
    objects/tmp/            objects being written (renamed into place whole)
    sets/<name>/versions/N.json  the manifest of version N: its files and their hashes; made with O_EXCL,
                            so a version appears whole or not at all and two writers never share a number
    sets/<name>/readers/JOB.json the versions a job read (lineage; a job still there keeps them from deletion)
    .lock                   puts hold it shared, deletes (which collect unreferenced objects) exclusive

An interrupted put leaves complete objects and no manifest: putting again copies only what is missing.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_kf import config

CHUNK = 1 << 20


@dataclass
class Manifest:
    """One immutable version: ``files`` maps a relative path to (sha256, size)."""

    name: str
    version: int
    files: dict
    kind: str = "files"  # "files" (a folder or a file put as is) or "object" (a value written in ``format``)
    format: str | None = None
    source: str = ""
    created: str = ""
    producer: dict | None = None
    extra: dict = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """The version's content hash: the same files with the same contents give the same digest."""
        from jupyter_kf.datasets.fetch import version_digest  # the cluster's init step checks the same way

        return version_digest(self.files, self.kind, self.format)

    @property
    def size(self) -> int:
        return sum(size for _, size in self.files.values())

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "version": self.version, "digest": self.digest, "files": self.files,
                           "kind": self.kind, "format": self.format, "source": self.source, "created": self.created,
                           "producer": self.producer, "extra": self.extra}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        data = json.loads(text)
        data.pop("digest", None)
        data["files"] = {k: tuple(v) for k, v in data["files"].items()}
        return cls(**data)


class LocalStore:
    """Datasets on this machine, under the state folder (private: 0700 folders, 0600/0400 files)."""

    where = "local"
    workers = min(8, os.cpu_count() or 1)  # hashing and copying release the GIL: as many as there are cores

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else config.state_root() / "datasets"
        self.objects = self.root / "objects"
        self.sets = self.root / "sets"

    def folder(self, path: Path) -> Path:
        """``path`` (under the store) made with every folder from the store down private (0700)."""
        config.private_dir(self.root)
        current = self.root
        for part in path.relative_to(self.root).parts:
            current = current / part
            if not current.is_dir():
                config.private_dir(current)
        return path

    # -- objects ----------------------------------------------------------------------------------
    def object_path(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest[2:]

    def local_object(self, digest: str) -> Path:
        """The object as a file on this machine (a store elsewhere fetches it into a private cache)."""
        path = self.object_path(digest)
        if not path.is_file():
            raise FileNotFoundError(f"object sha256:{digest[:12]} is missing from {self.objects}")
        return path

    def add_file(self, path: Path, known=frozenset(), progress=None) -> tuple[str, int, bool]:
        """Store one file by content; (sha256, size, whether it was new). Reads it once to hash, copies only if new."""
        hexd, size = _hash(path)
        target = self.object_path(hexd)
        if progress is not None:
            progress(size)
        if target.exists():
            return hexd, size, False
        tmp = self._tmp(hexd)
        try:
            shutil.copyfile(path, tmp)
            self._place(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return hexd, size, True

    def fetch_to(self, digest: str, target: Path, progress=None) -> None:
        """A copy of the object at ``target`` (written whole or not at all)."""
        tmp = target.with_name(f".{target.name}.kf-tmp{os.getpid()}")
        try:
            shutil.copyfile(self.local_object(digest), tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        if progress is not None:
            progress(target.stat().st_size)

    def add_written(self, writer) -> tuple[str, int, bool]:
        """Store what ``writer(path)`` writes into a fresh file, by content; (sha256, size, whether it was new)."""
        tmp = self._tmp("value")
        try:
            writer(tmp)
            os.chmod(tmp, 0o600)
            hexd, size = _hash(tmp)
            target = self.object_path(hexd)
            if target.exists():
                return hexd, size, False
            self._place(tmp, target)
            return hexd, size, True
        finally:
            tmp.unlink(missing_ok=True)

    def _tmp(self, hint: str) -> Path:
        folder = self.folder(self.objects / "tmp")
        return folder / f"{hint[:16]}.{os.getpid()}.{time.monotonic_ns()}"

    def _place(self, tmp: Path, target: Path) -> None:
        os.chmod(tmp, 0o400)
        self.folder(target.parent)
        os.replace(tmp, target)

    # -- manifests --------------------------------------------------------------------------------
    def versions_dir(self, name: str) -> Path:
        return self.sets / name / "versions"

    def names(self) -> list[str]:
        if not self.sets.is_dir():
            return []
        return sorted(p.name for p in self.sets.iterdir() if (p / "versions").is_dir())

    def versions(self, name: str) -> list[Manifest]:
        folder = self.versions_dir(name)
        if not folder.is_dir():
            return []
        found = []
        for path in folder.glob("*.json"):
            if path.stem.isdigit():
                found.append(Manifest.from_json(path.read_text()))
        return sorted(found, key=lambda m: m.version)

    def commit(self, manifest: Manifest) -> Manifest:
        """Write the manifest as the next version number, atomically and exclusively (retries on a race)."""
        folder = self.folder(self.versions_dir(manifest.name))
        while True:
            existing = [int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()]
            manifest.version = max(existing, default=0) + 1
            tmp = folder / f".{manifest.version}.json.tmp{os.getpid()}"
            with config.open_private(tmp, "w") as f:
                f.write(manifest.to_json())
            try:
                os.link(tmp, folder / f"{manifest.version}.json")  # fails if another writer took the number
                return manifest
            except FileExistsError:
                continue
            finally:
                tmp.unlink(missing_ok=True)

    def remove_version(self, name: str, version: int) -> None:
        (self.versions_dir(name) / f"{version}.json").unlink(missing_ok=True)
        remove_view(self.root / "views" / name / str(version))
        if not self.versions(name):
            shutil.rmtree(self.sets / name, ignore_errors=True)
            for view in (self.root / "views" / name).glob("*"):
                remove_view(view)
            shutil.rmtree(self.root / "views" / name, ignore_errors=True)

    # -- lineage ----------------------------------------------------------------------------------
    def readers(self, name: str) -> list[dict]:
        folder = self.sets / name / "readers"
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.glob("*.json")):
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return found

    def add_reader(self, name: str, reader: str, record: dict) -> None:
        folder = self.folder(self.sets / name / "readers")
        config.write_private(folder / f"{reader}.json", json.dumps(record))

    def drop_reader(self, name: str, reader: str) -> None:
        (self.sets / name / "readers" / f"{reader}.json").unlink(missing_ok=True)

    # -- locking and collection ---------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, exclusive: bool, name: str | None = None):
        """The store's lock (``name``: one dataset's, held while its next version is chosen and written)."""
        import fcntl

        folder = self.folder(self.sets / name) if name else self.folder(self.root)
        with config.open_private(folder / ".lock") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def collect(self) -> int:
        """Remove objects no version refers to and leftovers of interrupted puts (hold the lock exclusive)."""
        used = {digest for name in self.names() for m in self.versions(name) for digest, _ in m.files.values()}
        shutil.rmtree(self.objects / "tmp", ignore_errors=True)
        removed = 0
        if not self.objects.is_dir():
            return removed
        for sub in self.objects.iterdir():
            if len(sub.name) != 2:
                continue
            for obj in sub.iterdir():
                if sub.name + obj.name not in used:
                    obj.unlink()
                    removed += 1
            with contextlib.suppress(OSError):
                sub.rmdir()  # only when empty
        return removed


def seal(top: Path, mode: int) -> None:
    """Every folder under ``top`` (itself last) set to ``mode``."""
    for folder, dirs, _ in os.walk(top, topdown=False):
        for name in dirs:
            os.chmod(os.path.join(folder, name), mode)
    os.chmod(top, mode)


def remove_view(place: Path) -> None:
    """Remove a view, sealed or not (its folders opened first: a 0500 folder's entries cannot be unlinked)."""
    if place.is_dir() and not place.is_symlink():
        seal(place, 0o700)
    shutil.rmtree(place, ignore_errors=True)


def _hash(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
