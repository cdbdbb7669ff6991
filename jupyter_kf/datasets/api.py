"""``kf.data``: versioned datasets, stored by content, mounted into jobs, traced to what read and wrote them.

``kf.data.put(name, path_or_value)`` makes a version (or says nothing changed), ``kf.data.load(name)``
brings it back, ``get`` copies its files out, ``list``/``show`` describe them, ``delete`` removes one
version or a whole dataset. Versions are immutable: ``name@N``, ``name@sha256:HASH``; ``name`` alone is
the latest. A ``put`` inside a job records the job as the version's producer.
"""
from __future__ import annotations

import builtins
import json
import os
import time
from pathlib import Path

from jupyter_kf import config
from jupyter_kf.datasets.errors import CannotStore, DatasetInUse, DatasetNotFound
from jupyter_kf.datasets.spec import DataRef, check_name, parse_mounts
from jupyter_kf.datasets.status import DatasetDetail, DatasetTable, DataVersion
from jupyter_kf.datasets.store import LocalStore, Manifest
from jupyter_kf.display import format_size
from jupyter_kf.errors import InvalidSpec, KfError

__all__ = ["put", "get", "load", "list", "show", "delete", "resolve"]
POD_STORE_ENV, WRITTEN_LOG_ENV = "KF_DATA_STORE", "KF_DATA_WRITTEN"  # as in datasets/pod.py (shipped to pods)
OBJECT_FILES = {"parquet": "data.parquet", "pickle": "data.pkl", "npy": "data.npy", "json": "data.json"}


def _store() -> LocalStore:
    """The S3-compatible store when one is configured and jobs run on a cluster (or, inside a cluster job,
    the store its pod was given), else the local one."""
    in_pod = os.environ.get(POD_STORE_ENV)
    if in_pod:
        from jupyter_kf.datasets.backends.s3 import S3DataStore

        where = json.loads(in_pod)
        prefix = where["base"].removesuffix("datasets").strip("/")
        return S3DataStore(f"s3://{where['bucket']}/{prefix}".rstrip("/"), where["endpoint"], where.get("region"))
    cfg = config.get()
    uri = (cfg.store or "").strip()
    if uri.startswith("s3://") and cfg.store_endpoint:
        from jupyter_kf.training.backends import resolve_name

        if resolve_name(None) == "kubernetes":
            from jupyter_kf.datasets.backends.s3 import S3DataStore

            return S3DataStore(uri, cfg.store_endpoint, cfg.store_region)
    return LocalStore()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _producer() -> dict | None:
    """Inside a job (its supervisor sets KF_JOB_NAME), the job is what wrote the version."""
    job, step = os.environ.get("KF_JOB_NAME"), os.environ.get("KF_PIPELINE_STEP")
    if not (job or step):
        return None
    return {"job": job or step, "rank": os.environ.get("RANK", "0"), **({"step": step} if step else {})}


def _view(manifest: Manifest, **extra) -> DataVersion:
    return DataVersion(name=manifest.name, version=manifest.version, digest=manifest.digest, files=len(manifest.files),
                       size=manifest.size, created=manifest.created, kind=manifest.kind, format=manifest.format,
                       source=manifest.source, producer=manifest.producer, **extra)


