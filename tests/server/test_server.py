"""The REST API, served by a real jupyter_server (pytest-jupyter) under a non-root base_url, local backend."""
from __future__ import annotations

import asyncio
import json
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_kf import errors
from jupyter_kf.server import handlers
from jupyter_kf.training import api
from tests.support.helpers import error_of, get_json, server_config, until

JOB_KEYS = {
    "name", "phase", "backend", "namespace", "kind", "created", "started", "finished", "workers",
    "resources", "message",
}

# Every route, with a body for the writes: each must refuse a request without a token.
ROUTES = [
    ("GET", "info"), ("GET", "jobs"), ("POST", "jobs"), ("GET", "jobs/j"), ("DELETE", "jobs/j"),
    ("POST", "jobs/j/cancel"), ("GET", "jobs/j/logs"), ("GET", "notebooks"), ("POST", "notebooks"),
    ("GET", "notebooks/n"), ("DELETE", "notebooks/n"), ("POST", "notebooks/n/stop"), ("POST", "notebooks/n/start"),
    ("GET", "notebooks/n/url"), ("GET", "models"), ("POST", "models"), ("GET", "models/m"), ("DELETE", "models/m"),
    ("POST", "models/m/predict"), ("GET", "pipelines/runs"), ("POST", "pipelines/runs/r/cancel"),
    ("GET", "experiments"), ("GET", "experiments/e"), ("DELETE", "experiments/e"), ("POST", "experiments/e/cancel"),
    ("GET", "data"), ("GET", "data/d"), ("DELETE", "data/d"), ("DELETE", "data/d/versions/1"),
    ("GET", "volumes"), ("DELETE", "volumes/v"),
]


def registered_routes() -> set[tuple[str, str]]:
    """(method, path pattern) for every method of every handler ``setup_handlers`` registers."""
    import tornado.web

    from jupyter_kf.server.handlers import setup_handlers

    class App:
        settings = {"base_url": "/"}
        rules: list = []

        def add_handlers(self, host, rules):
            self.rules.extend(rules)

    app = App()
    setup_handlers(app, manager=None)
    return {(method.upper(), pattern) for pattern, handler in app.rules for method in ("get", "post", "delete", "put", "patch")
            if getattr(handler, method) is not getattr(tornado.web.RequestHandler, method)}


def test_the_routes_table_covers_every_registered_route():
    """The auth tests below go through ROUTES: a route added without a row here would go untested."""
    import re

    registered = registered_routes()
    assert len(registered) >= 30  # every route of every section was found
    missing = [(method, pattern) for method, pattern in registered
               if not any(m == method and re.fullmatch(pattern, f"/jupyter-kf/api/{path}") for m, path in ROUTES)]
    assert missing == []


@pytest.fixture
def jp_server_config():
    return server_config()


@pytest.fixture
def long_job():
    job = api.train("import time\ntime.sleep(30)", name="rest-long")
    yield job
    try:
        job.cancel()
    except errors.KfError:
        pass


async def test_routes_live_under_base_url(jp_fetch, jp_base_url):
    assert jp_base_url != "/"  # pytest-jupyter serves under /a%40b/: a handler ignoring base_url would 404
    assert await get_json(jp_fetch, "jobs") == {"jobs": []}


@pytest.mark.parametrize("method,path", ROUTES)
async def test_every_route_refused_without_token(jp_fetch, method, path):
    body = b"{}" if method == "POST" else None
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("jupyter-kf", "api", *path.split("/"), method=method, body=body, headers={"Authorization": ""})
    assert info.value.code == 403


async def test_info_says_where_things_run(jp_fetch):
    info = await get_json(jp_fetch, "info")
    assert info["backend"] == "local"
    assert info["backends"] == ["local"]  # no kubeconfig here
    assert info["cluster_configured"] is False
    assert info["sections"]["jobs"] is True
    assert info["sections"]["notebooks"] is True
    assert info["sections"]["pipelines"] is True


async def test_jobs_lists_a_submitted_job(jp_fetch):
    api.train("x = 1", name="rest-done", wait=True)

    reply = await get_json(jp_fetch, "jobs")

    [job] = reply["jobs"]
    assert set(job) >= JOB_KEYS
    assert job["name"] == "rest-done"
    assert job["phase"] == "Succeeded"
    assert job["backend"] == "local"
    assert job["resources"]["workers"] == 1


