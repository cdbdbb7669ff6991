"""The server's state: one ``KfManager`` in ``web_app.settings``, shared by every browser tab.

Listings are served from snapshots that a background thread keeps fresh, so a request never scans a
folder nor calls the cluster: local jobs are re-read only when a job folder's files change (stat and
mtime), cluster jobs are built from the watch-fed ``NamespaceCache`` of the Kubernetes backend, and the
other sections (notebook servers, models, pipeline runs, searches, datasets, volumes) are listed by the
background thread while a client is looking at them. A snapshot holds the reply's JSON bytes, ready to send.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from traitlets import Float, List, Unicode
from traitlets.config import Configurable

from jupyter_kf.errors import KfError

SECTIONS = ("jobs", "notebooks", "models", "pipelines", "experiments", "data")


class NamespaceNotAllowed(KfError):
    http_status = 403


class KfServer(Configurable):
    """Settings of the REST API: ``c.KfServer.namespaces = ["team-a"]`` in ``jupyter_server_config.py``."""

    namespaces = List(
        Unicode(), default_value=[],
        help="Kubernetes namespaces the panel may show and act in; empty: only the kubeconfig context's "
             "namespace (and c.KfConfig.namespace).",
    ).tag(config=True)
    refresh_interval = Float(0.5, help="Seconds between checks of the local job folders.").tag(config=True)
    list_interval = Float(2.0, help="Seconds between listings of notebook servers, models and pipeline runs.").tag(
        config=True)
    data_interval = Float(
        10.0, help="Seconds between listings of datasets (each lists every version: a remote store is asked this "
                   "often while the panel shows them); a delete through the panel refreshes at once.").tag(config=True)
    idle_after = Float(60.0, help="Stop refreshing a listing nobody asked for in this many seconds.").tag(config=True)


@dataclass
class Snapshot:
    """One listing as the API serves it, with the error that stopped the last refresh, if any."""

    body: bytes = b""
    version: int = 0
    error: KfError | None = None
    updated: float = 0.0


@dataclass
class _Entry:
    refresh: Callable[[], Any]  # returns the reply dict, or raises KfError
    interval: float
    snapshot: Snapshot = field(default_factory=Snapshot)
    ready: threading.Event = field(default_factory=threading.Event)
    due: float = 0.0
    dirty: bool = True
    last_access: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


class LocalJobsCache:
    """Statuses of the local backend's jobs. A finished job never changes: it is read once (from the backend's
    index when it has one) and looked at again only when its folder goes or is replaced, which the jobs
    folder's own stamp shows. Jobs not finished are re-read when their files change, and while active
    every time (their status also depends on their supervisor being alive)."""

    FINISHED = frozenset({"Succeeded", "Failed", "Cancelled"})

    def __init__(self, root: Path):
        from jupyter_kf.training.backends.local import LocalBackend

        self.backend = LocalBackend(root)
        self.root = Path(root)
        self._stamps: dict[str, tuple] = {}
        self._statuses: dict[str, tuple[float, dict]] = {}  # name -> (created_ts, status dict)
        self._metas: dict[str, tuple | None] | None = None  # name -> its meta.json stamp (a replaced job: new)
        self._root_stamp: tuple | None = None
        self._names: list[str] = []
        self.version = 0  # counts changes, so that several listings can share this cache

    @staticmethod
    def _stamp(path: Path | str) -> tuple | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_ino, st.st_size

    def _seed(self) -> bool:
        """The first refresh: finished jobs from the backend's index, their folders not even stat'ed."""
        for created_ts, data, indexed in self.backend.dict_rows():
            if indexed:
                self._statuses[data["name"]] = (created_ts, data)
        return bool(self._statuses)

    def _rescan(self, stamps: bool = True) -> bool:
        """The jobs folder changed: forget jobs that went; a replaced job (the same name, a new meta.json: a
        folder's inode may be reused) is read again. Without ``stamps`` (the first listing, which has nothing
        to compare them with) no job's files are stat'ed: the next refresh takes them, off the first request."""
        changed = False
        try:
            entries = [e for e in os.scandir(self.root) if not e.name.startswith(".") and e.is_dir()]
        except OSError:
            entries = []
        names = [e.name for e in entries]
        for gone in set(self._statuses) - set(names):
            self._statuses.pop(gone, None)
            changed = True
        metas = {} if stamps else None
        for entry in entries if stamps else ():  # string paths: 10,000 pathlib joins cost more than the stats
            name = entry.name
            metas[name] = self._stamp(os.path.join(entry.path, "meta.json"))
            if self._metas is not None and self._metas.get(name, metas[name]) != metas[name]:
                self._stamps.pop(name, None)
                if self._statuses.pop(name, None) is not None:
                    changed = True
        self._metas, self._names = metas, names
        for gone in set(self._stamps) - set(names):
            self._stamps.pop(gone, None)
        return changed

    def refresh(self) -> bool:
        """Bring the statuses up to date; True when something changed."""
        first = self._root_stamp is None
        changed = self._seed() if first and not self._statuses else False
        root_stamp = self._stamp(self.root)
        if root_stamp != self._root_stamp or self._metas is None:  # a job folder came or went, or no stamps yet
            self._root_stamp = root_stamp
            changed = self._rescan(stamps=not first) or changed
        for name in self._names:
            known = self._statuses.get(name)
            if known is not None and known[1]["phase"] in self.FINISHED:
                continue
            changed = self._read(name, known) or changed
        if changed:
            self.version += 1
        return changed

    def _read(self, name: str, known: tuple | None) -> bool:
        """Read one job not finished (or not known yet) when its files changed, or while active."""
        folder = self.root / name
        stamp = (self._stamp(folder / "meta.json"), self._stamp(folder / "status.json"), self._stamp(folder))
        active = known is not None and known[1]["phase"] in ("Pending", "Running")
        if stamp == self._stamps.get(name) and not active:
            return False
        self._stamps[name] = stamp
        if stamp[0] is None:
            return self._statuses.pop(name, None) is not None
        try:
            meta = json.loads((folder / "meta.json").read_text())
            status = self.backend.status_of(folder, meta).to_dict()
            if meta.get("pipeline"):  # a step of a local pipeline run
                status["pipeline"] = {k: meta["pipeline"].get(k) for k in ("run", "step")}
        except (OSError, ValueError, KeyError):
            self._stamps.pop(name, None)  # half-written: try again next time
            return False
        entry = (meta.get("created_ts", 0), status)
        if known == entry:
            return False
        self._statuses[name] = entry
        return True

    def jobs(self) -> list[dict]:
        return [status for _, status in sorted(self._statuses.values(), key=lambda pair: -pair[0])]


class ClusterJobsCache:
    """Statuses of our jobs in one namespace, from the Kubernetes backend's watch-fed ``NamespaceCache``."""

    def __init__(self, namespace: str):
        from jupyter_kf.training.backends.kubernetes import KubernetesBackend

        self.backend = KubernetesBackend()
        self.namespace = namespace
        self.cache = None
        self.dirty = threading.Event()
        self.dirty.set()

    def _start(self) -> None:
        self.backend.check_access(self.namespace)
        self.cache = self.backend.cache(self.namespace)
        threading.Thread(target=self._watch, name=f"kf-server-{self.namespace}", daemon=True).start()

    def _watch(self) -> None:
        cache = self.cache
        while True:
            with cache.changed:
                cache.changed.wait(5.0)
            self.dirty.set()

    def jobs(self) -> list[dict]:
        if self.cache is None:
            self._start()
        return [status.to_dict() for status in self.backend.watched(self.namespace)]


