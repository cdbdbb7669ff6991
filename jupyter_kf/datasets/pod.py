"""``kf.data.put`` and ``kf.data.load`` inside a cluster pod that has no jupyter_kf installed.

Standard library only (plus the value's own library: numpy for an array, pandas for a frame), shipped in
the job's bundle as ``kf_data.py`` beside ``kf_fetch.py``, whose SigV4 client it shares. The runner
offers it to the cell as ``jupyter_kf.data`` when the package is missing from the image. The store comes
from ``$KF_DATA_STORE`` (JSON: endpoint, bucket, region, base), the credentials from the environment (a
Secret's keys, by reference), the producer from ``$KF_JOB_NAME``. Versions are written exactly as the
notebook writes them: objects by content, the manifest last with ``If-None-Match: *``.
"""
import hashlib
import json
import os
import re
import tempfile
import time
import types
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

try:
    import kf_fetch as fetch  # shipped beside this file in the bundle
except ImportError:  # inside the package (tests, and pods that have it)
    from jupyter_kf.datasets import fetch

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # as jupyter_kf.datasets.spec.check_name
OBJECT_FILES = {"parquet": "data.parquet", "pickle": "data.pkl", "npy": "data.npy", "json": "data.json"}
WRITTEN_LOG_ENV = "KF_DATA_WRITTEN"  # the runner reads back what was put (lineage, when the results return)
STORE_ENV = "KF_DATA_STORE"


class DataError(Exception):
    """What went wrong, as one line for the user."""


def pod_store():
    text = os.environ.get(STORE_ENV)
    if not text:
        raise DataError("kf.data in a job needs the S3-compatible store: set c.KfConfig.store, store_endpoint and "
                        "store_secret in the notebook, then run the job again")
    return json.loads(text)


def _request(store, method, key, body=b"", query=None, headers=None, body_sha256=None):
    """A signed request; ``body`` bytes, or an open file sent as it is read (``body_sha256`` then given)."""
    url = fetch.object_url(store, key, query)
    signed = fetch.sign(method, url, store.get("region"), body_sha256 or hashlib.sha256(body).hexdigest(), headers)
    signed["Content-Type"] = "application/octet-stream"
    request = urllib.request.Request(url, data=body if method == "PUT" else None, method=method, headers=signed)
    with urllib.request.urlopen(request, timeout=300) as response:
        return response.read()


def _keys(store, prefix):
    keys, token = [], None
    while True:
        query = {"list-type": "2", "prefix": prefix, **({"continuation-token": token} if token else {})}
        root = ET.fromstring(_request(store, "GET", "", query=query))
        keys += [c.findtext(f"{NS}Key") for c in root.findall(f"{NS}Contents")]
        token = root.findtext(f"{NS}NextContinuationToken")
        if not token:
            return keys


def versions(store, name):
    """The dataset's manifests, oldest first."""
    keys = [k for k in _keys(store, f"{store['base']}/sets/{name}/versions/") if k.rsplit("/", 1)[-1][:-5].isdigit()]
    found = [json.loads(_request(store, "GET", k)) for k in keys]
    return sorted(found, key=lambda m: m["version"])


# -- put --------------------------------------------------------------------------------------
def put(name, data, format=None):  # noqa: A002 - the same words as kf.data.put
    """Store ``data`` (a folder or file path, a DataFrame, an ndarray, plain data) as the next version of
    ``name``, with this job as its producer; returns its ``name``, ``version``, ``ref``, ``digest`` and
    ``unchanged`` as attributes (a SimpleNamespace: it comes back to a notebook that lacks this module)."""
    if not isinstance(name, str) or not NAME.match(name):
        raise DataError(f"kf.data.put: dataset name {name!r} is not accepted: at most 63 lowercase letters, digits "
                        "and '-', starting with a letter and ending with a letter or digit (e.g. mnist or clean-2)")
    store = pod_store()
    with tempfile.TemporaryDirectory(prefix="kf-data-") as tmp:
        files, kind, fmt, source, extra = _files_of(data, format, tmp)
        entries = {rel: _upload(store, path) for rel, path in files.items()}
    manifest = {"name": name, "version": 0, "files": entries, "kind": kind, "format": fmt, "source": source,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "producer": _producer(),
                "extra": extra}
    manifest["digest"] = fetch.version_digest({k: tuple(v) for k, v in entries.items()}, kind, fmt)
    made = _commit(store, manifest)
    _log_written(made)
    return types.SimpleNamespace(**made, ref=f"{name}@{made['version']}")