def put(name: str, data, *, format: str | None = None, progress=None) -> DataVersion:  # noqa: A002 - the user's word
    """Store ``data`` as the next version of dataset ``name``; the same content as the latest makes none.

    Args:
        name: the dataset (lowercase letters, digits, '-').
        data: a folder or file path (str or Path), a pandas DataFrame (Parquet when pyarrow is installed,
            else pickle), a numpy ndarray (.npy), or plain data (dicts, lists, numbers, strings: JSON).
        format: force ``pickle`` for a value (e.g. a DataFrame when Parquet would lose something).
        progress: called as ``progress(done_bytes, total_bytes)`` while files are hashed and sent.
    Returns:
        The version made (``unchanged`` True when the content was already the latest version).
    Raises:
        InvalidSpec: a bad name; CannotStore: a path that does not exist, a value with no format.
    """
    check_name(name)
    store = _store()
    if isinstance(data, str) and data.startswith("pvc://"):
        return _put_pvc(store, name, data)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data).expanduser()
        files, source = _listed_files(path, str(data))
        kind, fmt, note, writer = "files", None, "", None
        extra = {"file": True} if path.is_file() else {}
    else:
        files, source = None, type(data).__name__
        kind = "object"
        fmt, note, writer = _serializer(data, format)
        extra = {}
    with store.lock(exclusive=False):
        if files is not None:
            entries, new = _add_files(store, files, _known(store, name), progress, name)
        else:
            digest, size, fresh = store.add_written(writer)
            entries, new = {OBJECT_FILES[fmt]: (digest, size)}, int(fresh)
        manifest = Manifest(name=name, version=0, files=entries, kind=kind, format=fmt, source=source,
                            created=_now(), producer=_producer(), extra=extra)
        with store.lock(exclusive=True, name=name):  # two puts of the same content make one version
            latest = store.versions(name)[-1:] or [None]
            if latest[0] is not None and latest[0].digest == manifest.digest:
                return _view(latest[0], unchanged=True)
            store.commit(manifest)
    _log_written(manifest)
    return _view(manifest, new_objects=new, note=note)


def _log_written(manifest: Manifest) -> None:
    """Inside a job, the runner reads back what the cell put (lineage when its results come back)."""
    log = os.environ.get(WRITTEN_LOG_ENV)
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"name": manifest.name, "version": manifest.version, "digest": manifest.digest,
                                "unchanged": False}) + "\n")


def _put_pvc(store: LocalStore, name: str, uri: str) -> DataVersion:
    """A dataset that stays on a claim: pinned by place (the claim and a path in it), not by content."""
    from jupyter_kf.datasets.spec import parse_pvc

    claim, path = parse_pvc(uri)
    where = f"pvc://{claim}/{path}".rstrip("/")
    manifest = Manifest(name=name, version=0, files={}, kind="pvc", format=where, source=where, created=_now(),
                        producer=_producer(), extra={"claim": claim, "path": path})
    with store.lock(exclusive=True, name=name):
        latest = store.versions(name)[-1:] or [None]
        if latest[0] is not None and latest[0].digest == manifest.digest:
            return _view(latest[0], unchanged=True)
        store.commit(manifest)
    return _view(manifest)


def _on_claim(manifest: Manifest, doing: str) -> None:
    if manifest.kind == "pvc":
        raise InvalidSpec(f"{doing}: {manifest.name}@{manifest.version} stays on {manifest.source}, which only cluster "
                          f"jobs mount: %%kf_train --data {manifest.name}:/mnt/{manifest.name}")


def _listed_files(path: Path, given: str) -> tuple[dict, str]:
    """Relative path -> file on disk, for a folder (recursively, sorted) or one file."""
    if not path.exists():
        raise CannotStore(f"kf.data.put: {given!r} does not exist: give a folder, a file, or a value")
    if path.is_file():
        return {path.name: path}, str(path.resolve())
    files = {}
    for folder, dirs, names in os.walk(path):
        dirs.sort()
        for entry in sorted(names):
            full = Path(folder) / entry
            if full.is_file():
                files[full.relative_to(path).as_posix()] = full
    if not files:
        raise CannotStore(f"kf.data.put: folder {given!r} has no files: a dataset needs at least one")
    return files, str(path.resolve())


def _known(store: LocalStore, name: str) -> frozenset:
    """Contents the store surely holds: the latest version's (a put of a changed folder sends only the rest)."""
    latest = store.versions(name)[-1:]
    return frozenset(d for d, _ in latest[0].files.values()) if latest else frozenset()


