"""Metrics a job prints as ``name=value`` pairs (``epoch=2 loss=0.31``), as series for a chart."""
from __future__ import annotations

import re

_METRIC = re.compile(r"(?:^|(?<=[\s,;|(\[]))([A-Za-z_][\w./-]*)=([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])")
STEP_KEYS = ("step", "epoch", "iteration", "iter", "batch")


def parse_metrics(line: str) -> dict[str, float]:
    """``epoch=2 loss=0.31`` -> {'epoch': 2.0, 'loss': 0.31}; lines without pairs give {}."""
    return {key: float(val) for key, val in _METRIC.findall(line)}


class MetricSeries:
    """Metrics a job printed, as series against a step (``step``/``epoch``/... or the line count)."""

    def __init__(self):
        self.series: dict[str, list[tuple[float, float]]] = {}
        self._count = 0

    def add_line(self, line: str) -> bool:
        metrics = parse_metrics(line)
        if not metrics:
            return False
        self._count += 1
        step_key = next((k for k in STEP_KEYS if k in metrics), None)
        step = metrics.pop(step_key) if step_key else float(self._count)
        for key, value in metrics.items():
            self.series.setdefault(key, []).append((step, value))
        return bool(metrics)
