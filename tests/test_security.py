"""Who may read and run what: the state folder is the user's alone (a second Unix user reads nothing),
jupyter_server's Authorizer decides every REST route, planted folders and pickles are refused, the
local model server wants its token and this machine's Host, and a notebook server's token is its own."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError

from jupyter_kf import config, notebooks
from jupyter_kf.config import StateNotPrivate
from jupyter_kf.errors import InvalidSpec
from jupyter_kf.serving import api as serving
from jupyter_kf.training import api, runner
from tests.support.helpers import get_json, server_config

NOBODY = "nobody"
as_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("runuser"),
                             reason="needs root (to act as a second user with runuser and to chown files to it)")


def nobody_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(NOBODY)
    return entry.pw_uid, entry.pw_gid


def chown_tree(path: Path, uid: int, gid: int) -> None:
    for item in (path, *path.rglob("*")):
        os.lchown(item, uid, gid)


def readable_by_nobody(paths: list[Path]) -> list[str]:
    """The paths a second user can read (files) or list (folders)."""
    probe = ("import os, sys\n"
             "for p in sys.stdin.read().split('\\0'):\n"
             "    try:\n"
             "        os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read(1)\n"
             "        print(p)\n"
             "    except OSError:\n"
             "        pass\n")
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    out = subprocess.run(["runuser", "-u", NOBODY, "--", python, "-c", probe], input="\0".join(map(str, paths)),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.fixture
def shared_machine_state(monkeypatch):
    """A state folder a second user could reach (every folder above it is 0755, as a home folder often is)."""
    base = Path(tempfile.mkdtemp(prefix="kf-security-"))
    os.chmod(base, 0o755)
    state = base / "kf-state"
    monkeypatch.setenv("JUPYTER_KF_STATE_DIR", str(state))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    config.reset()
    yield state
    for status in notebooks.list():
        notebooks.delete(status.name, keep_workspace=False)
    from jupyter_kf.serving.backends.local import LocalServing

    for status in LocalServing().list():
        LocalServing().delete(status.name)
    config.reset()
    shutil.rmtree(base, ignore_errors=True)


# -- 1. the state folder is the user's alone -------------------------------------------------------
@as_root
def test_a_second_user_reads_no_state_file_nor_token(shared_machine_state):
    from sklearn.linear_model import LogisticRegression

    state = shared_machine_state
    serving.deploy("private-model", LogisticRegression().fit([[0.0], [1.0]], [0, 1]))  # first: it makes the folder
    assert readable_by_nobody([state, *state.rglob("*")]) == []  # its server made the tree private at start
    api.train("secret_result = 42", name="private-job", user_ns={}, env={"API_KEY": "hunter2"}, wait=True)
    assert api.job("private-job").results() == {"secret_result": 42}
    notebooks.create("private-lab", timeout="90")

    everything = [state, *state.rglob("*")]
    tokens = [state / "notebooks" / "private-lab" / "token", state / "models" / "private-model" / "token"]
    assert all(token.is_file() for token in tokens)
    assert "token" not in json.loads((state / "notebooks" / "private-lab" / "record.json").read_text())
    assert readable_by_nobody(everything) == []
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for path in [*tokens, *(state / "jobs").rglob("*"), *(state / "notebooks").rglob("*")]:
        if not path.is_symlink():
            assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def test_an_existing_trees_modes_are_repaired_at_start(kf_state_dir):
    config.reset()
    shutil.rmtree(kf_state_dir, ignore_errors=True)
    old = kf_state_dir / "notebooks" / "lab"
    old.mkdir(parents=True)
    (old / "record.json").write_text("{}")
    for path in (kf_state_dir, kf_state_dir / "notebooks", old):
        os.chmod(path, 0o755)
    os.chmod(old / "record.json", 0o644)

    config.get()  # start: the tree is made private

    assert [stat.S_IMODE(p.stat().st_mode) for p in (kf_state_dir, kf_state_dir / "notebooks", old, old / "record.json")] \
        == [0o700, 0o700, 0o700, 0o600]


# -- 3. planted folders and files are refused --------------------------------------------------------
def test_a_state_folder_others_may_write_is_refused_with_one_line(kf_state_dir):
    api.jobs()
    os.chmod(kf_state_dir, 0o777)
    config.reset()
    with pytest.raises(StateNotPrivate) as err:
        api.jobs()
    line = str(err.value)
    assert "\n" not in line and str(kf_state_dir) in line and "mode 0777" in line and f"chmod go-w {kf_state_dir}" in line


@as_root
def test_a_state_folder_of_another_user_is_refused(kf_state_dir):
    api.jobs()
    os.chown(kf_state_dir, *nobody_ids())
    config.reset()
    with pytest.raises(StateNotPrivate) as err:
        api.job("anything")
    assert f"owned by {NOBODY} (uid {nobody_ids()[0]})" in str(err.value)
    assert "use a folder of your own (c.KfConfig.state_dir or JUPYTER_KF_STATE_DIR)" in str(err.value)


@as_root
def test_a_group_writable_state_folder_is_refused_unless_the_group_is_the_users_alone(kf_state_dir):
    """As Debian's ssh: group write is harmless in a group of one (Kubernetes' fsGroup, umask 002 systems)."""
    api.jobs()
    os.chmod(kf_state_dir, 0o770)
    os.chown(kf_state_dir, -1, nobody_ids()[1])  # nobody's group: another user is in it
    config.reset()
    with pytest.raises(StateNotPrivate) as err:
        api.jobs()
    assert "mode 0770" in str(err.value)
    os.chown(kf_state_dir, -1, os.getegid())  # this user's own group, no other member
    assert config._only_member(os.getegid(), os.geteuid())
    config.reset()
    assert api.jobs() == []
    assert stat.S_IMODE(kf_state_dir.stat().st_mode) == 0o700  # and made private at start


class Boom:
    """Unpickling this runs code: it creates ``path``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.mark.parametrize("how", ["group-writable", pytest.param("another user's", marks=as_root)])
