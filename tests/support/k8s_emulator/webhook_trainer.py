"""Kubeflow Trainer's validating webhook for TrainJobs (``validator.trainjob.trainer.kubeflow.org``).

Rules and messages from kubeflow/trainer v2.3.0 (658725bd): ``pkg/webhooks/trainjob_webhook.go`` (an
unknown runtime kind), ``pkg/runtime/core/{clustertrainingruntime,trainingruntime}.go`` (the referenced
runtime must exist: note the ``spec.RuntimeRef`` field path of the cluster-scoped one, as upstream has
it), the JobSet plugin (``runtimePatches[].manager`` must be a domain-prefixed path, checked with
``validation.IsDomainPrefixedPath`` at the unindexed path ``spec.runtimePatches.manager``; patched
replicated jobs and containers must exist in the runtime; no env on the ``node`` container) and the
Torch plugin (no reserved ``PET_*`` env in ``spec.trainer.env``); for v2.1 bodies the same container
rules on ``podTemplateOverrides`` (v2.1.0's JobSet plugin).

The validator returns an aggregated Go error, which controller-runtime answers with ``admission.Denied``
(403 Forbidden, the error text as the message, no details); the apiserver prefixes ``admission webhook
"<name>" denied the request: ``. Bad values print as k8s.io/apimachinery v0.36's ``field.Error`` does:
strings quoted, structs as compact JSON. Not reproduced: update-time immutability of patches, initializer
and MPI/XGBoost/JAX/torchtune rules, the env-injection target check, and the defaulting webhook's
``runtimePatches[].time``.

The webhook runs when the Trainer is installed: its controller's Service
``kubeflow-system/kubeflow-trainer-controller-manager`` (what the real webhook configuration points at)
exists, or a training runtime does (a Trainer install ships its runtimes); a bare CRD admits anything,
as a cluster whose Trainer controller is not deployed would. :func:`install_trainer` sets a cluster up
as a given Trainer minor version publishes itself.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.k8s_emulator.errors import ApiError
from tests.support.k8s_emulator.webhooks import Webhook, register

NAME = "validator.trainjob.trainer.kubeflow.org"
GROUP = "trainer.kubeflow.org"
SYSTEM_NAMESPACE = "kubeflow-system"
CONTROLLER = "kubeflow-trainer-controller-manager"
DISABLED_LABEL = "trainer.kubeflow.org/webhook-validation"  # the webhook's objectSelector: NotIn [disabled]
TORCH_RESERVED = {"PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT"}
NO_ENV_CONTAINERS = ("dataset-initializer", "model-initializer", "node")
DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\." + DNS1123_LABEL + ")*"
HTTP_PATH = r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+"
V21_CRD = Path(__file__).resolve().parents[2] / "data/trainer-v2.1/trainer.kubeflow.org_trainjobs.yaml"
JOBSET_CRD = {  # JobSet's API, which the Trainer needs installed; the emulator stores its objects as given
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "jobsets.jobset.x-k8s.io"},
    "spec": {"group": "jobset.x-k8s.io", "scope": "Namespaced",
             "names": {"kind": "JobSet", "listKind": "JobSetList", "plural": "jobsets", "singular": "jobset"},
             "versions": [{"name": "v1alpha2", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                               "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]},
}


def install_trainer(emulator, version: str = "2.3.0") -> None:
    """A cluster with Kubeflow Trainer ``version`` as it shows itself: its controller's webhook Service, the
    JobSet API, the v2.1 TrainJob CRD for 2.1, and from 2.2 on the public version ConfigMap."""
    minor = int(version.split(".")[1])
    if emulator.get_object("", "v1", "namespaces", None, SYSTEM_NAMESPACE) is None:
        emulator.create_namespace(SYSTEM_NAMESPACE)
    emulator.create_object({"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": CONTROLLER, "namespace": SYSTEM_NAMESPACE},
                            "spec": {"ports": [{"name": "webhook-server", "port": 443, "targetPort": 9443}],
                                     "selector": {"app.kubernetes.io/component": "manager"}}})
    emulator.install_crd(JOBSET_CRD)
    if minor == 1:
        emulator.install_crd(V21_CRD)
    if minor >= 2:
        emulator.create_object({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "kubeflow-trainer-public", "namespace": SYSTEM_NAMESPACE},
                                "data": {"kubeflow_trainer_version": f"v{version}"}})


def installed(store) -> bool:
    return (store.get(("", "services"), SYSTEM_NAMESPACE, CONTROLLER) is not None
            or bool(store.items((GROUP, "clustertrainingruntimes"))) or bool(store.items((GROUP, "trainingruntimes"))))


def deny(message: str) -> ApiError:
    return ApiError(403, "Forbidden", f'admission webhook "{NAME}" denied the request: {message}')


def go_json(value) -> str:
    """Go's ``json.Marshal``: compact, with <, > and & escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def invalid(path: str, value, detail: str) -> str:
    """``field.Invalid(path, value, detail).Error()``."""
    if isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, (int, float)):
        shown = str(value)
    elif isinstance(value, str):
        shown = json.dumps(value, ensure_ascii=False)
    else:
        shown = go_json(value)
    return f"{path}: Invalid value: {shown}: {detail}"


