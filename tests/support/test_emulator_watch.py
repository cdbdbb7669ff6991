"""Kubernetes API emulator: list selectors, paging, resourceVersion semantics and watches."""
import json
import time

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.support.k8s_emulator.testing import WatchCollector, error_body, eventually, raw

TRAINER = ("trainer.kubeflow.org", "v1alpha1")


def _cm(v1, name, labels=None, ns="default"):
    return v1.create_namespaced_config_map(ns, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels), data={"k": name}))


def _names(items):
    return sorted(i.metadata.name for i in items)


# -- selectors --------------------------------------------------------------------------------------

def test_label_selectors(k8s_api_client):
    v1 = client.CoreV1Api(k8s_api_client)
    _cm(v1, "a", {"app": "x", "tier": "web"})
    _cm(v1, "b", {"app": "y", "tier": "db"})
    _cm(v1, "c", {"app": "z"})
    _cm(v1, "d")

    def select(sel):
        return _names(v1.list_namespaced_config_map("default", label_selector=sel).items)

    assert select("app=x") == ["a"]
    assert select("app==y") == ["b"]
    assert select("app!=x") == ["b", "c", "d"]
    assert select("app in (x, z)") == ["a", "c"]
    assert select("app notin (x,z)") == ["b", "d"]
    assert select("tier") == ["a", "b"]
    assert select("!tier") == ["c", "d"]
    assert select("app,tier=db") == ["b"]
    assert select("") == ["a", "b", "c", "d"]
    with pytest.raises(ApiException) as e:
        v1.list_namespaced_config_map("default", label_selector="app in x")
    assert e.value.status == 400 and error_body(e.value)["message"].startswith("unable to parse requirement")


