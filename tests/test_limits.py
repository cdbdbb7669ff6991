"""Bounds on what one request or call may ask for: local workers (all running jobs together), names
(checked on every route and call, never a path outside the state folder), request bodies (depth, a
cell's size) and the local model server's answers to malformed requests (KServe's 400 shape, JSON 404)."""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_kf import config, errors, notebooks
from jupyter_kf.serving import api as serving
from jupyter_kf.training import api
from jupyter_kf.training.backends.local import TooManyWorkers
from tests.support.helpers import error_of, server_config, wait_for_phase


@pytest.fixture
def jp_server_config():
    return server_config()


def job_folders(state) -> list[str]:
    jobs = state / "jobs"
    return sorted(p.name for p in jobs.iterdir()) if jobs.is_dir() else []


# -- 6. local workers -------------------------------------------------------------------------------
def test_the_default_cap_is_a_small_multiple_of_the_cores_and_fits_the_distributed_example():
    cap = config.KfConfig().max_local_workers()
    assert cap == config.WORKERS_PER_CORE * len(os.sched_getaffinity(0)) and cap >= 3


def test_workers_of_running_jobs_count_together(kf_state_dir):
    config.get().local_max_workers = 3
    with pytest.raises(TooManyWorkers) as err:
        api.train("x = 1", name="huge", user_ns={}, workers=100_000)
    assert str(err.value) == ("--workers 100000: local jobs may run 3 workers at once on this machine: ask for at most 3, "
                              "wait for a running job to end, or raise c.KfConfig.local_max_workers")
    assert job_folders(kf_state_dir) == []

    long = api.train("import time\ntime.sleep(60)", name="holds-two", user_ns={}, workers=2)
    try:
        wait_for_phase(long, "Running")
        with pytest.raises(TooManyWorkers) as err:
            api.train("x = 1", name="two-more", user_ns={}, workers=2)
        assert "the running jobs hold 2: ask for at most 1" in str(err.value) and "\n" not in str(err.value)
        assert job_folders(kf_state_dir) == ["holds-two"]
        assert api.train("x = 1", name="one-more", user_ns={}, wait=True).status().phase == "Succeeded"
    finally:
        long.cancel()
    assert api.train("x = 1", name="two-now", user_ns={}, workers=2, wait=True).status().phase == "Succeeded"


async def test_rest_refuses_too_many_workers_before_forking(jp_fetch, kf_state_dir):
    body = json.dumps({"source": "x = 1", "name": "fork-bomb", "workers": 100_000}).encode()
    code, reply = await error_of(jp_fetch, "jobs", method="POST", body=body)
    assert code == 400 and reply["reason"] == "TooManyWorkers" and reply["message"].startswith("--workers 100000:")
    assert job_folders(kf_state_dir) == []


# -- 9. names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../etc", "a" * 5000, "Upper", "x/y", ""])
@pytest.mark.parametrize("backend", ["local", "kubernetes"])
def test_names_are_checked_on_every_call(name, backend):
    """Before any backend builds a path or a request from it (no cluster is needed to refuse one)."""
    for call in (lambda: api.job(name, backend=backend), lambda: notebooks.get(name, backend=backend),
                 lambda: notebooks.url(name, backend=backend), lambda: notebooks.delete(name, True, backend=backend),
                 lambda: serving.model(name, backend=backend)):
        with pytest.raises(errors.InvalidSpec):
            call()


async def test_rest_names_are_400_and_never_reach_outside_the_state_folder(jp_fetch, http_server_client, jp_auth_header,
                                                                       jp_base_url, kf_state_dir):
    victim = kf_state_dir.parent / "victim"  # a folder with a meta.json, beside the state folder
    victim.mkdir()
    (victim / "meta.json").write_text("{}")
    for method in ("GET", "DELETE"):
        for route in ("jobs", "notebooks", "models"):
            url = f"{jp_base_url}jupyter-kf/api/{route}/..%2Fvictim" + ("?keep_workspace=false" if route == "notebooks" else "")
            with pytest.raises(HTTPClientError) as info:
                await http_server_client.fetch(url, method=method, headers=jp_auth_header)
            reply = json.loads(info.value.response.body)
            assert info.value.code == 400 and reply["reason"] == "InvalidSpec", (method, route)
    assert (victim / "meta.json").is_file()
    code, reply = await error_of(jp_fetch, "jobs", "a" * 5000)
    assert code == 400 and len(reply["message"]) < 200 and "5000 characters" in reply["message"]
    for path in (("jobs", "x" * 70, "cancel"), ("jobs", "Bad_Name", "logs"), ("notebooks", "-n", "url"),
                 ("pipelines", "runs", "a..b", "cancel")):
        method = "GET" if path[-1] in ("logs", "url") else "POST"
        code, reply = await error_of(jp_fetch, *path, method=method, body=b"" if method == "POST" else None)
        assert code == 400 and reply["reason"] == "InvalidSpec", path