def _producer():
    job, step = os.environ.get("KF_JOB_NAME"), os.environ.get("KF_PIPELINE_STEP")  # a pipeline step: PIPELINE/STEP
    if not (job or step):
        return None
    return {"job": job or step, "rank": os.environ.get("RANK", "0"), **({"step": step} if step else {})}


def _files_of(data, forced, tmp):
    """(relative path -> file, kind, format, source, extra) for a path or a value written under ``tmp``."""
    if isinstance(data, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(data))
        if os.path.isfile(path):
            return {os.path.basename(path): path}, "files", None, path, {"file": True}
        if not os.path.isdir(path):
            raise DataError(f"kf.data.put: {os.fspath(data)!r} does not exist: give a folder, a file, or a value")
        files = {os.path.relpath(os.path.join(top, n), path).replace(os.sep, "/"): os.path.join(top, n)
                 for top, _, names in os.walk(path) for n in names if os.path.isfile(os.path.join(top, n))}
        if not files:
            raise DataError(f"kf.data.put: folder {os.fspath(data)!r} has no files: a dataset needs at least one")
        return dict(sorted(files.items())), "files", None, path, {}
    fmt = _format_of(data, forced)
    target = os.path.join(tmp, OBJECT_FILES[fmt])
    _write_value(data, fmt, target)
    return {OBJECT_FILES[fmt]: target}, "object", fmt, type(data).__name__, {}


def _format_of(value, forced):
    if forced not in (None, "pickle"):
        raise DataError(f"format {forced!r} is not accepted: only 'pickle' may be forced")
    kind = type(value)
    if forced == "pickle" or (kind.__name__ == "ndarray" and value.dtype.hasobject):
        return "pickle"
    if kind.__name__ == "DataFrame" and kind.__module__.split(".")[0] == "pandas":
        import importlib.util

        return "parquet" if importlib.util.find_spec("pyarrow") else "pickle"
    if kind.__name__ == "ndarray" and kind.__module__ == "numpy":
        return "npy"
    try:
        json.dumps(value, allow_nan=True)
        return "json"
    except (TypeError, ValueError):
        raise DataError(f"kf.data.put: a {kind.__name__} has no dataset format: put a folder or file path, a "
                        "DataFrame, an ndarray or plain data, or pass format='pickle'") from None


def _write_value(value, fmt, target):
    if fmt == "parquet":
        value.to_parquet(target)
    elif fmt == "npy":
        import numpy

        with open(target, "wb") as f:
            numpy.save(f, value, allow_pickle=False)
    elif fmt == "json":
        with open(target, "w") as f:
            json.dump(value, f)
    else:
        import pickle

        with open(target, "wb") as f:
            pickle.dump(value, f, protocol=5)


def _upload(store, path):
    """One file into the store by content, streamed from disk (not sent again when the store has it);
    ``[sha256, size]``. A single PUT: S3 takes up to 5 GiB so (the notebook's client sends larger ones in parts)."""
    hasher, size = hashlib.sha256(), os.path.getsize(path)
    with open(path, "rb") as f:
        while chunk := f.read(fetch.CHUNK):
            hasher.update(chunk)
    digest = hasher.hexdigest()
    try:
        with open(path, "rb") as f:
            _request(store, "PUT", f"{store['base']}/objects/{digest[:2]}/{digest[2:]}", f,
                     headers={"If-None-Match": "*", "Content-Length": str(size)}, body_sha256=digest)
    except urllib.error.HTTPError as err:
        if err.code != 412:  # 412: the content is there already
            raise DataError(f"kf.data.put: the store at {store['endpoint']} answered {err.code}") from None
    return [digest, size]


