"""What built-in registries add to an object on create: API defaults and the PrepareForCreate resets.

Only the defaults client code commonly reads back are applied (pod and job template fields, job
selectors/labels, service IPs, namespace phase...). Custom resources get their defaults from the CRD
schema instead (see :mod:`.schema`).
"""
from __future__ import annotations

import base64
import itertools

from tests.support.k8s_emulator import builtin_schemas
from tests.support.k8s_emulator.resources import Resource

_ip_counter = itertools.count(1)


def _default_container(c: dict) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    image = c.get("image") or ""
    tag = image.rsplit("/", 1)[-1]
    c.setdefault("imagePullPolicy", "Always" if (":" not in tag or tag.endswith(":latest")) and "@" not in tag
                 else "IfNotPresent")
    c.setdefault("resources", {})
    for port in c.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def default_pod_spec(spec: dict) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if isinstance(c, dict):
            _default_container(c)


def _template_spec(obj: dict) -> dict | None:
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict):
        spec = template.setdefault("spec", {})
        return spec if isinstance(spec, dict) else None
    return None


def _qos_class(spec: dict) -> str:
    requests = limits = False
    guaranteed = True
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        requests |= bool(req)
        limits |= bool(lim)
        for r in ("cpu", "memory"):
            if r not in lim or req.get(r, lim[r]) != lim[r]:
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _job(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    uid = obj["metadata"]["uid"]
    name = obj["metadata"]["name"]
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", spec["parallelism"] if spec.get("completionMode") == "Indexed" else 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    if not spec.get("manualSelector"):
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        template = spec.setdefault("template", {})
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                       "controller-uid": uid, "job-name": name})
    pod_spec = _template_spec(obj)
    if pod_spec is not None:
        default_pod_spec(pod_spec)


def _service(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec.get("clusterIP") != "None":
        n = next(_ip_counter)
        spec.setdefault("clusterIP", f"10.96.{(n // 250) % 250}.{n % 250 + 1}")
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or ():
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))


def _workload(obj: dict, extra: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    for k, v in extra.items():
        spec.setdefault(k, v)
    pod_spec = _template_spec(obj)
    if pod_spec is not None:
        default_pod_spec(pod_spec)


_STATUS_ON_CREATE = {
    ("", "namespaces"): lambda o: {"phase": "Active"},
    ("", "pods"): lambda o: {"phase": "Pending", "qosClass": _qos_class(o.get("spec") or {})},
    ("", "services"): lambda o: {"loadBalancer": {}},
    ("", "persistentvolumeclaims"): lambda o: {"phase": "Pending"},
}


_ZERO = {"integer": 0, "number": 0, "string": "", "boolean": False}


def zero_status(resource: Resource) -> dict:
    """The fields a built-in status always serializes (Go values without omitempty, e.g. replicas: 0).

    The client's pydantic models require them, so a status must never lack them.
    """
    root = builtin_schemas.root_schema(resource.group, resource.version, resource.kind)
    if root is None or resource.is_custom:
        return {}
    status = (builtin_schemas.resolve(root["$ref"].rsplit("/", 1)[-1]).get("properties") or {}).get("status")
    if not status or "$ref" not in status:
        return {}
    schema = builtin_schemas.resolve(status["$ref"].rsplit("/", 1)[-1])
    out = {}
    for name in schema.get("required") or ():
        types = (schema.get("properties") or {}).get(name, {}).get("type") or []
        kind = next((t for t in (types if isinstance(types, list) else [types]) if t in _ZERO), None)
        if kind:
            out[name] = _ZERO[kind]
    return out


def apply_create_defaults(resource: Resource, obj: dict) -> None:
    """Mutates a freshly decoded object the way the registry's strategy and defaulters would."""
    if resource.is_custom:
        if resource.has_status:
            obj.pop("status", None)
        return
    key = resource.key
    if resource.has_status and key != ("", "nodes"):
        make = _STATUS_ON_CREATE.get(key)
        if make:
            obj["status"] = make(obj)
        elif key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            obj.pop("status", None)
        else:
            obj["status"] = zero_status(resource)
    if key == ("", "pods"):
        default_pod_spec(obj.setdefault("spec", {}))
        for c in obj["spec"].get("containers") or []:  # SetDefaults_Pod: requests default to limits
            res = c.get("resources") if isinstance(c, dict) else None
            if isinstance(res, dict) and isinstance(res.get("limits"), dict) and res["limits"]:
                res["requests"] = {**res["limits"], **(res.get("requests") or {})}
        obj["spec"].setdefault("serviceAccountName", "default")
        obj["spec"].setdefault("serviceAccount", obj["spec"]["serviceAccountName"])
        obj["spec"].setdefault("enableServiceLinks", True)
        obj["spec"].setdefault("priority", 0)
    elif key == ("batch", "jobs"):
        _job(obj)
    elif key == ("", "services"):
        _service(obj)
    elif key == ("apps", "deployments"):
        _workload(obj, {"progressDeadlineSeconds": 600,
                        "strategy": {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}})
    elif key == ("apps", "statefulsets"):
        _workload(obj, {"podManagementPolicy": "OrderedReady",
                        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}})
    elif key == ("apps", "replicasets"):
        _workload(obj, {})
    elif key == ("batch", "cronjobs"):  # SetDefaults_CronJob
        spec = obj.setdefault("spec", {})
        for field, value in (("concurrencyPolicy", "Allow"), ("suspend", False), ("successfulJobsHistoryLimit", 3),
                             ("failedJobsHistoryLimit", 1)):
            spec.setdefault(field, value)
        pod_spec = ((((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec"))
        if isinstance(pod_spec, dict):
            default_pod_spec(pod_spec)
    elif key == ("", "namespaces"):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        labels = obj["metadata"].setdefault("labels", {})
        labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    elif key == ("", "persistentvolumeclaims"):
        obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    elif key == ("", "secrets"):
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None) or {}
        if string_data:  # write-only convenience field: folded into base64 data
            data = obj.setdefault("data", {})
            data.update({k: base64.b64encode(str(v).encode()).decode() for k, v in string_data.items()})
