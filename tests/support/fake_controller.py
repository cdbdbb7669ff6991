"""What the fake controllers share: a thread that reconciles after every change of the emulator's store,
and the threads it starts (kubelets) joined when it stops. Errors are kept for the test, never raised in
the thread."""
from __future__ import annotations

import threading


class FakeController:
    """``with Controller(emu) as c:`` runs ``c.reconcile()`` until the block ends; ``c.errors`` should stay empty."""

    name = "fake-controller"

    def __init__(self, emulator):
        self.emu = emulator
        self.errors: list[str] = []
        self.workers: dict[str, threading.Thread] = {}  # what it started (kubelets), joined on exit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reconcile(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        with self.emu.store.cond:
            self.emu.store.cond.notify_all()
        self._thread.join(timeout=10)
        for thread in list(self.workers.values()):
            thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            seen = self.emu.store.rv
            try:
                self.reconcile()
            except Exception as err:  # noqa: BLE001 - reported to the test, the controller goes on
                self.errors.append(f"{type(err).__name__}: {err}")
            with self.emu.store.cond:  # sleep until the cluster changes (or a kubelet thread wrote)
                if self.emu.store.rv == seen and not self._stop.is_set():
                    self.emu.store.cond.wait(0.5)
