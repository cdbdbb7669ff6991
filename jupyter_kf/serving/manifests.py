"""KServe InferenceService manifests (``serving.kserve.io/v1beta1``), as pure functions of validated specs.

Canary has two mechanisms and the deployment mode picks one (reference/kubeflow-apis.md §4):
Knative re-applies the predictor with ``canaryTrafficPercent`` (traffic splits between the new and the
last rolled-out revision); Standard (raw Deployments, v0.20+) adds ``spec.canary[]`` beside a named
predictor. What each version is (format, protocol, where its files are) rides in an annotation, so that
promote and rollback need nothing but the object.

KServe's webhook refuses a ``predictor.name`` change that comes without a model change (the name names
the stable Deployment, ``<isvc>-<name>-predictor``): a Standard service is named when it is created and
keeps that name until a promote brings a new model with the canary's name.
"""
from __future__ import annotations

import copy
import json

from jupyter_kf.kube.objects import MANAGED_BY, label_value, resources

GROUP, VERSION, PLURAL, KIND = "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"
API_VERSION = f"{GROUP}/{VERSION}"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
VERSIONS_ANNOTATION = "jupyter-kf.io/model-versions"
LABEL_MODEL = "jupyter-kf.io/model"
LABEL_USER = "jupyter-kf.io/user"
MODES = {"standard": "Standard", "rawdeployment": "Standard", "knative": "Knative", "serverless": "Knative",
         "modelmesh": "ModelMesh"}
TRITON = "kserve-tritonserver"


def normalize_mode(text: str | None) -> str | None:
    """KServe's mode names, old spellings (Serverless, RawDeployment) mapped to v0.20's (Knative, Standard)."""
    return MODES.get(str(text or "").strip().lower()) if text else None


def model_labels(name: str, user: str = "") -> dict[str, str]:
    return {**MANAGED_BY, LABEL_MODEL: name, LABEL_USER: label_value(user)}


def model_block(fmt: str, storage_uri: str, protocol: str, runtime: str | None = None, model_name: str | None = None,
                cpu: str | None = None, memory: str | None = None, gpus: int = 0, gpu_vendor: str = "nvidia.com/gpu",
                name: str | None = None, tpu=None) -> dict:
    """``predictor.model``: the format, where the files are, the protocol, the runtime when one must be named."""
    block: dict = {}
    if name:
        block["name"] = name  # required under spec.canary[].predictor.model by the v0.20 CRD
    block["modelFormat"] = {"name": fmt}
    if runtime:
        block["runtime"] = runtime
    block["protocolVersion"] = protocol
    block["storageUri"] = storage_uri
    if fmt == "huggingface" and model_name:
        block["args"] = [f"--model_name={model_name}"]
    res = resources(cpu, memory, gpus, gpu_vendor, tpu)
    if cpu:
        # KServe merges the runtime's container under ours (sklearn server: limits.cpu 1): a request without
        # its limit would exceed the runtime's and make the pods invalid. The limit goes with the request.
        res.setdefault("limits", {})["cpu"] = cpu
    if res:
        block["resources"] = res
    return block


def build_inferenceservice(name: str, namespace: str, model: dict, mode: str, labels: dict, version: dict,
                           min_replicas: int | None = None, max_replicas: int | None = None,
                           service_account: str | None = None, tpu=None) -> dict:
    """A new InferenceService serving ``model`` (a ``model_block``); ``version`` is what we record about it.
    In Standard mode the predictor is named after the version now, as a later canary cannot name it."""
    predictor: dict = {"model": copy.deepcopy(model)}
    if mode == "Standard":
        predictor = {"name": version["version"], **predictor}
    if min_replicas is not None:
        predictor["minReplicas"] = min_replicas
    if max_replicas is not None:
        predictor["maxReplicas"] = max_replicas
    if service_account:
        predictor["serviceAccountName"] = service_account
    predictor.update(placement(tpu))
    return {
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                     "annotations": {MODE_ANNOTATION: mode,
                                     VERSIONS_ANNOTATION: json.dumps({"stable": version, "canary": None})}},
        "spec": {"predictor": predictor},
    }


def placement(tpu) -> dict:
    """The predictor pod's TPU node labels and taint toleration (GKE), for a ``TpuSlice``; else nothing."""
    return {"nodeSelector": tpu.node_selector(), "tolerations": [tpu.toleration()]} if tpu else {}


def versions(isvc: dict) -> dict:
    raw = (isvc.get("metadata", {}).get("annotations") or {}).get(VERSIONS_ANNOTATION)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    return {"stable": data.get("stable"), "canary": data.get("canary")}


def _set_versions(isvc: dict, stable, canary) -> None:
    isvc["metadata"].setdefault("annotations", {})[VERSIONS_ANNOTATION] = json.dumps(
        {"stable": stable, "canary": canary}
    )