def _add_files(store: LocalStore, files: dict, known=frozenset(), progress=None, name: str = "") -> tuple[dict, int]:
    """Store every file, several at once (hashing releases the GIL; uploads wait on the network). A failure
    leaves no version: what was stored stays, so the same put run again sends only the rest."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    total = sum(f.stat().st_size for f in files.values())
    done, lock = [0], threading.Lock()

    def tick(size: int) -> None:
        with lock:
            done[0] += size
            if progress is not None:
                progress(done[0], total)

    def add(item):
        rel, full = item
        try:
            return rel, store.add_file(full, known, tick)
        except FileNotFoundError as err:
            raise CannotStore(f"kf.data.put: cannot read {full}: {err.strerror or err}; nothing was made") from None
        except (OSError, KfError) as err:
            raise CannotStore(f"kf.data.put {name}: interrupted ({getattr(err, 'strerror', None) or err}); no version "
                              f"was made: run the same put again to resume (what is stored is not sent twice)"
                              ) from None

    workers = min(store.workers, len(files))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kf-data-put") as pool:
        added = builtins.list(pool.map(add, files.items()))
    entries = {rel: (digest, size) for rel, (digest, size, _) in added}
    return entries, sum(fresh for _, (_, _, fresh) in added)


def _serializer(value, forced: str | None):
    """(format, note, writer(path)) for a value; CannotStore for a type with no format."""
    kind = type(value)
    if forced not in (None, "pickle"):
        raise InvalidSpec(f"format {forced!r} is not accepted: only 'pickle' may be forced (the default is chosen "
                          "by the value's type)")
    if forced == "pickle":
        return "pickle", "pickle, as asked", lambda path: _pickle(value, path)
    if kind.__name__ == "DataFrame" and kind.__module__.split(".")[0] == "pandas":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is not None:
            return "parquet", "", lambda path: value.to_parquet(path)
        return "pickle", "pyarrow is not installed: pickle, not Parquet", lambda path: _pickle(value, path)
    if kind.__name__ == "ndarray" and kind.__module__ == "numpy":
        if value.dtype.hasobject:
            return "pickle", "an object array: pickle, not .npy", lambda path: _pickle(value, path)
        return "npy", "", lambda path: _save_npy(value, path)
    if _plain(value):
        return "json", "", lambda path: Path(path).write_text(json.dumps(value))
    raise CannotStore(f"kf.data.put: a {kind.__name__} has no dataset format: put a folder or file path, a DataFrame, "
                      "an ndarray or plain data (dicts, lists, numbers, strings), or pass format='pickle'")


def _pickle(value, path) -> None:
    import pickle

    with open(path, "wb") as f:
        pickle.dump(value, f, protocol=5)


def _save_npy(value, path) -> None:
    import numpy as np

    with open(path, "wb") as f:
        np.save(f, value, allow_pickle=False)


def _plain(value, depth: int = 0) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if depth > 50:
        return False
    if isinstance(value, (builtins.list, tuple)):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False


def resolve(ref) -> Manifest:
    """The manifest ``ref`` names (``name``: the latest); DatasetNotFound names what exists instead."""
    return _resolve_in(_store(), ref)


def _resolve_in(store: LocalStore, ref) -> Manifest:
    ref = DataRef.parse(ref)
    versions = store.versions(ref.name)
    if not versions:
        raise DatasetNotFound(f"no dataset named {ref.name!r} on the {store.where} store: %kf_data list shows the "
                              "datasets")
    if ref.version is not None:
        for manifest in versions:
            if manifest.version == ref.version:
                return manifest
        have = ", ".join(str(m.version) for m in versions)
        raise DatasetNotFound(f"dataset {ref.name!r} has no version {ref.version}: its versions are {have} "
                              f"(%kf_data show {ref.name})")
    if ref.digest:
        found = [m for m in versions if m.digest.startswith(ref.digest)]
        if len(found) > 1:
            numbers = ", ".join(str(m.version) for m in found)
            raise InvalidSpec(f"{ref} matches versions {numbers}: give more of the hash")
        if not found:
            raise DatasetNotFound(f"dataset {ref.name!r} has no version with hash {ref.digest}: %kf_data show "
                                  f"{ref.name} lists their hashes")
        return found[0]
    return versions[-1]


def get(ref, dest, progress=None) -> Path:
    """Copy a version's files into folder ``dest`` (made if missing); refuses to overwrite a different file.

    Returns the folder. Nothing is written when any file would clash. ``progress(done_bytes, total_bytes)``
    is called as files arrive (several at once from a bucket, each checked against its hash)."""
    manifest = resolve(ref)
    _on_claim(manifest, "%kf_data get")
    store = _store()
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise InvalidSpec(f"%kf_data get: {str(dest)!r} is a file: give a folder to copy {manifest.name}@"
                          f"{manifest.version} into")
    for rel, (digest, size) in manifest.files.items():
        target = dest / rel
        if target.exists() and (not target.is_file() or target.stat().st_size != size
                                or _sha256(target) != digest):
            raise InvalidSpec(f"%kf_data get: {target} exists and differs from {manifest.name}@{manifest.version}'s "
                              "copy: choose an empty folder, or remove it first; nothing was written")
    wanted = [(dest / rel, digest) for rel, (digest, _) in manifest.files.items() if not (dest / rel).exists()]
    for target, _ in wanted:
        target.parent.mkdir(parents=True, exist_ok=True)
    _parallel(store, manifest, [lambda tick, t=t, d=d: store.fetch_to(d, t, tick) for t, d in wanted], progress)
    return dest


def _parallel(store: LocalStore, manifest: Manifest, calls: builtins.list, progress=None) -> None:
    """``call(tick)`` for each, ``store.workers`` at a time; a missing object is one line naming the version."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    total, done, lock = manifest.size, [0], threading.Lock()

    def tick(size: int) -> None:
        with lock:
            done[0] += size
            if progress is not None:
                progress(done[0], total)

    def run(call):
        try:
            call(tick)
        except FileNotFoundError as err:
            raise KfError(f"{manifest.name}@{manifest.version} is damaged: {err}; put the data again to repair it"
                          ) from None

    if calls:
        with ThreadPoolExecutor(max_workers=min(store.workers, len(calls)), thread_name_prefix="kf-data-get") as pool:
            builtins.list(pool.map(run, calls))