def test_field_selectors(k8s_api_client, k8s_emulator):
    k8s_emulator.create_namespace("team-a")
    k8s_emulator.make_pod("default", "p1", phase="Running")
    k8s_emulator.make_pod("default", "p2", phase="Pending")
    k8s_emulator.make_pod("team-a", "p3", phase="Running")
    v1 = client.CoreV1Api(k8s_api_client)
    assert _names(v1.list_pod_for_all_namespaces(field_selector="status.phase=Running").items) == ["p1", "p3"]
    assert _names(v1.list_pod_for_all_namespaces(field_selector="metadata.namespace!=default").items) == ["p3"]
    assert _names(v1.list_namespaced_pod("default", field_selector="metadata.name=p2").items) == ["p2"]
    pod = v1.read_namespaced_pod("p1", "default")
    k8s_emulator.emit_event("default", pod, "Started", "Started container main")  # a client model works too
    k8s_emulator.mark_unschedulable("default", "p2", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")
    events = v1.list_namespaced_event("default", field_selector="involvedObject.name=p2,type=Warning").items
    assert [(e.reason, e.message) for e in events] == [
        ("FailedScheduling", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")]
    assert [e.reason for e in v1.list_namespaced_event(
        "default", field_selector=f"involvedObject.uid={pod.metadata.uid}").items] == ["Started"]
    with pytest.raises(ApiException) as e:
        v1.list_namespaced_pod("default", field_selector="spec.foo=bar")
    assert e.value.status == 400 and error_body(e.value)["message"] == "field label not supported: spec.foo"
    with pytest.raises(ApiException) as e:
        client.CustomObjectsApi(k8s_api_client).list_namespaced_custom_object(
            *TRAINER, "default", "trainjobs", field_selector="spec.suspend=true")
    assert error_body(e.value)["message"] == ('"spec.suspend" is not a known field selector: only '
                                              '"metadata.name", "metadata.namespace"')


# -- paging -----------------------------------------------------------------------------------------

def test_paging_with_continue(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    for i in range(5):
        _cm(v1, f"cm-{i}")
    first = v1.list_namespaced_config_map("default", limit=2)
    assert _names(first.items) == ["cm-0", "cm-1"]
    assert first.metadata.remaining_item_count == 3 and first.metadata._continue
    _cm(v1, "cm-9")  # created after the snapshot: not in later pages
    v1.delete_namespaced_config_map("cm-3", "default")  # deleted after the snapshot: still listed
    second = v1.list_namespaced_config_map("default", limit=2, _continue=first.metadata._continue)
    assert _names(second.items) == ["cm-2", "cm-3"]
    assert second.metadata.resource_version == first.metadata.resource_version
    third = v1.list_namespaced_config_map("default", limit=2, _continue=second.metadata._continue)
    assert _names(third.items) == ["cm-4"] and not third.metadata._continue
    assert third.metadata.remaining_item_count is None
    labelled = v1.list_namespaced_config_map("default", limit=1, label_selector="!missing")
    assert labelled.metadata._continue and labelled.metadata.remaining_item_count is None
    with pytest.raises(ApiException) as e:
        v1.list_namespaced_config_map("default", limit=2, _continue="not-a-token")
    assert e.value.status == 400
    k8s_emulator.compact()
    with pytest.raises(ApiException) as e:
        v1.list_namespaced_config_map("default", limit=2, _continue=first.metadata._continue)
    body = error_body(e.value)
    assert e.value.status == 410 and body["reason"] == "Expired"
    assert body["message"].startswith("The provided continue parameter is too old")


# -- watches ----------------------------------------------------------------------------------------

def test_watch_events_and_resume(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    _cm(v1, "before")
    collector = WatchCollector(v1.list_namespaced_config_map, "default")
    k8s_emulator.wait_for_requests(verb="watch", resource="configmaps")
    created = _cm(v1, "during")
    v1.patch_namespaced_config_map("during", "default", {"data": {"k": "changed"}})
    v1.delete_namespaced_config_map("during", "default")
    events = collector.wait_for(4)
    collector.stop()
    assert [(t, o["metadata"]["name"]) for t, o in events] == [
        ("ADDED", "before"), ("ADDED", "during"), ("MODIFIED", "during"), ("DELETED", "during")]
    rvs = [int(o["metadata"]["resourceVersion"]) for _, o in events[1:]]
    assert rvs == sorted(set(rvs)) and rvs[0] == int(created.metadata.resource_version)
    assert events[2][1]["data"] == {"k": "changed"} and events[3][1]["kind"] == "ConfigMap"
    # resume from the ADDED event: only newer events, no synthetic ADDED
    resumed = list(watch.Watch().stream(v1.list_namespaced_config_map, "default",
                                        resource_version=events[1][1]["metadata"]["resourceVersion"],
                                        timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in resumed] == [("MODIFIED", "during"),
                                                                        ("DELETED", "during")]


def test_watch_filters_namespace_and_custom_resources(k8s_api_client, k8s_emulator):
    k8s_emulator.create_namespace("team-a")
    api = client.CustomObjectsApi(k8s_api_client)
    collector = WatchCollector(api.list_namespaced_custom_object, *TRAINER, "team-a", "trainjobs")
    k8s_emulator.wait_for_requests(verb="watch", resource="trainjobs")
    for ns in ("default", "team-a"):
        api.create_namespaced_custom_object(*TRAINER, ns, "trainjobs", {
            "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"name": f"tj-{ns}"},
            "spec": {"runtimeRef": {"name": "torch-distributed"}}})
    k8s_emulator.set_condition(*TRAINER, "trainjobs", "team-a", "tj-team-a", "Complete", reason="JobsCompleted")
    events = collector.wait_for(2)
    collector.stop()
    assert [(t, o["metadata"]["name"]) for t, o in events] == [("ADDED", "tj-team-a"), ("MODIFIED", "tj-team-a")]
    assert events[1][1]["status"]["conditions"][0]["type"] == "Complete"


def test_watch_selector_transitions(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    labelled = WatchCollector(v1.list_namespaced_config_map, "default", label_selector="app=x")
    running = WatchCollector(v1.list_namespaced_pod, "default", field_selector="status.phase=Running")
    k8s_emulator.wait_for_requests(verb="watch", resource="pods")
    k8s_emulator.wait_for_requests(verb="watch", resource="configmaps")
    _cm(v1, "c", {"app": "y"})
    v1.patch_namespaced_config_map("c", "default", {"metadata": {"labels": {"app": "x"}}})  # enters: ADDED
    v1.patch_namespaced_config_map("c", "default", {"data": {"k": "2"}})                   # MODIFIED
    v1.patch_namespaced_config_map("c", "default", {"metadata": {"labels": {"app": "z"}}})  # leaves: DELETED
    k8s_emulator.make_pod("default", "p", phase="Pending")
    k8s_emulator.set_pod_phase("default", "p", "Running")
    k8s_emulator.set_pod_phase("default", "p", "Succeeded")
    assert [t for t, _ in labelled.wait_for(3)] == ["ADDED", "MODIFIED", "DELETED"]
    assert labelled.events[2][1]["metadata"]["labels"] == {"app": "z"}
    assert [(t, o["status"]["phase"]) for t, o in running.wait_for(2)] == [("ADDED", "Running"),
                                                                           ("DELETED", "Succeeded")]
    labelled.stop()
    running.stop()


def test_watch_timeout_and_bookmarks(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    start = time.monotonic()
    events = list(watch.Watch().stream(v1.list_namespaced_config_map, "default", timeout_seconds=1))
    assert events == [] and 0.9 <= time.monotonic() - start < 3
    bookmarks = list(watch.Watch().stream(v1.list_namespaced_config_map, "default", timeout_seconds=1,
                                          allow_watch_bookmarks=True))
    assert [e["type"] for e in bookmarks] == ["BOOKMARK"]
    assert int(bookmarks[0]["raw_object"]["metadata"]["resourceVersion"]) == k8s_emulator.resource_version
    k8s_emulator.bookmark_interval = 0.2
    periodic = list(watch.Watch().stream(v1.list_namespaced_config_map, "default", timeout_seconds=1,
                                         allow_watch_bookmarks=True))
    assert len(periodic) >= 3 and {e["type"] for e in periodic} == {"BOOKMARK"}
    _cm(v1, "x")
    initial = list(watch.Watch().stream(v1.list_namespaced_config_map, "default", timeout_seconds=1,
                                        allow_watch_bookmarks=True, send_initial_events=True,
                                        resource_version_match="NotOlderThan"))
    assert initial[0]["type"] == "ADDED" and initial[1]["type"] == "BOOKMARK"
    assert initial[1]["raw_object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_expired_after_compaction(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    old_rv = _cm(v1, "a").metadata.resource_version
    _cm(v1, "b")
    k8s_emulator.compact()
    response = v1.list_namespaced_config_map("default", watch=True, resource_version=old_rv, _preload_content=False)
    assert response.status == 200
    lines = [json.loads(line) for line in response.data.decode().splitlines()]
    assert lines == [{"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f"too old resource version: {old_rv} ({k8s_emulator.resource_version})",
        "reason": "Expired", "code": 410}}]
    with pytest.raises(ApiException) as e:  # with a timeout the client does not retry
        list(watch.Watch().stream(v1.list_namespaced_config_map, "default", resource_version=old_rv,
                                  timeout_seconds=5))
    assert e.value.status == 410
    k8s_emulator.clear_requests()
    with pytest.raises(ApiException) as e:  # without one it retries once from the same version, then raises
        list(watch.Watch().stream(v1.list_namespaced_config_map, "default", resource_version=old_rv))
    assert e.value.status == 410
    assert [r.query.get("resourceVersion") for r in k8s_emulator.requests_matching(verb="watch", resource="configmaps")] == [old_rv, old_rv]
    current = v1.list_namespaced_config_map("default").metadata.resource_version  # relist and watch again works
    assert list(watch.Watch().stream(v1.list_namespaced_config_map, "default", resource_version=current,
                                     timeout_seconds=1)) == []


def test_watch_reconnects_from_last_version(k8s_api_client, k8s_emulator):
    """Without timeoutSeconds the client reconnects when the server ends a stream; resume must work."""
    v1 = client.CoreV1Api(k8s_api_client)
    collector = WatchCollector(v1.list_namespaced_config_map, "default")
    k8s_emulator.wait_for_requests(verb="watch", resource="configmaps")
    one = _cm(v1, "one")
    collector.wait_for(1)
    k8s_emulator.close_streams()
    eventually(lambda: len(k8s_emulator.requests_matching(verb="watch", resource="configmaps")) == 2)
    _cm(v1, "two")
    events = collector.wait_for(2)
    collector.stop()
    assert [(t, o["metadata"]["name"]) for t, o in events] == [("ADDED", "one"), ("ADDED", "two")]
    first, second = k8s_emulator.requests_matching(verb="watch", resource="configmaps")
    assert "resourceVersion" not in first.query
    assert second.query["resourceVersion"] == one.metadata.resource_version


def test_watch_single_object_path(k8s_api_client):
    v1 = client.CoreV1Api(k8s_api_client)
    _cm(v1, "target")
    _cm(v1, "other")
    event = raw(k8s_api_client, "GET", "/api/v1/watch/namespaces/default/configmaps/target",
                query=[("timeoutSeconds", "1")])  # one event line: the object, not "other"
    assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "target"
    same = raw(k8s_api_client, "GET", "/api/v1/namespaces/default/configmaps",
               query=[("watch", "1"), ("fieldSelector", "metadata.name=target"), ("timeoutSeconds", "1")])
    assert same == event  # watch=1 works like watch=true
