"""kf.notebooks on the local backend: real Jupyter servers, reached over HTTP with their tokens."""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from jupyter_kf import notebooks
from jupyter_kf.errors import InvalidSpec
from jupyter_kf.notebooks import NotebookExists, NotebookNotFound
from jupyter_kf.notebooks.backends.local import LocalNotebooks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def servers(kf_state_dir, monkeypatch):
    """No GPU unless a test says so; every server a test started is gone after it."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    yield LocalNotebooks()
    local = LocalNotebooks()
    for status in local.list():
        local.delete(status.name, keep_workspace=False)


def http_get(url, token=None):
    headers = {"Authorization": f"token {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
        return resp.status, json.loads(resp.read() or b"null")


def record(state, name):
    """The server's record, with its token (kept in a file of its own)."""
    folder = state / "notebooks" / name
    return {**json.loads((folder / "record.json").read_text()), "token": (folder / "token").read_text()}


def test_a_real_server_created_reached_stopped_started_deleted(servers, kf_state_dir):
    ready = notebooks.create("scratch", data_volumes=["datasets:/data"], timeout="90")
    assert ready.phase == "Ready" and ready.backend == "local"
    rec = record(kf_state_dir, "scratch")
    port, token = rec["port"], rec["token"]
    assert ready.url == f"http://127.0.0.1:{port}/lab?token={token}" and notebooks.url("scratch") == ready.url
    assert http_get(f"http://127.0.0.1:{port}/api/status", token)[0] == 200
    with pytest.raises(urllib.error.HTTPError) as err:  # its own token, not an open server
        http_get(f"http://127.0.0.1:{port}/api/status", "wrong")
    assert err.value.code == 403
    workspace = Path(rec["workspace"])
    assert (workspace / "data").resolve() == (kf_state_dir / "volumes" / "datasets").resolve()
    (workspace / "notes.txt").write_text("kept")
    _, listing = http_get(f"http://127.0.0.1:{port}/api/contents", token)
    assert {"notes.txt", "data"} <= {item["name"] for item in listing["content"]}
    assert [(s.name, s.phase) for s in notebooks.list()] == [("scratch", "Ready")]

    stopped = notebooks.stop("scratch")
    assert stopped.phase == "Stopped"
    with pytest.raises(urllib.error.URLError):
        http_get(f"http://127.0.0.1:{port}/api/status", token)
    assert (workspace / "notes.txt").read_text() == "kept"

    started = notebooks.start("scratch", timeout="90")
    rec = record(kf_state_dir, "scratch")
    assert started.phase == "Ready" and rec["token"] == token and rec["port"] == port  # the same link works again
    assert http_get(f"http://127.0.0.1:{rec['port']}/api/contents/notes.txt", token)[1]["name"] == "notes.txt"

    pid = rec["pid"]
    assert notebooks.delete("scratch", keep_workspace=False) is None
    assert not workspace.exists() and not (kf_state_dir / "notebooks" / "scratch").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_it_survives_the_creating_kernel_and_is_found_again(servers, kf_state_dir):
    """The creating process ends (as a kernel restart would end it); the server goes on and list finds it."""
    code = "from jupyter_kf import notebooks; print(notebooks.create('survivor', timeout='90').phase)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.stdout.strip() == "Ready", out.stderr[-2000:]
    found = notebooks.list()
    assert [(s.name, s.phase) for s in found] == [("survivor", "Ready")]
    rec = record(kf_state_dir, "survivor")
    assert http_get(f"http://127.0.0.1:{rec['port']}/api/status", rec["token"])[0] == 200
    kept = notebooks.delete("survivor", keep_workspace=True)
    assert kept and Path(kept).is_dir() and notebooks.list() == []


def test_gpus_are_chosen_through_cuda_visible_devices(servers, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert servers._assign_gpus(2) == ["0", "1"]
    with pytest.raises(InvalidSpec) as err:
        servers._assign_gpus(3)
    assert str(err.value) == "--gpus 3: only 2 of this machine's 2 GPU(s) are free"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(InvalidSpec) as err:
        notebooks.create("gpu", gpus=1)
    assert str(err.value).startswith("--gpus 1: no GPU is visible on this machine")
    assert notebooks.list() == []


def test_gpu_server_gets_its_devices_and_another_is_refused(servers, monkeypatch, kf_state_dir):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    started = []  # the environment the server is started with (its /proc entry empties if it exits early)
    real_popen = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **kw: started.append(kw["env"]) or real_popen(*a, **kw))
    notebooks.create("one-gpu", gpus=1, wait=False)
    assert started[0]["CUDA_VISIBLE_DEVICES"] == "3" and "JUPYTER_TOKEN" in started[0]
    with pytest.raises(InvalidSpec) as err:
        notebooks.create("two", gpus=1, wait=False)
    assert str(err.value) == "--gpus 1: only 0 of this machine's 1 GPU(s) are free (GPU 3: one-gpu); stop one, or ask for fewer"
    assert [s.name for s in notebooks.list()] == ["one-gpu"]


def test_a_shared_workspace_is_never_deleted_with_the_server(servers, kf_state_dir):
    notebooks.create("shared", workspace="pvc:team-home", wait=False)
    shared = kf_state_dir / "volumes" / "team-home"
    assert record(kf_state_dir, "shared")["workspace"] == str(shared)
    (shared / "keep.txt").write_text("x")
    assert notebooks.delete("shared", confirm=lambda *a: pytest.fail("nothing to ask: the workspace is shared")) is None
    assert (shared / "keep.txt").exists()


def test_bad_input_and_missing_servers_are_one_line(servers):
    with pytest.raises(NotebookNotFound) as err:
        notebooks.delete("ghost", keep_workspace=False)
    assert str(err.value) == "no notebook server named 'ghost' on the local backend: %kf_notebook list shows them"
    with pytest.raises(InvalidSpec):
        notebooks.create("Bad Name")
    notebooks.create("twice", wait=False)
    with pytest.raises(NotebookExists) as err:
        notebooks.create("twice", wait=False)
    assert str(err.value).startswith("a notebook server named 'twice' already exists on the local backend (")
