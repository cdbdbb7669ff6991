"""Table output (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``): what ``kubectl get`` prints.

A real API server converts objects to ``meta.k8s.io/v1`` Tables on request: custom resources through
their CRD version's ``additionalPrinterColumns`` (``Age`` from creationTimestamp when it has none),
built-ins through the printers in pkg/printers/internalversion (pods: READY/STATUS/RESTARTS; jobs:
STATUS/COMPLETIONS/DURATION...), other kinds through the default convertor (Name, Created At).
Rows carry the object as ``PartialObjectMetadata`` unless ``includeObject=Object`` or ``None``.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from tests.support.k8s_emulator.errors import ApiError
from tests.support.k8s_emulator.resources import Resource

NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, although some resources "
            "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
            "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
            "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
CREATED_DOC = ("CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
               "guaranteed to be set in happens-before order across separate operations. Clients may not set this "
               "value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null "
               "for lists. More info: "
               "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
_TABLE_RE = re.compile(r"^application/json\s*;(.*)$")


def wants_table(accept: str | None) -> str | None:
    """The Table version the Accept header asks for first (``v1``/``v1beta1``), before any plain JSON."""
    for item in (accept or "").split(","):
        m = _TABLE_RE.match(item.strip())
        if not m:
            if item.strip().split(";")[0] in ("application/json", "*/*", "application/*"):
                return None
            continue
        params = dict(p.strip().split("=", 1) for p in m.group(1).split(";") if "=" in p)
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            return params["v"]
    return None


# -- time ------------------------------------------------------------------------------------------
def _parse_time(value) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def since(value) -> str:
    """translateTimestampSince: ``<unknown>`` for no time."""
    t = _parse_time(value)
    return "<unknown>" if t is None else human_duration((datetime.now(timezone.utc) - t).total_seconds())


# -- JSONPath (the subset CRD printer columns use) -------------------------------------------------
_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(-?\d*):(-?\d*)\]|\[(-?\d+)\]|\[\*\]|\[\?\(@\.([\w.\-]+)\s*==\s*(.+?)\)\]")


def jsonpath(obj, path: str) -> list:
    """All values ``path`` (``.status.conditions[?(@.type=='Ready')].status``, ``[-1:]``...) selects."""
    current, pos, path = [obj], 0, path.strip().removeprefix("{").removesuffix("}")
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            return []
        pos = m.end()
        field, start, stop, index, key, literal = m.group(1), m.group(2), m.group(3), m.group(4), m.group(5), m.group(6)
        nxt = []
        for value in current:
            if field is not None:
                if isinstance(value, dict) and field in value:
                    nxt.append(value[field])
            elif not isinstance(value, list):
                continue
            elif start is not None or stop is not None:
                nxt += value[int(start) if start else None:int(stop) if stop else None]
            elif index is not None:
                if -len(value) <= int(index) < len(value):
                    nxt.append(value[int(index)])
            elif key is not None:
                want = json.loads(literal.replace("'", '"')) if literal not in ("true", "false") else literal == "true"
                nxt += [v for v in value if isinstance(v, dict) and _lookup(v, key) == want]
            else:
                nxt += value
        current = nxt
    return current


def _lookup(value, dotted: str):
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _crd_cell(column: dict, obj: dict):
    found = jsonpath(obj, column.get("jsonPath", ""))
    if not found:
        return None
    value, typ = found[0], column.get("type", "string")
    if typ == "date":
        return since(value) if isinstance(value, str) else None
    if typ == "integer":
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if typ == "number":
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if typ == "boolean":
        return value if isinstance(value, bool) else None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":")) if isinstance(value, (dict, list)) else str(value).lower() \
        if isinstance(value, bool) else str(value)


# -- built-in printers ---------------------------------------------------------------------------
def _col(name: str, typ: str = "string", description: str = "", priority: int = 0, fmt: str = "") -> dict:
    return {"name": name, "type": typ, "format": fmt, "description": description, "priority": priority}


_NAME = _col("Name", fmt="name", description=NAME_DOC)
_AGE = _col("Age", description=CREATED_DOC)


def _containers(obj: dict) -> tuple[str, str]:
    containers = ((((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [])
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _selector(sel: dict | None) -> str:
    """metav1.FormatLabelSelector."""
    if not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op, values = e.get("operator"), ",".join(e.get("values") or [])
        parts.append({"In": f"{e['key']} in ({values})", "NotIn": f"{e['key']} notin ({values})",
                      "Exists": e["key"], "DoesNotExist": f"!{e['key']}"}.get(op, f"{e['key']} {op}"))
    return ",".join(parts) or "<none>"


def _pod_row(pod: dict, wide: bool) -> list:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    total, ready, restarts, last_restart = len(spec.get("containers") or []), 0, 0, None
    init_statuses = status.get("initContainerStatuses") or []
    initializing = False
    for i, c in enumerate(init_statuses):
        restarts += c.get("restartCount", 0)
        state = c.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term and term.get("exitCode", 0) == 0:
            continue
        if term:
            reason = "Init:" + (term.get("reason") or (f"Signal:{term['signal']}" if term.get("signal")
                                                       else f"ExitCode:{term.get('exitCode', 0)}"))
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break
    if not initializing:
        restarts, has_running = 0, False
        for c in reversed(status.get("containerStatuses") or []):
            restarts += c.get("restartCount", 0)
            finished = ((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
            if finished and (last_restart is None or finished > last_restart):
                last_restart = finished
            state = c.get("state") or {}
            waiting, term = state.get("waiting") or {}, state.get("terminated")
            if waiting.get("reason"):
                reason = waiting["reason"]
            elif term is not None:
                reason = term.get("reason") or (f"Signal:{term['signal']}" if term.get("signal")
                                                else f"ExitCode:{term.get('exitCode', 0)}")
            elif c.get("ready") and "running" in state:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            ready_cond = any(x.get("type") == "Ready" and x.get("status") == "True"
                             for x in status.get("conditions") or [])
            reason = "Running" if ready_cond else "NotReady"
    if pod["metadata"].get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    restarts_text = f"{restarts} ({since(last_restart)} ago)" if restarts and last_restart else str(restarts)
    row = [pod["metadata"]["name"], f"{ready}/{total}", reason, restarts_text, since(pod["metadata"].get("creationTimestamp"))]
    if wide:
        ips = status.get("podIPs") or []
        gates = spec.get("readinessGates") or []
        gate_text = "<none>"
        if gates:
            true = sum(1 for g in gates for x in status.get("conditions") or []
                       if x.get("type") == g.get("conditionType") and x.get("status") == "True")
            gate_text = f"{true}/{len(gates)}"
        row += [(ips[0].get("ip") if ips else "") or status.get("podIP") or "<none>", spec.get("nodeName") or "<none>",
                status.get("nominatedNodeName") or "<none>", gate_text]
    return row


def _job_condition(job: dict, kind: str) -> bool:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c.get("status") == "True"
    return False


def _job_row(job: dict, wide: bool) -> list:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = _parse_time(status.get("startTime")), _parse_time(status.get("completionTime"))
    duration = "" if start is None else human_duration(((end or datetime.now(timezone.utc)) - start).total_seconds())
    if _job_condition(job, "Complete"):
        state = "Complete"
    elif _job_condition(job, "Failed"):
        state = "Failed"
    elif job["metadata"].get("deletionTimestamp"):
        state = "Terminating"
    elif _job_condition(job, "Suspended"):
        state = "Suspended"
    elif _job_condition(job, "FailureTarget"):
        state = "FailureTarget"
    else:
        state = "Running"
    row = [job["metadata"]["name"], state, completions, duration, since(job["metadata"].get("creationTimestamp"))]
    if wide:
        row += [*_containers(job), _selector(spec.get("selector"))]
    return row


def _deployment_row(d: dict, wide: bool) -> list:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    row = [d["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
           status.get("updatedReplicas", 0), status.get("availableReplicas", 0),
           since(d["metadata"].get("creationTimestamp"))]
    return row + ([*_containers(d), _selector(spec.get("selector"))] if wide else [])


def _statefulset_row(s: dict, wide: bool) -> list:
    spec, status = s.get("spec") or {}, s.get("status") or {}
    row = [s["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
           since(s["metadata"].get("creationTimestamp"))]
    return row + (list(_containers(s)) if wide else [])


def _replicaset_row(r: dict, wide: bool) -> list:
    spec, status = r.get("spec") or {}, r.get("status") or {}
    row = [r["metadata"]["name"], spec.get("replicas", 0), status.get("replicas", 0), status.get("readyReplicas", 0),
           since(r["metadata"].get("creationTimestamp"))]
    return row + ([*_containers(r), _selector(spec.get("selector"))] if wide else [])


def _event_row(ev: dict, wide: bool) -> list:
    first = since(ev.get("firstTimestamp")) if ev.get("firstTimestamp") else since(ev.get("eventTime"))
    last = since(ev.get("lastTimestamp")) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 1
    if ev.get("series"):
        last, count = since(ev["series"].get("lastObservedTime")), ev["series"].get("count", count)
    involved = ev.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = ev.get("source") or {}
    component = source.get("component") or ev.get("reportingComponent") or ""
    host = source.get("host") or ev.get("reportingInstance") or ""
    source_text = f"{component}, {host}" if host else component
    return [last, ev.get("type", ""), ev.get("reason", ""), target, involved.get("fieldPath", ""), source_text,
            (ev.get("message") or "").strip(), first, count, ev["metadata"]["name"]]


def _service_row(svc: dict, wide: bool) -> list:
    spec = svc.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    external = ",".join(spec.get("externalIPs") or []) or {"LoadBalancer": "<pending>",
                                                           "ExternalName": spec.get("externalName", "")}.get(kind,
                                                                                                             "<none>")
    ports = ",".join(f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
                     else f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []) or "<none>"
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [svc["metadata"]["name"], kind, ips[0] if ips else "<none>", external, ports,
            since(svc["metadata"].get("creationTimestamp")), selector]


def _pvc_row(pvc: dict, wide: bool) -> list:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    capacity = modes = ""
    if spec.get("volumeName"):
        capacity = (status.get("capacity") or {}).get("storage", "")
        modes = ",".join({"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                          "ReadWriteOncePod": "RWOP"}.get(m, m) for m in status.get("accessModes") or [])
    return [pvc["metadata"]["name"], status.get("phase", ""), spec.get("volumeName", ""), capacity, modes,
            spec.get("storageClassName", ""), spec.get("volumeAttributesClassName") or "<unset>",
            since(pvc["metadata"].get("creationTimestamp")), spec.get("volumeMode", "")]


def _cronjob_row(cj: dict, wide: bool) -> list:
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    suspend = spec.get("suspend")
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    row = [cj["metadata"]["name"], spec.get("schedule", ""), spec.get("timeZone") or "<none>",
           "<unset>" if suspend is None else str(bool(suspend)), len(status.get("active") or []),
           since(status["lastScheduleTime"]) if status.get("lastScheduleTime") else "<none>",
           since(cj["metadata"].get("creationTimestamp"))]
    return row + ([*_containers({"spec": job_spec}), _selector(job_spec.get("selector"))] if wide else [])


def _node_row(node: dict, wide: bool) -> list:
    spec, status = node.get("spec") or {}, node.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = "Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")
    if spec.get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and "/" in k)
    roles += [labels["kubernetes.io/role"]] if labels.get("kubernetes.io/role") else []
    info = status.get("nodeInfo") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    row = [node["metadata"]["name"], state, ",".join(roles) or "<none>", since(node["metadata"].get("creationTimestamp")),
           info.get("kubeletVersion", "")]
    return row + ([addresses.get("InternalIP", "<none>"), addresses.get("ExternalIP", "<none>"),
                   info.get("osImage", "<unknown>"), info.get("kernelVersion", "<unknown>"),
                   info.get("containerRuntimeVersion", "<unknown>")] if wide else [])


def _simple(*cells):
    return lambda o, wide: [o["metadata"]["name"], *(c(o) for c in cells), since(o["metadata"].get("creationTimestamp"))]


_COUNT_DOC = "Data contains the configuration data."
BUILTIN = {
    ("", "pods"): ([_NAME, _col("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
                    _col("Status", description="The aggregate status of the containers in this pod."),
                    _col("Restarts", description="The number of times the containers in this pod have been restarted "
                                                 "and when the last container in this pod has restarted."),
                    _AGE, _col("IP", priority=1), _col("Node", priority=1), _col("Nominated Node", priority=1),
                    _col("Readiness Gates", priority=1)], _pod_row),
    ("batch", "jobs"): ([_NAME, _col("Status", description="Status of the job."), _col("Completions"),
                         _col("Duration", description="Time required to complete the job."), _AGE,
                         _col("Containers", priority=1, description="Names of each container in the template."),
                         _col("Images", priority=1, description="Images referenced by each container in the template."),
                         _col("Selector", priority=1)], _job_row),
    ("", "namespaces"): ([_NAME, _col("Status", description="The status of the namespace"), _AGE],
                         _simple(lambda o: (o.get("status") or {}).get("phase", ""))),
    ("", "configmaps"): ([_NAME, _col("Data", "integer", _COUNT_DOC), _AGE],
                         _simple(lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}))),
    ("", "secrets"): ([_NAME, _col("Type"), _col("Data", "string"), _AGE],
                      _simple(lambda o: o.get("type", ""), lambda o: len(o.get("data") or {}))),
    ("", "serviceaccounts"): ([_NAME, _col("Secrets", "string"), _AGE], _simple(lambda o: len(o.get("secrets") or []))),
    ("", "events"): ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Subobject", priority=1),
                      _col("Source", priority=1), _col("Message"), _col("First Seen", priority=1),
                      _col("Count", priority=1), _col("Name", priority=1)], _event_row),
    ("", "services"): ([_NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), _AGE,
                        _col("Selector", priority=1)], _service_row),
    ("", "persistentvolumeclaims"): ([_NAME, _col("Status"), _col("Volume"), _col("Capacity"), _col("Access Modes"),
                                      _col("StorageClass"), _col("VolumeAttributesClass"), _AGE,
                                      _col("VolumeMode", priority=1)], _pvc_row),
    ("batch", "cronjobs"): ([_NAME, _col("Schedule"), _col("Timezone"), _col("Suspend", "boolean"),
                             _col("Active", "integer"), _col("Last Schedule"), _AGE, _col("Containers", priority=1),
                             _col("Images", priority=1), _col("Selector", priority=1)], _cronjob_row),
    ("", "nodes"): ([_NAME, _col("Status", description="The status of the node"),
                     _col("Roles", description="The roles of the node"), _AGE, _col("Version"),
                     _col("Internal-IP", priority=1), _col("External-IP", priority=1), _col("OS-Image", priority=1),
                     _col("Kernel-Version", priority=1), _col("Container-Runtime", priority=1)], _node_row),
    ("apps", "deployments"): ([_NAME, _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), _AGE,
                               _col("Containers", priority=1), _col("Images", priority=1),
                               _col("Selector", priority=1)], _deployment_row),
    ("apps", "statefulsets"): ([_NAME, _col("Ready", description="Number of the pod with ready state"), _AGE,
                                _col("Containers", priority=1), _col("Images", priority=1)], _statefulset_row),
    ("apps", "replicasets"): ([_NAME, _col("Desired", "integer"), _col("Current", "integer"), _col("Ready", "integer"),
                               _AGE, _col("Containers", priority=1), _col("Images", priority=1),
                               _col("Selector", priority=1)], _replicaset_row),
}


def _default_row(obj: dict, wide: bool) -> list:
    t = _parse_time(obj["metadata"].get("creationTimestamp"))
    return [obj["metadata"]["name"], t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else None]


def _columns(resource: Resource):
    if resource.is_custom:
        columns = list(resource.printer_columns) or [{"name": "Age", "type": "date", "description": CREATED_DOC,
                                                     "jsonPath": ".metadata.creationTimestamp"}]
        defs = [_NAME] + [{"name": c["name"], "type": c.get("type", "string"), "format": c.get("format", ""),
                           "description": c.get("description", ""), "priority": c.get("priority", 0)}
                          for c in columns]
        return defs, lambda o, wide: [o["metadata"]["name"]] + [_crd_cell(c, o) for c in columns]
    if resource.key in BUILTIN:
        return BUILTIN[resource.key]
    return [_NAME, _col("Created At", "date", CREATED_DOC)], _default_row


def _row_object(obj: dict, include: str, version: str):
    if include == "None":
        return None
    if include == "Object":
        return obj
    meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}", "metadata": meta}


def to_table(resource: Resource, objects: list[dict], version: str, query: dict, list_meta: dict | None) -> dict:
    """A Table of ``objects`` (one object for a GET, the items of a list); ``list_meta`` for lists."""
    include = query.get("includeObject") or "Metadata"
    if include not in ("None", "Metadata", "Object"):
        raise ApiError(400, "BadRequest", f'unrecognized includeObject value: "{include}"')
    definitions, row = _columns(resource)
    rows = []
    for obj in objects:
        entry = {"cells": row(obj, True)}
        conditions = []
        if resource.key == ("", "pods") and (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            conditions = [{"type": "Completed", "status": "True", "reason": obj["status"]["phase"],
                           "message": "The pod has completed successfully." if obj["status"]["phase"] == "Succeeded"
                           else "The pod failed."}]
        if conditions:
            entry["conditions"] = conditions
        entry["object"] = _row_object(obj, include, version)
        rows.append(entry)
    return {"kind": "Table", "apiVersion": f"meta.k8s.io/{version}", "metadata": list_meta or {},
            "columnDefinitions": definitions, "rows": rows}