def _commit(store, manifest):
    """The manifest as the next version number (a conditional write: two writers never share one)."""
    name = manifest["name"]
    while True:
        existing = versions(store, name)
        if existing and existing[-1]["digest"] == manifest["digest"]:
            return {"name": name, "version": existing[-1]["version"], "digest": manifest["digest"], "unchanged": True}
        manifest["version"] = existing[-1]["version"] + 1 if existing else 1
        key = f"{store['base']}/sets/{name}/versions/{manifest['version']}.json"
        try:
            _request(store, "PUT", key, json.dumps(manifest, indent=1).encode(), headers={"If-None-Match": "*"})
            return {"name": name, "version": manifest["version"], "digest": manifest["digest"], "unchanged": False}
        except urllib.error.HTTPError as err:
            if err.code != 412:
                raise DataError(f"kf.data.put {name}: the store answered {err.code}; no version was made") from None


def _log_written(made):
    log = os.environ.get(WRITTEN_LOG_ENV)
    if log:
        with open(log, "a") as f:
            f.write(json.dumps(made) + "\n")


def record_read(entries, reader):
    """Lineage from a pod: ``reader`` (a pipeline step, ``PIPELINE/STEP``) read these pinned versions. A record
    per dataset in the store, as the notebook keeps for jobs; it keeps no version from deletion."""
    store, by_name = pod_store(), {}
    for entry in entries:
        record = by_name.setdefault(entry["name"], {"job": reader, "reader": "step", "backend": "kubeflow-pipelines",
                                                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                                    "versions": [], "mounts": {}})
        record["versions"].append(entry["version"])
        record["mounts"][str(entry["version"])] = entry["mount"]
    slug = re.sub(r"[^a-z0-9-]+", "-", reader.lower()).strip("-")
    for name, record in by_name.items():
        _request(store, "PUT", f"{store['base']}/sets/{name}/readers/step-{slug}.json", json.dumps(record).encode())


# -- load -------------------------------------------------------------------------------------
def load(ref):
    """A version back: the value that was put, or for files a folder (a file put alone: that file)."""
    store = pod_store()
    manifest = _resolve(store, ref)
    folder = tempfile.mkdtemp(prefix=f"kf-data-{manifest['name']}-")
    files = {rel: tuple(v) for rel, v in manifest["files"].items()}
    for rel, (digest, _) in files.items():
        target = fetch.safe_join(folder, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fetch.download(store, f"{store['base']}/objects/{digest[:2]}/{digest[2:]}", target, digest,
                       f"{manifest['name']}@{manifest['version']} file {rel}")
    if manifest.get("kind") == "object":
        return _read_value(manifest["format"], os.path.join(folder, OBJECT_FILES[manifest["format"]]))
    return os.path.join(folder, next(iter(files))) if manifest.get("extra", {}).get("file") else folder


def _resolve(store, ref):
    name, _, version = str(ref).partition("@")
    found = versions(store, name)
    if not found:
        raise DataError(f"kf.data.load: no dataset named {name!r} in the store")
    if not version:
        return found[-1]
    for manifest in found:
        if str(manifest["version"]) == version or (version.startswith("sha256:")
                                                   and manifest["digest"].startswith(version[7:])):
            return manifest
    have = ", ".join(str(m["version"]) for m in found)
    raise DataError(f"kf.data.load: dataset {name!r} has no version {version}: its versions are {have}")


def _read_value(fmt, path):
    if fmt == "json":
        with open(path) as f:
            return json.load(f)
    if fmt == "npy":
        import numpy

        return numpy.load(path, allow_pickle=False)
    if fmt == "parquet":
        import pandas

        return pandas.read_parquet(path)
    import pickle

    with open(path, "rb") as f:  # written by this user's own jobs and notebooks into their store
        return pickle.load(f)