class KfManager:
    """Listings for every section, backend and namespace, kept fresh by one background thread."""

    def __init__(self, settings: KfServer, log=None):
        self.settings = settings
        self.log = log
        self._entries: dict[tuple, _Entry] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._local_jobs: dict[Path, LocalJobsCache] = {}
        self._local_lock = threading.Lock()  # the jobs and pipelines listings share a LocalJobsCache
        self._cluster_jobs: dict[str, ClusterJobsCache] = {}
        self._check_state()
        self._thread = threading.Thread(target=self._run, name="kf-server-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def _check_state(self) -> None:
        """The state folder made private (an old tree's modes repaired) at start; a refused one is said once
        here and again by every request that needs it."""
        from jupyter_kf import config

        try:
            config.state_root()
        except (KfError, OSError) as err:
            if self.log:
                self.log.warning("jupyter_kf: %s", err)

    # -- what the panel may choose ---------------------------------------------------------------
    def backend_name(self, requested: str | None) -> str:
        from jupyter_kf.training.backends import resolve_name

        name = resolve_name(requested or None)
        if name not in ("local", "kubernetes"):
            from jupyter_kf.errors import InvalidSpec

            raise InvalidSpec(f"backend {name!r} is unknown: use local, kubernetes or auto")
        return name

    def default_namespace(self) -> str:
        from jupyter_kf import config

        if config.get().namespace:
            return config.get().namespace
        try:
            from jupyter_kf.kube.client import connect

            return connect().namespace
        except Exception:  # noqa: BLE001 - no cluster: the allow-list or "default" stands in
            return self.settings.namespaces[0] if self.settings.namespaces else "default"

    def allowed_namespaces(self) -> list[str]:
        if self.settings.namespaces:
            return list(self.settings.namespaces)
        return [self.default_namespace()]

    def namespace(self, backend: str, requested: str | None) -> str | None:
        """The namespace a request acts in (None on the local backend); refuses one outside the allow-list."""
        if backend == "local":
            return None
        allowed = self.allowed_namespaces()
        namespace = requested or (self.default_namespace() if not self.settings.namespaces else None) or allowed[0]
        if namespace not in allowed:
            raise NamespaceNotAllowed(
                f"namespace {namespace!r} is not allowed on this server: it allows {', '.join(allowed)} "
                "(an admin sets c.KfServer.namespaces)")
        return namespace

    def info(self) -> dict:
        from jupyter_kf.training.backends import resolve_name

        kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST")) or os.path.exists(kubeconfig.split(os.pathsep)[0])
        default = resolve_name(None)
        return {
            "backend": default,
            "backends": ["local", "kubernetes"] if cluster or default == "kubernetes" else ["local"],
            "cluster_configured": cluster,
            "namespaces": self.allowed_namespaces() if cluster or default == "kubernetes" else [],
            "namespace": self.default_namespace() if cluster or default == "kubernetes" else None,
            "sections": {name: True for name in SECTIONS},
        }

    # -- listings ----------------------------------------------------------------------------------
    def listing(self, section: str, backend: str, namespace: str | None) -> Snapshot:
        """The current snapshot (waiting for the first one); raises the KfError of a failed first refresh."""
        key = (section, backend, namespace)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = self._new_entry(section, backend, namespace)
                self._wake.set()
        entry.last_access = time.monotonic()
        if not entry.ready.is_set() or entry.dirty:
            self._refresh(entry)  # the first request (or the first after a quiet spell) fills it, off the loop
        if entry.snapshot.error is not None:
            raise entry.snapshot.error
        return entry.snapshot

    def peek(self, section: str, backend: str, namespace: str | None) -> Snapshot | None:
        """The snapshot if one is ready, without blocking (the event loop's fast path); None otherwise."""
        entry = self._entries.get((section, backend, namespace))
        if entry is None or not entry.ready.is_set():
            return None
        now = time.monotonic()
        if now - entry.last_access > self.settings.idle_after:  # not refreshed while nobody looked
            entry.dirty = True
            return None
        entry.last_access = now
        if entry.snapshot.error is not None:
            raise entry.snapshot.error
        return entry.snapshot

    def invalidate(self, section: str | None = None) -> None:
        """Something was changed through the API: refresh now rather than at the next tick."""
        with self._lock:
            entries = [e for k, e in self._entries.items() if section is None or k[0] == section]
        for entry in entries:
            entry.dirty = True
            entry.due = 0.0
        self._wake.set()

    def refresh_now(self, section: str, backend: str, namespace: str | None) -> None:
        entry = self._entries.get((section, backend, namespace))
        if entry is not None:
            entry.dirty = True
            self._refresh(entry)

    def _new_entry(self, section: str, backend: str, namespace: str | None) -> _Entry:
        interval = self.settings.list_interval
        if section == "jobs" and backend == "local":
            from jupyter_kf import config

            root = config.get().jobs_dir
            cache = self._local_jobs.setdefault(root, LocalJobsCache(root))

            seen = [-1]

            def refresh():
                with self._local_lock:
                    cache.refresh()
                    if cache.version == seen[0]:
                        return None
                    seen[0] = cache.version
                    return {"jobs": cache.jobs()}

            entry = _Entry(refresh, self.settings.refresh_interval)
            return entry
        if section == "jobs":
            cluster = self._cluster_jobs.setdefault(namespace, ClusterJobsCache(namespace))

            def refresh():
                if not cluster.dirty.is_set() and entry.ready.is_set() and not entry.dirty:
                    return None
                cluster.dirty.clear()
                return {"jobs": cluster.jobs()}

            entry = _Entry(refresh, self.settings.refresh_interval)
            return entry
        if section == "pipelines":  # local runs (steps from the local jobs cache), and KFP's when configured
            from jupyter_kf import config
            from jupyter_kf.server import sections

            root = config.get().jobs_dir
            cache = self._local_jobs.setdefault(root, LocalJobsCache(root))

            def refresh():
                with self._local_lock:
                    cache.refresh()
                    jobs = cache.jobs()
                remote, trouble = sections.list_kfp_runs(namespace)
                runs = sorted(sections.list_pipeline_runs(jobs) + remote, key=lambda r: r["created"], reverse=True)
                return {"pipelines": runs, "kfp_error": trouble}

            return _Entry(refresh, interval)
        lister = LISTERS[section]
        if section == "data":
            interval = max(interval, self.settings.data_interval)

        def refresh():
            listed = lister(backend, namespace)
            return listed if isinstance(listed, dict) else {section: listed}

        return _Entry(refresh, interval)

    def _refresh(self, entry: _Entry) -> None:
        with entry.lock:
            if entry.ready.is_set() and not entry.dirty and time.monotonic() < entry.due:
                return
            try:
                reply = entry.refresh()
                if reply is not None:
                    entry.snapshot = Snapshot(json.dumps(reply).encode(), entry.snapshot.version + 1, None,
                                              time.time())
                elif entry.snapshot.error is not None:
                    entry.snapshot = Snapshot(entry.snapshot.body, entry.snapshot.version, None, time.time())
            except KfError as err:
                entry.snapshot = Snapshot(entry.snapshot.body, entry.snapshot.version, err, time.time())
            except Exception as err:  # noqa: BLE001 - keep serving; say what broke
                if self.log:
                    self.log.exception("jupyter_kf: refreshing a listing failed")
                entry.snapshot = Snapshot(entry.snapshot.body, entry.snapshot.version,
                                          KfError(f"listing failed: {type(err).__name__}: {err}"), time.time())
            entry.dirty = False
            # A failing listing (no permission, cluster down) is retried less often than a healthy one.
            entry.due = time.monotonic() + (
                entry.interval if entry.snapshot.error is None else max(entry.interval, 5.0)
            )
            entry.ready.set()

    def _run(self) -> None:
        while not self._stopped:
            now = time.monotonic()
            with self._lock:
                entries = list(self._entries.items())
            for key, entry in entries:
                if now - entry.last_access > self.settings.idle_after:
                    if key[0] != "jobs":  # nobody looks: forget it (the next request lists afresh)
                        with self._lock:
                            self._entries.pop(key, None)
                    continue  # a jobs cache is kept, and brought up to date by the next request
                if entry.ready.is_set() and (entry.dirty or now >= entry.due):
                    self._refresh(entry)
            self._wake.wait(min(self.settings.refresh_interval, 0.5))
            self._wake.clear()


def _list_notebooks(backend: str, namespace: str | None) -> list[dict]:
    from jupyter_kf import notebooks

    return [without_token(status.to_dict()) for status in notebooks.list(backend=backend, namespace=namespace)]


def without_token(status: dict) -> dict:
    """A notebook server's status without a URL that carries its token: listings are for whoever may read;
    the token (it runs code) comes only from ``notebooks/<name>/url``, which needs the right to execute
    (the panel's Open asks it there when a status has no URL)."""
    url = status.get("url") if isinstance(status, dict) else None
    if url:
        from urllib.parse import parse_qs, urlsplit

        if "token" in parse_qs(urlsplit(url).query):
            status = {**status, "url": ""}
    return status


def _list_models(backend: str, namespace: str | None) -> list[dict]:
    from jupyter_kf.server import sections

    return sections.list_models(backend, namespace)


def _list_experiments(backend: str, namespace: str | None) -> list[dict]:
    from jupyter_kf.server import sections

    return sections.list_experiments(backend, namespace)


def _list_datasets(backend: str, namespace: str | None) -> dict:
    """Datasets live in the configured store whatever the backend: the same listing for every choice."""
    from jupyter_kf.server import sections

    return {"datasets": sections.list_datasets()}


def _list_volumes(backend: str, namespace: str | None) -> dict:
    from jupyter_kf.server import sections

    return sections.list_volumes(backend, namespace)


# A lister returns the reply's list (sent as ``{section: list}``) or the whole reply (a dict).
LISTERS: dict[str, Callable[[str, str | None], list | dict]] = {
    "notebooks": _list_notebooks,
    "models": _list_models,
    "experiments": _list_experiments,
    "data": _list_datasets,
    "volumes": _list_volumes,
}
