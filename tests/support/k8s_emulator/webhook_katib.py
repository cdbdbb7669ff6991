"""Katib v0.19.0's validating webhook for Experiments (``validator.experiment.katib.kubeflow.org``).

The rules of katib.md §5.1 (pkg/webhook/v1beta1/experiment/validator/validator.go), written apart from
jupyter_kf's own client-side check so that each tests the other. Reproduced: the namespace label (checked
first, stops), the name, the counts, the objective (its errors stop), algorithm and early-stopping names
against the stock katib-config, resumePolicy, the trial template (required fields, trialParameters,
placeholders present and none left after substitution, no metadata name/namespace, apiVersion and
kind), parameters (types, distributions, min/max vs list) and the collector kinds. Not reproduced: the
Go round-trip of batch/v1 Jobs, configMap templates, custom filters, FromVolume PVs, UPDATE rules.
Defaults are applied first and stored, as Katib's mutating webhook does (``set_defaults``: parallelTrialCount 3,
resumePolicy Never, metric strategies, conditions and primary pod labels by kind, StdOut collector, uniform).

Denials are controller-runtime's ``admission.Denied`` (403 Forbidden, the aggregated error as message).
The webhook runs when Katib is installed: :func:`install_katib` makes its controller Service.
"""
from __future__ import annotations

import json
import re

from tests.support.k8s_emulator.errors import ApiError
from tests.support.k8s_emulator.webhooks import Webhook, register

NAME = "validator.experiment.katib.kubeflow.org"
GROUP = "kubeflow.org"
KATIB_NAMESPACE = "kubeflow"
CONTROLLER = "katib-controller"
INJECTION = "katib.kubeflow.org/metrics-collector-injection"
SUGGESTIONS = ("random", "tpe", "grid", "hyperband", "bayesianoptimization", "cmaes", "sobol", "multivariate-tpe",
               "enas", "darts", "pbt")
COLLECTORS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")
CONFIGURED_COLLECTORS = ("StdOut", "File", "TensorFlowEvent")  # the stock katib-config's runtime.metricsCollectors
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?")  # no end anchor, as upstream
_META = re.compile(r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Labels\[.+\]|Annotations\[.+\])\}$")


def install_katib(emulator) -> None:
    """Katib as its install shows itself: the controller's webhook Service in ``kubeflow``."""
    if emulator.get_object("", "v1", "namespaces", None, KATIB_NAMESPACE) is None:
        emulator.create_namespace(KATIB_NAMESPACE)
    emulator.create_object({"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": CONTROLLER, "namespace": KATIB_NAMESPACE},
                            "spec": {"ports": [{"name": "webhook", "port": 443, "targetPort": 8443}],
                                     "selector": {"katib.kubeflow.org/component": "controller"}}})


def installed(store) -> bool:
    return store.get(("", "services"), KATIB_NAMESPACE, CONTROLLER) is not None


def deny(message: str) -> ApiError:
    return ApiError(403, "Forbidden", f'admission webhook "{NAME}" denied the request: {message}')


_DONE = 'status.conditions.#(type=="{}")#|#(status=="True")#'
_KUBEFLOW_KINDS = ("TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", "TrainJob")
_PRIMARY_POD_LABELS = {"TrainJob": {"jobset.sigs.k8s.io/replicatedjob-name": "node",
                                    "batch.kubernetes.io/job-completion-index": "0"}}


def set_defaults(spec: dict) -> None:
    """Katib's defaulter (experiment_defaults.go ``SetDefault``), in place: it runs before the validator and its
    defaults are stored."""
    spec.setdefault("parallelTrialCount", 3)
    if not spec.get("resumePolicy"):
        spec["resumePolicy"] = "Never"
    objective = spec.get("objective")
    if objective is not None:
        by_type = {"minimize": "min", "maximize": "max"}.get(objective.get("type"), "latest")
        strategies = objective.setdefault("metricStrategies", [])
        named = {s.get("name") for s in strategies}
        for metric in [objective.get("objectiveMetricName"), *(objective.get("additionalMetricNames") or [])]:
            if metric not in named:
                strategies.append({"name": metric, "value": by_type})
    template = spec.get("trialTemplate")
    kind = ((template or {}).get("trialSpec") or {}).get("kind")
    if kind == "Job" or kind in _KUBEFLOW_KINDS:
        done = "Complete" if kind in ("Job", "TrainJob") else "Succeeded"
        template.setdefault("successCondition", _DONE.format(done))
        template.setdefault("failureCondition", _DONE.format("Failed"))
        if kind != "Job" and not template.get("primaryPodLabels"):
            template["primaryPodLabels"] = dict(_PRIMARY_POD_LABELS.get(kind, {"training.kubeflow.org/job-role": "master"}))
    collector = spec.setdefault("metricsCollectorSpec", {}).setdefault("collector", {"kind": "StdOut"})
    if collector.get("kind") == "File":
        path = spec["metricsCollectorSpec"].setdefault("source", {}).setdefault("fileSystemPath", {})
        path.setdefault("kind", "File")
        path.setdefault("path", "/var/log/katib/metrics.log")
        path.setdefault("format", "TEXT")
    for p in spec.get("parameters") or []:
        (p.setdefault("feasibleSpace", {})).setdefault("distribution", "uniform")