async def test_listing_follows_new_jobs_without_a_scan_per_request(jp_fetch, jp_serverapp, monkeypatch):
    """The first request fills the cache; later ones are served from it, and it follows the folders."""
    assert await get_json(jp_fetch, "jobs") == {"jobs": []}
    from jupyter_kf.training.backends import local

    reads = []
    original = local.LocalBackend.status_of
    monkeypatch.setattr(local.LocalBackend, "status_of", lambda self, folder, meta: reads.append(folder.name) or original(self, folder, meta))
    api.train("x = 1", name="rest-new", wait=True)

    async def listed():
        return [j["phase"] for j in (await get_json(jp_fetch, "jobs"))["jobs"]] == ["Succeeded"]

    assert await until(listed)
    settled = len(reads)
    for _ in range(20):
        await get_json(jp_fetch, "jobs")
    await asyncio.sleep(1.2)  # two refresh ticks with nothing changed
    assert len(reads) == settled  # no status read for an unchanged, finished job


async def test_one_job(jp_fetch):
    api.train("x = 1", name="rest-one", wait=True)

    job = await get_json(jp_fetch, "jobs", "rest-one")

    assert job["name"] == "rest-one"
    assert job["phase"] == "Succeeded"
    assert job["finished"]


async def test_unknown_job_is_404_with_message(jp_fetch):
    code, body = await error_of(jp_fetch, "jobs", "no-such-job")
    assert code == 404
    assert "no-such-job" in body["message"]
    assert body["reason"] == "JobNotFound"


async def test_cancel_unknown_job_is_404(jp_fetch):
    code, _ = await error_of(jp_fetch, "jobs", "no-such-job", "cancel", method="POST", body=b"")
    assert code == 404


async def test_unknown_backend_is_400_with_its_line(jp_fetch):
    code, body = await error_of(jp_fetch, "jobs", params={"backend": "mars"})
    assert code == 400
    assert body["message"] == "backend 'mars' is unknown: use local, kubernetes or auto"


async def test_cancel_running_job(jp_fetch, long_job):
    job = await get_json(jp_fetch, "jobs", "rest-long")
    assert job["phase"] in ("Pending", "Running")

    cancelled = await get_json(jp_fetch, "jobs", "rest-long", "cancel", method="POST", body=b"")

    assert cancelled["phase"] == "Cancelled"
    assert (await get_json(jp_fetch, "jobs", "rest-long"))["phase"] == "Cancelled"
    assert long_job.status().phase == "Cancelled"

    async def listed_cancelled():
        return [j["phase"] for j in (await get_json(jp_fetch, "jobs"))["jobs"]] == ["Cancelled"]

    assert await until(listed_cancelled, 5)


async def test_delete_job(jp_fetch):
    api.train("x = 1", name="rest-gone", wait=True)
    assert [j["name"] for j in (await get_json(jp_fetch, "jobs"))["jobs"]] == ["rest-gone"]

    assert await get_json(jp_fetch, "jobs", "rest-gone", method="DELETE") == {"deleted": "rest-gone"}

    code, _ = await error_of(jp_fetch, "jobs", "rest-gone")
    assert code == 404

    async def listed_empty():
        return (await get_json(jp_fetch, "jobs"))["jobs"] == []

    assert await until(listed_empty, 5)


async def test_create_job_from_source(jp_fetch):
    job = await get_json(jp_fetch, "jobs", method="POST",
                         body=json.dumps({"source": "print('hello from rest')", "name": "rest-made", "gpus": 0}))
    assert job["name"] == "rest-made"
    assert api.job("rest-made").wait(timeout=30).phase == "Succeeded"
    assert list(api.job("rest-made").logs()) == ["hello from rest"]


async def test_create_job_refuses_bad_input_with_one_line(jp_fetch):
    code, body = await error_of(jp_fetch, "jobs", method="POST", body=b"not json")
    assert (code, body["message"]) == (400, "the request body must be JSON")
    code, body = await error_of(jp_fetch, "jobs", method="POST", body=json.dumps({"source": " "}))
    assert code == 400 and "source" in body["message"]
    code, body = await error_of(jp_fetch, "jobs", method="POST",
                                body=json.dumps({"source": "x = 1", "name": "Bad_Name"}))
    assert code == 400 and "Bad_Name" in body["message"]
    assert api.jobs() == []