def _sha256(path: Path) -> str:
    from jupyter_kf.datasets.store import _hash

    return _hash(path)[0]


def _object(store: LocalStore, manifest: Manifest, digest: str) -> Path:
    try:
        return store.local_object(digest)
    except FileNotFoundError:
        raise KfError(f"{manifest.name}@{manifest.version} is damaged: object sha256:{digest[:12]} is missing from "
                      f"the {store.where} store; put the data again to repair it") from None


def load(ref):
    """A version back in the notebook: the value that was put (DataFrame, ndarray, plain data), or for files
    a read-only folder (a file put alone: that file) to open as usual."""
    manifest = resolve(ref)
    _on_claim(manifest, "kf.data.load")
    store = _store()
    if manifest.kind == "object":
        (digest, _), = manifest.files.values()
        path = _object(store, manifest, digest)
        return _read_value(manifest.format, path)
    from jupyter_kf.datasets.backends.local import view_of

    if hasattr(store, "bucket"):  # bring every file into the cache first, several at once
        _parallel(store, manifest, [lambda tick, d=d: store.local_object(d) for d, _ in manifest.files.values()])
    folder = view_of(store, manifest)
    return folder / next(iter(manifest.files)) if manifest.extra.get("file") else folder


def _read_value(fmt: str, path: Path):
    if fmt == "json":
        return json.loads(path.read_text())
    if fmt == "npy":
        import numpy as np

        return np.load(path, allow_pickle=False)
    if fmt == "parquet":
        import pandas as pd

        return pd.read_parquet(path)
    import pickle

    with open(path, "rb") as f:  # the store is this user's alone (checked private), as the job results are
        return pickle.load(f)


