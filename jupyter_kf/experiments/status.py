"""Where a search stands: its trials, their metrics as Katib reads them, the best so far.

Metrics are the ``name=value`` lines a trial prints, parsed with Katib's default StdOut filter and kept
as Katib keeps them (min, max, latest; the objective by its strategy), so a search ranks its trials the
same way locally and on a cluster (katib.md §4).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

KATIB_FILTER = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
TRIAL_TERMINAL = frozenset({"Succeeded", "Failed", "EarlyStopped", "Cancelled", "MetricsUnavailable"})
TERMINAL = frozenset({"Succeeded", "Failed", "Cancelled"})


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass
class Observation:
    """One metric of one trial: every value it printed, and Katib's min/max/latest."""

    name: str
    values: list[float] = field(default_factory=list)
    latest: str = "unavailable"

    def add_line(self, line: str) -> bool:
        """Take one log line; True when it reported this metric."""
        if self.name not in line:  # Katib looks only at lines that mention a metric name
            return False
        found = False
        for match in KATIB_FILTER.finditer(line):
            if match.group(1) != self.name:
                continue
            self.latest = match.group(2)
            value = _number(match.group(2))
            if value is not None:
                self.values.append(value)
            found = True
        return found

    def value(self, strategy: str) -> float | None:
        """The objective as Katib computes it: min/max of the numbers, else the latest (if numeric)."""
        if strategy in ("min", "max") and self.values:
            return min(self.values) if strategy == "min" else max(self.values)
        return _number(self.latest) if self.latest != "unavailable" else None

    def best_so_far(self, goal: str) -> float | None:
        if not self.values:
            return None
        return min(self.values) if goal == "minimize" else max(self.values)


@dataclass
class TrialStatus:
    number: int
    name: str
    params: dict  # name -> value as text (what travels to the trial)
    phase: str = "Pending"
    objective: float | None = None
    history: list[float] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    message: str = ""

    @property
    def done(self) -> bool:
        return self.phase in TRIAL_TERMINAL

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or self.started) - self.started if self.finished else None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ExperimentStatus:
    name: str
    phase: str
    backend: str
    objective: str
    goal: str
    max_trials: int
    parallel: int
    algorithm: str
    trials: list[TrialStatus] = field(default_factory=list)
    message: str = ""
    namespace: str | None = None
    created: float | None = None

    @property
    def done(self) -> bool:
        return self.phase in TERMINAL

    def count(self, *phases: str) -> int:
        return sum(t.phase in phases for t in self.trials)

    @property
    def completed(self) -> int:
        return sum(t.done for t in self.trials)

    @property
    def running(self) -> int:
        return self.count("Running", "Pending")

    @property
    def best(self) -> TrialStatus | None:
        """The best trial with an objective value, by the goal (running trials' values are not final)."""
        best = None
        for trial in self.trials:
            if trial.objective is None or trial.phase not in ("Succeeded", "EarlyStopped"):
                continue
            if best is None or (trial.objective < best.objective if self.goal == "minimize"
                                else trial.objective > best.objective):
                best = trial
        return best

    def progress(self) -> str:
        return f"{self.completed}/{self.max_trials}, {self.running} running"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["best"] = None if self.best is None else self.best.name
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ExperimentStatus":
        data = dict(data)
        data.pop("best", None)
        trials = [TrialStatus(**t) for t in data.pop("trials", [])]
        return cls(trials=trials, **data)


def median_stop_rule(finished: list[TrialStatus], goal: str, min_trials: int = 3, start_step: int = 4):
    """Katib's medianstop rule: the mean over finished trials of their first ``start_step`` values' mean.

    None until ``min_trials`` trials have that many values (katib.md §8: the mean, despite the name).
    """
    means = [sum(t.history[:start_step]) / start_step for t in finished
             if t.phase == "Succeeded" and len(t.history) >= start_step]
    if len(means) < min_trials:
        return None
    return sum(means) / len(means)


def should_stop(trial: TrialStatus, rule: float | None, goal: str, start_step: int = 4) -> bool:
    """The sidecar's test: after ``start_step`` reports, the best so far is worse than the rule."""
    if rule is None or len(trial.history) < start_step:
        return False
    best = min(trial.history) if goal == "minimize" else max(trial.history)
    return best > rule if goal == "minimize" else best < rule