def sse(body: bytes) -> list[tuple[str, object]]:
    events = []
    for block in body.decode().split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        event = next(line[7:] for line in lines if line.startswith("event: "))
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        events.append((event, json.loads(data)))
    return events


async def test_logs_stream_as_server_sent_events_until_the_job_ends(jp_fetch):
    api.train("import time\nfor i in range(3):\n    print(f'epoch={i}', flush=True)\n    time.sleep(0.3)", name="rest-logs")

    response = await jp_fetch("jupyter-kf", "api", "jobs", "rest-logs", "logs", request_timeout=60)

    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = sse(response.body)
    lines = [line for kind, data in events if kind == "lines" for line in data]
    assert lines == ["epoch=0", "epoch=1", "epoch=2"]  # each once, in order
    assert events[0][0] == "status"
    assert events[-1] == ("end", {"phase": "Succeeded"})


async def test_many_clients_of_one_job_share_one_reader(jp_fetch, monkeypatch):
    """20 log streams of one job: the backend is read once per poll for all of them, not once per client."""
    from jupyter_kf.training.backends.local import LocalBackend

    reads = []
    original = LocalBackend.read_logs
    monkeypatch.setattr(LocalBackend, "read_logs", lambda self, *a: reads.append(1) or original(self, *a))
    api.train("import time\nfor i in range(5):\n    print(f'step={i}', flush=True)\n    time.sleep(0.3)",
              name="rest-shared")
    started = asyncio.get_running_loop().time()
    replies = await asyncio.gather(*(jp_fetch("jupyter-kf", "api", "jobs", "rest-shared", "logs", request_timeout=90)
                                     for _ in range(20)))
    one_reader = (asyncio.get_running_loop().time() - started) / handlers.LOG_POLL_SECONDS  # polls of one reader
    for reply in replies:
        events = sse(reply.body)
        assert [line for kind, data in events if kind == "lines" for line in data] == [f"step={i}" for i in range(5)]
        assert events[-1] == ("end", {"phase": "Succeeded"})
    assert len(reads) <= 2 * one_reader + 10, f"{len(reads)} reads for 20 clients, one reader needs {one_reader:.0f}"


async def test_logs_without_follow_send_what_there_is(jp_fetch):
    api.train("print('one')\nprint('two')", name="rest-logs2", wait=True)
    response = await jp_fetch("jupyter-kf", "api", "jobs", "rest-logs2", "logs", params={"follow": "0"})
    events = sse(response.body)
    assert [line for kind, data in events if kind == "lines" for line in data] == ["one", "two"]
    assert events[-1][0] == "end"


async def test_logs_of_unknown_job_is_404_json(jp_fetch):
    code, body = await error_of(jp_fetch, "jobs", "nope", "logs")
    assert code == 404 and "nope" in body["message"]


async def test_cancel_refused_without_token(jp_fetch, long_job):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "jupyter-kf", "api", "jobs", "rest-long", "cancel", method="POST", body=b"",
            headers={"Authorization": ""},
        )
    assert info.value.code == 403
    assert long_job.status().phase in ("Pending", "Running")


async def login_cookie(jp_fetch, jp_serverapp):
    login = await jp_fetch("login", headers={"Authorization": ""})
    xsrf = _cookies(login)["_xsrf"]
    logged_in = await jp_fetch(
        "login", method="POST", headers={"Authorization": "", "Cookie": f"_xsrf={xsrf}"},
        body=urlencode({"_xsrf": xsrf, "password": jp_serverapp.identity_provider.token}),
        follow_redirects=False, raise_error=False,
    )
    assert logged_in.code == 302
    session = {**_cookies(logged_in), "_xsrf": xsrf}
    return "; ".join(f"{k}={v}" for k, v in session.items()), xsrf


