"""The REST faces of searches (experiments) and data (datasets, versions, lineage, volumes), served by a real
jupyter_server on the local backend, and volumes on the Kubernetes API emulator."""
from __future__ import annotations

import json
import time

import pytest
from tornado.httpclient import HTTPClientError

import jupyter_kf as kf
from jupyter_kf.experiments import api as experiments
from tests.server.test_server import ROUTES
from tests.support.helpers import error_of, get_json, read_by_job, server_config, two_versions, until, volumes_on

# The writes of these sections (every route's auth and XSRF are tested in test_server.py, from one table)
WRITES = [(m, p) for m, p in ROUTES if m != "GET" and p.split("/")[0] in ("experiments", "data", "volumes")]

@pytest.fixture
def jp_server_config():
    return server_config()


def square(x):
    return (x - 2) ** 2


@pytest.fixture
def finished_search():
    return experiments.tune(square, params={"x": "int(0,4)"}, objective="loss", trials=3, parallel=3,
                            algorithm="grid", name="rest-grid", backend="local")


@pytest.fixture
def running_search(tmp_path):
    """A search whose trials wait for a file that never comes: it runs until cancelled."""
    gate = tmp_path / "never"
    cell = f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\nprint(f'loss={{lr}}')"
    exp = experiments.tune(cell, params=["lr=uniform(0,1)"], objective="loss", trials=4, parallel=2,
                           algorithm="random", name="rest-live", backend="local", user_ns={}, wait=False)
    yield exp
    if experiments.experiments("local") and not exp.status().done:  # not deleted by the test, still running
        exp.stop()


@pytest.fixture
def mnist(tmp_path):
    """Two versions of a dataset; a job read version 1."""
    src = two_versions(tmp_path, "v2, longer\n")
    read_by_job("rest-reader")
    return src


async def test_info_offers_the_new_sections(jp_fetch):
    sections = (await get_json(jp_fetch, "info"))["sections"]
    assert sections["experiments"] is True and sections["data"] is True


# -- experiments --------------------------------------------------------------------------------------
async def test_a_finished_search_is_listed_with_progress_and_best_value(jp_fetch, finished_search):
    [listed] = (await get_json(jp_fetch, "experiments"))["experiments"]
    assert listed["name"] == "rest-grid" and listed["phase"] == "Succeeded"
    assert (listed["completed"], listed["max_trials"], listed["running"]) == (3, 3, 0)
    assert listed["progress"] == "3/3, 0 running"
    assert listed["objective"] == "loss" and listed["goal"] == "minimize" and listed["algorithm"] == "grid"
    assert listed["best"]["objective"] == 0 and listed["best"]["params"] == {"x": "2"}
    assert listed["created"].endswith("Z")
    assert "trials" not in listed  # the listing stays small; one experiment has them
    assert listed["first_failed"] is None


async def test_one_search_has_its_trials(jp_fetch, finished_search):
    search = await get_json(jp_fetch, "experiments", "rest-grid")
    trials = search["trials"]
    assert [t["number"] for t in trials] == sorted(t["number"] for t in trials)
    assert len(trials) == 3 and len({t["params"]["x"] for t in trials}) == 3  # a grid tries each point once
    assert {t["phase"] for t in trials} == {"Succeeded"}
    assert all(t["duration"] is not None and t["duration"] >= 0 for t in trials)
    best = min(trials, key=lambda t: t["objective"])
    assert search["best"]["trial"] == best["name"]


async def test_stop_a_running_search_then_delete_it(jp_fetch, running_search):
    async def running():
        listed = (await get_json(jp_fetch, "experiments"))["experiments"]
        return listed and listed[0]["running"] >= 1 and listed[0]

    row = await until(running, 30)
    assert row and row["phase"] == "Running"

    stopped = await get_json(jp_fetch, "experiments", "rest-live", "cancel", method="POST", body=b"")

    assert stopped["phase"] == "Cancelled" and stopped["running"] == 0
    assert running_search.status().phase == "Cancelled"
    trial_jobs = [t.name for t in running_search.status().trials]
    assert all(kf.job(name).status().phase in ("Cancelled", "Succeeded") for name in trial_jobs)

    assert await get_json(jp_fetch, "experiments", "rest-live", method="DELETE") == {"deleted": "rest-live"}
    code, body = await error_of(jp_fetch, "experiments", "rest-live")
    assert code == 404 and "rest-live" in body["message"]

    async def listed_empty():
        return (await get_json(jp_fetch, "experiments"))["experiments"] == []

    assert await until(listed_empty, 10)


