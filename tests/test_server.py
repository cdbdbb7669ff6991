"""The REST face of the jobs API, served by a real jupyter_server (pytest-jupyter) under a non-root base_url."""
from __future__ import annotations

import json
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_kf import api, errors

JOB_KEYS = {
    "name", "phase", "backend", "namespace", "kind", "created", "started", "finished", "workers",
    "resources", "message",
}


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_kf": True},
            "allow_unauthenticated_access": False,
            "terminals_enabled": False,
        }
    }


@pytest.fixture
def long_job():
    job = api.train("import time\ntime.sleep(30)", name="rest-long")
    yield job
    try:
        job.cancel()
    except errors.KfError:
        pass


async def get_json(jp_fetch, *parts, **kwargs):
    response = await jp_fetch("jupyter-kf", "api", *parts, **kwargs)
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def test_routes_live_under_base_url(jp_fetch, jp_base_url):
    assert jp_base_url != "/"  # pytest-jupyter serves under /a%40b/: a handler ignoring base_url would 404
    assert await get_json(jp_fetch, "jobs") == {"jobs": []}


async def test_jobs_refused_without_token(jp_fetch):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("jupyter-kf", "api", "jobs", headers={"Authorization": ""})
    assert info.value.code == 403


async def test_jobs_lists_a_submitted_job(jp_fetch):
    api.train("x = 1", name="rest-done", wait=True)

    reply = await get_json(jp_fetch, "jobs")

    [job] = reply["jobs"]
    assert set(job) >= JOB_KEYS
    assert job["name"] == "rest-done"
    assert job["phase"] == "Succeeded"
    assert job["backend"] == "local"
    assert job["resources"]["workers"] == 1


async def test_one_job(jp_fetch):
    api.train("x = 1", name="rest-one", wait=True)

    job = await get_json(jp_fetch, "jobs", "rest-one")

    assert job["name"] == "rest-one"
    assert job["phase"] == "Succeeded"
    assert job["finished"]


async def test_unknown_job_is_404_with_message(jp_fetch):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("jupyter-kf", "api", "jobs", "no-such-job")
    assert info.value.code == 404
    body = json.loads(info.value.response.body)
    assert "no-such-job" in body["message"]
    assert "\n" not in body["message"]


async def test_cancel_unknown_job_is_404(jp_fetch):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("jupyter-kf", "api", "jobs", "no-such-job", "cancel", method="POST", body=b"")
    assert info.value.code == 404


async def test_kf_error_becomes_its_one_line_message(jp_fetch, monkeypatch):
    def bad_backend(backend=None):
        raise errors.InvalidSpec(f"backend must be 'local' or 'kubernetes', not {backend!r}")

    monkeypatch.setattr(api, "jobs", bad_backend)
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("jupyter-kf", "api", "jobs", params={"backend": "mars"})
    assert info.value.code == 400
    assert json.loads(info.value.response.body)["message"] == (
        "backend must be 'local' or 'kubernetes', not 'mars'"
    )


async def test_cancel_running_job(jp_fetch, long_job):
    job = await get_json(jp_fetch, "jobs", "rest-long")
    assert job["phase"] in ("Pending", "Running")

    cancelled = await get_json(jp_fetch, "jobs", "rest-long", "cancel", method="POST", body=b"")

    assert cancelled["phase"] == "Cancelled"
    assert (await get_json(jp_fetch, "jobs", "rest-long"))["phase"] == "Cancelled"
    assert long_job.status().phase == "Cancelled"


async def test_cancel_refused_without_token(jp_fetch, long_job):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "jupyter-kf", "api", "jobs", "rest-long", "cancel", method="POST", body=b"",
            headers={"Authorization": ""},
        )
    assert info.value.code == 403
    assert long_job.status().phase in ("Pending", "Running")


async def test_cancel_with_login_cookie_needs_xsrf(jp_fetch, jp_serverapp, long_job):
    """A browser session (cookie, no token) can cancel only with the XSRF token, as JupyterLab sends it."""
    login = await jp_fetch("login", headers={"Authorization": ""})
    xsrf = _cookies(login)["_xsrf"]
    logged_in = await jp_fetch(
        "login", method="POST", headers={"Authorization": "", "Cookie": f"_xsrf={xsrf}"},
        body=urlencode({"_xsrf": xsrf, "password": jp_serverapp.identity_provider.token}),
        follow_redirects=False, raise_error=False,
    )
    assert logged_in.code == 302
    session = {**_cookies(logged_in), "_xsrf": xsrf}
    cookie = "; ".join(f"{k}={v}" for k, v in session.items())
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


def _cookies(response) -> dict[str, str]:
    jar = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}