def aggregate(messages: list[str]) -> str:
    """``utilerrors.NewAggregate(...).Error()``: one message as is, several deduplicated in brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _env_var(env: dict) -> dict:
    """A corev1.EnvVar in its Go field order (name, value, valueFrom)."""
    return {k: env[k] for k in ("name", "value", "valueFrom") if env.get(k) not in (None, "")}


def domain_prefixed_path(path: str, value: str) -> list[str]:
    """``validation.IsDomainPrefixedPath``."""
    if not value:
        return [f"{path}: Required value"]
    host, slash, rest = value.partition("/")
    if not slash or not host or not rest:
        return [invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    errors = []
    if len(host) > 253:
        errors.append(invalid(path, host, "must be no more than 253 characters"))
    if not re.fullmatch(DNS1123_SUBDOMAIN, host):
        errors.append(invalid(path, host, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                                          "characters, '-' or '.', and must start and end with an alphanumeric character "
                                          f"(e.g. 'example.com', regex used for validation is '{DNS1123_SUBDOMAIN}')"))
    if not re.fullmatch(HTTP_PATH, rest):
        errors.append(invalid(path, rest, f"Invalid path (regex used for validation is '{HTTP_PATH}')"))
    return errors


def runtime_containers(runtime: dict) -> dict[str, set]:
    """Replicated job name -> its init container and container names, from the runtime's JobSet template."""
    jobs = (((runtime.get("spec") or {}).get("template") or {}).get("spec") or {}).get("replicatedJobs") or []
    out = {}
    for job in jobs:
        pod = (((job.get("template") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        out[job.get("name")] = {c.get("name") for c in (pod.get("initContainers") or []) + (pod.get("containers") or [])}
    return out


def _pod_rules(path: str, whole, job: str, containers: set, pod: dict) -> list[str]:
    errors = [invalid(path, whole, f"must not have initContainer that doesn't exist in the runtime job {job}")
              for c in pod.get("initContainers") or [] if c.get("name") not in containers]
    for c in pod.get("containers") or []:
        if c.get("name") not in containers:
            errors.append(invalid(path, whole, f"must not have container that doesn't exist in the runtime job {job}"))
        elif c.get("env") and c.get("name") in NO_ENV_CONTAINERS:
            errors.append(invalid(path, whole, "must not have envs for the dataset-initializer, model-initializer, node "
                                               "containers"))
    return errors


def jobset_rules(trainjob: dict, runtime: dict) -> list[str]:
    """The JobSet plugin's ``Validate`` (runtime patches, v2.2+; pod template overrides, v2.1)."""
    spec, jobs = trainjob.get("spec") or {}, runtime_containers(runtime)
    errors = []
    patches = spec.get("runtimePatches") or []
    for patch in patches:
        errors += domain_prefixed_path("spec.runtimePatches.manager", patch.get("manager", ""))
        template = ((patch.get("trainingRuntimeSpec") or {}).get("template") or {}).get("spec") or {}
        for rjob in template.get("replicatedJobs") or []:
            if rjob.get("name") not in jobs:
                errors.append(invalid("spec.runtimePatches", patches,
                                      "must not have replicated job that doesn't exist in the runtime job template"))
                continue
            pod = (((rjob.get("template") or {}).get("spec") or {}).get("template") or {}).get("spec")
            if pod:
                errors += _pod_rules("spec.runtimePatches", patches, rjob["name"], jobs[rjob["name"]], pod)
    overrides = spec.get("podTemplateOverrides") or []
    for override in overrides:
        for target in override.get("targetJobs") or []:
            if target.get("name") not in jobs:
                errors.append(invalid("spec.podTemplateOverrides", overrides,
                                      "must not have targetJob that doesn't exist in the runtime job template"))
                continue
            if override.get("spec"):
                errors += _pod_rules("spec.podTemplateOverrides", overrides, target["name"], jobs[target["name"]],
                                     override["spec"])
    return errors


def torch_rules(trainjob: dict, runtime: dict) -> list[str]:
    """The Torch plugin's ``Validate``: torchrun's own variables are the plugin's to set."""
    if "torch" not in ((runtime.get("spec") or {}).get("mlPolicy") or {}):
        return []
    env = ((trainjob.get("spec") or {}).get("trainer") or {}).get("env") or []
    reserved = sorted({e.get("name") for e in env} & TORCH_RESERVED)
    if not reserved:
        return []
    return [invalid("spec.trainer.env", [_env_var(e) for e in env],
                    f"must not have reserved envs, invalid envs configured: [{' '.join(reserved)}]")]


def check(store, obj: dict, old: dict | None) -> list:
    """``ValidateCreate`` / ``ValidateUpdate``: the runtime must exist, then its plugins' rules."""
    meta = obj.get("metadata") or {}
    if not installed(store) or (meta.get("labels") or {}).get(DISABLED_LABEL) == "disabled":
        return []
    if old is not None and meta.get("deletionTimestamp"):
        return []
    ref = (obj.get("spec") or {}).get("runtimeRef") or {}
    group, kind, name = ref.get("apiGroup", ""), ref.get("kind", ""), ref.get("name", "")
    if group != GROUP or kind not in ("TrainingRuntime", "ClusterTrainingRuntime"):
        raise deny(f"unsupported runtime: {kind}.{group}" if group else f"unsupported runtime: {kind}")
    shown = {k: ref[k] for k in ("name", "apiGroup", "kind") if ref.get(k)}
    if kind == "TrainingRuntime":
        runtime = store.get((GROUP, "trainingruntimes"), meta.get("namespace", ""), name)
        if runtime is None:
            raise deny(invalid("spec.runtimeRef", shown, f'trainingruntimes.{GROUP} "{name}" not found: specified '
                                                         "trainingRuntime must be created before the TrainJob is created"))
    else:
        runtime = store.get((GROUP, "clustertrainingruntimes"), "", name)
        if runtime is None:
            raise deny(invalid("spec.RuntimeRef", shown, f'clustertrainingruntimes.{GROUP} "{name}" not found: specified '
                                                         "clusterTrainingRuntime must be created before the TrainJob is "
                                                         "created"))
    errors = torch_rules(obj, runtime) + jobset_rules(obj, runtime)
    if errors:
        raise deny(aggregate(errors))
    return []


register(Webhook(NAME, GROUP, "trainjobs", check))
