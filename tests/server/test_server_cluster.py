"""The REST API on a cluster: the Kubernetes API emulator as the user's cluster, a namespace allow-list.

The allow-list guards single jobs too: GET, DELETE, cancel and logs of a job whose namespace the server
does not allow answer 403 and leave the job alone (jupyter_kf/server/handlers.py)."""
from __future__ import annotations

import json

import pytest

from jupyter_kf.training import api
from tests.support.helpers import error_of, get_json, server_config, until, waits_for

ALLOW_LIST_MESSAGE = ("namespace 'team-b' is not allowed on this server: it allows default, team-a "
                      "(an admin sets c.KfServer.namespaces)")


@pytest.fixture
def jp_server_config():
    return server_config(KfServer={"namespaces": ["default", "team-a"]})


@pytest.fixture
def cluster(kf_cluster):
    for name in ("team-a", "team-b"):
        kf_cluster.create_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return kf_cluster


async def test_info_offers_the_cluster_and_the_allowed_namespaces(jp_fetch, cluster):
    info = await get_json(jp_fetch, "info")
    assert info["backend"] == "kubernetes"
    assert info["backends"] == ["local", "kubernetes"]
    assert info["cluster_configured"] is True
    assert info["namespaces"] == ["default", "team-a"]
    assert info["namespace"] == "default"


@pytest.mark.simulated(gpus=1)
async def test_cluster_jobs_come_from_the_watch_and_follow_it(jp_fetch, cluster, simulator):
    assert await get_json(jp_fetch, "jobs") == {"jobs": []}
    api.train("print('hi')", name="srv-a", user_ns={}, gpus=1)

    async def succeeded():
        jobs = (await get_json(jp_fetch, "jobs", params={"backend": "kubernetes", "namespace": "default"}))["jobs"]
        return jobs if jobs and jobs[0]["phase"] == "Succeeded" else None

    [job] = await until(succeeded, 60)
    assert job["name"] == "srv-a" and job["backend"] == "kubernetes" and job["namespace"] == "default"
    assert job["kind"] == "TrainJob" and job["resources"]["gpus"] == 1

    # The listing is served from the watch: no list call reaches the API server per request.
    cluster.clear_requests()
    for _ in range(10):
        await get_json(jp_fetch, "jobs")
    assert cluster.requests_matching(verb="list") == []


async def test_cluster_job_logs_and_cancel(jp_fetch, cluster, simulator, tmp_path):
    api.train(waits_for(tmp_path / "never", "print('done')"), name="srv-long", user_ns={})  # Running until cancelled

    async def running():
        job = await get_json(jp_fetch, "jobs", "srv-long")
        return job["phase"] == "Running"

    assert await until(running, 60)
    cancelled = await get_json(jp_fetch, "jobs", "srv-long", "cancel", method="POST", body=b"")
    assert cancelled["phase"] == "Cancelled"

    async def listed_cancelled():
        jobs = (await get_json(jp_fetch, "jobs"))["jobs"]
        return jobs and jobs[0]["phase"] == "Cancelled"

    assert await until(listed_cancelled, 10)
    response = await jp_fetch("jupyter-kf", "api", "jobs", "srv-long", "logs", params={"follow": "0"})
    assert b"event: end" in response.body


async def test_namespace_outside_the_allow_list_is_refused(jp_fetch, cluster):
    code, body = await error_of(jp_fetch, "jobs", params={"backend": "kubernetes", "namespace": "team-b"})
    assert code == 403
    assert body["message"] == ("namespace 'team-b' is not allowed on this server: it allows default, team-a "
                               "(an admin sets c.KfServer.namespaces)")
    for parts in (("notebooks",), ("models",)):
        code, _ = await error_of(jp_fetch, *parts, params={"backend": "kubernetes", "namespace": "kube-system"})
        assert code == 403
    code, _ = await error_of(jp_fetch, "notebooks", method="POST", body=json.dumps({"name": "x"}),
                             params={"backend": "kubernetes", "namespace": "team-b"})
    assert code == 403