async def test_cancel_with_login_cookie_needs_xsrf(jp_fetch, jp_serverapp, long_job):
    """A browser session (cookie, no token) can cancel only with the XSRF token, as JupyterLab sends it."""
    cookie, xsrf = await login_cookie(jp_fetch, jp_serverapp)
    cancel = ("jupyter-kf", "api", "jobs", "rest-long", "cancel")

    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(*cancel, method="POST", body=b"", headers={"Authorization": "", "Cookie": cookie})
    assert info.value.code == 403
    assert long_job.status().phase in ("Pending", "Running")

    reply = await jp_fetch(
        *cancel, method="POST", body=b"",
        headers={"Authorization": "", "Cookie": cookie, "X-XSRFToken": xsrf},
    )
    assert json.loads(reply.body)["phase"] == "Cancelled"


@pytest.mark.parametrize("method,path", [(m, p) for m, p in ROUTES if m != "GET"])
async def test_every_write_needs_xsrf_with_a_cookie(jp_fetch, jp_serverapp, method, path):
    cookie, _ = await login_cookie(jp_fetch, jp_serverapp)
    # A read with the cookie alone works: the session is valid.
    assert (await jp_fetch("jupyter-kf", "api", "info", headers={"Authorization": "", "Cookie": cookie})).code == 200
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("jupyter-kf", "api", *path.split("/"), method=method,
                       body=b"{}" if method == "POST" else None, headers={"Authorization": "", "Cookie": cookie})
    assert info.value.code == 403


# -- notebook servers, models, pipeline runs ------------------------------------------------------
async def test_notebook_servers_list_empty_and_refuse_bad_input(jp_fetch):
    assert await get_json(jp_fetch, "notebooks") == {"notebooks": []}
    code, body = await error_of(jp_fetch, "notebooks", method="POST", body=json.dumps({}))
    assert code == 400 and "name" in body["message"]
    code, body = await error_of(jp_fetch, "notebooks", "nope")
    assert code == 404 and "nope" in body["message"]
    code, body = await error_of(jp_fetch, "notebooks", "nope", method="DELETE")
    assert code == 400 and "keep_workspace" in body["message"]


async def test_notebook_server_lifecycle_on_this_machine(jp_fetch):
    made = await get_json(jp_fetch, "notebooks", method="POST", body=json.dumps({"name": "rest-nb", "cpu": "1"}))
    assert made["name"] == "rest-nb"
    try:
        async def ready():
            listed = (await get_json(jp_fetch, "notebooks"))["notebooks"]
            return listed and listed[0]["phase"] == "Ready" and listed[0]

        server = await until(ready, 60)
        assert server, "the local notebook server did not become ready"
        assert server["backend"] == "local"
        link = await get_json(jp_fetch, "notebooks", "rest-nb", "url")
        assert link["url"].startswith("http://127.0.0.1:")
        assert "token=" in link["url"] and "token" not in server["url"]  # the token only from /url (execute)

        stopped = await get_json(jp_fetch, "notebooks", "rest-nb", "stop", method="POST", body=b"")
        assert stopped["phase"] == "Stopped"

        started = await get_json(jp_fetch, "notebooks", "rest-nb", "start", method="POST", body=b"")
        assert started["phase"] in ("Starting", "Ready")
    finally:
        reply = await get_json(jp_fetch, "notebooks", "rest-nb", method="DELETE",
                               params={"keep_workspace": "false"})
    assert reply["deleted"] == "rest-nb"

    async def gone():
        return (await get_json(jp_fetch, "notebooks"))["notebooks"] == []

    assert await until(gone, 10)


async def test_models_list_and_a_deploy_without_uri_is_refused(jp_fetch):
    assert await get_json(jp_fetch, "models") == {"models": []}
    code, body = await error_of(jp_fetch, "models", method="POST", body=json.dumps({"name": "m"}))
    assert code == 400 and "uri" in body["message"]
    assert (await get_json(jp_fetch, "info"))["sections"]["models"] is True


async def test_predict_through_the_api_with_the_model_servers_token(jp_fetch):
    """The panel predicts through the REST API; the model server's token never leaves the server side."""
    from sklearn.linear_model import LogisticRegression

    from jupyter_kf.serving import api as serving

    serving.deploy("rest-iris", LogisticRegression().fit([[0.0], [1.0]], [0, 1]))
    try:
        for protocol in ("v1", "v2"):
            reply = await get_json(jp_fetch, "models", "rest-iris", "predict", method="POST",
                                   body=json.dumps({"instances": [[0.0], [1.0]], "protocol": protocol}))
            assert reply == {"name": "rest-iris", "predictions": [0, 1]}
        code, body = await error_of(jp_fetch, "models", "rest-iris", "predict", method="POST", body=b"{}")
        assert code == 400 and body["message"].startswith("'instances' must be a non-empty list")
    finally:
        serving.undeploy("rest-iris")


