"""Katib's admission rules, checked here before an Experiment is created (katib.md §5).

§5.1 is what Katib's validating webhook refuses; §5.2 is what it lets through and then breaks (stuck
Trials, a Failed Experiment). ``problems`` lists both; ``check`` raises one line. The emulator has its
own copy of §5.1 (tests/support/k8s_emulator/webhook_katib.py), so the two are checked against each other.
"""
from __future__ import annotations

import json
import math
import re

from jupyter_kf.errors import InvalidSpec

ALGORITHMS = {"random", "tpe", "grid", "hyperband", "bayesianoptimization", "cmaes", "sobol", "multivariate-tpe",
              "enas", "darts", "pbt"}
EARLY_STOPPING = {"medianstop"}
TRIAL_RESOURCES = {("TrainJob", "trainer.kubeflow.org"), ("Job", "batch"), ("TFJob", "kubeflow.org"),
                   ("PyTorchJob", "kubeflow.org"), ("MPIJob", "kubeflow.org"), ("XGBoostJob", "kubeflow.org")}
INJECTION_LABEL = "katib.kubeflow.org/metrics-collector-injection"
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?")
_PLACEHOLDER = re.compile(r"\$\{trialParameters\.([^}]*)\}")
_SHELL_SAFE = re.compile(r"^[\w@%+=:,./-]*$")  # words that mean the same joined unquoted into sh -c
WRAPPING_COLLECTORS = {"StdOut", "File", "TensorFlowEvent"}  # the pod webhook rewrites the primary command
_META = re.compile(r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Labels\[.+\]|Annotations\[.+\])\}$")


def check(body: dict, namespace_labels: dict | None = None) -> None:
    """Raise ``InvalidSpec`` (one line) when Katib would refuse ``body`` or fail its trials later."""
    found = problems(body, namespace_labels)
    if found:
        raise InvalidSpec(f"Katib would not run experiment {body['metadata'].get('name')!r}: " + "; ".join(found))


DEFAULTED_KINDS = {"Job", "TrainJob", "TFJob", "PyTorchJob", "XGBoostJob", "MPIJob"}


def with_defaults(spec: dict) -> dict:
    """What Katib's mutating webhook fills in before validation (katib.md §2, §3)."""
    spec = json.loads(json.dumps(spec))
    spec.setdefault("parallelTrialCount", 3)
    template = spec.get("trialTemplate") or {}
    if (template.get("trialSpec") or {}).get("kind") in DEFAULTED_KINDS:
        template.setdefault("successCondition", "default")
        template.setdefault("failureCondition", "default")
    return spec


def problems(body: dict, namespace_labels: dict | None = None) -> list[str]:
    spec = with_defaults(body.get("spec") or {})
    out = []
    if namespace_labels is not None and namespace_labels.get(INJECTION_LABEL) != "enabled":
        out.append(f"namespace {body['metadata'].get('namespace')} lacks label {INJECTION_LABEL}=enabled "
                   "(Kubeflow profiles have it; ask your admin to add it)")
    name = body["metadata"].get("name", "")
    if not _NAME.match(name) or len(name) > 40:
        out.append(f"name {name!r} must start with a lowercase letter and have at most 40 characters")
    out += _counts(spec) + _objective(spec) + _algorithms(spec) + _parameters(spec) + _template(spec)
    return out