def list() -> DatasetTable:  # noqa: A001 - kf.data.list()
    """Every dataset with its latest version: NAME VERSIONS LATEST SIZE FILES CREATED WHERE."""
    store = _store()
    rows = []
    for name in store.names():
        versions = store.versions(name)
        if not versions:
            continue
        latest = versions[-1]
        rows.append({"name": name, "versions": len(versions), "latest": f"{name}@{latest.version}",
                     "size": format_size(latest.size), "files": len(latest.files), "created": latest.created,
                     "where": store.where})
    return DatasetTable(rows, store.where)


def show(ref) -> DatasetDetail:
    """A dataset's versions, the files of one (``name``: the latest), and who read or wrote each version."""
    shown = resolve(ref)
    store = _store()
    versions = store.versions(shown.name)
    lineage = []
    for manifest in versions:
        if manifest.producer:
            step = manifest.producer.get("step")
            by = f"pipeline step {step}" + (f" (job {manifest.producer['job']})" if manifest.producer.get("job") != step
                                            else "") if step else f"job {manifest.producer.get('job')}"
            lineage.append((manifest.version, "<-", f"written by {by}"))
    for record in store.readers(shown.name):
        if record.get("model"):
            for version in record.get("versions", []):
                lineage.append((version, "->", f"trained model {record['model']} (through job {record['job']})"))
            continue
        reader = {"notebook": "notebook server", "step": "pipeline step"}.get(record.get("reader"), "job")
        gone = "" if _job_exists(record) else f" ({reader} deleted since)"
        for version in record.get("versions", []):
            at = record.get("mounts", {}).get(str(version), "")
            lineage.append((version, "->", f"read by {reader} {record['job']}" + (f" at {at}" if at else "") + gone))
    lineage.sort(key=lambda entry: (entry[0], entry[1] != "<-"))
    return DatasetDetail(shown.name, [_view(m) for m in versions], dict(shown.files), shown.version, lineage)


def _job_exists(record: dict) -> bool:
    """A reader job is still there (a local job's folder); jobs elsewhere, and models, are taken as present."""
    if record.get("model") or record.get("reader") == "step":  # a pipeline step on KFP: no record of it here
        return True
    if record.get("backend", "local") != "local":  # a cluster job: its folder here, if it was made here
        folder = Path(record["record"]) if record.get("record") else None
        return folder is None or not folder.parent.is_dir() or (folder / "meta.json").is_file()
    if record.get("reader") == "notebook":
        return (config.state_root() / "notebooks" / record["job"] / "record.json").is_file()
    return (config.get().jobs_dir / record["job"] / "meta.json").is_file()


def delete(ref, force: bool = False) -> str:
    """Delete one version (``name@N``) or a whole dataset (``name``); refused while a job still there read it,
    unless ``force``. Content no remaining version uses is freed. Returns what was done, as a line."""
    parsed = DataRef.parse(ref)
    store = _store()
    whole = parsed.version is None and parsed.digest is None
    targets = store.versions(parsed.name) if whole else [resolve(parsed)]
    if not targets:
        resolve(parsed)  # raises DatasetNotFound
    numbers = {m.version for m in targets}
    if not force:
        for record in store.readers(parsed.name):
            if record.get("reader") == "step":  # a finished pipeline step's read keeps nothing from deletion
                continue
            used = numbers & set(record.get("versions", []))
            if used and record.get("model"):
                raise DatasetInUse(f"{parsed.name}@{min(used)} trained model {record['model']} (through job "
                                   f"{record['job']}): add --force (force=True) to delete it all the same")
            if used and _job_exists(record):
                if record.get("reader") == "notebook":
                    raise DatasetInUse(f"{parsed.name}@{min(used)} is seen by notebook server {record['job']}: "
                                       f"%kf_notebook delete {record['job']} first, or add --force (force=True)")
                raise DatasetInUse(f"{parsed.name}@{min(used)} is read by job {record['job']}, which is still there: "
                                   f"%kf_delete {record['job']} first, or add --force (force=True)")
    with store.lock(exclusive=True):
        for manifest in targets:
            store.remove_version(parsed.name, manifest.version)
        freed = store.collect()
    what = f"dataset {parsed.name} ({len(targets)} version(s))" if whole else f"{parsed.name}@{targets[0].version}"
    return f"deleted {what}; {freed} stored object(s) freed"


