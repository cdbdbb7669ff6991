"""The Katib Experiment: built from %%kf_train's workload, checked client-side, created on the emulator
(whose Katib webhook is a separate copy of the rules) with the official kubernetes client."""
import json
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.experiments import api
from jupyter_kf.experiments.spec import ExperimentSpec
from jupyter_kf.experiments.webhook_rules import INJECTION_LABEL, problems
from tests.support.k8s_emulator.webhook_katib import install_katib

REFERENCE = Path(__file__).resolve().parents[3] / "shared/reference/manifests/katib"
if not REFERENCE.exists():
    REFERENCE = Path("/work/shared/reference/manifests/katib")
CELL = "model = fit(lr, layers, opt)\nprint(f'loss={model}')"
PARAMS = ["lr=loguniform(1e-4,1e-1)", "layers=int(1,4)", "opt=choice(adam,sgd)"]


def fit(lr, layers, opt):
    return lr * layers


@pytest.fixture
def katib(kf_cluster, k8s_api_client):
    install_katib(kf_cluster)
    core = client.CoreV1Api(k8s_api_client)
    core.patch_namespace("default", {"metadata": {"labels": {INJECTION_LABEL: "enabled"}}})
    return client.CustomObjectsApi(k8s_api_client), core


@pytest.mark.parametrize("kind,primary,container_env", [
    ("trainjob", "node", lambda t: t["spec"]["trainer"]["env"]),
    ("pytorchjob", "pytorch", lambda t: t["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["env"]),
    ("job", "train", lambda t: t["spec"]["template"]["spec"]["containers"][0]["env"]),
])
def test_experiment_is_created_on_the_emulator(katib, kind, primary, container_env):
    custom, core = katib
    api.tune(CELL, params=PARAMS, objective="loss", trials=40, parallel=4, algorithm="tpe", target=0.01,
             early_stopping="medianstop", name=f"lr-{kind}", backend="kubernetes", user_ns={"fit": fit},
             kind=kind, cpu="1", memory="1Gi", wait=False)
    body = custom.get_namespaced_custom_object("kubeflow.org", "v1beta1", "default", "experiments", f"lr-{kind}")
    spec = body["spec"]
    assert spec["maxTrialCount"] == 40 and spec["parallelTrialCount"] == 4 and spec["objective"]["goal"] == 0.01
    assert spec["metricsCollectorSpec"]["collector"]["kind"] == "StdOut" and spec["earlyStopping"]
    template = spec["trialTemplate"]
    assert template["retain"] is True and template["primaryContainerName"] == primary
    assert template["trialSpec"]["kind"] == {"trainjob": "TrainJob", "pytorchjob": "PyTorchJob", "job": "Job"}[kind]
    env = {e["name"]: e.get("value") for e in container_env(template["trialSpec"])}
    assert env["KF_PARAM_lr"] == "${trialParameters.lr}" and env["KF_JOB_NAME"] == "${trialParameters.kfTrialName}"
    assert spec["parameters"][0]["feasibleSpace"] == {"min": "0.0001", "max": "0.1", "distribution": "logUniform"}
    secrets = [s.metadata.name for s in core.list_namespaced_secret("default").items]
    assert any(f"lr-{kind}" in name for name in secrets)  # the trials' shared bundle
    status = api.experiment(f"lr-{kind}", backend="kubernetes").status()
    assert status.max_trials == 40 and status.trials == []


def test_namespace_without_the_katib_label_is_refused_before_anything_is_created(katib):
    custom, core = katib
    core.patch_namespace("default", {"metadata": {"labels": {INJECTION_LABEL: None}}})
    before = len(core.list_namespaced_secret("default").items)
    with pytest.raises(InvalidSpec, match=f"lacks label {INJECTION_LABEL}=enabled") as err:
        api.tune(CELL, params=PARAMS, objective="loss", name="nolabel", backend="kubernetes", user_ns={"fit": fit})
    assert "\n" not in str(err.value)
    assert custom.list_namespaced_custom_object("kubeflow.org", "v1beta1", "default", "experiments")["items"] == []
    assert len(core.list_namespaced_secret("default").items) == before


def test_dry_run_prints_the_experiment(katib):
    text = api.tune(CELL, params=PARAMS, objective="loss", name="dry", backend="kubernetes", user_ns={"fit": fit},
                    dry_run=True)
    body = yaml.safe_load(text.split("Katib would get:\n", 1)[1].rsplit("nothing was started", 1)[0])
    assert body["kind"] == "Experiment" and "nothing was started" in text


def reference(name):
    return yaml.safe_load((REFERENCE / name).read_text())


VALID = ["random.yaml", "grid.yaml", "tpe.yaml", "median-stop.yaml", "trainjob-pytorch.yaml", "pytorchjob-mnist.yaml",
         "10-sdk-generated-optimizer-trainjob.yaml"]


@pytest.mark.parametrize("name", VALID)
def test_upstream_examples_pass_both_checks(katib, name):
    custom, core = katib
    body = reference(name)
    body["metadata"]["namespace"] = "default"
    assert problems(body) == []
    custom.create_namespaced_custom_object("kubeflow.org", "v1beta1", "default", "experiments", body)


BROKEN = {
    "counts": (lambda b: b["spec"].update(maxTrialCount=2, parallelTrialCount=3), "parallelTrialCount"),
    "algorithm": (lambda b: b["spec"]["algorithm"].update(algorithmName="annealing"), "annealing"),
    "unreferenced placeholder": (lambda b: b["spec"]["trialTemplate"]["trialParameters"].append(
        {"name": "ghost", "reference": "lr"}), "ghost"),
    "metadata name": (lambda b: b["spec"]["trialTemplate"]["trialSpec"]["metadata"].update(name="x"), "metadata.name"),
    "objective type": (lambda b: b["spec"]["objective"].update(type="max"), "minimize or maximize"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_experiments_are_refused_by_both(katib, case):
    custom, _ = katib
    spec = ExperimentSpec.create(name="broken", params=["lr=uniform(0.1,0.5)", "n=int(1,4)"], objective="loss",
                                 trials=4, parallel=2)
    from jupyter_kf.experiments.manifests import experiment_from_plan
    from jupyter_kf.training.manifests import TrainPlan
    from jupyter_kf.training.spec import TrainSpec

    plan = TrainPlan(spec=TrainSpec.create(name="broken"), namespace="default", image="python:3.11-slim",
                     bundle="kf-bundle-broken")
    body = experiment_from_plan(spec, plan, "job")
    assert problems(body) == []
    change, words = BROKEN[case]
    change(body)
    assert any(words in p for p in problems(body)), problems(body)
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object("kubeflow.org", "v1beta1", "default", "experiments", body)
    message = json.loads(err.value.body)["message"]
    assert err.value.status == 403 and message.startswith(
        'admission webhook "validator.experiment.katib.kubeflow.org" denied the request: ') and words in message


def test_katib_sdk_categorical_bug_is_refused_by_both(katib):
    custom, core = katib
    body = reference("90-katib-sdk-tune-categorical-bug.yaml")
    body["metadata"]["namespace"] = "default"
    assert any("non-empty list" in p for p in problems(body))
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object("kubeflow.org", "v1beta1", "default", "experiments", body)
    assert err.value.status == 403
