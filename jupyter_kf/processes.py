"""Detached local processes (job supervisors, notebook servers, model servers) found again by pid."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

# Processes this kernel started: poll() reaps them when they exit, so they do not linger as zombies.
children: dict[int, subprocess.Popen] = {}


def find(program: str, argument: str) -> list[int]:
    """Pids of running processes whose command line runs ``program`` with ``argument`` (Linux /proc; [] else).

    How a job whose folder was removed is still found, and so still cancelled."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if argument in argv and any(arg.endswith(program) for arg in argv):
            found.append(int(proc.name))
    return found


def alive(pid: int | None, marker: str) -> bool:
    """Running, not a zombie, and really ours: its command line holds ``marker`` (a pid can be reused)."""
    if not pid:
        return False
    child = children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():  # no /proc (macOS): the signal answered, trust it
        return True
    try:
        if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        return marker in (proc / "cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return False
