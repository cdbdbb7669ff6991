"""Where models are served, behind one interface: ``local`` (a model server on this machine) and ``kubernetes``
(a KServe InferenceService). Every call takes ``namespace``; a local model has none and ignores it."""
from __future__ import annotations

from abc import ABC, abstractmethod

from jupyter_kf.serving.spec import ServingSpec
from jupyter_kf.serving.status import ModelStatus


class ServingBackend(ABC):
    name: str

    @abstractmethod
    def deploy(self, spec: ServingSpec, obj=None, what: str = "the model") -> ModelStatus:
        """Serve ``obj`` (saved first) or ``spec.uri``; returns at once with the first status."""

    @abstractmethod
    def status(self, name: str, namespace: str | None = None) -> ModelStatus: ...

    @abstractmethod
    def list(self, namespace: str | None = None) -> list[ModelStatus]: ...

    @abstractmethod
    def wait(self, name: str, timeout: float | None = 300, on_update=None, namespace: str | None = None) -> ModelStatus:
        """Until Ready; NotReady (with the reason) when it fails or the time runs out."""

    @abstractmethod
    def promote(self, name: str, namespace: str | None = None) -> ModelStatus: ...

    @abstractmethod
    def rollback(self, name: str, namespace: str | None = None) -> ModelStatus: ...

    @abstractmethod
    def delete(self, name: str, namespace: str | None = None) -> None: ...


def get_backend(requested: str | None = None) -> ServingBackend:
    """The serving backend chosen as for jobs: flag > config > kubernetes when a cluster is configured > local."""
    from jupyter_kf.training.backends import resolve_name

    if resolve_name(requested) == "local":
        from jupyter_kf.serving.backends.local import LocalServing

        return LocalServing()
    from jupyter_kf.serving.backends.kubernetes import KubernetesServing

    return KubernetesServing()