# -- jobs: the versions they read ------------------------------------------------------------------
class MountPlan(builtins.list):
    """The resolved ``(DataMount, Manifest)`` pairs of a job, and the backend they were resolved for."""

    def __init__(self, items, backend: str, store: LocalStore, cache: str | None = None):
        super().__init__(items)
        self.backend, self.store, self.cache = backend, store, cache  # cache: the --data-cache claim, if given
        self.record: str | None = None  # the job's folder on this machine (set by mount_into)


def _cluster_store():
    """The S3-compatible store a cluster job's init step fetches from; InvalidSpec when there is none."""
    cfg = config.get()
    if not ((cfg.store or "").startswith("s3://") and cfg.store_endpoint):
        raise InvalidSpec("--data on a cluster needs the S3-compatible store the pods fetch from: set "
                          "c.KfConfig.store = 's3://bucket/prefix', store_endpoint and store_secret, then %kf_data put "
                          "the data there")
    if not cfg.store_secret:
        raise InvalidSpec("--data on a cluster: c.KfConfig.store_secret is not set: name the Kubernetes Secret "
                          "holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY that the job's init step reads")
    from jupyter_kf.datasets.backends.s3 import S3DataStore

    return S3DataStore(cfg.store, cfg.store_endpoint, cfg.store_region)


def resolve_mounts(items, backend: str, cache: str | None = None) -> MountPlan:
    """Each ``NAME[@V]:MOUNT`` with the exact version it names now; refused before anything is submitted."""
    cfg = config.get()
    on_s3 = (cfg.store or "").startswith("s3://") and cfg.store_endpoint
    store = _cluster_store() if backend != "local" and on_s3 else _store() if backend == "local" else LocalStore()
    resolved = []
    for mount in parse_mounts(items):
        if backend == "local" and not mount.relative:
            raise InvalidSpec(f"--data {mount}: an absolute mount point needs a cluster; on the local backend use a "
                              f"relative one (under the job's working folder), e.g. {mount.ref}:data")
        try:
            manifest = _resolve_in(store, mount.ref)
        except DatasetNotFound:
            if backend != "local" and not on_s3:
                _cluster_store()  # raises: what a cluster job needs is the S3 store
            raise
        if manifest.kind == "pvc" and backend == "local":
            raise InvalidSpec(f"--data {mount}: {manifest.name} lives on claim {manifest.extra.get('claim')!r}, which "
                              "only cluster jobs mount: add --backend kubernetes")
        if manifest.kind != "pvc" and backend != "local" and not on_s3:
            _cluster_store()  # raises: the pods fetch store versions from the S3-compatible store
        resolved.append((mount, manifest))
    return MountPlan(resolved, backend, store, cache)


