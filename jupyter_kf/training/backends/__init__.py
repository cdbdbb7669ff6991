"""Where jobs run, behind one interface: ``local`` (this machine) and, later, ``kubernetes``."""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.training.spec import TrainSpec
from jupyter_kf.training.status import JobStatus


class Backend(ABC):
    """Everything a face needs from wherever jobs run."""

    name: str

    @abstractmethod
    def prepare(self, spec: TrainSpec) -> Path:
        """A fresh folder to write the job's bundle into (refuses a name already taken)."""

    @abstractmethod
    def submit(self, spec: TrainSpec, bundle: Path) -> None:
        """Start the job from its bundle."""

    @abstractmethod
    def discard(self, spec: TrainSpec, bundle: Path) -> None:
        """Remove a bundle that was prepared but never submitted."""

    @abstractmethod
    def status(self, name: str) -> JobStatus: ...

    @abstractmethod
    def list(self) -> list[JobStatus]: ...

    @abstractmethod
    def read_logs(self, name: str, cursor: dict | None = None) -> tuple[list[tuple[int, str]], dict]:
        """New complete log lines as (rank, line) since ``cursor``, and the cursor to pass next time."""

    @abstractmethod
    def cancel(self, name: str) -> JobStatus: ...

    @abstractmethod
    def delete(self, name: str) -> None: ...

    @abstractmethod
    def result_dir(self, name: str) -> Path:
        """A local folder holding result.json/result.pkl (fetched if the job ran elsewhere) and payload.bin."""

    @abstractmethod
    def meta(self, name: str) -> dict: ...

    def remove_finished(self, name: str) -> None:
        """``--replace``: delete the job of this name if it has ended; refuse one still running."""
        if self.replaceable(name):
            self.delete(name)

    def replaceable(self, name: str) -> bool:
        """True when a job of this name has ended, False when there is none; refuses one still running."""
        from jupyter_kf.errors import JobNotFound, KfError

        try:
            status = self.status(name)
        except JobNotFound:
            return False
        if not status.done:
            raise KfError(
                f"job {name!r} is still {status.phase}: --replace only removes finished jobs; %kf_cancel {name} first"
            )
        return True


def resolve_name(requested: str | None) -> str:
    """Flag > config/env > kubernetes when a kubeconfig or in-cluster config exists > local."""
    from jupyter_kf import config

    name = requested or config.get().backend or "auto"
    if name == "auto":
        kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        in_cluster = os.environ.get("KUBERNETES_SERVICE_HOST")
        has_cluster = in_cluster or os.path.exists(kubeconfig.split(os.pathsep)[0])
        name = "kubernetes" if has_cluster else "local"
    return name


def get_backend(requested: str | None = None) -> Backend:
    name = resolve_name(requested)
    if name == "local":
        from jupyter_kf.training.backends.local import LocalBackend

        return LocalBackend()
    if name == "kubernetes":
        from jupyter_kf.training.backends.kubernetes import KubernetesBackend

        return KubernetesBackend()
    raise InvalidSpec(f"backend {name!r} is unknown: use local, kubernetes or auto")
