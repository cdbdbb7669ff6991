"""The CPython interpreters this machine has, by minor version: pyenv's versions and ``python3.X`` on PATH.

Used by the matrix run (``tests/support/python_matrix.py``) and by tests that need a Python other than the
running one (a job whose image runs another Python than the kernel).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

OLDEST = (3, 10)
NEWEST = (3, 14)


def _works(path: Path) -> str | None:
    """The ``X.Y`` an interpreter reports, or None when it cannot run (a pyenv shim of an unset version)."""
    try:
        out = subprocess.run([str(path), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _pyenv_candidates() -> list[Path]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = []
    for folder in sorted(root.glob("3.*"), key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)]):
        if re.fullmatch(r"3\.\d+\.\d+", folder.name):  # CPython releases only: no -dev, pypy, conda
            found.append(folder / "bin" / f"python{'.'.join(folder.name.split('.')[:2])}")
    return found


def interpreters() -> dict[str, Path]:
    """``{"3.10": path, ...}`` for every working CPython from 3.10 up; the newest patch release wins."""
    found: dict[str, Path] = {}
    minors = [f"3.{m}" for m in range(OLDEST[1], NEWEST[1] + 1)]
    for path in _pyenv_candidates():
        if path.exists() and (version := _works(path)) in minors:
            found[version] = path  # sorted ascending: a later patch replaces an earlier one
    for minor in minors:
        if minor not in found and (exe := shutil.which(f"python{minor}")):
            if _works(Path(exe)) == minor:
                found[minor] = Path(exe)
    return dict(sorted(found.items(), key=lambda kv: int(kv[0].split(".")[1])))


def other_than_running() -> tuple[str, Path] | None:
    """A working CPython whose minor version differs from this one's, or None."""
    mine = "%d.%d" % sys.version_info[:2]
    for version, path in interpreters().items():
        if version != mine:
            return version, path
    return None