# -- 8. request bodies ------------------------------------------------------------------------------
async def test_a_deeply_nested_body_is_400(jp_fetch, kf_state_dir):
    code, reply = await error_of(jp_fetch, "jobs", method="POST", body=b"[" * 100_000 + b"]" * 100_000)
    assert code == 400 and reply["message"] == "the request body is nested too deeply: send a flat JSON object"


async def test_a_huge_cell_source_is_refused_with_its_size(jp_fetch, kf_state_dir):
    body = json.dumps({"source": "x = 1\n" + "#" * 10 * 2**20, "name": "huge-source"}).encode()
    code, reply = await error_of(jp_fetch, "jobs", method="POST", body=body)
    assert code == 400 and reply["message"].startswith("'source' is 10.0 MiB: a cell sent over REST may be at most 1 MiB")
    assert job_folders(kf_state_dir) == []


# -- 4. the local model server's answers to malformed requests ------------------------------------
@pytest.fixture(scope="module")
def iris_model():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(X, y)


@pytest.fixture
def model_url(kf_state_dir, iris_model):
    from jupyter_kf.serving.backends.local import LocalServing

    model = serving.deploy("iris", iris_model)
    token = (kf_state_dir / "models" / "iris" / "token").read_text()

    def send(path, body=None, raw=None, method=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(model.url + path, data=data, method=method or ("POST" if data else "GET"),
                                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            assert err.headers["Content-Type"].startswith("application/json")
            return err.code, json.loads(err.read())

    yield send
    LocalServing().delete("iris")


def v2(shape, datatype, data):
    return {"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "data": data}]}


def test_malformed_requests_are_400_in_kserves_shape(model_url):
    cases = {
        "ragged instances": ("/v1/models/iris:predict", {"instances": [[1, 2, 3, 4], [1, 2]]}),
        "INT8 overflow": ("/v2/models/iris/infer", v2([1, 4], "INT8", [300, 1, 1, 1])),
        "shape not a list": ("/v2/models/iris/infer", v2("4", "FP32", [1, 2, 3, 4])),
    }
    for why, (path, body) in cases.items():
        status, reply = model_url(path, body)
        assert status == 400 and set(reply) == {"error"}, why
    status, reply = model_url("/v1/models/iris:predict", raw=b"[" * 100_000)
    assert status == 400 and "nested too deeply" in reply["error"]


def test_unknown_paths_and_versions_are_json_404s(model_url):
    assert model_url("/v2/models/iris/versions/v9") == (404, {"error": "Model iris has no version v9: it serves v1."})
    assert model_url("/v2/models/iris/versions/v9/infer", v2([1, 4], "FP32", [5.1, 3.5, 1.4, 0.2]))[0] == 404
    assert model_url("/v2/models/iris/versions/v1")[0] == 200
    assert model_url("/v2/models/iris/versions/v1/infer", v2([1, 4], "FP32", [5.1, 3.5, 1.4, 0.2]))[0] == 200
    assert model_url("/no/such/path") == (404, {"error": "Not Found: /no/such/path"})


def test_echoed_input_is_cut_short(model_url):
    status, reply = model_url("/v1/models/" + "m" * 5000)
    assert status == 404 and len(reply["error"]) < 300
    status, reply = model_url("/v2/models/iris/infer", v2([1, 4], "X" * 100_000, [1, 2, 3, 4]))
    assert status == 400 and len(reply["error"]) < 400
