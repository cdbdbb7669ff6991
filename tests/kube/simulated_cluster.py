"""The simulating emulator as a subprocess (``python -m tests.support.k8s_emulator --simulate``), for tests that
must prove the cluster path with nothing test-side: real HTTP, the official client, the simulator's own
controllers and kubelet."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class SimulatedCluster:
    def __init__(self, folder: Path, *extra: str):
        self.kubeconfig = folder / "kubeconfig"
        self.log = folder / "simulator.log"
        self.url = ""
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.k8s_emulator", "--simulate", "--port", "0",
                                      "--kubeconfig", str(self.kubeconfig), *extra],
                                     cwd=REPO, stdout=self._out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120) -> "SimulatedCluster":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if "simulating:" in text:
                self.url = re.search(r"listening on (\S+)", text).group(1)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"the simulating emulator exited: {text}")
            time.sleep(0.05)
        raise TimeoutError(f"the simulating emulator did not start: {self.log.read_text()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()

    def client(self):
        from kubernetes import config

        return config.new_client_from_config(str(self.kubeconfig))


def eventually(check, timeout: float = 120, interval: float = 0.1, what: str = "condition"):
    """Poll ``check`` until it returns something truthy (real state, generous deadline); return it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by the simulator) is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
