"""Notebook server status from what the notebook-controller (kubeflow/notebooks v1.11.0,
components/notebook-controller/controllers/notebook_controller.go) and the apiserver really leave behind:
the StatefulSet and pod it makes, the status it mirrors from them, and an object deleted in the foreground
(the Jupyter web app's DELETE) that stays, marked, while its dependents go."""
import pytest

from jupyter_kf import notebooks
from tests.support.k8s_emulator.meta import rfc3339

NS = "default"


class NotebookController:
    """``Reconcile``: StatefulSet ``<name>`` (1 replica, 0 when stopped), pod ``<name>-0`` with the Notebook's
    labels plus ``statefulset`` and ``notebook-name``; ``status`` = readyReplicas, the state of the container
    named like the Notebook, the pod's conditions. A Notebook being deleted is left alone."""

    def __init__(self, emu):
        self.emu = emu

    def reconcile(self, name):
        nb = self.emu.get_object("kubeflow.org", "v1", "notebooks", NS, name)
        if nb is None or nb["metadata"].get("deletionTimestamp"):
            return
        replicas = 0 if "kubeflow-resource-stopped" in (nb["metadata"].get("annotations") or {}) else 1
        sts = self.emu.get_object("apps", "v1", "statefulsets", NS, name)
        labels = {**nb["metadata"].get("labels", {}), "statefulset": name, "notebook-name": name}
        if sts is None:
            self.emu.create_object({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": name, "namespace": NS, "ownerReferences": [{
                    "apiVersion": "kubeflow.org/v1beta1", "kind": "Notebook", "name": name, "uid": nb["metadata"]["uid"],
                    "controller": True, "blockOwnerDeletion": True}]},
                "spec": {"replicas": replicas, "serviceName": "", "selector": {"matchLabels": {"statefulset": name}},
                         "template": {"metadata": {"labels": labels}, "spec": nb["spec"]["template"]["spec"]}}})
            sts = self.emu.get_object("apps", "v1", "statefulsets", NS, name)
        pod = self.emu.get_object("", "v1", "pods", NS, f"{name}-0")
        if pod is None and replicas:
            container = nb["spec"]["template"]["spec"]["containers"][0]
            pod = self.emu.make_pod(NS, f"{name}-0", owner=sts, labels=labels, containers=(container["name"],),
                                    image=container["image"], restart_policy="Always")
        ready = int(bool(pod) and any(c["type"] == "Ready" and c["status"] == "True"
                                      for c in pod["status"].get("conditions") or []))
        self.emu.set_status("apps", "v1", "statefulsets", NS, name, {"replicas": replicas, "readyReplicas": ready})
        status = {"conditions": [], "readyReplicas": ready, "containerState": {}}
        if pod and pod.get("status"):
            state = next((cs["state"] for cs in pod["status"].get("containerStatuses") or [] if cs["name"] == name), None)
            if state:
                status["containerState"] = state
            status["conditions"] = [{k: v for k, v in {
                "type": c["type"], "status": c["status"], "reason": c.get("reason"), "message": c.get("message"),
                "lastProbeTime": c.get("lastProbeTime") or rfc3339(),
                "lastTransitionTime": c.get("lastTransitionTime") or rfc3339()}.items() if v}
                for c in pod["status"].get("conditions") or []]
        self.emu.set_status("kubeflow.org", "v1", "notebooks", NS, name, status)

    def pod_ready(self, name):
        self.emu.set_pod_phase(NS, f"{name}-0", "Running")
        self.reconcile(name)


def foreground_deletion_under_way(emu, group, version, plural, name):
    """What the apiserver stores on a DELETE with propagationPolicy=Foreground while the garbage collector
    waits for the dependents (the StatefulSet, then its pod, which takes its grace period to stop)."""
    def mark(obj):
        meta = obj["metadata"]
        meta.update(deletionTimestamp=rfc3339(), deletionGracePeriodSeconds=0,
                    finalizers=list(meta.get("finalizers") or []) + ["foregroundDeletion"])
        meta["generation"] = meta.get("generation", 1) + 1
    emu.update_object(group, version, plural, NS, name, mark)


@pytest.fixture
def cluster(kf_cluster, monkeypatch):
    monkeypatch.delenv("NB_PREFIX", raising=False)
    return kf_cluster


def test_a_kubeflow_notebook_being_deleted_shows_terminating(cluster):
    ctl = NotebookController(cluster)
    notebooks.create("lab", workspace="none", wait=False)
    ctl.reconcile("lab")
    ctl.pod_ready("lab")
    assert notebooks.get("lab").phase == "Ready"
    foreground_deletion_under_way(cluster, "kubeflow.org", "v1", "notebooks", "lab")
    ctl.reconcile("lab")  # does nothing: the controller leaves a Notebook being deleted alone
    nb = cluster.get_object("kubeflow.org", "v1", "notebooks", NS, "lab")
    assert nb["status"]["readyReplicas"] == 1  # what the web app reads; its pod still answers
    status = notebooks.get("lab")
    assert (status.phase, status.message, status.url) == ("Terminating", "being deleted", "")
    assert [(s.name, s.phase) for s in notebooks.list()] == [("lab", "Terminating")]
    assert "lab: Terminating" in repr(status) and "Terminating" in status._repr_html_()


def test_a_statefulset_server_being_deleted_shows_terminating(cluster):
    cluster.uninstall_crd("notebooks.kubeflow.org")
    notebooks.create("lab", workspace="none", wait=False)
    sts = cluster.get_object("apps", "v1", "statefulsets", NS, "lab")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    cluster.make_pod(NS, "lab-0", owner=sts, labels=labels, containers=("lab",), phase="Running", restart_policy="Always")
    assert notebooks.get("lab").phase == "Ready"
    foreground_deletion_under_way(cluster, "apps", "v1", "statefulsets", "lab")  # kubectl delete --cascade=foreground
    assert notebooks.get("lab").phase == "Terminating"
