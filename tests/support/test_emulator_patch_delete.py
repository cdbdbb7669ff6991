"""Kubernetes API emulator: the PATCH flavours, DELETE semantics, finalizers and garbage collection."""
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support.k8s_emulator.testing import WatchCollector, error_body, eventually, raw

TRAINER = ("trainer.kubeflow.org", "v1alpha1")


def _deployment(apps):
    return apps.create_namespaced_deployment("default", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [
                {"name": "app", "image": "app:1", "command": ["serve"],
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "ports": [{"containerPort": 80}], "volumeMounts": [{"name": "v", "mountPath": "/data"}]},
                {"name": "sidecar", "image": "side:1"}],
                "volumes": [{"name": "v", "emptyDir": {}}]}}}})


def _trainjob(api, name, ns="default", **meta):
    return api.create_namespaced_custom_object(*TRAINER, ns, "trainjobs", {
        "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"name": name, **meta},
        "spec": {"runtimeRef": {"name": "torch-distributed"}}})


# -- patches ----------------------------------------------------------------------------------------

def test_strategic_merge_patch_merges_lists_by_key(k8s_api_client):
    apps = client.AppsV1Api(k8s_api_client)
    _deployment(apps)
    patched = apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "app:2", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}],
                        "ports": [{"containerPort": 8080}]}],
        "volumes": [{"name": "extra", "emptyDir": {}}]}}}})
    spec = patched.spec.template.spec
    app = spec.containers[0]
    assert [c.name for c in spec.containers] == ["app", "sidecar"]  # merged by name, sidecar kept
    assert app.image == "app:2" and app.command == ["serve"]  # untouched fields survive
    assert [(e.name, e.value) for e in app.env] == [("A", "1"), ("B", "20"), ("C", "3")]
    assert [p.container_port for p in app.ports] == [80, 8080]
    assert [v.name for v in spec.volumes] == ["v", "extra"]
    assert patched.metadata.generation == 2
    deleted = apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "sidecar", "$patch": "delete"},
                       {"name": "app", "env": [{"name": "A", "$patch": "delete"}]}]}}}})
    assert [c.name for c in deleted.spec.template.spec.containers] == ["app"]
    assert [e.name for e in deleted.spec.template.spec.containers[0].env] == ["B", "C"]
    replaced = apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"metadata": {
        "labels": {"$patch": "replace", "app": "web", "only": "this"}}}}})
    assert replaced.spec.template.metadata.labels == {"app": "web", "only": "this"}
    listed = apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {
        "containers": [{"$patch": "replace"}, {"name": "solo", "image": "solo:1"}]}}}})
    assert [c.name for c in listed.spec.template.spec.containers] == ["solo"]


def test_merge_and_json_patch(k8s_api_client):
    v1 = client.CoreV1Api(k8s_api_client)
    v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(
        name="c", labels={"a": "1", "b": "2"}, finalizers=["x/y"]), data={"k": "v"}))
    merged = raw(k8s_api_client, "PATCH", "/api/v1/namespaces/default/configmaps/c",
                 body={"metadata": {"labels": {"a": None, "c": "3"}, "finalizers": ["z/w"]}},
                 content_type="application/merge-patch+json")
    assert merged["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert merged["metadata"]["finalizers"] == ["z/w"]  # merge patch replaces lists
    smp = v1.patch_namespaced_config_map("c", "default", {"metadata": {"finalizers": ["x/y"]}})
    assert smp.metadata.finalizers == ["z/w", "x/y"]  # strategic merge: finalizers are a merged set
    patched = v1.patch_namespaced_config_map("c", "default", [  # a list body is sent as JSON patch
        {"op": "test", "path": "/data/k", "value": "v"},
        {"op": "add", "path": "/data/n", "value": "1"},
        {"op": "replace", "path": "/data/k", "value": "w"},
        {"op": "copy", "from": "/data/k", "path": "/data/copy"},
        {"op": "move", "from": "/data/n", "path": "/data/moved"},
        {"op": "remove", "path": "/metadata/finalizers"}])
    assert patched.data == {"k": "w", "copy": "w", "moved": "1"} and patched.metadata.finalizers is None
    with pytest.raises(ApiException) as e:
        v1.patch_namespaced_config_map("c", "default", [{"op": "test", "path": "/data/k", "value": "nope"}])
    body = error_body(e.value)
    assert e.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"] == [{"message": "testing value /data/k failed: test failed"}]
    with pytest.raises(ApiException) as e:
        v1.patch_namespaced_config_map("c", "default", [{"op": "remove", "path": "/data/missing"}])
    assert e.value.status == 422


def test_custom_resource_patch_content_types(k8s_api_client):
    api = client.CustomObjectsApi(k8s_api_client)
    _trainjob(api, "tj")
    with pytest.raises(ApiException) as e:
        raw(k8s_api_client, "PATCH", "/apis/trainer.kubeflow.org/v1alpha1/namespaces/default/trainjobs/tj",
            body={"spec": {"suspend": True}}, content_type="application/strategic-merge-patch+json")
    assert e.value.status == 415
    assert error_body(e.value)["message"] == ("the body of the request was in an unknown format - accepted media "
                                              "types include: application/json-patch+json, "
                                              "application/merge-patch+json, application/apply-patch+yaml")
    with pytest.raises(ApiException) as e:  # the client's gotcha: a list body still goes as merge patch
        api.patch_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj",
                                           [{"op": "replace", "path": "/spec/suspend", "value": True}])
    assert e.value.status == 400
    patched = api.patch_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj",
                                                 [{"op": "add", "path": "/spec/suspend", "value": True}],
                                                 _content_type="application/json-patch+json")
    assert patched["spec"]["suspend"] is True


