"""Test controls: play the controllers, scheduler and kubelet the emulator does not run.

Tests move workloads and pods through their lifecycle here (phases, container states, conditions,
scheduling failures, image pull errors, restarts), write container logs and emit events. Writes go
straight to the store (new resourceVersion, watch events) without API validation, as a controller's
status update would; :meth:`Controls.create_object` instead takes the full API admission path.
"""
from __future__ import annotations

import itertools
import secrets
from datetime import datetime
from typing import Any, Callable

from tests.support.k8s_emulator.defaults import zero_status
from tests.support.k8s_emulator.meta import rfc3339
from tests.support.k8s_emulator.resources import Resource
from tests.support.k8s_emulator.store import clone

DEFAULT_NODE = "emulator-node"
_pod_ip = itertools.count(2)


def _scope(resource: Resource, namespace: str | None) -> str:
    """The store's namespace key: "" for cluster-scoped kinds."""
    return (namespace or "") if resource.namespaced else ""


def _owner_reference(owner: Any) -> dict:
    """An ownerReference from an object dict (camelCase) or a kubernetes client model."""
    if isinstance(owner, dict):
        meta = owner["metadata"]
        api_version, kind, name, uid = owner["apiVersion"], owner["kind"], meta["name"], meta["uid"]
    else:
        api_version, kind = owner.api_version, owner.kind
        name, uid = owner.metadata.name, owner.metadata.uid
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True,
            "blockOwnerDeletion": True}


