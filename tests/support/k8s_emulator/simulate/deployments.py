"""The apps/v1 Deployment controller, enough for KServe's predictors: pods ``<name>-<hash>-<5 random>`` for the
current template (older templates' pods deleted), and the status KServe reads (replicas counts, Available and
Progressing with the deployment controller's reasons and messages, kubernetes pkg/controller/deployment)."""
from __future__ import annotations

import hashlib
import json

from tests.support.k8s_emulator.meta import rfc3339
from tests.support.k8s_emulator.simulate.loop import Controller
from tests.support.k8s_emulator.simulate.objects import active, owned_by, pod_from_template, random_suffix, ready

HASH_LABEL = "pod-template-hash"


def template_hash(deployment: dict) -> str:
    return hashlib.sha1(json.dumps(deployment["spec"]["template"], sort_keys=True).encode()).hexdigest()[:10]


class DeploymentController(Controller):
    def reconcile(self) -> None:
        pods = self.emu.list_objects("", "v1", "pods")
        for deployment in self.emu.list_objects("apps", "v1", "deployments"):
            if not deployment["metadata"].get("deletionTimestamp"):
                self.sync(deployment, [p for p in owned_by(pods, deployment) if active(p)])

    def sync(self, deployment: dict, pods: list[dict]) -> None:
        meta = deployment["metadata"]
        current = template_hash(deployment)
        mine = [p for p in pods if p["metadata"]["labels"].get(HASH_LABEL) == current]
        for pod in pods:
            if pod not in mine or len(mine) > deployment["spec"].get("replicas", 1):
                if pod in mine:
                    mine.remove(pod)
                self.emu.delete_object("", "v1", "pods", meta["namespace"], pod["metadata"]["name"])
        for _ in range(deployment["spec"].get("replicas", 1) - len(mine)):
            pod = pod_from_template(deployment["spec"]["template"], meta["namespace"],
                                    f"{meta['name']}-{current}-{random_suffix()}", deployment, labels={HASH_LABEL: current})
            pod["spec"].setdefault("restartPolicy", "Always")
            mine.append(self.emu.create_object(pod, meta["namespace"], field_validation="Ignore"))
        self._status(deployment, mine, current)

    def _status(self, deployment: dict, pods: list[dict], current: str) -> None:
        meta = deployment["metadata"]
        wanted, up = deployment["spec"].get("replicas", 1), sum(1 for p in pods if ready(p))
        replica_set = f"{meta['name']}-{current}"
        available = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.") if up >= wanted \
            else ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{replica_set}" has successfully progressed.') \
            if up >= wanted else ("True", "ReplicaSetUpdated", f'ReplicaSet "{replica_set}" is progressing.')
        old = deployment.get("status") or {}
        old_conditions = {c["type"]: c for c in old.get("conditions") or []}
        conditions = []
        for ctype, (status, reason, message) in (("Available", available), ("Progressing", progressing)):
            before = old_conditions.get(ctype) or {}
            same = (before.get("status"), before.get("reason"), before.get("message")) == (status, reason, message)
            conditions.append(before if same else {"type": ctype, "status": status, "reason": reason, "message": message,
                                                   "lastUpdateTime": rfc3339(), "lastTransitionTime": rfc3339()})
        status = {"observedGeneration": meta.get("generation", 1), "replicas": len(pods), "updatedReplicas": len(pods),
                  "readyReplicas": up, "availableReplicas": up, "conditions": conditions}
        if up < wanted:
            status["unavailableReplicas"] = wanted - up
        if status != old:
            self.emu.set_status("apps", "v1", "deployments", meta["namespace"], meta["name"], status)
