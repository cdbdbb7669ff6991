"""Metrics a job prints as ``name=value`` pairs (``epoch=2 loss=0.31``), as series for a chart."""
from __future__ import annotations

import re

_METRIC = re.compile(r"(?:^|(?<=[\s,;|(\[]))([A-Za-z_][\w./-]*)=([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])")
STEP_KEYS = ("step", "epoch", "iteration", "iter", "batch")


def parse_metrics(line: str) -> dict[str, float]:
    """``epoch=2 loss=0.31`` -> {'epoch': 2.0, 'loss': 0.31}; lines without pairs give {}."""
    return {key: float(val) for key, val in _METRIC.findall(line)}


class MetricSeries:
    """Metrics a job printed, per worker, as series against a step (``step``/``epoch``/... or the line count).

    ``series`` is rank 0's (or the first rank's); ``by_rank[rank][name]`` every worker's; ``step_key`` the
    name of the step the job printed ("" when points are numbered by line).
    """

    def __init__(self):
        self.by_rank: dict[int, dict[str, list[tuple[float, float]]]] = {}
        self.step_key = ""
        self._count: dict[int, int] = {}
        self._stepped: set[str] = set()  # printed beside a step: a series that has only begun, not a constant

    @property
    def series(self) -> dict[str, list[tuple[float, float]]]:
        if not self.by_rank:
            return {}
        return self.by_rank.get(0) or self.by_rank[min(self.by_rank)]

    def add_line(self, line: str, rank: int = 0) -> bool:
        metrics = parse_metrics(line)
        if not metrics:
            return False
        self._count[rank] = self._count.get(rank, 0) + 1
        step_key = next((k for k in STEP_KEYS if k in metrics), None)
        step = metrics.pop(step_key) if step_key else float(self._count[rank])
        if step_key and not self.step_key:
            self.step_key = step_key
        if step_key:
            self._stepped.update(metrics)
        target = self.by_rank.setdefault(rank, {})
        for key, value in metrics.items():
            target.setdefault(key, []).append((step, value))
        return bool(metrics)

    def names(self) -> list[str]:
        """Every metric name any worker printed, in the order first seen."""
        seen: dict[str, None] = {}
        for series in self.by_rank.values():
            seen.update(dict.fromkeys(series))
        return list(seen)

    def constant(self, name: str) -> dict[int, float] | None:
        """Each worker's value of a metric that never changed on it (``SEED=3``), else None: a value, not a chart."""
        values = {rank: {v for _, v in series[name]} for rank, series in self.by_rank.items() if name in series}
        points = max((len(series.get(name, ())) for series in self.by_rank.values()), default=0)
        if name in self._stepped and points < 2:
            return None
        if values and all(len(v) == 1 for v in values.values()):
            return {rank: next(iter(v)) for rank, v in sorted(values.items())}
        return None
