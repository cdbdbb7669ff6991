"""Deletion and namespaces behave as on a real API server (issue 15): objects held by finalizers show a
deletionTimestamp, a deleted namespace stays Terminating until its last object is gone, a new namespace gets
what its controllers add, and re-creating a name that is still being deleted gets the real 409."""
from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.k8s_emulator.testing import error_body, raw

KEEP = "example.com/keep"


@pytest.fixture
def core(k8s_api_client):
    return client.CoreV1Api(k8s_api_client)


def _held_configmap(core, namespace: str, name: str = "held") -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "finalizers": [KEEP]}})


def test_new_namespace_gets_default_service_account_and_root_ca(k8s_emulator, core):
    core.create_namespace({"metadata": {"name": "team-a"}})
    assert [sa.metadata.name for sa in core.list_namespaced_service_account("team-a").items] == ["default"]
    ca = core.read_namespaced_config_map("kube-root-ca.crt", "team-a")
    assert "ca.crt" in ca.data
    assert ca.metadata.annotations["kubernetes.io/description"].startswith("Contains a CA bundle")


def test_namespace_stays_terminating_until_its_finalized_content_is_released(k8s_emulator, core):
    k8s_emulator.create_namespace("team-a")
    _held_configmap(core, "team-a")
    k8s_emulator.make_pod("team-a", "worker")
    answer = core.delete_namespace("team-a")
    assert answer["status"]["phase"] == "Terminating"

    ns = core.read_namespace("team-a")  # still there: one configmap is held by its finalizer
    assert ns.status.phase == "Terminating" and ns.metadata.deletion_timestamp is not None
    conditions = {c.type: c for c in ns.status.conditions}
    assert conditions["NamespaceContentRemaining"].message == \
        "Some resources are remaining: configmaps. has 1 resource instances"
    assert conditions["NamespaceFinalizersRemaining"].message == \
        f"Some content in the namespace has finalizers remaining: {KEEP} in 1 resource instances"
    assert core.list_namespaced_pod("team-a").items == []  # the rest went
    held = core.read_namespaced_config_map("held", "team-a")
    assert held.metadata.deletion_timestamp is not None and held.metadata.finalizers == [KEEP]

    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("team-a", {"metadata": {"name": "late"}})
    assert (err.value.status, error_body(err.value)["message"]) == (
        403, 'configmaps "late" is forbidden: unable to create new content in namespace team-a because it is being '
             'terminated')
    with pytest.raises(ApiException) as err:
        core.create_namespace({"metadata": {"name": "team-a"}})
    assert (err.value.status, error_body(err.value)["reason"], error_body(err.value)["message"]) == (
        409, "AlreadyExists", 'object is being deleted: namespaces "team-a" already exists')

    core.patch_namespaced_config_map("held", "team-a", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as err:
        core.read_namespace("team-a")
    assert err.value.status == 404


def test_recreating_an_object_being_deleted_gets_409_being_deleted(k8s_emulator, core, k8s_api_client):
    _held_configmap(core, "default")
    core.delete_namespaced_config_map("held", "default")
    with pytest.raises(ApiException) as err:
        _held_configmap(core, "default")
    body = error_body(err.value)
    assert (err.value.status, body["reason"], body["message"], body["details"]) == (
        409, "AlreadyExists", 'object is being deleted: configmaps "held" already exists',
        {"name": "held", "kind": "configmaps"})
    trainjob = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
                "metadata": {"name": "tj", "finalizers": [KEEP]}, "spec": {"runtimeRef": {"name": "torch"}}}
    path = "/apis/trainer.kubeflow.org/v1alpha1/namespaces/default/trainjobs"
    raw(k8s_api_client, "POST", path, body=trainjob)
    raw(k8s_api_client, "DELETE", f"{path}/tj")
    with pytest.raises(ApiException) as err:
        raw(k8s_api_client, "POST", path, body=trainjob)
    assert error_body(err.value)["message"] == \
        'object is being deleted: trainjobs.trainer.kubeflow.org "tj" already exists'