def mount_into(folder: Path, resolved, record: Path) -> dict:
    """Make the resolved versions visible to the job, and keep its record of the exact versions it reads
    (``record``, JSON). Locally: read-only views under its working folder (``folder``). On a cluster: the
    plan its init step follows (the record itself, with where the store is for pods) and the step's script,
    beside the record in the bundle."""
    backend = getattr(resolved, "backend", "local")
    store = getattr(resolved, "store", None) or _store()
    if isinstance(resolved, MountPlan):
        resolved.record = str(record.parent)
    read = pod_plan(resolved, store)
    if backend == "local":
        from jupyter_kf.datasets.backends.local import mount_view

        read.pop("store", None)
        for mount, manifest in resolved:
            mount_view(store, manifest, folder / mount.mount)
    else:
        record.parent.joinpath("kf_fetch.py").write_bytes(fetch_script())
    config.write_private(record, json.dumps(read))
    return read


def _store_for_pods(store) -> dict:
    if not hasattr(store, "bucket"):
        return {}
    cfg = config.get()
    return {"store": {"endpoint": cfg.store_cluster_endpoint or cfg.store_endpoint, "bucket": store.bucket,
                      "region": store.region, "base": store.base}}


def fetch_script() -> bytes:
    """The init step, as shipped to pods (stdlib only)."""
    from jupyter_kf.datasets import fetch

    return Path(fetch.__file__).read_bytes()


def pod_plan(resolved, store=None) -> dict:
    """What a pod's init step follows (``data.json``): the pinned versions, their mount points, the store,
    and the cache claim the step keeps fetched files in (``c.KfConfig.data_cache``)."""
    from jupyter_kf.datasets.manifests import check_cache_claim

    claim = getattr(resolved, "cache", None) or config.get().data_cache
    cache = check_cache_claim(claim) if hasattr(store or resolved.store, "bucket") else ""
    entries = []
    for mount, manifest in resolved:
        entry = {"name": manifest.name, "version": manifest.version, "digest": manifest.digest, "mount": mount.mount}
        if manifest.kind == "pvc":
            entry["pvc"] = {"claim": manifest.extra["claim"], "path": manifest.extra.get("path", "")}
        elif cache:
            entry["cache"] = cache
        entries.append(entry)
    return {"data": entries, **_store_for_pods(store or resolved.store)}


def record_reads(job: str, resolved: list, backend: str = "local", reader: str = "job") -> None:
    """Lineage: ``job`` (a notebook server's name when ``reader`` is "notebook") read these versions (each
    dataset keeps a record per reader, where the data is)."""
    store = getattr(resolved, "store", None) or _store()
    by_name: dict[str, dict] = {}
    for mount, manifest in resolved:
        entry = by_name.setdefault(manifest.name, {"job": job, "backend": backend, "created": _now(), "versions": [],
                                                   "mounts": {}, "reader": reader,
                                                   "record": getattr(resolved, "record", None)})
        entry["versions"].append(manifest.version)
        entry["mounts"][str(manifest.version)] = mount.mount
    for name, entry in by_name.items():
        store.add_reader(name, job if reader == "job" else f"{reader}-{job}", entry)


def record_writes(job: str, written: builtins.list, backend: str = "local") -> None:
    """Lineage, when a job's results come back: the versions its cell put (``kf.data.put`` in the job)."""
    store = _store()
    by_name: dict[str, builtins.list] = {}
    for entry in written:
        by_name.setdefault(entry["name"], []).append(entry["version"])
    for name, versions in by_name.items():
        store.add_reader(name, f"writer-{job}", {"job": job, "backend": backend, "created": _now(), "reader": "writer",
                                                 "wrote": sorted(set(versions))})


def pod_store_env() -> dict:
    """What a cluster pod needs to put and load versions itself (``$KF_DATA_STORE``; credentials go by
    Secret reference): empty when no S3-compatible store is configured."""
    cfg = config.get()
    if not ((cfg.store or "").startswith("s3://") and cfg.store_endpoint and cfg.store_secret):
        return {}
    from jupyter_kf.datasets.backends.s3 import S3DataStore

    store = S3DataStore(cfg.store, cfg.store_endpoint, cfg.store_region)
    return {POD_STORE_ENV: json.dumps(_store_for_pods(store)["store"], sort_keys=True)}


