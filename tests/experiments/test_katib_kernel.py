"""``%%kf_tune --backend kubernetes`` in a real kernel (nbclient) on the emulator with Katib: its simulating mode
(Katib's controllers, the training controllers and kubelet) runs in this process, the kernel creates the Experiment,
follows it and brings the best trial's results back."""
import pytest
from kubernetes import client

from jupyter_kf.experiments import api
from jupyter_kf.experiments.webhook_rules import INJECTION_LABEL
from tests.support.k8s_emulator.testing import eventually
from tests.support.notebook_runs import errors, run_notebook, text

TUNE = ("%%kf_tune --name {name} --backend kubernetes --kind job --param x=uniform(-2,2) --param k=int(0,1) "
        "--param opt=choice(adam,sgd) --objective loss --trials 4 --parallel 2 --algorithm random {extra}\n"
        "model = {{'x': x, 'k': k, 'opt': opt, 'scale': scale}}\n"
        "loss = (x - 0.5) ** 2 + k + (0.25 if opt == 'sgd' else 0)\n"
        "print(f'loss={{loss}}')")


HELD = ("%%kf_tune --name {name} --backend kubernetes --kind job --param x=uniform(-2,2) --objective loss --trials 4 "
        "--parallel 2 --algorithm random --no-wait\n"
        "import os, time\nwhile not os.path.exists({gate!r}):\n    time.sleep(0.05)\nprint('loss=1')")


@pytest.fixture
def katib(simulator, kubeconfig_path, k8s_api_client):
    """Katib installed (the simulator starts its controllers), suggestions seeded."""
    simulator.katib.seed = 5
    client.CoreV1Api(k8s_api_client).patch_namespace("default", {"metadata": {"labels": {INJECTION_LABEL: "enabled"}}})
    return simulator.emu


def test_kf_tune_on_katib_brings_the_best_trial_back_into_the_notebook(katib, tmp_path):
    nb = run_notebook(["%load_ext jupyter_kf", "scale = 3", TUNE.format(name="nb-search", extra=""),
                       "import jupyter_kf as kf\nbest = kf.experiment('nb-search').best\n"
                       "print(best.trial, repr(best.objective), best.params == {'x': x, 'k': k, 'opt': opt})\n"
                       "print(model == {'x': x, 'k': k, 'opt': opt, 'scale': 3}, repr(loss))"],
                      tmp_path, timeout=240)
    assert not errors(nb.cells[2]), text(nb.cells[2])
    status = api.experiment("nb-search", backend="kubernetes").status()
    assert status.phase == "Succeeded" and len(status.trials) == 4
    expected = {t.name: (float(t.params["x"]) - 0.5) ** 2 + int(t.params["k"]) + (0.25 if t.params["opt"] == "sgd"
                                                                                    else 0)
                for t in status.trials}
    best = min(expected, key=expected.get)
    summary = text(nb.cells[2])
    assert f"best {best}" in summary and "ExperimentMaxTrialsReached" in summary and "model" in summary
    shown_trial, shown_objective, same_params = text(nb.cells[3]).splitlines()[0].split(" ")
    assert shown_trial == best and float(shown_objective) == pytest.approx(expected[best]) and same_params == "True"
    same_model, shown_loss = text(nb.cells[3]).splitlines()[1].split(" ")
    assert same_model == "True" and float(shown_loss) == pytest.approx(expected[best])


def test_cancel_from_the_notebook_stops_every_running_trial(katib, tmp_path):
    gate = str(tmp_path / "never")  # the trials run until cancelled
    nb = run_notebook(["%load_ext jupyter_kf", "scale = 3", HELD.format(name="nb-stop", gate=gate),
                       "import time, jupyter_kf as kf\n"
                       "while kf.experiment('nb-stop').status().running < 2:\n    time.sleep(0.05)\n"
                       "print(sorted(t.name for t in kf.experiment('nb-stop').status().trials))",
                       "%kf_experiment_cancel nb-stop", "%kf_experiments"], tmp_path, timeout=240)
    for cell in nb.cells[2:]:
        assert not errors(cell), text(cell)
    assert "Katib runs its trials" in text(nb.cells[2])
    assert text(nb.cells[4]).strip().startswith("experiment nb-stop: Cancelled")
    assert "nb-stop" in text(nb.cells[5]) and "Cancelled" in text(nb.cells[5])
    assert katib.list_objects("kubeflow.org", "v1beta1", "trials", "default") == []
    assert katib.list_objects("batch", "v1", "jobs", "default") == []
    eventually(lambda: katib.list_objects("", "v1", "pods", "default") == [], timeout=60)  # their processes ended


def test_a_new_kernel_attaches_to_the_katib_search_and_gets_the_best_trial(katib, tmp_path):
    first = run_notebook(["%load_ext jupyter_kf", "scale = 3", TUNE.format(name="nb-later", extra="--no-wait")],
                         tmp_path, timeout=240)
    second = run_notebook(["%load_ext jupyter_kf", "%kf_experiment_attach nb-later", "%kf_trials nb-later",
                           "print(repr(loss), model['scale'])"], tmp_path, timeout=240)
    assert "Katib runs its trials" in text(first.cells[2])
    for cell in second.cells[1:]:
        assert not errors(cell), text(cell)
    status = api.experiment("nb-later", backend="kubernetes").status()
    best = status.best
    assert status.phase == "Succeeded" and f"best {best.name}" in text(second.cells[1])
    rows = [line.split()[0] for line in text(second.cells[2]).splitlines()[1:]]
    assert sorted(rows) == sorted(t.name for t in status.trials) and len(rows) == 4
    shown_loss, shown_scale = text(second.cells[3]).split()
    assert float(shown_loss) == pytest.approx(best.objective) and shown_scale == "3"