@pytest.mark.parametrize("method,suffix", [("GET", ()), ("DELETE", ()), ("POST", ("cancel",))])
async def test_unknown_and_invalid_search_names_are_one_line(jp_fetch, method, suffix):
    body = b"" if method == "POST" else None
    code, reply = await error_of(jp_fetch, "experiments", "no-such-search", *suffix, method=method, body=body)
    assert code == 404 and reply["message"].startswith("experiment 'no-such-search' not found")
    code, reply = await error_of(jp_fetch, "experiments", "Bad_Name", *suffix, method=method, body=body)
    assert code == 400 and reply["message"].startswith("experiment name 'Bad_Name' is invalid")
    code, reply = await error_of(jp_fetch, "experiments", "a" * 41, *suffix, method=method, body=body)
    assert code == 400 and "at most 40" in reply["message"]


# -- datasets -------------------------------------------------------------------------------------
async def test_datasets_with_versions_and_lineage(jp_fetch, mnist):
    [dataset] = (await get_json(jp_fetch, "data"))["datasets"]
    assert dataset["name"] == "mnist" and dataset["latest"] == "mnist@2" and dataset.pop("where") == "local"
    assert [v["ref"] for v in dataset["versions"]] == ["mnist@1", "mnist@2"]
    first, second = dataset["versions"]
    assert (first["files"], first["size"], second["size"]) == (1, 3, 11)
    assert first["size_text"] and len(first["digest"]) == 64 and first["digest"] != second["digest"]
    assert dataset["lineage"] == [{"version": 1, "direction": "read", "text": "read by job rest-reader at data"}]
    assert await get_json(jp_fetch, "data", "mnist") == dataset


async def test_a_version_a_job_reads_is_refused_until_forced(jp_fetch, mnist):
    code, body = await error_of(jp_fetch, "data", "mnist", "versions", "1", method="DELETE")
    assert code == 409 and body["reason"] == "DatasetInUse"
    assert body["message"].startswith("mnist@1 is read by job rest-reader, which is still there")
    assert [v.version for v in kf.data.show("mnist").versions] == [1, 2]

    reply = await get_json(jp_fetch, "data", "mnist", "versions", "1", method="DELETE", params={"force": "true"})

    assert reply["deleted"] == "mnist@1" and reply["message"].startswith("deleted mnist@1")
    assert [v.version for v in kf.data.show("mnist").versions] == [2]

    async def one_version_listed():
        [dataset] = (await get_json(jp_fetch, "data"))["datasets"]
        return [v["version"] for v in dataset["versions"]] == [2]

    assert await until(one_version_listed, 10)


async def test_an_unread_version_and_a_whole_dataset_are_deleted(jp_fetch, mnist):
    reply = await get_json(jp_fetch, "data", "mnist", "versions", "2", method="DELETE")
    assert reply["deleted"] == "mnist@2"
    kf.job("rest-reader").delete()  # nothing refers to version 1 any more
    assert (await get_json(jp_fetch, "data", "mnist", method="DELETE"))["deleted"] == "mnist"
    code, body = await error_of(jp_fetch, "data", "mnist")
    assert code == 404 and body["reason"] == "DatasetNotFound"


@pytest.mark.parametrize("parts,params,expected", [
    (("data", "Mnist"), {}, "dataset name 'Mnist' is invalid"),
    (("data", "mnist", "versions", "0"), {}, "dataset version '0' is invalid: use a version number N >= 1"),
    (("data", "mnist", "versions", "two"), {}, "dataset version 'two' is invalid"),
    (("data", "mnist", "versions", "1"), {"force": "maybe"}, "force='maybe' is invalid: use force=true or force=false"),
])
async def test_bad_dataset_input_is_one_line_and_deletes_nothing(jp_fetch, mnist, parts, params, expected):
    code, body = await error_of(jp_fetch, *parts, method="DELETE", params=params)
    assert code == 400 and body["message"].startswith(expected)
    assert [v.version for v in kf.data.show("mnist").versions] == [1, 2]


async def test_an_unknown_version_names_the_ones_there_are(jp_fetch, mnist):
    code, body = await error_of(jp_fetch, "data", "mnist", "versions", "9", method="DELETE")
    assert code == 404 and body["message"].startswith("dataset 'mnist' has no version 9: its versions are 1, 2")


# -- volumes --------------------------------------------------------------------------------------
async def test_the_local_backend_lists_no_volumes_and_says_why(jp_fetch):
    reply = await get_json(jp_fetch, "volumes")
    assert reply["volumes"] == [] and reply["note"].startswith("Volumes are PersistentVolumeClaims on a cluster")
    code, body = await error_of(jp_fetch, "volumes", "scratch", method="DELETE")
    assert code == 400 and "the local backend has none" in body["message"]


