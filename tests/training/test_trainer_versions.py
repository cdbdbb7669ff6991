"""Which Kubeflow Trainer a cluster runs, and a cell run end to end on Trainer v2.1 (issue item 6).

v2.2+ publish their version in the ``kubeflow-trainer-public`` ConfigMap; v2.1 ships none, so its
TrainJob CRD (the real v2.1.0 one, swapped in by ``install_trainer``) tells it apart.
"""
import pytest

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.training import api
from jupyter_kf.training.backends import kubernetes as kubernetes_backend
from tests.support.helpers import pod_exit_codes
from tests.support.k8s_emulator.webhook_trainer import install_trainer


def minor() -> int:
    return kubernetes_backend.KubernetesBackend().cluster.trainer_minor()


@pytest.mark.parametrize("version,expected", [("2.3.0", 3), ("2.2.1", 2), ("2.1.0", 1)])
def test_trainer_minor_from_the_public_configmap_or_the_crd(kf_cluster, version, expected):
    install_trainer(kf_cluster, version)
    assert minor() == expected


def test_without_configmap_or_crd_access_a_missing_version_means_v21(kf_cluster):
    kf_cluster.deny("get", "customresourcedefinitions", group="apiextensions.k8s.io")
    assert minor() == 1
    kubernetes_backend.reset()
    kf_cluster.allow()
    assert minor() == 3  # the v2.3 CRD's schema has runtimePatches


@pytest.mark.simulated(gpus=2)
def test_a_cell_runs_end_to_end_on_trainer_v21(simulated_cluster):
    kf_cluster = simulated_cluster
    install_trainer(kf_cluster, "2.1.0")
    ns = {"data": [1, 2]}
    job = api.train("data.append(3)\ntotal = sum(data)\nprint(f'total={total}')", name="on-v21", user_ns=ns, workers=2,
                    priority_class="high", gpus=1)
    tj = kf_cluster.get_object("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default", "on-v21")
    override = tj["spec"]["podTemplateOverrides"][0]  # created strictly against the v2.1 CRD, past its webhook
    assert "runtimePatches" not in tj["spec"] and "priorityClassName" not in override["spec"]
    assert override["metadata"]["labels"]["jupyter-kf.io/job"] == "on-v21"
    assert tj["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == "high"
    status = job.wait(timeout=60)
    codes = pod_exit_codes(kf_cluster, "on-v21")
    assert codes == {0: 0, 1: 0} and status.phase == "Succeeded"
    assert [w.phase for w in status.workers] == ["Succeeded", "Succeeded"]  # its pods are found by their labels
    job.apply(ns)
    assert ns["total"] == 6 and ns["data"] == [1, 2, 3]
    assert "[0] total=6" in list(job.logs())


def test_timeout_on_trainer_v21_is_refused_before_anything_is_created(kf_cluster):
    install_trainer(kf_cluster, "2.1.0")
    with pytest.raises(InvalidSpec, match="whose TrainJob has no deadline"):
        api.train("x = 1", name="deadline", user_ns={}, timeout="1h")
    assert kf_cluster.list_objects("", "v1", "secrets", "default") == []


def test_retries_on_a_trainjob_are_refused_before_anything_is_created(kf_cluster):
    """Item 9, through the API: the line says what is accepted, nothing is left behind."""
    with pytest.raises(InvalidSpec, match=r"^--retries 1: a TrainJob has no retry setting .* --kind pytorchjob or --kind job"):
        api.train("x = 1", name="retry", user_ns={}, retries=1)
    assert kf_cluster.list_objects("", "v1", "secrets", "default") == []