def _counts(spec: dict) -> list[str]:
    out = []
    trials, parallel, failed = (spec.get(k) for k in ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount"))
    if trials is None:
        out.append("maxTrialCount must be set (without it a finished Experiment restarts)")
    elif trials <= 0:
        out.append("maxTrialCount must be > 0")
    if parallel is not None and parallel <= 0:
        out.append("parallelTrialCount must be > 0")
    if failed is not None and failed < 0:
        out.append("maxFailedTrialCount must be >= 0")
    if trials is not None and parallel is not None and parallel > trials:
        out.append("parallelTrialCount must be <= maxTrialCount")
    if trials is not None and failed is not None and failed > trials:
        out.append("maxFailedTrialCount must be <= maxTrialCount")
    if spec.get("resumePolicy", "") not in ("", "Never", "LongRunning", "FromVolume"):
        out.append(f"resumePolicy {spec.get('resumePolicy')!r} is not Never, LongRunning or FromVolume")
    return out


def _objective(spec: dict) -> list[str]:
    objective = spec.get("objective")
    if not objective:
        return ["objective is required"]
    out = []
    if objective.get("type") not in ("minimize", "maximize"):
        out.append("objective type must be minimize or maximize")
    if not objective.get("objectiveMetricName"):
        out.append("objectiveMetricName is required")
    elif objective["objectiveMetricName"] in (objective.get("additionalMetricNames") or []):
        out.append("additionalMetricNames must not contain the objective")
    return out


def _algorithms(spec: dict) -> list[str]:
    out = []
    name = (spec.get("algorithm") or {}).get("algorithmName")
    if name not in ALGORITHMS:
        out.append(f"algorithm {name!r} is not one Katib ships")
    early = spec.get("earlyStopping")
    if early is not None:
        if early.get("algorithmName") not in EARLY_STOPPING:
            out.append(f"early stopping {early.get('algorithmName')!r} is not medianstop")
        kind = ((spec.get("metricsCollectorSpec") or {}).get("collector") or {}).get("kind", "StdOut")
        if kind not in ("StdOut", "File"):
            out.append(f"early stopping needs the StdOut or File collector, not {kind}")
    params = spec.get("parameters") or []
    numeric = [p for p in params if p.get("parameterType") in ("int", "double")]
    if name == "cmaes" and len(numeric) < 2:
        out.append("cmaes needs at least two int or double parameters")
    if name == "grid":
        size = 1
        for p in params:
            space = p.get("feasibleSpace") or {}
            if p.get("parameterType") == "double" and "step" not in space:
                out.append(f"grid: double parameter {p.get('name')} needs a step")
                return out
            size *= _grid_size(p)
        if size and spec.get("maxTrialCount", 0) > size:
            out.append(f"grid: maxTrialCount {spec.get('maxTrialCount')} is more than the {size} grid points")
    return out


def _grid_size(param: dict) -> int:
    space = param.get("feasibleSpace") or {}
    if param.get("parameterType") in ("categorical", "discrete"):
        return len(space.get("list") or [])
    try:
        low, high, step = float(space["min"]), float(space["max"]), float(space.get("step") or 1)
    except (KeyError, ValueError):
        return 0
    return int(math.floor((high - low) / step + 1e-9)) + 1 if step > 0 else 0


def _parameters(spec: dict) -> list[str]:
    params = spec.get("parameters") or []
    if not params and not spec.get("nasConfig"):
        return ["parameters are required"]
    out = []
    for p in params:
        name, kind, space = p.get("name"), p.get("parameterType"), p.get("feasibleSpace") or {}
        if kind not in ("int", "double", "categorical", "discrete"):
            out.append(f"parameter {name}: parameterType {kind!r} is not int, double, categorical or discrete")
            continue
        if space.get("distribution", "uniform") not in ("uniform", "logUniform", "normal", "logNormal"):
            out.append(f"parameter {name}: distribution {space.get('distribution')!r} is unknown")
        if kind in ("int", "double"):
            out += _range(name, space)
        else:
            if any(k in space for k in ("min", "max", "step")) or not space.get("list"):
                out.append(f"parameter {name}: a {kind} parameter needs a non-empty list and no min/max/step")
            elif not all(isinstance(v, str) for v in space["list"]):
                out.append(f"parameter {name}: list values must be strings")
            elif any(c in v for v in space["list"] for c in '"\\'):
                out.append(f"parameter {name}: values with quotes or backslashes break trial creation")
    return out


def _range(name: str, space: dict) -> list[str]:
    if "list" in space or "min" not in space or "max" not in space:
        return [f"parameter {name}: int and double parameters need min and max and no list"]
    if not all(isinstance(space[k], str) for k in ("min", "max", "step") if k in space):
        return [f"parameter {name}: min, max and step must be strings"]
    try:
        low, high = float(space["min"]), float(space["max"])
        step = float(space["step"]) if "step" in space else None
    except ValueError:
        return [f"parameter {name}: min, max and step must be numbers"]
    out = []
    if low >= high:
        out.append(f"parameter {name}: min must be below max")
    if step is not None and step <= 0:
        out.append(f"parameter {name}: step must be positive")
    if space.get("distribution") in ("logUniform", "logNormal") and low <= 0:
        out.append(f"parameter {name}: a log distribution needs min > 0")
    return out


def _template(spec: dict) -> list[str]:
    template = spec.get("trialTemplate")
    if not template:
        return ["trialTemplate is required"]
    out = [f"trialTemplate.{k} is required" for k in ("primaryContainerName", "successCondition", "failureCondition")
           if not template.get(k)]
    job, declared = template.get("trialSpec"), template.get("trialParameters")
    if declared is None or job is None or template.get("configMap"):
        return out + ["trialTemplate needs trialParameters and an inline trialSpec"]
    names = [t.get("name") for t in declared]
    references = [t.get("reference") for t in declared]
    params = {p.get("name") for p in spec.get("parameters") or []}
    if len(set(names)) != len(names) or len(set(references)) != len(references):
        out.append("trialParameters names and references must be unique")
    for t in declared:
        if not t.get("name") or not t.get("reference") or "{" in t["name"] or "}" in t["name"]:
            out.append(f"trialParameter {t} needs a name (without braces) and a reference")
        elif params and t["reference"] not in params and not _META.match(t["reference"]):
            out.append(f"trialParameter {t['name']}: reference {t['reference']!r} is neither a parameter nor "
                       "a ${trialSpec.…} reference")
    out += [f"parameter {p} is referenced by no trialParameter" for p in sorted(params - set(references))]
    text = json.dumps(job)
    used = set(_PLACEHOLDER.findall(text))
    out += [f"${{trialParameters.{n}}} does not occur in the trialSpec" for n in names if n not in used]
    out += [f"${{trialParameters.{n}}} is used but not declared" for n in sorted(used - set(names))]
    out += [f"{path} is only a placeholder: Katib substitutes text, so it becomes a string there"
            for path in _whole_placeholders(job, "trialSpec")]
    collector = ((spec.get("metricsCollectorSpec") or {}).get("collector") or {}).get("kind", "StdOut")
    wrapped = _wrapped_command(job, template.get("primaryContainerName")) if collector in WRAPPING_COLLECTORS else []
    return out + _job(job, template) + wrapped


def _whole_placeholders(node, path: str) -> list[str]:
    """Fields that are nothing but a placeholder, except env values, labels, annotations and args (strings anyway)."""
    if isinstance(node, dict):
        return [p for k, v in node.items() if k not in ("value", "labels", "annotations")
                for p in _whole_placeholders(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [] if path.endswith((".args", ".command")) else \
            [p for i, v in enumerate(node) for p in _whole_placeholders(v, f"{path}[{i}]")]
    return [path] if isinstance(node, str) and _PLACEHOLDER.fullmatch(node) else []


def _job(job: dict, template: dict) -> list[str]:
    out = []
    meta = job.get("metadata") or {}
    if "name" in meta or "namespace" in meta:
        out.append("trialSpec must have no metadata.name or metadata.namespace")
    if not job.get("apiVersion") or not job.get("kind"):
        return out + ["trialSpec needs apiVersion and kind"]
    kind, group = job["kind"], job["apiVersion"].rpartition("/")[0]
    if (kind, group) not in TRIAL_RESOURCES:
        out.append(f"{kind}.{group} is not in Katib's trialResources: its trials would never finish")
    spec = job.get("spec") or {}
    primary = template.get("primaryContainerName")
    if kind == "Job":
        pod = (spec.get("template") or {}).get("spec") or {}
        if pod.get("restartPolicy") not in ("Never", "OnFailure"):
            out.append("a Job's pods need restartPolicy Never or OnFailure")
        containers = {c.get("name") for c in pod.get("containers") or []}
    elif kind == "TrainJob":
        if not (spec.get("runtimeRef") or {}).get("name"):
            out.append("a TrainJob needs spec.runtimeRef.name")
        containers = {"node"}
    elif kind == "PyTorchJob":
        containers = {c.get("name") for r in (spec.get("pytorchReplicaSpecs") or {}).values()
                      for c in ((r.get("template") or {}).get("spec") or {}).get("containers") or []}
    else:
        containers = {primary}
    if primary not in containers:
        out.append(f"primaryContainerName {primary!r} is not a container of the {kind}")
    return out


def _wrapped_command(job: dict, primary: str) -> list[str]:
    """Katib's StdOut collector joins the primary container's command and args with spaces, unquoted, into
    ``sh -c`` (katib.md §0.7): a word with spaces or shell characters would change meaning."""
    spec = job.get("spec") or {}
    if job.get("kind") == "TrainJob":
        found = [spec.get("trainer") or {}]
    else:
        templates = ([r.get("template") or {} for r in (spec.get("pytorchReplicaSpecs") or {}).values()]
                     if job.get("kind") == "PyTorchJob" else [spec.get("template") or {}])
        found = [c for t in templates for c in (t.get("spec") or {}).get("containers") or []
                 if c.get("name") == primary]
    out = []
    for container in found:
        words = [*(container.get("command") or []), *(container.get("args") or [])]
        if words[:1] in (["sh"], ["bash"]) and words[1:2] == ["-c"]:
            continue  # kept as the shell's: the script is meant for sh -c already
        bad = [w for w in words if not _SHELL_SAFE.match(_PLACEHOLDER.sub("value", w))]
        if bad:
            out.append(f"the {primary} container's command word {bad[0]!r} has spaces or shell characters: Katib's "
                       "StdOut collector joins the command unquoted into sh -c, which would change its meaning")
    return out