def _job_with_pod(k8s_emulator, name: str = "train") -> dict:
    job = k8s_emulator.create_object({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
                                      "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                                          {"name": "main", "image": "busybox:1.36"}]}}}})
    k8s_emulator.make_pod("default", f"{name}-0", owner=job, phase="Running")
    return job


def test_asynchronous_gc_leaves_dependents_for_a_while(k8s_emulator, k8s_api_client):
    """With gc_delay the garbage collector acts after the DELETE, as a real one: a Background-deleted Job is
    gone at once while its pod lingers; a Foreground-deleted one stays "being deleted" until its pods are gone."""
    from tests.support.k8s_emulator.testing import eventually

    batch, core = client.BatchV1Api(k8s_api_client), client.CoreV1Api(k8s_api_client)
    k8s_emulator.gc_delay = 2.0  # long enough to look before it acts, even on a loaded machine
    _job_with_pod(k8s_emulator)
    batch.delete_namespaced_job("train", "default", propagation_policy="Background")
    assert k8s_emulator.get_object("batch", "v1", "jobs", "default", "train") is None
    assert k8s_emulator.get_object("", "v1", "pods", "default", "train-0") is not None
    eventually(lambda: k8s_emulator.get_object("", "v1", "pods", "default", "train-0") is None, timeout=15)

    _job_with_pod(k8s_emulator)
    batch.delete_namespaced_job("train", "default", propagation_policy="Foreground")
    marked = k8s_emulator.get_object("batch", "v1", "jobs", "default", "train")
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    with pytest.raises(ApiException) as err:
        batch.create_namespaced_job("default", {"metadata": {"name": "train"}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox:1.36"}]}}}})
    assert error_body(err.value)["message"] == 'object is being deleted: jobs.batch "train" already exists'
    eventually(lambda: k8s_emulator.get_object("batch", "v1", "jobs", "default", "train") is None, timeout=15)
    assert core.list_namespaced_pod("default").items == []


def test_the_system_namespaces_cannot_be_deleted(k8s_emulator, core):
    for name in ("default", "kube-system", "kube-public"):
        with pytest.raises(ApiException) as err:
            core.delete_namespace(name)
        assert (err.value.status, error_body(err.value)["message"]) == (
            403, f'namespaces "{name}" is forbidden: this namespace may not be deleted')
    assert core.read_namespace("default").status.phase == "Active"


def test_running_pods_terminate_gracefully(k8s_emulator, core):
    """With a kubelet to stop them (pod_termination), a deleted running pod is Terminating (deletionTimestamp =
    now + grace period) until the kubelet removes it; --force (grace 0) removes it at once; its namespace waits."""
    from tests.support.k8s_emulator.testing import eventually

    k8s_emulator.pod_termination = 2.0
    k8s_emulator.make_pod("default", "worker", phase="Running")
    answer = core.delete_namespaced_pod("worker", "default")
    assert answer.metadata.deletion_grace_period_seconds == 30 and answer.metadata.deletion_timestamp is not None
    assert core.read_namespaced_pod("worker", "default").metadata.deletion_timestamp is not None
    eventually(lambda: not core.list_namespaced_pod("default").items, timeout=15)

    k8s_emulator.make_pod("default", "stuck", phase="Running")
    core.delete_namespaced_pod("stuck", "default", grace_period_seconds=5)
    assert core.read_namespaced_pod("stuck", "default").metadata.deletion_grace_period_seconds == 5
    core.delete_namespaced_pod("stuck", "default", grace_period_seconds=0)
    assert core.list_namespaced_pod("default").items == []

    k8s_emulator.make_pod("default", "done", phase="Succeeded")  # nothing left to stop: goes at once
    core.delete_namespaced_pod("done", "default")
    assert core.list_namespaced_pod("default").items == []

    k8s_emulator.create_namespace("team-a")
    k8s_emulator.make_pod("team-a", "worker", phase="Running")
    core.delete_namespace("team-a")
    assert core.read_namespace("team-a").status.phase == "Terminating"
    eventually(lambda: "team-a" not in [n.metadata.name for n in core.list_namespace().items], timeout=15)
