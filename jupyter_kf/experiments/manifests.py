"""The Katib Experiment for a search (pure: specs in, a plain dict out; no I/O).

Its trial template is exactly the workload ``%%kf_train`` builds for the same flags
(``jupyter_kf.training.manifests.build_workload``), with its name and namespace taken out (Katib names
each job after its Trial) and the parameters added to the training container's environment as
``KF_PARAM_<name>=${trialParameters.<name>}``: Katib substitutes text, the trial's first line casts it
back, exactly as on the local backend. StdOut metrics collector, ``retain: true`` (pods and logs stay),
the primary container and conditions of each kind written out (katib.md §3), no Istio sidecar (the
workload's pods already carry the annotation).
"""
from __future__ import annotations

import copy

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.experiments.spec import ENV_PREFIX, ExperimentSpec
from jupyter_kf.kube.objects import LABEL_JOB
from jupyter_kf.training.manifests import TrainPlan, build_workload

API_VERSION = "kubeflow.org/v1beta1"
TRIAL_NAME_PARAM = "kfTrialName"  # a meta reference: the job learns its Trial's name
_DONE = 'status.conditions.#(type=="{}")#|#(status=="True")#'
KINDS = {  # primary container, success and failure conditions, primary pod labels (katib.md §3)
    "trainjob": ("node", _DONE.format("Complete"), _DONE.format("Failed"),
                 {"jobset.sigs.k8s.io/replicatedjob-name": "node", "batch.kubernetes.io/job-completion-index": "0"}),
    "pytorchjob": ("pytorch", _DONE.format("Succeeded"), _DONE.format("Failed"),
                   {"training.kubeflow.org/job-role": "master"}),
    "job": ("train", _DONE.format("Complete"), _DONE.format("Failed"), None),
}
SEEDED = ("random", "tpe", "grid", "multivariate-tpe", "bayesianoptimization", "cmaes")


def placeholder(name: str) -> str:
    return "${trialParameters." + name + "}"


def trial_env(spec: ExperimentSpec) -> list[dict]:
    return [{"name": f"{ENV_PREFIX}{p.name}", "value": placeholder(p.name)} for p in spec.params]


def _containers(job: dict, kind: str, primary: str) -> list[dict]:
    """The containers (or TrainJob trainer) whose env carries the parameters."""
    if kind == "trainjob":
        return [job["spec"]["trainer"]]
    if kind == "pytorchjob":
        replicas = job["spec"]["pytorchReplicaSpecs"].values()
        return [c for r in replicas for c in r["template"]["spec"]["containers"] if c["name"] == primary]
    return [c for c in job["spec"]["template"]["spec"]["containers"] if c["name"] == primary]


def _label_with_trial(node) -> None:
    """Every ``jupyter-kf.io/job`` label of the job and its pods names the trial, so each trial's job is found,
    logged and brought back like a %%kf_train job of that name."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "labels" and isinstance(value, dict) and LABEL_JOB in value:
                value[LABEL_JOB] = placeholder(TRIAL_NAME_PARAM)
            else:
                _label_with_trial(value)
    elif isinstance(node, list):
        for item in node:
            _label_with_trial(item)


def trial_template(spec: ExperimentSpec, objects: list[dict], kind: str) -> dict:
    """``objects``: what %%kf_train creates for the same flags, the workload last."""
    if len(objects) != 1:
        raise InvalidSpec("several workers with --kind job needs a Service beside the Job, and a Katib "
                          "trial is one object: use --kind trainjob or --kind pytorchjob for several workers")
    job = copy.deepcopy(objects[0])
    job["metadata"].pop("name", None)
    job["metadata"].pop("namespace", None)
    _label_with_trial(job)
    primary, success, failure, pod_labels = KINDS[kind]
    for target in _containers(job, kind, primary):
        env = [e for e in target.get("env") or [] if e["name"] != "KF_JOB_NAME"]
        target["env"] = [*env, {"name": "KF_JOB_NAME", "value": placeholder(TRIAL_NAME_PARAM)}, *trial_env(spec)]
    template = {
        "retain": True,
        "primaryContainerName": primary,
        "successCondition": success,
        "failureCondition": failure,
        "trialParameters": [
            *({"name": p.name, "reference": p.name, "description": p.describe()} for p in spec.params),
            {"name": TRIAL_NAME_PARAM, "reference": "${trialSpec.Name}", "description": "the trial's name"},
        ],
        "trialSpec": job,
    }
    if pod_labels:
        template["primaryPodLabels"] = dict(pod_labels)
    return template


def experiment_from_plan(spec: ExperimentSpec, plan: TrainPlan, kind: str) -> dict:
    """The Experiment whose trials run the workload ``build_workload(plan, kind)``."""
    return build_experiment(spec, build_workload(plan, kind), kind, plan.namespace, plan.labels)


def build_experiment(spec: ExperimentSpec, objects: list[dict], kind: str, namespace: str, labels: dict) -> dict:
    """The Experiment for ``spec`` whose trials run ``objects``' workload of ``kind`` (trainjob, pytorchjob, job)."""
    strategy = "min" if spec.goal == "minimize" else "max"
    objective = {"type": spec.goal, "objectiveMetricName": spec.objective,
                 "metricStrategies": [{"name": spec.objective, "value": strategy}]}
    if spec.target is not None:
        objective["goal"] = spec.target
    algorithm = {"algorithmName": spec.algorithm}
    if spec.seed is not None and spec.algorithm in SEEDED:
        algorithm["algorithmSettings"] = [{"name": "random_state", "value": str(spec.seed)}]
    body = {
        "apiVersion": API_VERSION,
        "kind": "Experiment",
        "metadata": {"name": spec.name, "namespace": namespace,
                     # Katib copies these onto every trial pod: the job label would name the experiment there
                     "labels": {k: v for k, v in labels.items()
                                if not k.startswith("kueue.x-k8s.io/") and k != LABEL_JOB}},
        "spec": {
            "objective": objective,
            "algorithm": algorithm,
            "parallelTrialCount": spec.parallel,
            "maxTrialCount": spec.trials,  # always: without it a finished Experiment restarts (katib.md §5.2)
            "parameters": [{"name": p.name, "parameterType": p.kind, "feasibleSpace": p.feasible_space()}
                           for p in spec.params],
            "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
            "resumePolicy": "Never",
            "trialTemplate": trial_template(spec, objects, kind),
        },
    }
    if spec.max_failed is not None:
        body["spec"]["maxFailedTrialCount"] = spec.max_failed
    if spec.early_stopping:
        body["spec"]["earlyStopping"] = {"algorithmName": spec.early_stopping}
    return body
