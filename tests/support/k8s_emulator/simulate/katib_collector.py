"""Katib's file metrics collector sidecar (cmd/metricscollector/v1beta1/file-metricscollector, StdOut kind), as the
simulated kubelet runs it for the image ``ghcr.io/kubeflow/katib/file-metrics-collector``: it finds the pod's main
process (the wrapped ``sh -c``, whose command line names this pod's metrics file: the shared process namespace),
follows the metrics file and prints each line with a klog header; with ``-stop-rule`` it checks the objective's best
so far after each report and, once every rule holds past its start step, writes ``early-stopped`` to the main
process's pid file, ends the training process and says so (Katib's early-stopping service then marks the Trial
EarlyStopped: here the Katib controllers read that line). It exits when the main process has."""
from __future__ import annotations

import os
import re
import signal
import sys
import time
from datetime import datetime, timezone

METRIC = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
EARLY_STOPPED = "Training container is early stopped"


def main(argv: list[str]) -> int:
    opts, rules = _parse(argv)
    path = opts["-path"]
    main_pid = _main_process(path)
    objective, minimize = opts["-m"].split(";")[0], opts.get("-o-type") == "minimize"
    values: list[float] = []
    offset, stopped, pending = 0, False, b""
    while True:
        alive = main_pid is not None and _alive(main_pid)
        data = _read_from(path, offset)
        offset += len(data)
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            text = line.decode("utf-8", "replace")
            _say(text)
            if rules and not stopped and _report(text, objective, values) and _breaks_all(values, rules, minimize):
                stopped = True
                _stop(path, main_pid)
                _say(EARLY_STOPPED)
        if not alive:
            if pending:
                _say(pending.decode("utf-8", "replace"))
            return 0
        time.sleep(0.05)


def _parse(argv: list[str]) -> tuple[dict, list[tuple]]:
    opts, rules = {}, []
    for flag, value in zip(argv[::2], argv[1::2]):
        if flag == "-stop-rule":
            name, threshold, comparison, start = value.split(";")
            rules.append((name, float(threshold), comparison, int(start)))
        else:
            opts[flag] = value
    return opts, rules


def _main_process(path: str, timeout: float = 60.0) -> int | None:
    """The pod's main process: the one whose command line names this pod's metrics file (never this one). None
    once the file exists with no such process: the main process made it (its redirect) and has already ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        made = os.path.exists(path)  # looked at first: a process found missing after it is surely gone
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid() and path.encode() in _cmdline(int(entry)):
                return int(entry)
        if made:
            return None
        time.sleep(0.05)
    return None


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _read_from(path: str, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""


def _say(text: str) -> None:
    now = datetime.now(timezone.utc)
    print(f"I{now:%m%d %H:%M:%S.%f}      14 main.go:143] {text}", flush=True)


def _report(text: str, objective: str, values: list[float]) -> bool:
    for name, value, *_ in METRIC.findall(text):
        if name == objective and value not in ("", "+", "-"):
            values.append(float(value))
            return True
    return False


def _breaks_all(values: list[float], rules: list[tuple], minimize: bool) -> bool:
    best = min(values) if minimize else max(values)
    return all(len(values) >= start and (best < threshold if comparison == "less" else best > threshold)
               for _, threshold, comparison, start in rules)


def _stop(path: str, main_pid: int | None) -> None:
    """``early-stopped`` in the main process's pid file, then its children (the training process) get SIGTERM."""
    if main_pid is None:
        return
    with open(os.path.join(os.path.dirname(path), f"{main_pid}.pid"), "w") as f:
        f.write("early-stopped\n")
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _parent(int(entry)) == main_pid:
            try:
                os.kill(int(entry), signal.SIGTERM)
            except OSError:
                pass


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
