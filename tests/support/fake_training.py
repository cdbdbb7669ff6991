"""Runs every new training workload on the emulator to its end with the fake kubelet, as the Trainer, Training
Operator and Job controllers (and the kubelet) would: for flows where jupyter_kf creates jobs on its own (a search
driven from the kernel) and the test cannot name each job in advance."""
from __future__ import annotations

import threading

from tests.support.fake_kubelet import KINDS, FakeKubelet


class FakeTrainingController:
    """``with FakeTrainingController(emu) as jobs:`` runs each workload once; ``jobs.errors`` should stay empty."""

    def __init__(self, emulator, skip_owned_by: str = "Trial"):
        self.emu, self.skip_owned_by = emulator, skip_owned_by
        self.errors: list[str] = []
        self.started: dict[str, threading.Thread] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "FakeTrainingController":
        self._thread = threading.Thread(target=self._loop, name="fake-training", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        with self.emu.store.cond:
            self.emu.store.cond.notify_all()
        self._thread.join(timeout=10)
        for thread in list(self.started.values()):
            thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            seen = self.emu.store.rv
            for workload in self._new():
                meta = workload["metadata"]
                thread = threading.Thread(target=self._run, args=(meta["namespace"], meta["name"]), daemon=True)
                self.started[meta["uid"]] = thread
                thread.start()
            with self.emu.store.cond:  # sleep until the cluster changes
                if self.emu.store.rv == seen and not self._stop.is_set():
                    self.emu.store.cond.wait(0.5)

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
                if meta["uid"] in self.started or self.skip_owned_by in owners or "JobSet" in owners:
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