def test_a_planted_result_is_never_unpickled(kf_state_dir, tmp_path, how):
    api.train("x = 1", name="planted", user_ns={}, wait=True)
    folder = kf_state_dir / "jobs" / "planted"
    ran = tmp_path / "attacker-code-ran"
    runner.write_frames(str(folder / "result.pkl"), {"outputs": {"x": Boom(str(ran))}, "mutated": {}})
    if how == "group-writable":
        os.chmod(folder / "result.pkl", 0o666)
    else:
        os.chown(folder / "result.pkl", *nobody_ids())
    with pytest.raises(StateNotPrivate) as err:
        api.job("planted").results()
    assert not ran.exists()
    assert str(folder / "result.pkl") in str(err.value) and "\n" not in str(err.value)


def test_the_supervisor_runs_the_installed_runner_and_interpreter(kf_state_dir, tmp_path):
    """A job folder's runner.py and recorded interpreter are not what runs."""
    from jupyter_kf.training import capture, payload
    from jupyter_kf.training.backends.local import LocalBackend
    from jupyter_kf.training.spec import TrainSpec

    backend = LocalBackend()
    spec = TrainSpec.create(name="tampered")
    analysis = capture.analyse("y = 7")
    bundle = backend.prepare(spec)
    payload.write_bundle(bundle, spec, analysis, payload.capture_inputs(analysis, {}))
    planted_runner, planted_python = tmp_path / "runner-ran", tmp_path / "python-ran"
    (bundle / "runner.py").write_text(f"open({str(planted_runner)!r}, 'w')\n")
    fake_python = tmp_path / "python"
    fake_python.write_text(f"#!/bin/sh\ntouch {planted_python}\nexec {sys.executable} \"$@\"\n")
    fake_python.chmod(0o755)
    meta = json.loads((bundle / "meta.json").read_text())
    (bundle / "meta.json").write_text(json.dumps({**meta, "executable": str(fake_python)}))
    backend.submit(spec, bundle)

    job = api.job("tampered")
    assert job.wait(timeout=60).phase == "Succeeded"
    assert job.results() == {"y": 7}
    assert not planted_runner.exists() and not planted_python.exists()


@as_root
def test_the_supervisor_refuses_a_folder_it_does_not_own(kf_state_dir, tmp_path):
    from jupyter_kf.training import capture, payload
    from jupyter_kf.training.backends.local import SUPERVISOR, LocalBackend
    from jupyter_kf.training.spec import TrainSpec

    spec = TrainSpec.create(name="not-mine")
    analysis = capture.analyse("open(PATH, 'w')")
    bundle = LocalBackend().prepare(spec)
    ran = tmp_path / "ran"
    payload.write_bundle(bundle, spec, analysis, payload.capture_inputs(analysis, {"PATH": str(ran)}))
    chown_tree(bundle, *nobody_ids())

    out = subprocess.run([sys.executable, "-I", "-S", str(SUPERVISOR), str(bundle)], capture_output=True, text=True,
                         timeout=60)

    assert out.returncode == 2 and f"refusing {bundle}" in out.stderr
    assert not ran.exists() and not (bundle / "status.json").exists() and not (bundle / "logs").exists()


# -- 5. a local notebook server's token is its own ---------------------------------------------------
def test_reserved_env_names_are_refused_for_a_local_notebook_server(kf_state_dir):
    with pytest.raises(InvalidSpec) as err:
        notebooks.create("lab", env={"JUPYTER_TOKEN": "chosen-by-me"}, backend="local")
    assert str(err.value).startswith("--env JUPYTER_TOKEN is set by jupyter_kf for a local notebook server")
    assert not (kf_state_dir / "notebooks" / "lab").exists()


