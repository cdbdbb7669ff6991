"""The server's state without HTTP: the local jobs cache (stat-based), the allow-list, the OpenAPI document."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from jupyter_kf import config
from jupyter_kf.server import handlers
from jupyter_kf.server.manager import KfManager, KfServer, LocalJobsCache, NamespaceNotAllowed
from jupyter_kf.training import api

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def write_job(root: Path, name: str, phase: str = "Succeeded", created: float | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    created = created or time.time()
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    spec = {"name": name, "workers": 1, "cpu": None, "memory": None, "gpus": 0}
    (folder / "meta.json").write_text(json.dumps({"spec": spec, "created": iso, "created_ts": created}))
    (folder / "status.json").write_text(json.dumps({"phase": phase, "workers": [{"rank": 0, "phase": phase}]}))
    return folder


@pytest.fixture
def counted(monkeypatch):
    from jupyter_kf.training.backends import local

    reads: list[str] = []
    original = local.LocalBackend.status_of
    monkeypatch.setattr(local.LocalBackend, "status_of",
                        lambda self, folder, meta: reads.append(folder.name) or original(self, folder, meta))
    return reads


def test_local_cache_reads_a_job_only_when_its_files_change(tmp_path, counted):
    root = tmp_path / "jobs"
    write_job(root, "a", created=100)
    write_job(root, "b", created=200)
    cache = LocalJobsCache(root)

    assert cache.refresh() is True
    assert [j["name"] for j in cache.jobs()] == ["b", "a"]  # newest first
    assert sorted(counted) == ["a", "b"]

    counted.clear()
    assert cache.refresh() is False
    assert counted == []  # nothing changed: nothing read

    time.sleep(0.01)
    status = root / "a" / "status.json"
    status.write_text(json.dumps({"phase": "Failed", "message": "boom", "workers": [{"rank": 0, "phase": "Failed"}]}))
    assert cache.refresh() is False and counted == []  # a finished job never changes: its files are not read

    import shutil

    shutil.rmtree(root / "a")
    write_job(root, "a", phase="Failed", created=100)  # replaced: the same name, a new job
    assert cache.refresh() is True
    assert counted == ["a"]
    assert {j["name"]: j["phase"] for j in cache.jobs()} == {"a": "Failed", "b": "Succeeded"}

    shutil.rmtree(root / "b")
    assert cache.refresh() is True
    assert [j["name"] for j in cache.jobs()] == ["a"]


def test_local_cache_starts_from_the_index_without_reading_finished_jobs(tmp_path, counted):
    root = tmp_path / "jobs"
    for i in range(5):
        write_job(root, f"j{i}", created=100 + i)
    from jupyter_kf.training.backends.local import LocalBackend

    LocalBackend(root).list()  # the first listing indexes the finished jobs
    counted.clear()
    cache = LocalJobsCache(root)
    assert cache.refresh() is True and counted == []
    assert [j["name"] for j in cache.jobs()] == ["j4", "j3", "j2", "j1", "j0"]
    write_job(root, "new", phase="Failed")
    assert cache.refresh() is True and counted == ["new"]


def test_local_cache_skips_half_written_jobs_and_folders_without_meta(tmp_path):
    root = tmp_path / "jobs"
    write_job(root, "ok")
    (root / "preparing").mkdir()  # prepare() made it, meta.json not written yet
    (root / "torn").mkdir()
    (root / "torn" / "meta.json").write_text("{not json")
    cache = LocalJobsCache(root)
    cache.refresh()
    assert [j["name"] for j in cache.jobs()] == ["ok"]
    write_job(root, "torn")
    cache.refresh()
    assert sorted(j["name"] for j in cache.jobs()) == ["ok", "torn"]


def test_local_cache_rereads_active_jobs_each_time(tmp_path, counted):
    """A running job's status also depends on its supervisor being alive, which no file says."""
    root = tmp_path / "jobs"
    write_job(root, "live", phase="Running")
    cache = LocalJobsCache(root)
    cache.refresh()
    counted.clear()
    cache.refresh()
    cache.refresh()
    assert counted == ["live", "live"]


