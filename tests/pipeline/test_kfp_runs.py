"""Runs on Kubeflow Pipelines, through the v2beta1 REST API: against tests/support/fake_kfp.py on loopback."""
import os
import subprocess
import sys

import pytest

from jupyter_kf.errors import KfError
from jupyter_kf.pipeline import kfp_rest
from tests.support.fake_kfp import FakeKfp
from tests.support.notebook_runs import errors, run_notebook, text

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def kfp_api(monkeypatch):
    for name in ("KF_PIPELINES_ENDPOINT", "KF_PIPELINES_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", "/nonexistent/token")
    with FakeKfp() as fake:
        fake.add_run("r-old", "train 2026-01-01", "SUCCEEDED", "2026-01-01T10:00:00Z", finished_at="2026-01-01T10:05:00Z")
        fake.add_run("r-mid", "train 2026-01-02", "FAILED", "2026-01-02T10:00:00Z", finished_at="2026-01-02T10:01:00Z",
                     error={"code": 2, "message": "step evaluate failed"})
        fake.add_run("r-new", "train 2026-01-03", "RUNNING", "2026-01-03T10:00:00Z")
        fake.add_run("r-other", "theirs", "RUNNING", "2026-01-04T10:00:00Z", namespace="team-b")
        yield fake


def test_runs_newest_first_with_state_link_and_error(kfp_api):
    found = kfp_rest.runs(kfp_api.url, namespace="kubeflow-user")
    assert [(r.id, r.phase, r.finished) for r in found] == [
        ("r-new", "Running", None), ("r-mid", "Failed", "2026-01-02T10:01:00Z"),
        ("r-old", "Succeeded", "2026-01-01T10:05:00Z")]
    assert found[1].error == "step evaluate failed"
    assert found[0].url == f"{kfp_api.url}/#/runs/details/r-new"
    assert found[0].to_dict()["backend"] == "kfp" and found[0].to_dict()["pipeline"] == "train 2026-01-03"
    assert kfp_api.requests[-1] == ("GET", "/apis/v2beta1/runs",
                                    {"namespace": "kubeflow-user", "page_size": "50", "sort_by": "created_at desc"})


def test_pages_are_followed_up_to_the_limit(kfp_api):
    for day in range(10, 20):
        kfp_api.add_run(f"r-{day}", f"sweep {day}", "SUCCEEDED", f"2026-02-{day}T00:00:00Z")
    found = kfp_rest.runs(kfp_api.url, limit=12)
    assert [r.id for r in found][:3] == ["r-19", "r-18", "r-17"] and len(found) == 12
    kfp_api.requests.clear()
    assert len(kfp_rest.runs(kfp_api.url, limit=200)) == 14
    assert [q.get("page_token") for _, _, q in kfp_api.requests] == [None]  # one page of 100 holds all 14
    with FakeKfp(max_page=2) as small:
        for i in range(5):
            small.add_run(f"s{i}", "s", "RUNNING", f"2026-03-0{i + 1}T00:00:00Z")
        assert [r.id for r in kfp_rest.runs(small.url, limit=4)] == ["s4", "s3", "s2", "s1"]
        small.requests.clear()
        assert [r.id for r in kfp_rest.runs(small.url)] == ["s4", "s3", "s2", "s1", "s0"]
        assert [q.get("page_token") for _, _, q in small.requests] == [None, "2", "4"]


def test_cancel_terminates_and_reports_the_new_state(kfp_api):
    run = kfp_rest.cancel("r-new", kfp_api.url)
    assert ("POST", "/apis/v2beta1/runs/r-new:terminate", {}) in kfp_api.requests
    assert run.phase == "Cancelled"
    with pytest.raises(KfError) as info:
        kfp_rest.cancel("r-old", kfp_api.url)
    assert str(info.value) == (f"Kubeflow Pipelines at {kfp_api.url} could not cancel run r-old: HTTP 400: Failed to "
                               "terminate run r-old: run is already in a final state")


def test_token_is_sent_and_a_refusal_is_one_line(monkeypatch):
    monkeypatch.delenv("KF_PIPELINES_TOKEN", raising=False)
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", "/nonexistent/token")
    with FakeKfp(token="s3cret") as fake:
        fake.add_run("r1", "one", "PENDING", "2026-01-01T00:00:00Z")
        with pytest.raises(KfError) as info:
            kfp_rest.runs(fake.url)
        assert str(info.value) == (f"Kubeflow Pipelines at {fake.url} could not list runs: HTTP 401: Unauthenticated: "
                                   "request has no valid token (sign in, or give --token)")
        assert [r.phase for r in kfp_rest.runs(fake.url, token="s3cret")] == ["Pending"]


def test_no_endpoint_and_no_server_are_one_line(monkeypatch):
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    with pytest.raises(KfError) as info:
        kfp_rest.runs()
    assert str(info.value) == ("no Kubeflow Pipelines endpoint: give --host (e.g. http://localhost:8080), or set "
                               "KF_PIPELINES_ENDPOINT or c.KfConfig.kfp_host")
    with pytest.raises(KfError) as info:
        kfp_rest.runs("http://127.0.0.1:9")
    assert str(info.value).startswith("Kubeflow Pipelines at http://127.0.0.1:9 could not list runs: ")
    with pytest.raises(KfError) as info:
        kfp_rest.runs("http://127.0.0.1:9", limit=0)
    assert str(info.value) == "limit 0 is not a positive number of runs: give e.g. 20"


def test_cli_lists_and_cancels(kfp_api):
    env = dict(os.environ, PYTHONPATH=ROOT, KF_PIPELINES_ENDPOINT=kfp_api.url)

    def kf(*args):
        return subprocess.run([sys.executable, "-m", "jupyter_kf.cli", "pipeline", *args], capture_output=True,
                              text=True, env=env, timeout=60)

    out = kf("runs", "--namespace", "kubeflow-user", "--limit", "2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "RUN    NAME              PHASE    CREATED               LINK",
        f"r-new  train 2026-01-03  Running  2026-01-03T10:00:00Z  {kfp_api.url}/#/runs/details/r-new",
        f"r-mid  train 2026-01-02  Failed   2026-01-02T10:00:00Z  {kfp_api.url}/#/runs/details/r-mid"]
    out = kf("cancel", "r-new")
    assert (out.returncode, out.stdout) == (0, f"run r-new (train 2026-01-03): Cancelled, {kfp_api.url}/#/runs/details/r-new\n")
    out = kf("cancel", "nope")
    assert (out.returncode, out.stderr) == (2, f"error: Kubeflow Pipelines at {kfp_api.url} could not cancel run nope: "
                                               "HTTP 404: Failed to terminate run nope: ResourceNotFoundError: Run nope "
                                               "not found\n")


def test_magic_lists_runs_in_a_kernel(kfp_api, tmp_path, monkeypatch, kf_state_dir):
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = run_notebook(["%load_ext jupyter_kf", f"%kf_pipeline runs --host {kfp_api.url} --namespace team-b"], tmp_path)
    listing = nb.cells[1]
    assert not errors(listing)
    assert text(listing).splitlines()[1].split()[:3] == ["r-other", "theirs", "Running"]
