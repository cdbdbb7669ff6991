"""Kubeflow Trainer's admission rules, which its CRD schema does not carry: the emulator's webhook says what
the Trainer's says (same status, same text), and our TrainJobs pass it (issue items 1 and 8)."""
import pytest
import yaml

from jupyter_kf.errors import KfError
from jupyter_kf.training import api
from jupyter_kf.training.manifests import TRAINER_PATCH_MANAGER
from tests.support.helpers import STOCK_RUNTIME
from tests.support.k8s_emulator.testing import error_body
from tests.support.k8s_emulator.webhook_trainer import install_trainer

DENIED = 'admission webhook "validator.trainjob.trainer.kubeflow.org" denied the request: '


@pytest.fixture
def trainer(k8s_emulator):
    install_trainer(k8s_emulator)
    k8s_emulator.create_object(yaml.safe_load(STOCK_RUNTIME.read_text()))
    return k8s_emulator


def create_trainjob(api_client, body):
    from kubernetes import client

    return client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "trainer.kubeflow.org", "v1alpha1", "default", "trainjobs", body, field_validation="Strict")


def refusal(api_client, body) -> dict:
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as err:
        create_trainjob(api_client, body)
    assert err.value.status == 403
    return error_body(err.value)


def trainjob(name="tj", manager=TRAINER_PATCH_MANAGER, **spec):
    """A TrainJob on the stock runtime with one runtime patch, as ours are shaped."""
    patch = {"manager": manager, "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [{
        "name": "node", "template": {"spec": {"template": {
            "metadata": {"labels": {"jupyter-kf.io/job": name}},
            "spec": {"containers": [{"name": "node", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                     "volumes": [{"name": "data", "emptyDir": {}}]}}}}}]}}}}
    body = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"name": name},
            "spec": {"runtimeRef": {"name": "torch-distributed"}, "runtimePatches": [patch],
                     "trainer": {"command": ["python", "-c", "pass"], "numNodes": 1, "numProcPerNode": 1}}}
    body["spec"].update(spec)
    return body


def test_runtime_patch_manager_is_a_domain_prefixed_path(trainer, k8s_api_client):
    """Item 1: Trainer v2.2/v2.3 refuse a manager without a path; ours has one."""
    assert "/" in TRAINER_PATCH_MANAGER.strip("/")
    create_trainjob(k8s_api_client, trainjob())  # our own manager passes
    body = refusal(k8s_api_client, trainjob("old", manager="jupyter-kf.io"))  # what we sent before
    assert body["message"] == (DENIED + 'spec.runtimePatches.manager: Invalid value: "jupyter-kf.io": must be a '
                               'domain-prefixed path (such as "acme.io/foo")')
    assert (body["reason"], body["code"], "details" in body) == ("Forbidden", 403, False)
    bad_host = refusal(k8s_api_client, trainjob("host", manager="Jupyter_KF/x"))["message"]
    assert bad_host.startswith(DENIED + 'spec.runtimePatches.manager: Invalid value: "Jupyter_KF": a lowercase RFC 1123 subdomain')


def test_missing_runtimes_are_refused_as_the_trainer_does(trainer, k8s_api_client):
    cluster_ref = trainjob("c", runtimeRef={"name": "torch-gpu"})
    assert refusal(k8s_api_client, cluster_ref)["message"] == (
        DENIED + 'spec.RuntimeRef: Invalid value: {"name":"torch-gpu","apiGroup":"trainer.kubeflow.org",'
        '"kind":"ClusterTrainingRuntime"}: clustertrainingruntimes.trainer.kubeflow.org "torch-gpu" not found: '
        "specified clusterTrainingRuntime must be created before the TrainJob is created")
    namespaced = trainjob("n", runtimeRef={"name": "torch-distributed", "kind": "TrainingRuntime"})
    assert refusal(k8s_api_client, namespaced)["message"] == (
        DENIED + 'spec.runtimeRef: Invalid value: {"name":"torch-distributed","apiGroup":"trainer.kubeflow.org",'
        '"kind":"TrainingRuntime"}: trainingruntimes.trainer.kubeflow.org "torch-distributed" not found: '
        "specified trainingRuntime must be created before the TrainJob is created")
    other = trainjob("o", runtimeRef={"name": "x", "kind": "MPIRuntime"})
    assert refusal(k8s_api_client, other)["message"] == DENIED + "unsupported runtime: MPIRuntime.trainer.kubeflow.org"


def test_torch_reserved_env_and_patched_containers(trainer, k8s_api_client):
    body = trainjob("env")
    body["spec"]["trainer"]["env"] = [{"name": "PET_NNODES", "value": "2"}, {"name": "A", "value": "1"}]
    assert refusal(k8s_api_client, body)["message"] == (
        DENIED + 'spec.trainer.env: Invalid value: [{"name":"PET_NNODES","value":"2"},{"name":"A","value":"1"}]: '
        "must not have reserved envs, invalid envs configured: [PET_NNODES]")
    body = trainjob("sidecar")
    pod = body["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    pod["containers"].append({"name": "sidecar"})
    assert "must not have container that doesn't exist in the runtime job node" in refusal(k8s_api_client, body)["message"]


def test_webhook_runs_only_where_the_trainer_is(k8s_emulator, k8s_api_client):
    """A bare CRD (no controller, no runtime) admits anything, as a cluster without the Trainer's controller."""
    create_trainjob(k8s_api_client, trainjob(manager="jupyter-kf.io"))


def test_namespaced_training_runtime_is_referenced_by_kind(kf_cluster):
    """Item 8: a runtime found only in the namespace is a TrainingRuntime in runtimeRef, which the webhook admits."""
    runtime = yaml.safe_load(STOCK_RUNTIME.read_text())
    runtime.update(kind="TrainingRuntime", metadata={**runtime["metadata"], "name": "team-torch", "namespace": "default"})
    kf_cluster.create_object(runtime)
    api.train("x = 1", name="ns-runtime", user_ns={}, runtime="team-torch")
    tj = kf_cluster.get_object("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default", "ns-runtime")
    assert tj["spec"]["runtimeRef"] == {"name": "team-torch", "kind": "TrainingRuntime", "apiGroup": "trainer.kubeflow.org"}
    api.train("x = 1", name="cluster-runtime", user_ns={})
    tj = kf_cluster.get_object("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default", "cluster-runtime")
    assert tj["spec"]["runtimeRef"]["kind"] == "ClusterTrainingRuntime"


def test_a_webhook_denial_reads_as_the_clusters_rule_not_a_permission(kf_cluster, monkeypatch):
    from jupyter_kf.training import manifests as training

    monkeypatch.setattr(training, "TRAINER_PATCH_MANAGER", "jupyter-kf.io")
    with pytest.raises(KfError) as err:
        api.train("x = 1", name="denied", user_ns={})
    message = str(err.value)
    assert message.startswith("the cluster refused create trainjobs in namespace 'default': " + DENIED)
    assert "ask a cluster admin" not in message and "\n" not in message
    assert kf_cluster.list_objects("", "v1", "secrets", "default") == []  # nothing half-created