# -- 4. the local model server --------------------------------------------------------------------
@pytest.fixture
def served_model(kf_state_dir):
    from sklearn.linear_model import LogisticRegression

    from jupyter_kf.serving.backends.local import LocalServing

    model = serving.deploy("guarded", LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    yield model
    LocalServing().delete("guarded")


def call(url, method="GET", body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_model_server_refuses_requests_without_its_token(served_model, kf_state_dir):
    url = served_model.url
    token_file = kf_state_dir / "models" / "guarded" / "token"
    token = token_file.read_text()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    json_type = {"Content-Type": "application/json"}
    body = {"instances": [[0.2]]}
    for path, method, sent in (("/v1/models/guarded:predict", "POST", body), ("/v1/models/guarded", "GET", None),
                               ("/v2/models/guarded", "GET", None), ("/v1/models", "GET", None),
                               ("/kf/reload", "POST", {})):
        for auth in ({}, {"Authorization": "Bearer not-the-token"}):
            status, reply = call(url + path, method, sent, {**json_type, **auth})
            assert status == 401 and "needs its token" in reply["error"], (path, auth)
    bearer = {**json_type, "Authorization": f"Bearer {token}"}
    assert call(url + "/v1/models/guarded:predict", "POST", body, bearer)[0] == 200
    assert call(url + "/v2/health/ready") == (200, {"ready": True})  # probes need no token
    assert served_model.predict([[0.9]]).tolist() == [1]  # the client finds and sends the token itself


def test_the_model_server_checks_host_type_and_origin(served_model, kf_state_dir):
    token = (kf_state_dir / "models" / "guarded" / "token").read_text()
    url = served_model.url + "/v1/models/guarded:predict"
    ok = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    assert call(url, "POST", {"instances": [[0.2]]}, ok)[0] == 200
    status, reply = call(url, "POST", {"instances": [[0.2]]}, {**ok, "Host": "attacker.example.com"})  # DNS rebinding
    assert status == 403 and "Host" in reply["error"]
    status, reply = call(url, "POST", {"instances": [[0.2]]}, {**ok, "Content-Type": "text/plain"})
    assert status == 415 and "application/json" in reply["error"]
    status, _ = call(url, "POST", {"instances": [[0.2]]}, {**ok, "Origin": "http://attacker.example.com"})
    assert status == 403


# -- 2. REST follows jupyter_server's Authorizer --------------------------------------------------
class ReadOnlyAuthorizer(Authorizer):
    """Every user may read, nobody may write or execute."""

    def is_authorized(self, handler, user, action, resource):
        return action == "read"


WRITES = [
    ("POST", "jobs"), ("DELETE", "jobs/j"), ("POST", "jobs/j/cancel"), ("POST", "notebooks"), ("DELETE", "notebooks/n"),
    ("POST", "notebooks/n/stop"), ("POST", "notebooks/n/start"), ("GET", "notebooks/n/url"), ("POST", "models"),
    ("DELETE", "models/m"), ("POST", "models/m/predict"), ("POST", "pipelines/runs/r/cancel"),
]


@pytest.fixture
def jp_server_config():
    """The REST tests' server, with an Authorizer that lets users read only."""
    cfg = server_config()
    cfg["ServerApp"]["authorizer_class"] = f"{__name__}.ReadOnlyAuthorizer"
    return cfg


@pytest.mark.parametrize("method,path", WRITES)
async def test_a_read_only_user_is_refused_every_write(jp_fetch, kf_state_dir, tmp_path, method, path):
    ran = tmp_path / "ran"
    body = json.dumps({"source": f"open({str(ran)!r}, 'w')", "name": "sneaky"}).encode() if method == "POST" else None
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("jupyter-kf", "api", *path.split("/"), method=method, body=body)
    assert info.value.code == 403
    assert not ran.exists() and not (kf_state_dir / "jobs" / "sneaky").exists()


async def test_a_read_only_user_reads_and_sees_no_token(jp_fetch, kf_state_dir, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    ready = notebooks.create("shown", timeout="90")
    token = (kf_state_dir / "notebooks" / "shown" / "token").read_text()
    try:
        assert token in ready.url  # the owner's own kernel gets it
        listing = await jp_fetch("jupyter-kf", "api", "notebooks")
        one = await jp_fetch("jupyter-kf", "api", "notebooks", "shown")
        assert token not in listing.body.decode() and token not in one.body.decode()
        [shown] = json.loads(listing.body)["notebooks"]
        assert shown["phase"] == "Ready" and shown["url"] == ""  # the panel's Open asks notebooks/<name>/url
        assert (await get_json(jp_fetch, "jobs")) == {"jobs": []}
    finally:
        notebooks.delete("shown", keep_workspace=False)
