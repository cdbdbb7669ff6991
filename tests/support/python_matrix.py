"""The kernel-side suite on every other CPython 3.10+ this machine has: ``python tests/support/python_matrix.py``.

The package declares ``requires-python >= 3.10`` and the job runs on the kernel's own Python, so the
code that runs in kernels and jobs (capture, runner, results, the API, magics in real kernels, the
pipeline's data flow and local runs, serving formats) is tested on each. The running interpreter is
left out: the full suite already ran on it. Each version gets its own ``.venv-pyXY``, installed once
(again when pyproject.toml changes); versions run side by side; a missing version is said, not failed.
"""
from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.pythons import NEWEST, OLDEST, interpreters  # noqa: E402

KERNEL_SIDE = [
    "tests/training/test_capture.py", "tests/training/test_runner.py", "tests/training/test_results.py", "tests/training/test_api.py",
    "tests/training/test_magics.py", "tests/training/test_metrics.py", "tests/training/test_spec.py", "tests/pipeline/test_dataflow.py",
    "tests/pipeline/test_local.py", "tests/pipeline/test_step_runner.py", "tests/serving/test_formats.py",
]


def venv_for(version: str, python: Path) -> Path:
    """``.venv-py3X`` with the package (editable) and its kernel-side test dependencies."""
    venv = ROOT / f".venv-py{version.replace('.', '')}"
    stamp = venv / ".installed"
    pyproject = ROOT / "pyproject.toml"
    if stamp.exists() and stamp.stat().st_mtime >= pyproject.stat().st_mtime:
        return venv
    if not (venv / "bin" / "python").exists():
        subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-e", f"{ROOT}[kernel-test]"],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stamp.touch()
    return venv


def run_one(version: str, python: Path) -> tuple[str, int, str, float]:
    start = time.monotonic()
    try:
        venv = venv_for(version, python)
    except subprocess.CalledProcessError as err:
        return version, 1, f"installing failed: {(err.stderr or b'').decode()[-3000:]}", time.monotonic() - start
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *KERNEL_SIDE],
                          cwd=ROOT, capture_output=True, text=True)
    return version, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start


def main() -> int:
    mine = "%d.%d" % sys.version_info[:2]
    found = interpreters()
    for minor in range(OLDEST[1], NEWEST[1] + 1):
        version = f"3.{minor}"
        if version == mine:
            print(f"Python {version}: the full suite ran on it")
        elif version in found:
            print(f"Python {version}: {found[version]}")
        else:
            print(f"Python {version}: not on this machine, skipped")
    others = {v: p for v, p in found.items() if v != mine}
    failed = 0
    with ThreadPoolExecutor(max_workers=max(1, len(others))) as pool:
        for version, code, output, seconds in pool.map(lambda vp: run_one(*vp), others.items()):
            lines = output.strip().splitlines()
            summary = lines[-1] if lines else "(no output)"
            print(f"Python {version}: {summary} ({seconds:.0f} s with set-up)")
            if code != 0:
                failed += 1
                print("\n".join(lines[-60:]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