def test_server_side_apply(k8s_api_client):
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "app:1"}]}}}}
    with pytest.raises(ApiException) as e:
        raw(k8s_api_client, "PATCH", path, body=manifest, content_type="application/apply-patch+yaml")
    assert e.value.status == 400
    query = [("fieldManager", "jupyter-kf")]
    created = raw(k8s_api_client, "PATCH", path, body=manifest, content_type="application/apply-patch+yaml",
                  query=query)
    assert created["metadata"]["uid"] and created["spec"]["replicas"] == 1
    manifest["spec"]["template"]["spec"]["containers"] = [{"name": "side", "image": "side:1"}]
    applied = raw(k8s_api_client, "PATCH", path, body=manifest, content_type="application/apply-patch+yaml",
                  query=query)
    assert [c["name"] for c in applied["spec"]["template"]["spec"]["containers"]] == ["app", "side"]
    api = client.CustomObjectsApi(k8s_api_client)
    cr = raw(k8s_api_client, "PATCH", "/apis/trainer.kubeflow.org/v1alpha1/namespaces/default/trainjobs/tj",
             body={"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"name": "tj"},
                   "spec": {"runtimeRef": {"name": "torch-distributed"}}},
             content_type="application/apply-patch+yaml", query=query)
    assert api.get_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj")["metadata"]["uid"] == \
        cr["metadata"]["uid"]


# -- deletion ---------------------------------------------------------------------------------------

def test_delete_answers_status_or_object(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    cm = v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c")))
    status = raw(k8s_api_client, "DELETE", "/api/v1/namespaces/default/configmaps/c")
    assert status == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                      "details": {"name": "c", "kind": "configmaps", "uid": cm.metadata.uid}}
    k8s_emulator.make_pod("default", "p")
    pod = v1.delete_namespaced_pod("p", "default")  # pods return the deleted object (the client maps 200 to V1Pod)
    assert isinstance(pod, client.V1Pod) and pod.metadata.name == "p"
    api = client.CustomObjectsApi(k8s_api_client)
    _trainjob(api, "tj")
    deleted = api.delete_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj")
    assert deleted["kind"] == "TrainJob"
    with pytest.raises(ApiException) as e:
        api.delete_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj")
    assert e.value.status == 404


def test_delete_preconditions(k8s_api_client):
    v1 = client.CoreV1Api(k8s_api_client)
    cm = v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c")))
    with pytest.raises(ApiException) as e:
        v1.delete_namespaced_config_map("c", "default", body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(resource_version="1")))
    assert e.value.status == 409
    assert error_body(e.value)["message"] == (f'Operation cannot be fulfilled on configmaps "c": Precondition failed: '
                                              f"ResourceVersion in precondition: 1, ResourceVersion in object meta: "
                                              f"{cm.metadata.resource_version}")
    v1.delete_namespaced_config_map("c", "default", body=client.V1DeleteOptions(
        preconditions=client.V1Preconditions(uid=cm.metadata.uid)))


def _job_with_children(k8s_emulator, batch, name="train"):
    job = batch.create_namespaced_job("default", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}})
    owner = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "uid": job.metadata.uid}}
    k8s_emulator.make_pod("default", f"{name}-pod", owner=owner, labels={"job-name": name}, phase="Running")
    k8s_emulator.create_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": f"{name}-code", "namespace": "default",
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": job.metadata.uid}]}})
    return job


