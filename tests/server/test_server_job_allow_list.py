"""The namespace allow-list guards single jobs too: GET, DELETE, cancel and logs of a job whose namespace the
server does not allow answer 403 and leave the job alone (jupyter_kf/server/handlers.py)."""
from __future__ import annotations

import pytest

from jupyter_kf.training import api
from tests.support.helpers import error_of, get_json, server_config

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
