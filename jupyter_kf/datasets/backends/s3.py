"""Datasets in an S3-compatible store (``c.KfConfig.store = "s3://bucket/prefix"``), the same layout as on disk.

``<prefix>/datasets/objects/ab/cdef...`` holds each content once; ``sets/<name>/versions/N.json`` is written
last, with ``If-None-Match: *``, so a version appears whole or not at all and two writers never share a
number. Requests are signed with AWS Signature V4 by the standard library (no boto3). What a notebook reads
is cached under the state folder (private), verified against its hash.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

from jupyter_kf import config
from jupyter_kf.datasets.store import LocalStore, Manifest, _hash
from jupyter_kf.errors import KfError

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


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
    def request(self, method: str, key: str = "", body: bytes = b"", query: dict | None = None,
                headers: dict | None = None) -> bytes:
        access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
        if not (access and secret):
            raise StoreError(f"no credentials for store {self.uri}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        url = urllib.parse.urlsplit(self.endpoint)
        path = "/" + urllib.parse.quote(f"{self.bucket}/{key}" if key else self.bucket, safe="/-_.~")
        qs = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(str(v), safe='-_.~')}"
                      for k, v in sorted((query or {}).items()))
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        digest = hashlib.sha256(body).hexdigest()
        signed_headers = {"host": url.netloc, "x-amz-content-sha256": digest, "x-amz-date": stamp,
                          **{k.lower(): v for k, v in (headers or {}).items()}}
        names = ";".join(sorted(signed_headers))
        canonical = "\n".join([method, path, qs, *(f"{k}:{signed_headers[k]}" for k in sorted(signed_headers)), "",
                               names, digest])
        scope = f"{stamp[:8]}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key_bytes = ("AWS4" + secret).encode()
        for part in (stamp[:8], self.region, "s3", "aws4_request"):
            key_bytes = hmac.new(key_bytes, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()
        sent = dict(signed_headers, Authorization=f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
                                                  f"SignedHeaders={names}, Signature={signature}")
        sent["Content-Type"] = "application/octet-stream"
        req = urllib.request.Request(f"{url.scheme}://{url.netloc}{path}" + (f"?{qs}" if qs else ""),
                                     data=body if method == "PUT" else None, method=method, headers=sent)
        try:
            with urllib.request.urlopen(req, timeout=300) as resp:
                return resp.read()
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
    def add_file(self, path: Path) -> tuple[str, int, bool]:
        hexd, size = _hash(path)
        key = self._object_key(hexd)
        if self._exists(key):
            return hexd, size, False
        self.request("PUT", key, Path(path).read_bytes())
        return hexd, size, True

    def add_written(self, writer) -> tuple[str, int, bool]:
        tmp = self._tmp("value")
        try:
            writer(tmp)
            return self.add_file(tmp)
        finally:
            tmp.unlink(missing_ok=True)

    def local_object(self, digest: str) -> Path:
        """The object in the private cache, fetched and checked against its hash when missing."""
        target = self.object_path(digest)
        if target.is_file():
            return target
        body = self.request("GET", self._object_key(digest))
        if hashlib.sha256(body).hexdigest() != digest:
            raise StoreError(f"store {self.uri}: object sha256:{digest[:12]} does not match its content")
        tmp = self._tmp(digest)
        with config.open_private(tmp, "wb") as f:
            f.write(body)
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
