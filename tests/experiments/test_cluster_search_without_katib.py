"""Kubernetes without Katib: the same search, driven from the kernel, each trial a training job on the cluster
(its simulating mode runs them)."""
import pytest

from jupyter_kf.experiments import api
from jupyter_kf.experiments.backends import get_backend

QUADRATIC = "loss = (x - 0.5) ** 2 + k\nprint(f'loss={loss}')"


@pytest.fixture
def cluster_without_katib(kf_cluster, request):
    for crd in ("experiments.kubeflow.org", "trials.kubeflow.org", "suggestions.kubeflow.org"):
        kf_cluster.uninstall_crd(crd)
    request.getfixturevalue("simulator")  # started on a cluster without Katib: no experiment controller
    return kf_cluster


def test_the_search_runs_from_the_kernel_with_each_trial_a_cluster_job(cluster_without_katib):
    emu = cluster_without_katib
    assert get_backend("kubernetes").driven_by == "kernel"
    ns = {}
    experiment = api.tune(QUADRATIC, params=["x=uniform(-2,2)", "k=int(0,1)"], objective="loss", trials=4,
                          parallel=2, algorithm="random", seed=7, name="nokatib", backend="kubernetes",
                          user_ns=ns, kind="job")
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


def test_the_same_cell_in_a_kernel_without_katib(cluster_without_katib, kubeconfig_path, tmp_path):
    from tests.experiments.test_katib_kernel import TUNE
    from tests.support.notebook_runs import errors, run_notebook, text

    nb = run_notebook(["%load_ext jupyter_kf", "scale = 3", TUNE.format(name="nb-nokatib", extra="--seed 4"),
                       "print(repr(loss), model['scale'])"], tmp_path, timeout=240)
    for cell in nb.cells[2:]:
        assert not errors(cell), text(cell)
    status = api.experiment("nb-nokatib", backend="kubernetes").status()
    assert status.phase == "Succeeded" and len(status.trials) == 4
    assert {j["metadata"]["name"] for j in cluster_without_katib.list_objects("batch", "v1", "jobs", "default")} == {
        t.name for t in status.trials}
    shown_loss, shown_scale = text(nb.cells[3]).split()
    assert float(shown_loss) == pytest.approx(status.best.objective) and shown_scale == "3"


def test_a_new_kernel_takes_up_the_search_after_a_restart(cluster_without_katib, kubeconfig_path, tmp_path):
    """The first kernel starts the search and exits; the trials it started go on on the cluster, a new kernel
    follows them and runs the rest of the budget."""
    from tests.experiments.test_katib_kernel import TUNE
    from tests.support.notebook_runs import errors, run_notebook, text

    first = run_notebook(["%load_ext jupyter_kf", "scale = 3",
                          TUNE.format(name="nb-resume", extra="--seed 4 --no-wait")], tmp_path, timeout=240)
    second = run_notebook(["%load_ext jupyter_kf", "scale = 3", "%kf_experiment_attach nb-resume",
                           "print(repr(loss), model['scale'])"], tmp_path, timeout=240)
    assert "this kernel runs the search" in text(first.cells[2])
    for cell in second.cells[2:]:
        assert not errors(cell), text(cell)
    status = api.experiment("nb-resume", backend="kubernetes").status()
    assert status.phase == "Succeeded" and len(status.trials) == 4 and status.completed == 4
    shown_loss, shown_scale = text(second.cells[3]).split()
    assert float(shown_loss) == pytest.approx(status.best.objective) and shown_scale == "3"
