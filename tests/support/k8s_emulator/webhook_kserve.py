"""KServe v0.20's validating webhook for InferenceServices (``inferenceservice.kserve-webhook-server.validator``).

Rules and messages from ``pkg/apis/serving/v1beta1/inference_service_validation.go`` and
``component.go`` at v0.20.0 (1fb78105): on update the deployment mode may not change and the predictor may
not be renamed without a model change; on create and update the name format, no ``name`` on the stable
predictor's model, exactly one predictor implementation, and the Standard-mode canary rules.

KServe's validator returns plain Go errors, which controller-runtime answers with ``admission.Denied``
(403 Forbidden, the error text as the message); the apiserver prefixes ``admission webhook "<name>"
denied the request: ``. Not reproduced: autoscaler, blocked env var, multi-node, storage URI, logger and
confidential-computing rules, and each implementation's own ``Validate()``.
"""
from __future__ import annotations

import re

from tests.support.k8s_emulator.errors import ApiError
from tests.support.k8s_emulator.webhooks import Webhook, register

NAME = "inferenceservice.kserve-webhook-server.validator"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
LEGACY_MODES = {"RawDeployment": "Standard", "Serverless": "Knative"}
ISVC_NAME_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
FRAMEWORKS = ("sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "huggingface", "pmml", "lightgbm",
              "paddle")
# ExactlyOneErrorFor lists PredictorSpec's Go fields but the last (the inline ComponentExtensionSpec)
PREDICTOR_FIELDS = ("Name, SKLearn, XGBoost, Tensorflow, PyTorch, Triton, ONNX, HuggingFace, PMML, LightGBM, Paddle, "
                    "Model, StorageUris, StorageContainerName, WorkerSpec, PodSpec")


class Rejected(Exception):
    """A Go ``error`` from the validator."""


def deny(message: str) -> ApiError:
    return ApiError(403, "Forbidden", f'admission webhook "{NAME}" denied the request: {message}')


def parse_mode(mode: str) -> str:
    """``constants.ParseDeploymentMode``: "" is the default (Standard); legacy names normalised."""
    return LEGACY_MODES.get(mode, mode) if mode else "Standard"


def storage_uri(predictor: dict) -> str:
    """``getPredictorStorageURI``: the model's storageUri, else the framework implementation's."""
    model = predictor.get("model")
    if isinstance(model, dict) and model.get("storageUri") is not None:
        return model["storageUri"]
    for key in FRAMEWORKS:
        if isinstance(predictor.get(key), dict) and predictor[key].get("storageUri") is not None:
            return predictor[key]["storageUri"]
    return ""


def implementations(predictor: dict) -> int:
    """``PredictorSpec.GetImplementations``: frameworks and model, plus a custom container."""
    count = sum(1 for key in FRAMEWORKS + ("model",) if predictor.get(key) is not None)
    containers = predictor.get("containers") or []
    if containers:
        custom = sum(1 for c in containers if c.get("name") == "kserve-container")
        count += custom if custom else (1 if count == 0 else 0)
    return count


def exactly_one(predictor: dict) -> None:
    if implementations(predictor) != 1:
        raise Rejected(f"exactly one of [{PREDICTOR_FIELDS}] must be specified in PredictorSpec")


def validate_update(new: dict, old: dict) -> None:
    old_mode = (old.get("status") or {}).get("deploymentMode") or ""
    annotations = new.get("metadata", {}).get("annotations") or {}
    if old_mode and MODE_ANNOTATION in annotations and annotations[MODE_ANNOTATION] != parse_mode(old_mode):
        raise Rejected(f"update rejected: deploymentMode cannot be changed from '{parse_mode(old_mode)}' to "
                       f"'{annotations[MODE_ANNOTATION]}'")
    new_predictor, old_predictor = new["spec"].get("predictor") or {}, old["spec"].get("predictor") or {}
    if (old_predictor.get("name") or "") != (new_predictor.get("name") or "") \
            and storage_uri(old_predictor) == storage_uri(new_predictor):
        raise Rejected("predictor.name change requires a model change (e.g. storageUri)")


