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
    from datetime import datetime, timezone

    if not status.started:
        return None
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    start = datetime.strptime(status.started, fmt).replace(tzinfo=timezone.utc).timestamp()
    end = datetime.strptime(status.finished, fmt).replace(tzinfo=timezone.utc).timestamp() if status.finished else time.time()
    return max(0.0, end - start)