def _counts(spec: dict) -> list[str]:
    errs = []
    trials, parallel, failed = (spec.get(k) for k in ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount"))
    if failed is not None and failed < 0:
        errs.append("spec.maxFailedTrialCount should not be less than 0")
    if trials is not None and trials <= 0:
        errs.append("spec.maxTrialCount must be greater than 0")
    if parallel is not None and parallel <= 0:
        errs.append("spec.parallelTrialCount must be greater than 0")
    if failed is not None and trials is not None and failed > trials:
        errs.append("spec.maxFailedTrialCount should be less than or equal to spec.maxTrialCount")
    if parallel is not None and trials is not None and parallel > trials:
        errs.append("spec.parallelTrialCount should be less than or equal to spec.maxTrialCount")
    return errs


def _objective(spec: dict) -> list[str]:
    objective = spec.get("objective")
    if objective is None:
        return ["spec.objective must be specified"]
    errs = []
    if objective.get("type") not in ("minimize", "maximize"):
        errs.append("spec.objective.type must be minimize or maximize")
    if not objective.get("objectiveMetricName"):
        errs.append("spec.objective.objectiveMetricName must be specified")
    elif objective["objectiveMetricName"] in (objective.get("additionalMetricNames") or []):
        errs.append("spec.objective.additionalMetricNames should not contain spec.objective.objectiveMetricName")
    return errs


def _parameters(spec: dict) -> list[str]:
    params = spec.get("parameters") or []
    if not params and not spec.get("nasConfig"):
        return ["spec.parameters or spec.nasConfig must be specified"]
    errs = []
    for i, p in enumerate(params):
        path, space = f"spec.parameters[{i}]", p.get("feasibleSpace") or {}
        kind = p.get("parameterType")
        if kind not in ("int", "double", "categorical", "discrete", "unknown"):
            errs.append(f"{path}.parameterType: parameterType {kind} is not supported")
        if space.get("distribution") not in ("uniform", "logUniform", "normal", "logNormal", "unknown"):
            errs.append(f"{path}.feasibleSpace.distribution: distribution {space.get('distribution')} is not supported")
        if kind in ("int", "double"):
            if space.get("list"):
                errs.append(f"{path}.feasibleSpace.list is not supported for parameterType {kind}")
            if not space.get("max") or not space.get("min"):
                errs.append(f"{path}.feasibleSpace.max or min must be specified for parameterType {kind}")
        elif kind in ("categorical", "discrete"):
            if space.get("max") or space.get("min") or space.get("step"):
                errs.append(f"{path}.feasibleSpace .max, .min and .step are not supported for parameterType {kind}")
    return errs


def _template(spec: dict, namespace: str) -> list[str]:
    template = spec.get("trialTemplate")
    if template is None:
        raise deny("spec.trialTemplate must be specified")
    errs = [f"spec.trialTemplate.{k} must be specified" for k in ("primaryContainerName",)
            if not template.get(k)]
    if not template.get("successCondition") or not template.get("failureCondition"):
        errs.append("spec.trialTemplate: successCondition and failureCondition must be specified")
    declared = template.get("trialParameters")
    if declared is None:
        raise deny("; ".join(errs + ["spec.trialTemplate.trialParameters must be specified"]))
    if (template.get("trialSpec") is None) == (template.get("configMap") is None):
        raise deny("; ".join(errs + ["spec.trialTemplate: only one of spec.trialTemplate.trialSpec or "
                                     "spec.trialTemplate.configMap can be specified"]))
    if template.get("configMap") is not None:
        return errs  # not reproduced: the ConfigMap must exist with the template
    text = json.dumps(template["trialSpec"])
    params = {p.get("name") for p in spec.get("parameters") or []}
    seen_names, seen_refs = set(), set()
    for i, t in enumerate(declared):
        path, name, ref = f"spec.trialTemplate.trialParameters[{i}]", t.get("name", ""), t.get("reference", "")
        if not name or not ref:
            errs.append(f"{path}: name and reference must be specified")
        if "{" in name or "}" in name:
            errs.append(f"{path}.name: name can't contain '{{' or '}}'")
        if name in seen_names or ref in seen_refs:
            errs.append(f"{path}: name and reference must be unique")
        seen_names.add(name)
        seen_refs.add(ref)
        if params and ref not in params and not _META.match(ref):
            errs.append(f"{path}.reference: parameter reference {ref} does not exist in spec.parameters")
        if "${trialParameters." + name + "}" not in text:
            raise deny("; ".join(errs + [f"{path}.name: parameter {name} must exist in "
                                         "spec.trialTemplate.trialSpec"]))
        text = text.replace("${trialParameters." + name + "}", "x")
    if "${trialParameters." in text:
        errs.append("spec.trialTemplate: trialSpec has parameters that are not declared in trialParameters")
    job = json.loads(text)
    meta = job.get("metadata") or {}
    if meta.get("name") or meta.get("namespace"):
        errs.append("spec.trialTemplate: metadata.name and metadata.namespace must be omitted in the trial template")
    if not job.get("apiVersion") or not job.get("kind"):
        errs.append("spec.trialTemplate: apiVersion and kind must be specified in the trial template")
    return errs


def _collector(spec: dict) -> list[str]:
    collector = ((spec.get("metricsCollectorSpec") or {}).get("collector") or {})
    kind = collector.get("kind", "StdOut")
    if kind not in COLLECTORS:
        return [f"spec.metricsCollectorSpec.collector.kind: invalid metrics collector kind {kind}"]
    if kind in ("PrometheusMetric",) or (kind in COLLECTORS[:4] and kind not in CONFIGURED_COLLECTORS):
        return [f"spec.metricsCollectorSpec.collector.kind: metrics collector {kind} is not in katib-config"]
    return []


def check(store, obj: dict, old: dict | None) -> list:
    if not installed(store) or old is not None:
        return []
    meta = obj.get("metadata") or {}
    ns = store.get(("", "namespaces"), "", meta.get("namespace", ""))
    if ((ns or {}).get("metadata", {}).get("labels") or {}).get(INJECTION) != "enabled":
        raise deny(f"Cannot create the Experiment {meta.get('name')!r} in namespace {meta.get('namespace')!r}: "
                   f"the namespace lacks label \"{INJECTION}: enabled\"")
    set_defaults(obj.setdefault("spec", {}))  # the mutating webhook ran first; what it set is stored
    spec = obj["spec"]
    errs = []
    name = meta.get("name", "")
    if not _NAME.match(name) or len(name) > 40:
        errs.append(f"metadata.name: Invalid value: {json.dumps(name)}: name must be no more than 40 characters "
                    "and start with a lowercase letter")
    errs += _counts(spec)
    objective = _objective(spec)
    if objective:
        raise deny("; ".join(errs + objective))
    algorithm = spec.get("algorithm")
    if not algorithm or not algorithm.get("algorithmName"):
        errs.append("spec.algorithm.algorithmName must be specified")
    elif algorithm["algorithmName"] not in SUGGESTIONS:
        errs.append(f"spec.algorithm.algorithmName: unable to get Suggestion config for {algorithm['algorithmName']}")
    early = spec.get("earlyStopping")
    if early is not None and early.get("algorithmName") != "medianstop":
        errs.append(f"spec.earlyStopping.algorithmName: unable to get EarlyStopping config for "
                    f"{early.get('algorithmName')}")
    if spec.get("resumePolicy", "") not in ("", "Never", "LongRunning", "FromVolume"):
        errs.append(f"spec.resumePolicy: invalid ResumePolicy {spec.get('resumePolicy')}")
    errs += _template(spec, meta.get("namespace", "")) + _parameters(spec) + _collector(spec)
    if errs:
        raise deny("; ".join(errs))
    return []


register(Webhook(NAME, GROUP, "experiments", check))