def validate(isvc: dict) -> None:
    name = isvc["metadata"].get("name", "")
    if not re.fullmatch(ISVC_NAME_FMT, name):
        raise Rejected(f'the InferenceService "{name}" is invalid: a InferenceService name must consist of lower case '
                       "alphanumeric characters or '-', and must start with alphabetical character. (e.g. \"my-name\" "
                       f"or \"abc-123\", regex used for validation is '{ISVC_NAME_FMT}')")
    predictor = isvc["spec"].get("predictor") or {}
    for key in FRAMEWORKS + ("model",):
        if isinstance(predictor.get(key), dict) and predictor[key].get("name"):
            raise Rejected("the 'name' field is not allowed in standard predictor")
    exactly_one(predictor)
    validate_canaries(isvc, predictor)


def validate_canaries(isvc: dict, stable: dict) -> None:
    """``validateCanarySpecs``."""
    canaries = isvc["spec"].get("canary") or []
    if not canaries:
        return
    if (isvc["metadata"].get("annotations") or {}).get(MODE_ANNOTATION) != "Standard":
        raise Rejected("canary is only supported in Standard deployment mode")
    if not storage_uri(stable) and stable.get("model") is None:
        raise Rejected("canary requires a stable predictor with a model (multi-model serving is not supported with canary)")
    names: set = set()
    total = 0
    for i, canary in enumerate(canaries):
        predictor = canary.get("predictor") or {}
        name = predictor.get("name") or ""
        if not name:
            raise Rejected(f"canary[{i}] predictor.name is required")
        if name in names:
            raise Rejected(f'canary predictor.name "{name}" is duplicated')
        names.add(name)
        if name == (stable.get("name") or ""):
            raise Rejected(f'canary predictor.name "{name}" conflicts with stable predictor name')
        percent = canary.get("trafficPercent", 0)
        if percent < 0 or percent > 100:
            raise Rejected(f'canary "{name}" trafficPercent must be between 0 and 100, got {percent}')
        total += percent
        try:
            exactly_one(predictor)
        except Rejected as err:
            raise Rejected(f'canary "{name}" predictor: {err}') from None
        if predictor.get("workerSpec") is not None:
            raise Rejected(f'canary "{name}" must not set workerSpec (multi-node is not yet supported for canary)')
        for field, what in (("maxReplicas", "maxReplicas"), ("scaleTarget", "scaleTarget"), ("scaleMetric", "scaleMetric"),
                            ("autoScaling", "autoScaling")):
            value = predictor.get(field)
            if (field == "maxReplicas" and (value or 0) > 0) or (field != "maxReplicas" and value is not None):
                raise Rejected(f'canary "{name}" must not set {what} (canary uses fixed replicas)')
        if predictor.get("minReplicas") is not None:
            stable_min = stable.get("minReplicas", 1) if stable.get("minReplicas") is not None else 1
            if predictor["minReplicas"] > stable_min:
                raise Rejected(f'canary "{name}" minReplicas ({predictor["minReplicas"]}) must not exceed stable predictor '
                               f"minReplicas ({stable_min})")
    if total > 100:
        raise Rejected(f"sum of canary trafficPercent values ({total}) must be <= 100")


def check(store, obj: dict, old: dict | None) -> list:
    """``ValidateCreate`` / ``ValidateUpdate``; an object being deleted passes."""
    if old is not None and obj.get("metadata", {}).get("deletionTimestamp"):
        return []
    try:
        if old is not None:
            validate_update(obj, old)
        validate(obj)
    except Rejected as err:
        raise deny(str(err)) from None
    return []


register(Webhook(NAME, "serving.kserve.io", "inferenceservices", check))