def mode_of(isvc: dict) -> str:
    annotations = isvc.get("metadata", {}).get("annotations") or {}
    return (
        normalize_mode(annotations.get(MODE_ANNOTATION))
        or normalize_mode((isvc.get("status") or {}).get("deploymentMode"))
        or "Standard"
    )


def with_canary(isvc: dict, model: dict, percent: int, version: dict) -> dict:
    """The object with ``model`` taking ``percent`` of the traffic, by the mechanism of the object's mode."""
    out = copy.deepcopy(_without_canary_fields(isvc))
    predictor = out["spec"]["predictor"]
    stable = versions(isvc)["stable"]
    if mode_of(isvc) == "Knative":
        predictor["model"] = {
            **{
                k: v
                for k, v in predictor["model"].items()
                if k not in ("storageUri", "modelFormat", "runtime", "protocolVersion", "args")
            },
            **{k: v for k, v in model.items() if k != "name"},
        }
        predictor["canaryTrafficPercent"] = percent
    else:  # the stable predictor keeps its name: renaming it without a model change is refused
        canary_model = {"name": "kserve-container", **{k: v for k, v in model.items() if k != "name"}}
        out["spec"]["canary"] = [
            {"trafficPercent": percent, "predictor": {"name": version["version"], "model": canary_model}}
        ]
    _set_versions(out, stable, {**version, "percent": percent})
    return out


def _without_canary_fields(isvc: dict) -> dict:
    out = copy.deepcopy(isvc)
    out["spec"]["predictor"].pop("canaryTrafficPercent", None)
    out["spec"].pop("canary", None)
    return out


def promoted(isvc: dict) -> dict:
    """The canary becomes the whole deployment."""
    state = versions(isvc)
    out = _without_canary_fields(isvc)
    predictor = out["spec"]["predictor"]
    if mode_of(isvc) == "Standard":
        entry = (isvc["spec"].get("canary") or [{}])[0].get("predictor", {})
        if entry:
            model = {**predictor.get("model", {}), **{k: v for k, v in entry["model"].items() if k != "name"}}
            if model.get("storageUri") != predictor.get("model", {}).get("storageUri"):
                # the canary's Deployment becomes the stable one; the same files keep the stable Deployment
                predictor["name"] = entry.get("name", predictor.get("name"))
            predictor["model"] = model
    canary = dict(state["canary"] or {})
    canary.pop("percent", None)
    _set_versions(out, canary or state["stable"], None)
    return out


def rolled_back(isvc: dict) -> dict:
    """The canary goes; the stable version takes all the traffic again."""
    state = versions(isvc)
    out = _without_canary_fields(isvc)
    if mode_of(isvc) == "Knative" and state["stable"] and state["stable"].get("model"):
        out["spec"]["predictor"]["model"] = {**out["spec"]["predictor"]["model"], **state["stable"]["model"]}
    _set_versions(out, state["stable"], None)
    return out


def service_account(name: str, namespace: str, secret: str, labels: dict) -> dict:
    """The ServiceAccount KServe's storage initializer takes the store's credentials from (Secret by reference)."""
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "secrets": [{"name": secret}]}


def traffic(isvc: dict) -> str:
    """'100% v1', or '90% v1 / 10% v2 (canary)': from the status when KServe reports it, else the spec."""
    spec = isvc.get("spec", {})
    state = versions(isvc)
    stable = (state["stable"] or {}).get("version", "stable")
    st = isvc.get("status") or {}
    reported = ((st.get("components") or {}).get("predictor") or {}).get("traffic") or []
    if st.get("observedGeneration", 0) < isvc.get("metadata", {}).get("generation", 0):
        reported = []  # it speaks of an earlier spec than ours: the spec says more
    if reported:  # Knative: the latest revision is the canary while there is one, the other the stable version
        canary = (state["canary"] or {}).get("version")
        if all("latestRevision" in t for t in reported) and state["stable"]:
            named = sorted(((t.get("percent", 0), f"{canary} (canary)" if canary and t["latestRevision"] else stable)
                            for t in reported), key=lambda pair: pair[1].endswith("(canary)"))
        else:
            named = [(t.get("percent", 0), t.get("tag") or t.get("revisionName") or "?") for t in reported]
        return " / ".join(f"{percent}% {who}" for percent, who in named)
    percent = spec.get("predictor", {}).get("canaryTrafficPercent")
    if percent is None and spec.get("canary"):
        percent = spec["canary"][0].get("trafficPercent")
    if percent is None or not state["canary"]:
        return f"100% {stable}"
    return f"{100 - percent}% {stable} / {percent}% {state['canary'].get('version', 'canary')} (canary)"