async def test_pipeline_runs_from_their_records_and_running_steps(jp_fetch, kf_state_dir):
    runs = kf_state_dir / "pipelines"
    done = runs / "train-abcde"
    done.mkdir(parents=True)
    (done / "pipeline.yaml").write_text("pipelineInfo:\n  name: train\n")
    (done / "run.json").write_text(json.dumps({
        "id": "train-abcde", "pipeline": "train", "notebook": "train.ipynb", "phase": "Succeeded", "seconds": 1.5,
        "parameters": {"lr": 0.1},
        "steps": {"load": {"name": "load", "task": "load", "job": "train-abcde-load", "phase": "Succeeded",
                           "seconds": 0.5}},
    }))
    assert (await get_json(jp_fetch, "pipelines", "runs"))["pipelines"][0] == {
        "id": "train-abcde", "pipeline": "train", "notebook": "train.ipynb", "phase": "Succeeded",
        "created": (await get_json(jp_fetch, "pipelines", "runs"))["pipelines"][0]["created"], "seconds": 1.5,
        "steps": [{"name": "load", "task": "load", "job": "train-abcde-load", "phase": "Succeeded", "seconds": 0.5}],
        "parameters": {"lr": 0.1}, "backend": "local",
    }
    code, body = await error_of(jp_fetch, "pipelines", "runs", "nope", "cancel", method="POST", body=b"")
    assert code == 404 and "nope" in body["message"]


async def test_runs_submitted_to_kubeflow_pipelines_are_listed_and_cancelled(jp_fetch, monkeypatch):
    from tests.support.fake_kfp import FakeKfp

    with FakeKfp() as kfp:
        kfp.add_run("0b7c2d0e-run1", "train", "RUNNING", "2026-12-07T10:00:00Z")
        kfp.add_run("0b7c2d0e-run2", "evaluate", "FAILED", "2026-12-07T09:00:00Z", finished_at="2026-12-07T09:05:00Z",
                    error={"message": "step evaluate failed"})
        monkeypatch.setenv("KF_PIPELINES_ENDPOINT", kfp.url)
        listed = await get_json(jp_fetch, "pipelines", "runs")
        assert listed["kfp_error"] is None
        runs = listed["pipelines"]
        assert [(r["id"], r["backend"], r["phase"]) for r in runs] == [
            ("0b7c2d0e-run1", "kfp", "Running"), ("0b7c2d0e-run2", "kfp", "Failed")]
        assert runs[0]["url"] == f"{kfp.url}/#/runs/details/0b7c2d0e-run1" and runs[1]["error"] == "step evaluate failed"
        reply = await jp_fetch("jupyter-kf", "api", "pipelines", "runs", "0b7c2d0e-run1", "cancel", method="POST", body=b"")
        assert json.loads(reply.body)["phase"] == "Cancelled"
        assert [(m, p) for m, p, _ in kfp.requests if m == "POST"] == [("POST", "/apis/v2beta1/runs/0b7c2d0e-run1:terminate")]


async def test_an_unreachable_kubeflow_pipelines_is_said_and_local_runs_still_listed(jp_fetch, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("KF_PIPELINES_ENDPOINT", f"http://127.0.0.1:{port}")
    listed = await get_json(jp_fetch, "pipelines", "runs")
    assert listed["pipelines"] == [] and listed["kfp_error"].startswith(
        f"Kubeflow Pipelines at http://127.0.0.1:{port} could not list runs")


def _cookies(response) -> dict[str, str]:
    jar = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


async def test_unchanged_listing_is_a_304_for_a_polling_tab(jp_fetch):
    api.train("x = 1", name="rest-etag", wait=True)
    first = await jp_fetch("jupyter-kf", "api", "jobs")
    etag = first.headers["Etag"]
    again = await jp_fetch("jupyter-kf", "api", "jobs", headers={"If-None-Match": etag}, raise_error=False)
    assert again.code == 304 and again.body == b""
    assert int(first.headers["X-Kf-Version"]) >= 1
