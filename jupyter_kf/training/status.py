"""Where a job stands: its phase, its workers, its resources, as every face shows it."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from jupyter_kf.training.spec import TERMINAL


@dataclass
class WorkerStatus:
    rank: int
    phase: str
    exit_code: int | None = None
    message: str = ""


@dataclass
class JobStatus:
    name: str
    phase: str
    backend: str
    kind: str = "local"
    namespace: str | None = None
    created: str | None = None
    started: str | None = None
    finished: str | None = None
    message: str = ""
    workers: list[WorkerStatus] = field(default_factory=list)
    resources: dict = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.phase in TERMINAL

    def to_dict(self) -> dict:
        return asdict(self)


def elapsed(status: JobStatus) -> float | None:
    """Seconds since the job started (or between start and end)."""
    if not status.started:
        return None
    end = rfc3339_seconds(status.finished) if status.finished else time.time()
    return max(0.0, end - rfc3339_seconds(status.started))


def rfc3339_seconds(ts: str) -> float:
    """Seconds since the epoch of a UTC RFC 3339 time, with or without fractions of a second."""
    from datetime import datetime, timezone

    whole, _, frac = ts.rstrip("Z").partition(".")
    seconds = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return seconds + (float(f"0.{frac}") if frac.isdigit() else 0.0)


def format_duration(seconds: float | None) -> str:
    """``0.8s`` and ``9.9s`` (tenths below ten seconds), ``42s``, ``3m 05s``, ``2h 01m``; "" when unknown."""
    if seconds is None:
        return ""
    if seconds < 9.95:
        return f"{seconds:.1f}s"
    if seconds < 59.5:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"
