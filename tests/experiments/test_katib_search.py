"""A search on the emulator with Katib installed: the fake Katib makes Trials and their jobs, the fake kubelet
runs our runner for each, the collector reads the ``name=value`` lines; jupyter_kf follows the Experiment and
brings the best trial back."""
import pytest
from kubernetes import client

from jupyter_kf.experiments import api
from jupyter_kf.experiments.webhook_rules import INJECTION_LABEL
from tests.support.fake_katib import FakeKatib
from tests.support.k8s_emulator.webhook_katib import install_katib

QUADRATIC = "offset = 0.5\nloss = (x - offset) ** 2 + k\nprint(f'epoch=1 loss={loss + 1}')\nprint(f'epoch=2 loss={loss}')"


@pytest.fixture
def katib(kf_cluster, k8s_api_client):
    install_katib(kf_cluster)
    client.CoreV1Api(k8s_api_client).patch_namespace("default", {"metadata": {"labels": {INJECTION_LABEL: "enabled"}}})
    return kf_cluster


def trials_of(emu, name):
    return [t for t in emu.list_objects("kubeflow.org", "v1beta1", "trials", "default")
            if t["metadata"]["labels"]["katib.kubeflow.org/experiment"] == name]


def test_search_on_katib_finds_the_best_trial_and_brings_it_back(katib):
    ns = {}
    with FakeKatib(katib, seed=3) as fake:
        experiment = api.tune(QUADRATIC, params=["x=uniform(-2,2)", "k=int(0,1)"], objective="loss", trials=5,
                              parallel=2, algorithm="random", name="quad", backend="kubernetes", user_ns=ns,
                              kind="job")
    assert fake.errors == []
    status = experiment.status()
    assert status.phase == "Succeeded" and len(status.trials) == 5
    assert "ExperimentMaxTrialsReached" in status.message
    expected = {t.name: (float(t.params["x"]) - 0.5) ** 2 + int(t.params["k"]) for t in status.trials}
    best_name = min(expected, key=expected.get)
    best = experiment.best
    assert best.trial == best_name and best.objective == pytest.approx(expected[best_name])
    body = katib.get_object("kubeflow.org", "v1beta1", "experiments", "default", "quad")
    assert body["status"]["currentOptimalTrial"]["bestTrialName"] == best_name
    assert body["status"]["trialsSucceeded"] == 5
    _, (loaded, changed) = experiment.apply(ns)
    assert ns["loss"] == pytest.approx(expected[best_name]) and ns["x"] == float(best.params["x"])
    assert ns["k"] == best.params["k"] and isinstance(ns["k"], int)
