"""Shared bits for the benchmarks: medians, a fresh state folder, printing side by side."""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def isolated_state() -> str:
    state = tempfile.mkdtemp(prefix="kf-bench-")
    os.environ["JUPYTER_KF_STATE_DIR"] = state
    os.environ["JUPYTER_KF_BACKEND"] = "local"
    from jupyter_kf import config

    config.reset()  # benchmarks run one after another in one process: each reads its own settings
    return state


def timed(fn, repeat: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def report(title: str, rows: list[tuple[str, list[float]]], budget: float | None = None, unit: str = "ms") -> None:
    """Print medians (and p90) per row, with the ratio to the first row (the baseline)."""
    scale = 1000 if unit == "ms" else 1
    base = statistics.median(rows[0][1])
    print(f"\n## {title}")
    for label, times in rows:
        med = statistics.median(times)
        p90 = sorted(times)[int(0.9 * (len(times) - 1))]
        print(
            f"  {label:<46} median {med * scale:8.1f} {unit}   p90 {p90 * scale:8.1f} {unit}   x{med / base:5.2f} "
            f"vs baseline   (n={len(times)})"
        )
    if budget is not None:
        med = statistics.median(rows[-1][1])
        print(
            f"  budget {budget * scale:.0f} {unit}: {'within' if med <= budget else 'OVER'} ({med * scale:.1f} {unit})"
        )
