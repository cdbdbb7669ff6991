"""KServe v0.20's InferenceService controller in simulating mode: tests/support/fake_kserve.py (its sources are
cited there) with ``simulated=True``, one per namespace; the Deployments it writes are run by the simulator's
Deployment controller and kubelet (model servers: ``model_server.py``), and its status URL is the emulator's
``/serving/<ns>/<name>`` proxy. It reconciles an InferenceService when it, or its Deployments, changed."""
from __future__ import annotations

import json

from tests.support.k8s_emulator.simulate.loop import Controller

ISVC = ("serving.kserve.io", "v1beta1", "inferenceservices")
ISVC_LABEL = "serving.kserve.io/inferenceservice"


class KServeController(Controller):
    def __init__(self, emulator):
        super().__init__(emulator)
        self.players: dict = {}
        self.seen: dict[tuple, str] = {}

    def reconcile(self) -> None:
        try:
            services = self.emu.list_objects(*ISVC)
        except KeyError:
            return
        deployments = self.emu.list_objects("apps", "v1", "deployments")
        for isvc in services:
            meta = isvc["metadata"]
            key = (meta["namespace"], meta["name"])
            mine = [d.get("status") for d in deployments if d["metadata"]["namespace"] == meta["namespace"]
                    and (d["metadata"].get("labels") or {}).get(ISVC_LABEL) == meta["name"]]
            conditions = [(c["type"], c["status"]) for c in (isvc.get("status") or {}).get("conditions") or []]
            # its own status write counts too: KServe's next pass reads what the last one wrote (modelStatus)
            fingerprint = json.dumps([isvc["spec"], meta.get("annotations"), meta["uid"], mine, conditions],
                                     sort_keys=True)
            if self.seen.get(key) != fingerprint:
                self._player(meta["namespace"]).reconcile(meta["name"])
                self.seen[key] = fingerprint

    def _player(self, namespace: str):
        from tests.support.fake_kserve import FakeKServe

        if namespace not in self.players:
            self.players[namespace] = FakeKServe(self.emu, namespace=namespace, simulated=True,
                                                 url=lambda name, ns=namespace: f"{self.emu.url}/serving/{ns}/{name}")
        return self.players[namespace]
