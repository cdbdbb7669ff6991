"""Runs every new training workload on the emulator to its end with the fake kubelet, as the Trainer, Training
Operator and Job controllers (and the kubelet) would: for flows where jupyter_kf creates jobs on its own (a search
driven from the kernel) and the test cannot name each job in advance."""
from __future__ import annotations

import threading

from tests.support.fake_controller import FakeController
from tests.support.fake_kubelet import KINDS, FakeKubelet


class FakeTrainingController(FakeController):
    """``with FakeTrainingController(emu) as jobs:`` runs each workload once; ``jobs.errors`` should stay empty."""

    name = "fake-training"

    def __init__(self, emulator, skip_owned_by: str = "Trial"):
        super().__init__(emulator)
        self.skip_owned_by = skip_owned_by

    def reconcile(self) -> None:
        for workload in self._new():
            meta = workload["metadata"]
            thread = threading.Thread(target=self._run, args=(meta["namespace"], meta["name"]), daemon=True)
            self.workers[meta["uid"]] = thread
            thread.start()

    def _new(self) -> list[dict]:
        found = []
        for group, version, plural in KINDS.values():
            try:
                items = self.emu.list_objects(group, version, plural)
            except KeyError:  # that API is not installed
                continue
            for workload in items:
                meta = workload["metadata"]
                owners = {ref.get("kind") for ref in meta.get("ownerReferences") or []}
                if meta["uid"] in self.workers or self.skip_owned_by in owners or "JobSet" in owners:
                    continue
                if group == "batch" and not (meta.get("labels") or {}).get("jupyter-kf.io/job"):
                    continue  # a TrainJob's own Jobs, made by the fake kubelet
                found.append(workload)
        return found

    def _run(self, namespace: str, name: str) -> None:
        try:
            FakeKubelet(self.emu).run(namespace, name)
        except KeyError:
            pass  # deleted while it ran (cancel)
        except Exception as err:  # noqa: BLE001 - reported to the test
            self.errors.append(f"{name}: {type(err).__name__}: {err}")
