"""Where an in-memory model goes so that the cluster can read it: the configured store.

``c.KfConfig.store = "s3://bucket/prefix"`` (with ``store_endpoint``): files go up with the project's
stdlib SigV4 client (``runner.s3_request``, already used for job payloads), so serving needs no boto3.
Credentials come from this machine's environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and are
never written into a manifest: on the cluster, KServe's storage initializer reads them from the Secret
``c.KfConfig.store_secret`` through the InferenceService's ServiceAccount.

``c.KfConfig.store = "pvc://claim/prefix"`` with ``c.KfConfig.store_mount`` (where that claim is mounted
in this notebook server): writing the files there is the upload; KServe reads ``pvc://claim/...``.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from jupyter_kf import config
from jupyter_kf.errors import KfError
from jupyter_kf.serving.errors import NoStore
from jupyter_kf.serving.spec import check_uri


class StoreError(KfError):
    """The store refused or could not be reached; the line says which and why."""


def get_store(why: str = "") -> "S3Store | PvcStore":
    cfg = config.get()
    uri = (cfg.store or "").strip().rstrip("/")
    if not uri:
        raise NoStore(f"no store is configured{why}: set c.KfConfig.store = 's3://bucket/prefix' (with "
                      "c.KfConfig.store_endpoint) or 'pvc://claim/prefix' (with c.KfConfig.store_mount), or pass "
                      "--model a URI (s3://, gs://, pvc://, hf://, oci://, https://)")
    if uri.startswith("s3://"):
        if not cfg.store_endpoint:
            raise NoStore(f"store {uri} has no endpoint: set c.KfConfig.store_endpoint to its URL (e.g. http://minio.kubeflow:9000)")
        return S3Store(uri, cfg.store_endpoint, cfg.store_region)
    if uri.startswith("pvc://"):
        check_uri(uri)
        mount = getattr(cfg, "store_mount", "")
        if not mount:
            raise NoStore(
                f"store {uri} is a PVC: set c.KfConfig.store_mount to where that claim is mounted in this notebook "
                "server"
            )
        return PvcStore(uri, Path(mount).expanduser())
    raise NoStore(f"store {uri!r} is not supported for models: use s3://bucket/prefix or pvc://claim/prefix")


class S3Store:
    def __init__(self, uri: str, endpoint: str, region: str = "us-east-1"):
        self.uri, self.endpoint, self.region = uri, endpoint, region or "us-east-1"
        self.bucket, _, prefix = uri[len("s3://"):].partition("/")
        self.prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        return "/".join(p for p in (self.prefix, key.strip("/")) if p)

    def _request(self, method: str, key: str, body: bytes = b""):
        import urllib.error

        from jupyter_kf.training.runner import s3_request

        if not (os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY")):
            raise StoreError(f"no credentials for store {self.uri}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in "
                             "the notebook's environment (they are used here only, never sent to the cluster)")
        try:
            return s3_request(
                method, {"endpoint": self.endpoint, "bucket": self.bucket, "region": self.region}, key, body
            )
        except urllib.error.HTTPError as err:
            detail = err.read()[:2000].decode("utf-8", "replace")
            import re

            code = re.search(r"<Code>(.*?)</Code>", detail)
            message = re.search(r"<Message>(.*?)</Message>", detail)
            what = f"{code.group(1)}: {message.group(1)}" if code and message else f"HTTP {err.code}"
            raise StoreError(f"store {self.uri} at {self.endpoint} refused {method} {key}: {what}") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise StoreError(f"store {self.uri} at {self.endpoint} is unreachable: {reason}") from None

    def upload(self, folder: Path, key: str) -> tuple[str, list[str]]:
        """Every file under ``folder`` to ``<store>/<key>/``; returns the storage URI and the keys written.
        A failure removes what was written: nothing half-uploaded stays."""
        written: list[str] = []
        try:
            for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
                object_key = f"{self._key(key)}/{path.relative_to(folder).as_posix()}"
                self._request("PUT", object_key, path.read_bytes())
                written.append(object_key)
        except BaseException:
            self.delete(written)
            raise
        return f"s3://{self.bucket}/{self._key(key)}", written

    def delete(self, keys: list[str]) -> None:
        for object_key in keys:
            try:
                self._request("DELETE", object_key)
            except StoreError:
                pass


class PvcStore:
    def __init__(self, uri: str, mount: Path):
        self.uri, self.mount = uri, mount
        self.claim, _, prefix = uri[len("pvc://"):].partition("/")
        self.prefix = prefix.strip("/")

    def upload(self, folder: Path, key: str) -> tuple[str, list[str]]:
        target = self.mount / self.prefix / key
        try:
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(folder, target)
        except OSError as err:
            shutil.rmtree(target, ignore_errors=True)
            raise StoreError(
                f"cannot write the model to {target} (claim {self.claim} mounted at {self.mount}): {err}"
            ) from None
        rel = "/".join(p for p in (self.prefix, key.strip("/")) if p)
        return f"pvc://{self.claim}/{rel}", [rel]

    def delete(self, keys: list[str]) -> None:
        for rel in keys:
            shutil.rmtree(self.mount / rel, ignore_errors=True)
