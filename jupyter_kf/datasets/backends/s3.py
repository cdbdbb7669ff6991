"""Datasets in an S3-compatible store (``c.KfConfig.store = "s3://bucket/prefix"``), the same layout as on disk.

``<prefix>/datasets/objects/ab/cdef...`` holds each content once; ``sets/<name>/versions/N.json`` is written
last, with ``If-None-Match: *``, so a version appears whole or not at all and two writers never share a
number. Requests are signed with AWS Signature V4 by the standard library (no boto3). Transfers run many at
once; a file of 64 MiB or more goes up in parts, and a put run again after an interruption sends only the
objects and parts the bucket lacks. What a notebook reads is cached under the state folder (private),
verified against its hash.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

from jupyter_kf import config
from jupyter_kf.datasets.store import LocalStore, Manifest, _hash
from jupyter_kf.errors import KfError

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MULTIPART_AT = 64 * 2**20  # files this large go up in parts
PART = 16 * 2**20


def _tick(progress, size: int) -> None:
    if progress is not None:
        progress(size)


class StoreError(KfError):
    """The store refused or could not be reached; the line says which and why."""

    http_status = 502


class S3DataStore(LocalStore):
    """Metadata and objects in the bucket; a private cache of what was read under the state folder."""

    def __init__(self, uri: str, endpoint: str, region: str = "us-east-1"):
        self.uri, self.endpoint, self.region = uri.rstrip("/"), endpoint.rstrip("/"), region or "us-east-1"
        self.bucket, _, prefix = uri[len("s3://"):].partition("/")
        self.base = "/".join(p for p in (prefix.strip("/"), "datasets") if p)
        cache = hashlib.sha256(f"{self.endpoint}/{self.uri}".encode()).hexdigest()[:16]
        super().__init__(config.state_root() / "datasets-cache" / cache)
        self.where = self.uri

    # -- requests ---------------------------------------------------------------------------------
    def _send(self, method: str, key: str, body: bytes, query: dict | None, headers: dict | None,
              body_sha256: str | None):
        """A signed request, answered as an open response (the caller reads or streams it)."""
        from jupyter_kf.datasets import fetch

        url = fetch.object_url({"endpoint": self.endpoint, "bucket": self.bucket}, key, query)
        try:
            sent = fetch.sign(method, url, self.region, body_sha256 or hashlib.sha256(body).hexdigest(), headers)
        except fetch.FetchError:
            raise StoreError(f"no credentials for store {self.uri}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                             ) from None
        sent["Content-Type"] = "application/octet-stream"
        req = urllib.request.Request(url, data=body if method in ("PUT", "POST") else None, method=method,
                                     headers=sent)
        try:
            return urllib.request.urlopen(req, timeout=300)
        except urllib.error.HTTPError as err:
            if err.code in (404, 412):
                raise
            detail = err.read()[:2000].decode("utf-8", "replace")
            code = ET.fromstring(detail).findtext("Code") if detail.startswith("<") else None
            raise StoreError(f"store {self.uri} at {self.endpoint} refused {method} {key}: "
                             f"{code or err.code}") from None
        except (urllib.error.URLError, OSError) as err:
            raise StoreError(f"store {self.uri} at {self.endpoint} is unreachable: "
                             f"{getattr(err, 'reason', err)}") from None

    def request(self, method: str, key: str = "", body: bytes = b"", query: dict | None = None,
                headers: dict | None = None, body_sha256: str | None = None) -> bytes:
        with self._send(method, key, body, query, headers, body_sha256) as resp:
            return resp.read()

    def _exists(self, key: str) -> bool:
        try:
            self.request("HEAD", key)
            return True
        except urllib.error.HTTPError:
            return False

    def _list(self, prefix: str, delimiter: str | None = None) -> tuple[list[str], list[str]]:
        """Keys and common prefixes under ``prefix`` (every page)."""
        keys, prefixes, token = [], [], None
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if delimiter:
                query["delimiter"] = delimiter
            if token:
                query["continuation-token"] = token
            root = ET.fromstring(self.request("GET", "", query=query))
            keys += [c.findtext(f"{NS}Key") for c in root.findall(f"{NS}Contents")]
            prefixes += [c.findtext(f"{NS}Prefix") for c in root.findall(f"{NS}CommonPrefixes")]
            token = root.findtext(f"{NS}NextContinuationToken")
            if not token:
                return keys, prefixes

    def _key(self, *parts: str) -> str:
        return "/".join((self.base, *parts))

    def _object_key(self, digest: str) -> str:
        return self._key("objects", digest[:2], digest[2:])

    # -- objects ----------------------------------------------------------------------------------
    workers = 16  # transfers wait on the network, not on a core

    def add_file(self, path: Path, known=frozenset(), progress=None) -> tuple[str, int, bool]:
        """Upload one file unless the bucket has its content (``known``: digests it surely has, e.g. the
        latest version's); a large one in parts, resuming an upload an interrupted put began."""
        hexd, size = _hash(path)
        key = self._object_key(hexd)
        if hexd in known:
            _tick(progress, size)
            return hexd, size, False
        if size < MULTIPART_AT:  # one request either way: a write the server refuses (412) if it has the content
            try:
                self.request("PUT", key, Path(path).read_bytes(), headers={"If-None-Match": "*"}, body_sha256=hexd)
                fresh = True
            except urllib.error.HTTPError as err:
                if err.code != 412:
                    raise
                fresh = False
            _tick(progress, size)
            return hexd, size, fresh
        if self._exists(key):  # a large one is asked for first: sending it for nothing would cost more
            _tick(progress, size)
            return hexd, size, False
        self._multipart(Path(path), key, size, progress)
        return hexd, size, True

    def _multipart(self, path: Path, key: str, size: int, progress) -> None:
        """Parts of PART bytes, several at once; parts an earlier try stored (same MD5) are not sent again."""
        from concurrent.futures import ThreadPoolExecutor

        upload, stored = self._unfinished(key)
        if upload is None:
            root = ET.fromstring(self.request("POST", key, query={"uploads": ""}))
            upload = root.findtext(f"{NS}UploadId")

        def send(number: int) -> tuple[int, str]:
            with open(path, "rb") as f:
                f.seek((number - 1) * PART)
                chunk = f.read(PART)
            etag = f'"{hashlib.md5(chunk, usedforsecurity=False).hexdigest()}"'
            if stored.get(number) != etag:
                with self._send("PUT", key, chunk, {"partNumber": number, "uploadId": upload}, None,
                                hashlib.sha256(chunk).hexdigest()) as resp:
                    etag = resp.headers.get("ETag", etag)
            _tick(progress, len(chunk))
            return number, etag

        count = (size + PART - 1) // PART
        with ThreadPoolExecutor(max_workers=min(self.workers, count), thread_name_prefix="kf-data-part") as pool:
            parts = list(pool.map(send, range(1, count + 1)))
        body = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in parts)
        self.request("POST", key, f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode(),
                     query={"uploadId": upload})

    def _unfinished(self, key: str) -> tuple[str | None, dict]:
        """An upload of ``key`` an interrupted put left, and its stored parts' ETags by number."""
        root = ET.fromstring(self.request("GET", "", query={"uploads": "", "prefix": key}))
        for found in root.findall(f"{NS}Upload"):
            if found.findtext(f"{NS}Key") == key:
                upload = found.findtext(f"{NS}UploadId")
                listed = ET.fromstring(self.request("GET", key, query={"uploadId": upload}))
                return upload, {int(p.findtext(f"{NS}PartNumber")): p.findtext(f"{NS}ETag")
                                for p in listed.findall(f"{NS}Part")}
        return None, {}

    def add_written(self, writer) -> tuple[str, int, bool]:
        tmp = self._tmp("value")
        try:
            writer(tmp)
            return self.add_file(tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def fetch_to(self, digest: str, target: Path, progress=None) -> None:
        """Stream the object into ``target`` (written whole, private, or not at all), checked against its hash."""
        tmp = target.with_name(f".{target.name}.kf-tmp{os.getpid()}.{threading.get_ident()}")
        hasher = hashlib.sha256()
        try:
            with self._send("GET", self._object_key(digest), b"", None, None, None) as resp, \
                    config.open_private(tmp, "wb") as f:
                while chunk := resp.read(1 << 20):
                    hasher.update(chunk)
                    f.write(chunk)
                    _tick(progress, len(chunk))
            if hasher.hexdigest() != digest:
                raise StoreError(f"store {self.uri}: object sha256:{digest[:12]} does not match its content "
                                 f"(sha256:{hasher.hexdigest()[:12]}): put the data again to repair it")
            os.replace(tmp, target)
        except urllib.error.HTTPError:
            raise FileNotFoundError(f"object sha256:{digest[:12]} is missing from {self.uri}") from None
        finally:
            tmp.unlink(missing_ok=True)

    def local_object(self, digest: str) -> Path:
        """The object in the private cache, fetched and checked against its hash when missing."""
        target = self.object_path(digest)
        if target.is_file():
            return target
        tmp = self._tmp(digest)
        self.fetch_to(digest, tmp)
        self._place(tmp, target)
        return target

    # -- manifests and lineage ------------------------------------------------------------------------
    def names(self) -> list[str]:
        _, prefixes = self._list(self._key("sets") + "/", "/")
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in prefixes)

    def versions(self, name: str) -> list[Manifest]:
        keys, _ = self._list(self._key("sets", name, "versions") + "/")
        found = [Manifest.from_json(self.request("GET", k).decode()) for k in keys
                 if k.rsplit("/", 1)[-1].removesuffix(".json").isdigit()]
        return sorted(found, key=lambda m: m.version)

    def commit(self, manifest: Manifest) -> Manifest:
        while True:
            existing = [m.version for m in self.versions(manifest.name)]
            manifest.version = max(existing, default=0) + 1
            key = self._key("sets", manifest.name, "versions", f"{manifest.version}.json")
            try:
                self.request("PUT", key, manifest.to_json().encode(), headers={"If-None-Match": "*"})
                return manifest
            except urllib.error.HTTPError as err:
                if err.code != 412:  # another writer took the number: the next one
                    raise

    def remove_version(self, name: str, version: int) -> None:
        self.request("DELETE", self._key("sets", name, "versions", f"{version}.json"))
        super().remove_version(name, version)  # the local views of it

    def readers(self, name: str) -> list[dict]:
        keys, _ = self._list(self._key("sets", name, "readers") + "/")
        return [json.loads(self.request("GET", k)) for k in sorted(keys)]

    def add_reader(self, name: str, reader: str, record: dict) -> None:
        self.request("PUT", self._key("sets", name, "readers", f"{reader}.json"), json.dumps(record).encode())

    @contextlib.contextmanager
    def lock(self, exclusive: bool, name: str | None = None):
        yield  # a bucket has no locks: versions are numbered by conditional writes

    def collect(self) -> int:
        used = {d for name in self.names() for m in self.versions(name) for d, _ in m.files.values()}
        keys, _ = self._list(self._key("objects") + "/")
        removed = 0
        for key in keys:
            sub, rest = key.rsplit("/", 2)[-2:]
            if sub + rest not in used:
                self.request("DELETE", key)
                removed += 1
        super().collect()  # the cached copies of what is gone
        return removed