def pod_files() -> dict[str, bytes]:
    """The bundle files that let a pod's cell put and load versions without jupyter_kf installed."""
    from jupyter_kf.datasets import pod

    return {"kf_fetch.py": fetch_script(), "kf_data.py": Path(pod.__file__).read_bytes()}


# -- pipeline steps: data: tags ---------------------------------------------------------------------
def step_plan(step: str, items) -> dict:
    """A pipeline step's ``data:`` tags resolved now, when the pipeline is compiled: the exact versions the
    step reads, their mount points, and where pods fetch them from. One line for any bad tag."""
    try:
        mounts = parse_mounts(items)
    except InvalidSpec as err:
        raise InvalidSpec(f"step {step!r}: {str(err).replace('--data', 'data:')}") from None
    store = _store()
    entries = []
    for mount in mounts:
        try:
            manifest = _resolve_in(store, mount.ref)
        except KfError as err:
            raise type(err)(f"step {step!r}, tag data:{mount}: {err}") from None
        if manifest.kind == "pvc":
            raise InvalidSpec(f"step {step!r}, tag data:{mount}: {manifest.name} stays on {manifest.source}, which a "
                              "pipeline step does not mount: put its files in the store (%kf_data put)")
        entries.append({"name": manifest.name, "version": manifest.version, "digest": manifest.digest,
                        "mount": mount.mount})
    return {"data": entries, **_store_for_pods(store)}


def pod_sources() -> dict[str, str]:
    """``kf_fetch`` and ``kf_data`` as source, for pipeline steps whose image lacks jupyter_kf."""
    files = pod_files()
    return {"kf_fetch": files["kf_fetch.py"].decode(), "kf_data": files["kf_data.py"].decode()}


def mount_for_step(plan: dict, workdir: str, job: str | None = None) -> builtins.list[str]:
    """A local pipeline run: each pinned version as a read-only view at its mount point (relative: under
    ``workdir``); a link an earlier run left there is replaced, anything else is refused. Returns the places."""
    from jupyter_kf.datasets.backends.local import mount_view
    from jupyter_kf.datasets.spec import DataMount

    store, places, read = _store(), [], []
    for entry in plan["data"]:
        ref = f"{entry['name']}@{entry['version']}"
        manifest = _resolve_in(store, ref)
        if manifest.digest != entry["digest"]:
            raise KfError(f"{ref} is no longer the version pinned when the pipeline was compiled: compile it again")
        place = Path(workdir) / entry["mount"]
        _clear_own_link(store, place, ref)
        mount_view(store, manifest, place)
        places.append(str(place))
        read.append((DataMount.parse(f"{ref}:{entry['mount']}"), manifest))
    if job:
        record_reads(job, read, "local")
    return places


def _clear_own_link(store: LocalStore, place: Path, ref: str) -> None:
    if place.is_symlink() and str(Path(os.readlink(place))).startswith(str(store.root / "views")):
        place.unlink()
    elif place.exists() or place.is_symlink():
        raise KfError(f"data:{ref}:{place.name}: {place} exists already: a dataset needs a mount point of its own "
                      "(change the tag's MOUNT)")


def record_model(model: str, job: str) -> builtins.list[str]:
    """Lineage: model ``model`` was trained by ``job``, so by the versions that job read (and wrote). Returns
    those versions (``name@N``); each dataset keeps a record for the model."""
    store = _store()
    found = []
    for name in store.names():
        versions = set()
        for record in store.readers(name):
            if record.get("job") == job and not record.get("model"):
                versions.update(record.get("versions", []))
        versions.update(m.version for m in store.versions(name) if (m.producer or {}).get("job") == job)
        if versions:
            store.add_reader(name, f"model-{model}", {"model": model, "job": job, "created": _now(),
                                                      "versions": sorted(versions)})
            found += [f"{name}@{v}" for v in sorted(versions)]
    return found