def test_garbage_collection_background_and_foreground(k8s_api_client, k8s_emulator):
    batch, v1 = client.BatchV1Api(k8s_api_client), client.CoreV1Api(k8s_api_client)
    _job_with_children(k8s_emulator, batch)
    status = batch.delete_namespaced_job("train", "default", propagation_policy="Background")
    assert status["status"] == "Success" and status["details"]["kind"] == "jobs"
    assert v1.list_namespaced_pod("default").items == [] and v1.list_namespaced_config_map("default").items == []
    _job_with_children(k8s_emulator, batch)
    pods = WatchCollector(v1.list_namespaced_pod, "default")
    jobs = WatchCollector(batch.list_namespaced_job, "default")
    k8s_emulator.wait_for_requests(verb="watch", resource="jobs")
    k8s_emulator.wait_for_requests(verb="watch", resource="pods")
    answer = batch.delete_namespaced_job("train", "default", propagation_policy="Foreground")
    assert answer["metadata"]["deletionTimestamp"] and answer["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert [t for t, _ in jobs.wait_for(3)] == ["ADDED", "MODIFIED", "DELETED"]
    # the pod may be MODIFIED (deletionTimestamp) before it goes: wait for its DELETED, whatever came between
    assert eventually(lambda: pods.events and pods.events[-1][0] == "DELETED")
    jobs.stop()
    pods.stop()
    assert batch.list_namespaced_job("default").items == [] and v1.list_namespaced_pod("default").items == []


def test_jobs_default_to_orphan_deletion(k8s_api_client, k8s_emulator):
    batch, v1 = client.BatchV1Api(k8s_api_client), client.CoreV1Api(k8s_api_client)
    _job_with_children(k8s_emulator, batch)
    answer = batch.delete_namespaced_job("train", "default")  # batch/v1 default policy: orphan
    assert answer["metadata"]["finalizers"] == ["orphan"]
    pods = v1.list_namespaced_pod("default").items
    assert [p.metadata.name for p in pods] == ["train-pod"] and pods[0].metadata.owner_references is None
    assert batch.list_namespaced_job("default").items == []
    _job_with_children(k8s_emulator, batch, "again")
    api_answer = raw(k8s_api_client, "DELETE", "/apis/batch/v1/namespaces/default/jobs/again",
                     query=[("orphanDependents", "false")])
    assert api_answer["status"] == "Success"


def test_custom_resource_owner_gc(k8s_api_client, k8s_emulator):
    api = client.CustomObjectsApi(k8s_api_client)
    tj = _trainjob(api, "tj")
    k8s_emulator.make_pod("default", "tj-node-0", owner=tj)
    k8s_emulator.create_object({"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "tj", "namespace": "default", "ownerReferences": [
            {"apiVersion": tj["apiVersion"], "kind": "TrainJob", "name": "tj", "uid": tj["metadata"]["uid"]}]},
        "spec": {"clusterIP": "None", "selector": {"app": "tj"}}})
    api.delete_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj")
    v1 = client.CoreV1Api(k8s_api_client)
    assert v1.list_namespaced_pod("default").items == [] and v1.list_namespaced_service("default").items == []


def test_finalizers_hold_deletion(k8s_api_client, k8s_emulator):
    api = client.CustomObjectsApi(k8s_api_client)
    _trainjob(api, "tj", finalizers=["example.com/cleanup"])
    collector = WatchCollector(api.list_namespaced_custom_object, *TRAINER, "default", "trainjobs")
    k8s_emulator.wait_for_requests(verb="watch", resource="trainjobs")
    answer = api.delete_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj")
    assert answer["metadata"]["deletionTimestamp"] and answer["metadata"]["generation"] == 2
    still = api.get_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj")
    assert still["metadata"]["finalizers"] == ["example.com/cleanup"]
    with pytest.raises(ApiException) as e:
        api.patch_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj",
                                           {"metadata": {"finalizers": ["example.com/cleanup", "new/one"]}})
    assert e.value.status == 422 and "no new finalizers can be added" in error_body(e.value)["message"]
    api.patch_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj", {"metadata": {"finalizers": None}})
    events = collector.wait_for(3)
    collector.stop()
    assert [t for t, _ in events] == ["ADDED", "MODIFIED", "DELETED"]
    with pytest.raises(ApiException) as e:
        api.get_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj")
    assert e.value.status == 404


def test_delete_collection_with_selectors(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    for name, labels in (("a", {"run": "1"}), ("b", {"run": "1"}), ("c", {"run": "2"})):
        k8s_emulator.make_pod("default", name, labels=labels)
    gone = raw(k8s_api_client, "DELETE", "/api/v1/namespaces/default/pods", query=[("labelSelector", "run=1")])
    assert gone["kind"] == "PodList" and sorted(p["metadata"]["name"] for p in gone["items"]) == ["a", "b"]
    assert [p.metadata.name for p in v1.list_namespaced_pod("default").items] == ["c"]
    v1.delete_collection_namespaced_pod("default", label_selector="run=2")  # typed call (maps 200 to V1Status)
    assert v1.list_namespaced_pod("default").items == []
    api = client.CustomObjectsApi(k8s_api_client)
    _trainjob(api, "x")
    _trainjob(api, "y")
    api.delete_collection_namespaced_custom_object(*TRAINER, "default", "trainjobs", field_selector="metadata.name=x")
    assert [o["metadata"]["name"] for o in api.list_namespaced_custom_object(*TRAINER, "default", "trainjobs")["items"]] == ["y"]


def test_namespace_deletion_removes_contents(k8s_api_client, k8s_emulator):
    k8s_emulator.create_namespace("team-a")
    k8s_emulator.make_pod("team-a", "p")
    v1 = client.CoreV1Api(k8s_api_client)
    answer = v1.delete_namespace("team-a")
    assert answer["status"]["phase"] == "Terminating"
    assert "team-a" not in [n.metadata.name for n in v1.list_namespace().items]
    assert v1.list_pod_for_all_namespaces().items == []
    with pytest.raises(ApiException) as e:
        v1.read_namespace("team-a")
    assert e.value.status == 404
