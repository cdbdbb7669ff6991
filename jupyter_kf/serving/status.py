"""What a deployed model looks like from the notebook, wherever it is served."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelStatus:
    name: str
    backend: str
    phase: str = "Pending"  # Pending, Ready, Failed, Stopped (KServe's stop annotation), Unknown
    url: str = ""
    traffic: str = ""
    reasons: list = field(default_factory=list)  # why not Ready, one line each
    namespace: str = ""
    format: str = ""
    protocol: str = "v1"
    created: str = ""
    stable: str = ""
    canary: str = ""
    canary_percent: int = 0

    @property
    def ready(self) -> bool:
        return self.phase == "Ready"

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {**asdict(self), "ready": self.ready}