async def test_no_permission_says_what_and_where(jp_fetch, cluster):
    cluster.deny("list", "pods", namespace="team-a")
    code, body = await error_of(jp_fetch, "jobs", params={"backend": "kubernetes", "namespace": "team-a"})
    assert code == 403
    assert "not allowed to list pods in namespace 'team-a'" in body["message"]
    assert body["reason"] == "Forbidden"
    # Another namespace is unaffected.
    assert await get_json(jp_fetch, "jobs", params={"backend": "kubernetes", "namespace": "default"}) == {"jobs": []}


async def test_local_backend_next_to_the_cluster(jp_fetch, cluster):
    """The backend selector: the same server lists local jobs when asked, whatever the default."""
    api.train("x = 1", name="srv-local", backend="local", wait=True)
    jobs = (await get_json(jp_fetch, "jobs", params={"backend": "local"}))["jobs"]
    assert [j["name"] for j in jobs] == ["srv-local"]
    assert jobs[0]["namespace"] is None


async def test_models_and_notebook_servers_on_the_cluster(jp_fetch, cluster):
    where = {"backend": "kubernetes", "namespace": "team-a"}
    model = await get_json(jp_fetch, "models", method="POST", params=where,
                           body=json.dumps({"name": "iris", "uri": "s3://models/iris", "format": "sklearn"}))
    assert model["name"] == "iris" and model["namespace"] == "team-a"
    assert cluster.list_objects("serving.kserve.io", "v1beta1", "inferenceservices", "team-a")

    async def listed_model():
        models = (await get_json(jp_fetch, "models", params=where))["models"]
        return models and models[0]

    listed = await until(listed_model, 10)
    assert listed["name"] == "iris" and listed["backend"] == "kubernetes"

    server = await get_json(jp_fetch, "notebooks", method="POST", params=where,
                            body=json.dumps({"name": "gpu-lab", "gpus": 1, "cpu": "2", "memory": "8Gi"}))
    assert server["name"] == "gpu-lab" and server["namespace"] == "team-a"

    async def listed_server():
        servers = (await get_json(jp_fetch, "notebooks", params=where))["notebooks"]
        return servers and servers[0]

    listed = await until(listed_server, 10)
    assert listed["name"] == "gpu-lab" and listed["resources"]["gpus"] == 1

    assert (await get_json(jp_fetch, "models", "iris", method="DELETE", params=where)) == {"deleted": "iris"}
    deleted = await get_json(jp_fetch, "notebooks", "gpu-lab", method="DELETE",
                             params={**where, "keep_workspace": "true"})
    assert deleted["deleted"] == "gpu-lab"


# -- the allow-list on single jobs ------------------------------------------------------------------
async def test_a_job_outside_the_allow_list_is_neither_shown_nor_touched(jp_fetch, cluster):
    api.train("print('b')", name="job-in-b", user_ns={}, namespace="team-b")
    api.train("print('a')", name="job-in-a", user_ns={}, namespace="team-a")
    where = {"backend": "kubernetes"}
    shown = await get_json(jp_fetch, "jobs", "job-in-a", params=where)
    assert shown["name"] == "job-in-a" and shown["namespace"] == "team-a"

    code, body = await error_of(jp_fetch, "jobs", "job-in-b", params=where)
    assert (code, body["message"]) == (403, ALLOW_LIST_MESSAGE)
    for parts, method in ((("jobs", "job-in-b"), "DELETE"), (("jobs", "job-in-b", "cancel"), "POST")):
        code, body = await error_of(jp_fetch, *parts, method=method, params=where,
                                    **({"body": b""} if method == "POST" else {}))
        assert (code, body["message"]) == (403, ALLOW_LIST_MESSAGE)
    code, body = await error_of(jp_fetch, "jobs", "job-in-b", "logs", params={"follow": "0", **where})
    assert (code, body["message"]) == (403, ALLOW_LIST_MESSAGE)
    assert cluster.get_object("trainer.kubeflow.org", "v1alpha1", "trainjobs", "team-b", "job-in-b") is not None
    assert api.job("job-in-b", backend="kubernetes").status().phase != "Cancelled"