class Controls:
    """Mixin of :class:`~.emulator.K8sEmulator` (uses its ``store``, ``registry``, ``api`` and ``logs``)."""

    # -- generic objects ------------------------------------------------------------------------------
    def resource(self, group: str, version: str, plural: str) -> Resource:
        found = self.registry.lookup(group, version, plural)
        if found is None:
            raise KeyError(f"{plural}.{group}/{version} is not served")
        return found

    def _resource_for(self, obj: dict) -> Resource:
        group, _, version = obj["apiVersion"].rpartition("/")
        for r in self.registry.all():
            if r.group == group and r.version == version and r.kind == obj["kind"]:
                return r
        raise KeyError(f"{obj['kind']} {obj['apiVersion']} is not served")

    def create_object(self, obj: dict, namespace: str | None = None, field_validation: str = "Strict") -> dict:
        """Create through the API admission path (defaults, validation, namespace checks); returns the object."""
        resource = self._resource_for(obj)
        ns = namespace or (obj.get("metadata") or {}).get("namespace") or "default"
        created, _ = self.api.create_object(resource, ns if resource.namespaced else "", clone(obj), field_validation)
        return clone(created)

    def create_namespace(self, name: str, labels: dict | None = None) -> dict:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}
        return self.create_object(body)

    def get_object(self, group: str, version: str, plural: str, namespace: str | None, name: str) -> dict | None:
        r = self.resource(group, version, plural)
        obj = self.store.get(r.key, _scope(r, namespace), name)
        return clone(r.served(obj)) if obj is not None else None

    def list_objects(self, group: str, version: str, plural: str, namespace: str | None = None) -> list[dict]:
        r = self.resource(group, version, plural)
        with self.store.cond:
            return [clone(r.served(o)) for o in self.store.items(r.key, namespace)]

    def update_object(self, group: str, version: str, plural: str, namespace: str | None, name: str,
                      mutate: Callable[[dict], Any]) -> dict:
        """Change an object in place (``mutate`` edits a copy); emits MODIFIED with a new resourceVersion."""
        r = self.resource(group, version, plural)
        with self.store.cond:
            current = self.store.get(r.key, _scope(r, namespace), name)
            if current is None:
                raise KeyError(f"{plural} {namespace}/{name} not found")
            updated = clone(current)
            mutate(updated)
            if not self.api.deleter.finish_if_released(r.key, updated):
                self.store.put(r.key, updated)
            return clone(updated)

    def set_status(self, group: str, version: str, plural: str, namespace: str | None, name: str, status: dict,
                   merge: bool = False) -> dict:
        """Replace (or with ``merge=True`` shallow-merge into) ``.status``, as a controller would.

        Built-in kinds keep the fields their status always carries (``replicas: 0``...)."""
        base = zero_status(self.resource(group, version, plural))

        def apply(obj):
            obj["status"] = {**base, **(obj.get("status") or {}), **status} if merge else {**base, **clone(status)}
        return self.update_object(group, version, plural, namespace, name, apply)

    def set_condition(self, group: str, version: str, plural: str, namespace: str | None, name: str, type: str,
                      status: str = "True", reason: str = "", message: str = "") -> dict:
        """Insert or update ``status.conditions[type]``; lastTransitionTime moves only when status changes."""
        def apply(obj):
            conditions = obj.setdefault("status", {}).setdefault("conditions", [])
            now = rfc3339()
            for c in conditions:
                if c.get("type") == type:
                    if c.get("status") != status:
                        c["lastTransitionTime"] = now
                    c.update(status=status, reason=reason, message=message)
                    break
            else:
                conditions.append({"type": type, "status": status, "reason": reason, "message": message,
                                   "lastTransitionTime": now})
        return self.update_object(group, version, plural, namespace, name, apply)

    def delete_object(self, group: str, version: str, plural: str, namespace: str | None, name: str,
                      propagation: str = "Background") -> None:
        r = self.resource(group, version, plural)
        with self.store.cond:
            obj = self.store.get(r.key, _scope(r, namespace), name)
            if obj is None:
                raise KeyError(f"{plural} {namespace}/{name} not found")
            self.api.deleter.delete(r, obj, propagation)

    # -- pods -----------------------------------------------------------------------------------------
    def make_pod(self, namespace: str, name: str, owner: Any = None, labels: dict | None = None,
                 phase: str = "Pending", containers: tuple | list = ("main",), image: str = "busybox:1.36",
                 init_containers: tuple | list = (), node_name: str = DEFAULT_NODE, annotations: dict | None = None,
                 restart_policy: str = "Never") -> dict:
        """Create a pod (scheduled on ``node_name``) as a job controller would, then move it to ``phase``."""
        meta: dict = {"name": name, "namespace": namespace, "labels": dict(labels or {})}
        if annotations:
            meta["annotations"] = dict(annotations)
        if owner is not None:
            ref = meta["ownerReferences"] = [_owner_reference(owner)]
            if (ref[0]["apiVersion"], ref[0]["kind"]) == ("batch/v1", "Job"):
                meta["labels"] = {**self._job_pod_labels(namespace, ref[0]["name"]), **meta["labels"]}
        spec = {"restartPolicy": restart_policy, "nodeName": node_name,
                "containers": [{"name": c, "image": image} for c in containers]}
        if init_containers:
            spec["initContainers"] = [{"name": c, "image": image} for c in init_containers]
        self.create_object({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}, namespace)
        return self.set_pod_phase(namespace, name, phase)

    def _job_pod_labels(self, namespace: str, job: str) -> dict:
        """The job controller gives its pods the template's labels (``batch.kubernetes.io/controller-uid``,
        ``job-name``...): what ``kubectl logs job/x`` selects them by."""
        stored = self.store.get(("batch", "jobs"), namespace, job) or {}
        return dict((((stored.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})

    def _container_names(self, pod: dict) -> list[str]:
        return [c["name"] for c in pod["spec"].get("containers") or []]

    def set_pod_phase(self, namespace: str, name: str, phase: str, reason: str | None = None,
                      exit_code: int | None = None, message: str | None = None, container: str | None = None,
                      pod_reason: str | None = None) -> dict:
        """Pending (ContainerCreating), Running, Succeeded (exit 0, Completed) or Failed (``exit_code``,
        ``reason`` e.g. "OOMKilled"; default 1/"Error"), with the matching conditions and container states."""
        if phase not in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            raise ValueError(f"unknown pod phase {phase!r}")

        def apply(pod):
            now = rfc3339()
            status = pod.setdefault("status", {})
            spec = pod["spec"]
            if phase != "Pending" and not spec.get("nodeName"):
                spec["nodeName"] = DEFAULT_NODE
            status["phase"] = phase
            for key, value in (("reason", pod_reason), ("message", message)):
                if value:
                    status[key] = value
                else:
                    status.pop(key, None)
            if phase != "Pending" or spec.get("nodeName"):
                status.setdefault("startTime", now)
                status.setdefault("hostIP", "10.0.0.1")
            if phase in ("Running", "Succeeded", "Failed"):
                n = next(_pod_ip)
                ip = status.get("podIP") or f"10.244.{n // 250 % 250}.{n % 250 + 1}"
                status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
            names = self._container_names(pod)
            statuses = {cs["name"]: cs for cs in status.get("containerStatuses") or []}
            for cname in names:
                if container is not None and cname != container:
                    continue
                image = next(c.get("image", "") for c in spec["containers"] if c["name"] == cname)
                cs = statuses.setdefault(cname, {"name": cname, "image": image, "imageID": "", "restartCount": 0})
                cs["state"] = self._container_state(phase, reason, exit_code, cs, now)
                cs["ready"] = phase == "Running"
                cs["started"] = phase == "Running"
                if phase != "Pending":
                    cs["imageID"] = f"docker.io/library/{image}@sha256:{'0' * 64}"
                    cs["containerID"] = cs.get("containerID") or f"containerd://{secrets.token_hex(32)}"
            status["containerStatuses"] = [statuses[n] for n in names if n in statuses]
            ready = phase == "Running" and all(cs.get("ready") for cs in status["containerStatuses"])
            self._set_pod_conditions(status, scheduled=bool(spec.get("nodeName")), ready=ready,
                                     completed=phase in ("Succeeded", "Failed"), now=now)
        return self.update_object("", "v1", "pods", namespace, name, apply)

    @staticmethod
    def _container_state(phase: str, reason: str | None, exit_code: int | None, cs: dict, now: str) -> dict:
        if phase == "Pending":
            return {"waiting": {"reason": reason or "ContainerCreating"}}
        started = ((cs.get("state") or {}).get("running") or {}).get("startedAt", now)
        if phase == "Running":
            return {"running": {"startedAt": started}}
        if phase == "Succeeded":
            return {"terminated": {"exitCode": 0 if exit_code is None else exit_code, "reason": reason or "Completed",
                                   "startedAt": started, "finishedAt": now}}
        return {"terminated": {"exitCode": 1 if exit_code is None else exit_code, "reason": reason or "Error",
                               "startedAt": started, "finishedAt": now}}

    @staticmethod
    def _set_pod_conditions(status: dict, scheduled: bool, ready: bool, completed: bool, now: str,
                            unschedulable: str | None = None) -> None:
        wanted = {"PodScheduled": ("True" if scheduled else "False"),
                  "Initialized": "True" if scheduled else None,
                  "ContainersReady": ("True" if ready else "False") if scheduled else None,
                  "Ready": ("True" if ready else "False") if scheduled else None}
        old = {c["type"]: c for c in status.get("conditions") or []}
        conditions = []
        for ctype, value in wanted.items():
            if value is None:
                continue
            c = dict(old.get(ctype) or {"type": ctype, "lastProbeTime": None})
            if c.get("status") != value:
                c["lastTransitionTime"] = now
            c["status"] = value
            c.pop("reason", None)
            c.pop("message", None)
            if ctype == "PodScheduled" and unschedulable:
                c.update(reason="Unschedulable", message=unschedulable)
            elif ctype in ("Ready", "ContainersReady") and value == "False":
                c["reason"] = "PodCompleted" if completed else "ContainersNotReady"
            conditions.append(c)
        status["conditions"] = conditions

    def mark_unschedulable(self, namespace: str, name: str,
                           message: str = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.") -> dict:
        """Unbind the pod, set PodScheduled=False/Unschedulable and emit the scheduler's FailedScheduling event."""
        def apply(pod):
            pod["spec"].pop("nodeName", None)
            status = pod.setdefault("status", {})
            status["phase"] = "Pending"
            for key in ("containerStatuses", "startTime", "hostIP", "podIP", "podIPs"):
                status.pop(key, None)
            self._set_pod_conditions(status, scheduled=False, ready=False, completed=False, now=rfc3339(),
                                     unschedulable=message)
        pod = self.update_object("", "v1", "pods", namespace, name, apply)
        self.emit_event(namespace, pod, "FailedScheduling", message, type="Warning", source="default-scheduler")
        return pod

    def set_container_waiting(self, namespace: str, name: str, reason: str, message: str = "",
                              container: str | None = None) -> dict:
        """A waiting state (``ErrImagePull``, ``ImagePullBackOff``, ``CrashLoopBackOff``...) on containers."""
        def apply(pod):
            spec, status = pod["spec"], pod.setdefault("status", {})
            spec.setdefault("nodeName", DEFAULT_NODE)
            statuses = {cs["name"]: cs for cs in status.get("containerStatuses") or []}
            for c in spec["containers"]:
                if container is None or c["name"] == container:
                    cs = statuses.setdefault(c["name"], {"name": c["name"], "image": c.get("image", ""),
                                                         "imageID": "", "restartCount": 0})
                    cs.update(ready=False, started=False,
                              state={"waiting": {"reason": reason, **({"message": message} if message else {})}})
            status["containerStatuses"] = [statuses[n] for n in self._container_names(pod) if n in statuses]
            if status.get("phase") != "Running":
                status["phase"] = "Pending"
            self._set_pod_conditions(status, scheduled=True, ready=False, completed=False, now=rfc3339())
        return self.update_object("", "v1", "pods", namespace, name, apply)

    def fail_image_pull(self, namespace: str, name: str, container: str | None = None, backoff: bool = True,
                        error: str = "not found") -> dict:
        """ErrImagePull (then ImagePullBackOff) with the kubelet's Warning events."""
        pod = self.get_object("", "v1", "pods", namespace, name)
        if pod is None:
            raise KeyError(f"pod {namespace}/{name} not found")
        target = next(c for c in pod["spec"]["containers"] if container is None or c["name"] == container)
        image = target.get("image", "")
        pull_error = f'Failed to pull image "{image}": rpc error: code = NotFound desc = {error}'
        self.set_container_waiting(namespace, name, "ErrImagePull", pull_error, container)
        self.emit_event(namespace, pod, "Failed", pull_error, type="Warning", source="kubelet")
        self.emit_event(namespace, pod, "Failed", "Error: ErrImagePull", type="Warning", source="kubelet")
        if backoff:
            self.emit_event(namespace, pod, "BackOff", f'Back-off pulling image "{image}"', type="Normal",
                            source="kubelet")
            self.emit_event(namespace, pod, "Failed", "Error: ImagePullBackOff", type="Warning", source="kubelet")
            return self.set_container_waiting(namespace, name, "ImagePullBackOff",
                                              f'Back-off pulling image "{image}"', container)
        return self.get_object("", "v1", "pods", namespace, name)

    def restart_container(self, namespace: str, name: str, container: str | None = None, exit_code: int = 1,
                          reason: str = "Error") -> dict:
        """The container exited and was restarted: its log moves to ``previous=true``, restartCount+1."""
        pod = self.get_object("", "v1", "pods", namespace, name)
        cname = container or self._container_names(pod)[0]
        self.logs.restart(namespace, name, cname)

        def apply(p):
            now = rfc3339()
            for cs in p.setdefault("status", {}).get("containerStatuses") or []:
                if cs["name"] == cname:
                    started = ((cs.get("state") or {}).get("running") or {}).get("startedAt", now)
                    cs["lastState"] = {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": started,
                                                      "finishedAt": now}}
                    cs["restartCount"] = cs.get("restartCount", 0) + 1
                    cs["state"] = {"running": {"startedAt": now}}
        return self.update_object("", "v1", "pods", namespace, name, apply)

    def write_log(self, namespace: str, pod: str, text: str, container: str | None = None,
                  timestamp: datetime | None = None) -> None:
        """Append to a container's log (the pod's only container by default); wakes ``follow`` streams.
        ``timestamp`` (aware datetime, default now) is what ``timestamps``/``sinceTime`` see."""
        obj = self.get_object("", "v1", "pods", namespace, pod)
        if obj is None:
            raise KeyError(f"pod {namespace}/{pod} not found")
        names = [c["name"] for c in (obj["spec"].get("initContainers") or []) + obj["spec"]["containers"]]
        if container is None:
            if len(obj["spec"]["containers"]) != 1:
                raise ValueError(f"pod {pod} has containers {names}: name one")
            container = obj["spec"]["containers"][0]["name"]
        elif container not in names:
            raise ValueError(f"pod {pod} has no container {container!r} (has {names})")
        self.logs.write(namespace, pod, container, text, timestamp)

    # -- events ---------------------------------------------------------------------------------------
    def emit_event(self, namespace: str, involved: Any, reason: str, message: str, type: str = "Normal",
                   source: str = "emulator", count: int = 1) -> dict:
        """A core/v1 Event about ``involved`` (an object dict or model) as a controller would record it."""
        ref = _owner_reference(involved)
        obj_ns = (involved.get("metadata", {}).get("namespace") if isinstance(involved, dict)
                  else involved.metadata.namespace) or namespace
        involved_ref = {"apiVersion": ref["apiVersion"], "kind": ref["kind"], "name": ref["name"],
                        "namespace": obj_ns, "uid": ref["uid"]}
        now = rfc3339()
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": f"{ref['name']}.{secrets.token_hex(8)}", "namespace": namespace},
                 "involvedObject": involved_ref, "reason": reason, "message": message, "type": type,
                 "source": {"component": source}, "reportingComponent": source, "reportingInstance": "",
                 "count": count, "firstTimestamp": now, "lastTimestamp": now, "eventTime": None}
        return self.create_object(event, namespace)
