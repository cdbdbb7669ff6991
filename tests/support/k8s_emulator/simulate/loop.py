"""One thread reconciles every simulated controller in turn after each change of the store, as the
controller-manager's informers would: level-triggered, so a missed change is caught on the next pass."""
from __future__ import annotations

import sys
import threading
import traceback


class Controller:
    """A controller: ``reconcile()`` reads the whole cluster and moves it one step towards what it wants."""

    def __init__(self, emulator):
        self.emu = emulator
        self.gate = lambda obj: True  # Kueue's: False while a queued workload waits for its first pass


    def reconcile(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Release what the controller started (processes, servers)."""


class ControllerLoop:
    """Runs ``controllers`` in order on one thread; errors are printed and kept, never fatal."""

    def __init__(self, emulator, controllers: list[Controller], idle_seconds: float = 0.5):
        self.emu = emulator
        self.controllers = controllers
        self.idle_seconds = idle_seconds
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="k8s-simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.emu.store.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for controller in self.controllers:
            controller.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            seen = self.emu.store.rv
            for controller in self.controllers:
                self._reconcile(controller)
            with self.emu.store.cond:  # sleep until something changes (or time-based work is due)
                if self.emu.store.rv == seen and not self._stop.is_set():
                    self.emu.store.cond.wait(self.idle_seconds)

    def _reconcile(self, controller: Controller) -> None:
        try:
            controller.reconcile()
        except Exception as err:  # noqa: BLE001 - a controller's bug is reported, the others go on
            message = f"{type(controller).__name__}: {type(err).__name__}: {err}"
            if message not in self.errors[-20:]:
                self.errors.append(message)
                print(f"simulator: {message}\n{traceback.format_exc()}", file=sys.stderr, flush=True)
