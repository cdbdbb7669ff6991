"""Kubeflow Notebooks v1.11's Notebook controller and the StatefulSet controller under it.

Notebook -> StatefulSet ``<name>`` (replicas 0 under the ``kubeflow-resource-stopped`` annotation; labels
``statefulset``/``notebook-name``; NB_PREFIX ``/notebook/<ns>/<name>``; workingDir /home/jovyan; port 8888
``notebook-port``; fsGroup 100) and Service ``<name>`` (port 80 ``http-<name>``); status readyReplicas from the
StatefulSet, containerState from the container named after the Notebook, conditions mirrored from pod
``<name>-0`` (kubeflow/notebooks v1.11.0 components/notebook-controller/controllers/notebook_controller.go:
generateStatefulSet, generateService, createNotebookStatus, PodCondToNotebookCond)."""
from __future__ import annotations

import hashlib

from tests.support.k8s_emulator.meta import rfc3339
from tests.support.k8s_emulator.simulate.loop import Controller
from tests.support.k8s_emulator.simulate.objects import (
    active,
    controller_ref,
    owned_by,
    pod_from_template,
    ready,
    status_writer,
)
from tests.support.k8s_emulator.store import clone

NOTEBOOK = ("kubeflow.org", "v1", "notebooks")
STOPPED = "kubeflow-resource-stopped"
NOTEBOOK_PORT = 8888


class NotebookController(Controller):
    def __init__(self, emulator):
        super().__init__(emulator)
        self.write = status_writer(emulator, *NOTEBOOK)

    def reconcile(self) -> None:
        try:
            notebooks = self.emu.list_objects(*NOTEBOOK)
        except KeyError:
            return
        for notebook in notebooks:
            if not notebook["metadata"].get("deletionTimestamp"):
                self.sync(notebook)

    def sync(self, notebook: dict) -> None:
        meta = notebook["metadata"]
        ns, name = meta["namespace"], meta["name"]
        wanted = statefulset_for(notebook)
        sts = self.emu.get_object("apps", "v1", "statefulsets", ns, name)
        if sts is None:
            sts = self.emu.create_object(wanted, field_validation="Ignore")
        elif sts["spec"]["replicas"] != wanted["spec"]["replicas"]:
            def scale(obj):
                obj["spec"]["replicas"] = wanted["spec"]["replicas"]
            sts = self.emu.update_object("apps", "v1", "statefulsets", ns, name, scale)
        if self.emu.get_object("", "v1", "services", ns, name) is None:
            self.emu.create_object(service_for(notebook), field_validation="Ignore")
        pod = self.emu.get_object("", "v1", "pods", ns, f"{name}-0")
        self.write(notebook, lambda status: _notebook_status(status, notebook, sts, pod))


def statefulset_for(notebook: dict) -> dict:
    meta = notebook["metadata"]
    name, ns = meta["name"], meta["namespace"]
    spec = clone(notebook["spec"]["template"]["spec"])
    container = spec["containers"][0]
    container.setdefault("workingDir", "/home/jovyan")
    if container.get("ports") is None:
        container["ports"] = [{"containerPort": NOTEBOOK_PORT, "name": "notebook-port", "protocol": "TCP"}]
    container["env"] = [*(container.get("env") or []), {"name": "NB_PREFIX", "value": f"/notebook/{ns}/{name}"}]
    spec.setdefault("securityContext", {"fsGroup": 100})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if "kubectl" not in k and "notebook" not in k}
    labels = {"statefulset": name, "notebook-name": name, **(meta.get("labels") or {})}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": ns, "ownerReferences": [controller_ref(notebook)]},
            "spec": {"replicas": 0 if STOPPED in (meta.get("annotations") or {}) else 1, "serviceName": "",
                     "selector": {"matchLabels": {"statefulset": name}},
                     "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec}}}


def service_for(notebook: dict) -> dict:
    meta = notebook["metadata"]
    ports = notebook["spec"]["template"]["spec"]["containers"][0].get("ports")
    port = ports[0]["containerPort"] if ports else NOTEBOOK_PORT
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "ownerReferences": [controller_ref(notebook)]},
            "spec": {"type": "ClusterIP", "selector": {"statefulset": meta["name"]},
                     "ports": [{"name": f"http-{meta['name']}", "port": 80, "targetPort": port, "protocol": "TCP"}]}}


def _notebook_status(status: dict, notebook: dict, sts: dict, pod: dict | None) -> None:
    status.clear()
    status.update(conditions=[], readyReplicas=(sts.get("status") or {}).get("readyReplicas", 0), containerState={})
    if pod is None or not pod.get("status"):
        return
    for cs in pod["status"].get("containerStatuses") or []:
        if cs["name"] == notebook["metadata"]["name"]:
            status["containerState"] = cs["state"]
    now = rfc3339()
    status["conditions"] = [{k: v for k, v in {
        "type": c["type"], "status": c["status"], "reason": c.get("reason"), "message": c.get("message"),
        "lastProbeTime": c.get("lastProbeTime") or now, "lastTransitionTime": c.get("lastTransitionTime")}.items() if v}
        for c in pod["status"].get("conditions") or []]


class StatefulSetController(Controller):
    """Pods ``<name>-<ordinal>`` up to spec.replicas (higher ordinals deleted); status counts."""

    def reconcile(self) -> None:
        pods = self.emu.list_objects("", "v1", "pods")
        for sts in self.emu.list_objects("apps", "v1", "statefulsets"):
            if not sts["metadata"].get("deletionTimestamp"):
                self.sync(sts, owned_by(pods, sts))

    def sync(self, sts: dict, pods: list[dict]) -> None:
        meta = sts["metadata"]
        wanted = sts["spec"].get("replicas", 1)
        revision = f"{meta['name']}-{hashlib.sha1(repr(sts['spec']['template']).encode()).hexdigest()[:10]}"
        by_name = {p["metadata"]["name"]: p for p in pods}
        for ordinal in range(wanted):
            name = f"{meta['name']}-{ordinal}"
            if name not in by_name:
                pod = pod_from_template(sts["spec"]["template"], meta["namespace"], name, sts, labels={
                    "statefulset.kubernetes.io/pod-name": name, "apps.kubernetes.io/pod-index": str(ordinal),
                    "controller-revision-hash": revision})
                pod["spec"].update(hostname=name, **({"subdomain": sts["spec"]["serviceName"]}
                                                     if sts["spec"].get("serviceName") else {}))
                by_name[name] = self.emu.create_object(pod, meta["namespace"], field_validation="Ignore")
        for name, pod in by_name.items():
            if int(name.rsplit("-", 1)[1]) >= wanted and not pod["metadata"].get("deletionTimestamp"):
                self.emu.delete_object("", "v1", "pods", meta["namespace"], name)
        live = [p for p in by_name.values() if active(p)]
        status = {"replicas": len(live), "readyReplicas": sum(1 for p in live if ready(p)),
                  "currentReplicas": len(live), "updatedReplicas": len(live),
                  "availableReplicas": sum(1 for p in live if ready(p)), "observedGeneration": meta.get("generation", 1),
                  "currentRevision": revision, "updateRevision": revision, "collisionCount": 0}
        if {k: (sts.get("status") or {}).get(k) for k in status} != status:
            self.emu.set_status("apps", "v1", "statefulsets", meta["namespace"], meta["name"], status, merge=True)
