"""Kubernetes without Katib: the same search, driven from the kernel, each trial a training job on the cluster."""
import pytest

from jupyter_kf.experiments import api
from jupyter_kf.experiments.backends import get_backend
from tests.support.fake_training import FakeTrainingController

QUADRATIC = "loss = (x - 0.5) ** 2 + k\nprint(f'loss={loss}')"


@pytest.fixture
def cluster_without_katib(kf_cluster):
    for crd in ("experiments.kubeflow.org", "trials.kubeflow.org", "suggestions.kubeflow.org"):
        kf_cluster.uninstall_crd(crd)
    return kf_cluster


def test_the_search_runs_from_the_kernel_with_each_trial_a_cluster_job(cluster_without_katib):
    emu = cluster_without_katib
    assert get_backend("kubernetes").driven_by == "kernel"
    ns = {}
    with FakeTrainingController(emu) as jobs:
        experiment = api.tune(QUADRATIC, params=["x=uniform(-2,2)", "k=int(0,1)"], objective="loss", trials=4,
                              parallel=2, algorithm="random", seed=7, name="nokatib", backend="kubernetes",
                              user_ns=ns, kind="job")
    assert jobs.errors == []
    status = experiment.status()
    assert status.phase == "Succeeded" and status.backend == "kubernetes" and len(status.trials) == 4
    on_cluster = {j["metadata"]["name"] for j in emu.list_objects("batch", "v1", "jobs", "default")}
    assert on_cluster == {t.name for t in status.trials}
    expected = {t.name: (float(t.params["x"]) - 0.5) ** 2 + int(t.params["k"]) for t in status.trials}
    best = experiment.best
    assert best.trial == min(expected, key=expected.get) and best.objective == pytest.approx(min(expected.values()))
    experiment.apply(ns)
    assert ns["x"] == best.params["x"] and ns["k"] == best.params["k"] and ns["loss"] == pytest.approx(best.objective)
    experiment.delete()
    assert emu.list_objects("batch", "v1", "jobs", "default") == []
