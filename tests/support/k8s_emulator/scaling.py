"""The ``scale`` subresource (``autoscaling/v1`` Scale) of Deployments, StatefulSets, ReplicaSets and of custom
resources whose CRD version declares ``subresources.scale``: what ``kubectl scale`` reads and patches.

A custom resource's Scale is read from and written to the CRD's ``specReplicasPath``, ``statusReplicasPath``
and ``labelSelectorPath`` (missing values read as 0 / ""), as apiextensions' ``scaleFromCustomResource`` does;
the built-ins' from ``spec.replicas``, ``status.replicas`` and the label selector.
"""
from __future__ import annotations

from tests.support.k8s_emulator.errors import ApiError, bad_request
from tests.support.k8s_emulator.resources import Resource
from tests.support.k8s_emulator.schema import FieldError
from tests.support.k8s_emulator.store import clone

BUILTIN_SCALE = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}


def _path(dotted: str) -> list[str]:
    return [p for p in (dotted or "").split(".") if p]


def _get(obj: dict, dotted: str):
    value = obj
    for part in _path(dotted):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _selector_string(selector: dict | None) -> str:
    """labels.Selector.String() of a LabelSelector: requirements sorted by key."""
    reqs = [(k, f"{k}={v}") for k, v in (selector or {}).get("matchLabels", {}).items()]
    for e in (selector or {}).get("matchExpressions") or []:
        values = ",".join(sorted(e.get("values") or []))
        text = {"In": f"{e['key']} in ({values})", "NotIn": f"{e['key']} notin ({values})", "Exists": e["key"],
                "DoesNotExist": f"!{e['key']}"}.get(e.get("operator"), e["key"])
        reqs.append((e["key"], text))
    return ",".join(t for _, t in sorted(reqs))


def spec_of(resource: Resource) -> dict:
    return resource.scale or BUILTIN_SCALE


def to_scale(resource: Resource, obj: dict) -> dict:
    spec = spec_of(resource)
    meta = obj["metadata"]
    replicas = _get(obj, spec["specReplicasPath"])
    status_replicas = _get(obj, spec.get("statusReplicasPath", ""))
    if resource.is_custom:
        selector = _get(obj, spec.get("labelSelectorPath", "")) if spec.get("labelSelectorPath") else ""
    else:
        selector = _selector_string((obj.get("spec") or {}).get("selector"))
    status = {"replicas": status_replicas if isinstance(status_replicas, int) else 0}
    if selector:
        status["selector"] = selector
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": replicas if isinstance(replicas, int) else 0}, "status": status}


def apply_scale(resource: Resource, obj: dict, scale: dict) -> dict:
    """``obj`` with the Scale's spec.replicas written where it lives; 422 for a bad count, as the real server."""
    name = obj["metadata"]["name"]
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise bad_request(f"json: cannot unmarshal {type(replicas).__name__} into Go struct field "
                          "ScaleSpec.spec.replicas of type int32")
    if replicas < 0:
        err = FieldError("FieldValueInvalid", "spec.replicas", replicas, "must be greater than or equal to 0")
        raise ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: {err}',
                       {"name": name, "group": "autoscaling", "kind": "Scale",
                        "causes": [{"reason": err.type, "message": err.body(), "field": err.field}]})
    updated = clone(obj)
    parts = _path(spec_of(resource)["specReplicasPath"])
    target = updated
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = replicas
    return updated