def test_manager_serves_a_snapshot_and_follows_changes(kf_state_dir):
    manager = KfManager(KfServer(refresh_interval=0.05))
    try:
        first = manager.listing("jobs", "local", None)
        assert json.loads(first.body) == {"jobs": []}
        assert manager.peek("jobs", "local", None) is first
        api.train("x = 1", name="mgr-job", wait=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            snapshot = manager.peek("jobs", "local", None)
            if snapshot.version > first.version and json.loads(snapshot.body)["jobs"][0]["phase"] == "Succeeded":
                break
            time.sleep(0.05)
        else:
            pytest.fail("the snapshot never showed the new job")
        assert json.loads(snapshot.body)["jobs"][0]["name"] == "mgr-job"
    finally:
        manager.stop()


def test_allow_list(monkeypatch):
    manager = KfManager(KfServer(namespaces=["team-a", "team-b"]))
    try:
        assert manager.namespace("local", "anything") is None  # no namespaces on this machine
        assert manager.namespace("kubernetes", "team-b") == "team-b"
        assert manager.namespace("kubernetes", None) == "team-a"  # the first allowed, without a cluster
        with pytest.raises(NamespaceNotAllowed) as err:
            manager.namespace("kubernetes", "kube-system")
        assert str(err.value) == ("namespace 'kube-system' is not allowed on this server: it allows team-a, team-b "
                                  "(an admin sets c.KfServer.namespaces)")
        assert err.value.http_status == 403
    finally:
        manager.stop()


def test_without_allow_list_only_the_configured_namespace(monkeypatch):
    monkeypatch.setattr(config.get(), "namespace", "mine")
    manager = KfManager(KfServer())
    try:
        assert manager.allowed_namespaces() == ["mine"]
        assert manager.namespace("kubernetes", None) == "mine"
        with pytest.raises(NamespaceNotAllowed):
            manager.namespace("kubernetes", "theirs")
    finally:
        manager.stop()


def test_allow_list_from_traitlets_config():
    from traitlets.config import Config

    cfg = Config()
    cfg.KfServer.namespaces = ["team-a"]
    assert KfServer(config=cfg).namespaces == ["team-a"]


def test_openapi_describes_every_route_and_method():
    doc = yaml.safe_load(OPENAPI.read_text())
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item
                  if method in ("get", "post", "delete", "put", "patch")}

    class App:
        def __init__(self):
            self.settings = {"base_url": "/"}
            self.routes = []

        def add_handlers(self, host, routes):
            self.routes += routes

    app = App()
    handlers.setup_handlers(app, manager=None)
    served = set()
    for pattern, handler in app.routes:
        path = pattern.replace("/jupyter-kf/api", "")
        paths = [path.replace("(?P<action>stop|start)", a) for a in ("stop", "start")] if "(?P<action>" in path else [path]
        for p in paths:
            p = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", p)
            for method in ("get", "post", "delete", "put", "patch"):
                if any(method in vars(cls) for cls in handler.__mro__ if cls.__module__ == handlers.__name__):
                    served.add((p, method.upper()))
    assert documented == served, (documented ^ served)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "delete"):
                assert "403" in op["responses"], (path, method)


def test_a_listing_nobody_looks_at_is_not_refreshed_but_is_fresh_when_asked(kf_state_dir, counted):
    manager = KfManager(KfServer(refresh_interval=0.05, idle_after=0.2))
    try:
        assert json.loads(manager.listing("jobs", "local", None).body) == {"jobs": []}
        time.sleep(0.3)  # idle now
        write_job(config.get().jobs_dir, "quiet")
        time.sleep(0.3)
        assert counted == []  # the background thread left the idle listing alone
        assert manager.peek("jobs", "local", None) is None  # stale: the handler must ask for a fresh one
        assert [j["name"] for j in json.loads(manager.listing("jobs", "local", None).body)["jobs"]] == ["quiet"]
    finally:
        manager.stop()