async def test_volumes_on_a_cluster_with_size_and_the_pods_that_mount_them(jp_fetch, kf_cluster):
    volumes_on(kf_cluster, size="5Gi")
    where = {"backend": "kubernetes", "namespace": "default"}

    reply = await get_json(jp_fetch, "volumes", params=where)

    scratch, theirs = reply["volumes"]
    assert (scratch["name"], scratch["size"], scratch["made by"]) == ("scratch", "5Gi", "jupyter_kf")
    assert scratch["mounted_by"] == ["pod lab-0 (StatefulSet lab)"]
    assert (theirs["name"], theirs["mounted_by"], theirs["made by"]) == ("theirs", [], "-")

    code, body = await error_of(jp_fetch, "volumes", "theirs", method="DELETE", params=where)
    assert code == 400 and "was not made by jupyter_kf" in body["message"]
    deleted = await get_json(jp_fetch, "volumes", "scratch", method="DELETE", params=where)
    assert deleted["deleted"] == "scratch" and deleted["message"].startswith("volume scratch deleted")
    forced = await get_json(jp_fetch, "volumes", "theirs", method="DELETE", params={**where, "force": "true"})
    assert forced["deleted"] == "theirs"
    assert kf_cluster.list_objects("", "v1", "persistentvolumeclaims", "default") == []
    code, body = await error_of(jp_fetch, "volumes", "scratch", method="DELETE", params=where)
    assert code == 404 and "no volume named 'scratch'" in body["message"]


async def test_volumes_are_listed_without_the_right_to_list_pods_and_say_so(jp_fetch, kf_cluster):
    kf.data.volumes.create("scratch", size="5Gi")
    kf_cluster.deny("list", "pods", namespace="default")

    reply = await get_json(jp_fetch, "volumes", params={"backend": "kubernetes", "namespace": "default"})

    [scratch] = reply["volumes"]
    assert scratch["name"] == "scratch" and scratch["mounted_by"] is None
    assert reply["note"].startswith("who mounts each volume is unknown:")
    assert "pods in namespace default" in reply["note"] and "\n" not in reply["note"]


async def test_volumes_outside_the_allow_list_are_refused(jp_fetch, kf_cluster):
    code, body = await error_of(jp_fetch, "volumes", params={"backend": "kubernetes", "namespace": "team-z"})
    assert code == 403 and "namespace 'team-z' is not allowed" in body["message"]


# -- who may do what --------------------------------------------------------------------------------
async def test_a_read_only_user_may_list_but_not_delete(jp_fetch, jp_serverapp, mnist, monkeypatch):
    from jupyter_server.auth.authorizer import Authorizer

    class ReadOnly(Authorizer):
        def is_authorized(self, handler, user, action, resource):
            return action == "read"

    monkeypatch.setattr(jp_serverapp.web_app.settings["authorizer"], "is_authorized",
                        ReadOnly(parent=jp_serverapp).is_authorized)
    assert (await get_json(jp_fetch, "data"))["datasets"][0]["name"] == "mnist"
    writes = [(m, p.replace("data/d", "data/mnist").replace("versions/1", "versions/2")) for m, p in WRITES]
    assert ("DELETE", "data/mnist/versions/2") in writes
    for method, path in writes:
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("jupyter-kf", "api", *path.split("/"), method=method, body=b"" if method == "POST" else None)
        assert info.value.code == 403, (method, path)
    assert [v.version for v in kf.data.show("mnist").versions] == [1, 2]
    assert json.loads((await jp_fetch("jupyter-kf", "api", "experiments")).body) == {"experiments": []}


async def test_a_failed_search_names_its_first_failed_trial(jp_fetch):
    experiments.tune("raise ValueError('lr too big')\nx", params=["x=int(0,1)"], objective="loss", trials=2,
                     parallel=1, algorithm="grid", name="rest-bad", backend="local", user_ns={})
    [listed] = (await get_json(jp_fetch, "experiments"))["experiments"]
    assert listed["phase"] == "Failed" and listed["best"] is None and listed["failed"] == 2
    assert listed["first_failed"] == "rest-bad-000"
    assert "ValueError: lr too big" in listed["message"]


def test_datasets_are_listed_every_data_interval_and_at_once_after_a_change(monkeypatch):
    """Listing datasets asks the store for every version: not every list_interval, but at once after a delete."""
    from jupyter_kf.server import manager as manager_module

    calls = []
    monkeypatch.setitem(manager_module.LISTERS, "data", lambda backend, namespace: calls.append(1) or {"datasets": []})
    manager = manager_module.KfManager(manager_module.KfServer(list_interval=0.05, refresh_interval=0.05,
                                                               data_interval=30))
    try:
        manager.listing("data", "local", None)
        manager.listing("models", "local", None)  # a fast listing beside it keeps the refresh thread ticking
        models = manager._entries[("models", "local", None)]
        first = models.snapshot.version
        deadline = time.monotonic() + 10
        while models.snapshot.version < first + 5 and time.monotonic() < deadline:
            manager.listing("models", "local", None)
            manager.peek("data", "local", None)
            time.sleep(0.02)
        assert models.snapshot.version >= first + 5  # five refreshes of the fast one...
        assert len(calls) == 1  # ...and none of the datasets
        manager.invalidate("data")
        manager.listing("data", "local", None)
        assert len(calls) == 2
    finally:
        manager.stop()
