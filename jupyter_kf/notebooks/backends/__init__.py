"""Where notebook servers run, behind one interface: ``local`` (Jupyter processes on this machine) and
``kubernetes`` (a Kubeflow ``Notebook``, or a StatefulSet where Kubeflow is not installed)."""
from __future__ import annotations

from abc import ABC, abstractmethod

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.notebooks.spec import NotebookSpec
from jupyter_kf.notebooks.status import NotebookLink, NotebookStatus


class NotebookBackend(ABC):
    name: str

    @abstractmethod
    def create(self, spec: NotebookSpec) -> NotebookStatus:
        """Start the server; returns at once with its first status."""

    @abstractmethod
    def get(self, name: str) -> NotebookStatus: ...

    @abstractmethod
    def list(self) -> list[NotebookStatus]: ...

    @abstractmethod
    def url(self, name: str) -> NotebookLink: ...

    @abstractmethod
    def stop(self, name: str) -> NotebookStatus: ...

    @abstractmethod
    def start(self, name: str) -> NotebookStatus: ...

    @abstractmethod
    def workspace_of(self, name: str) -> str | None:
        """Where the server's workspace is (a folder or a claim), for delete to say what it keeps."""

    @abstractmethod
    def delete(self, name: str, keep_workspace: bool) -> str | None:
        """Remove the server (and its workspace unless kept); returns the kept workspace, if any."""


def get_backend(backend: str | None = None, namespace: str | None = None) -> NotebookBackend:
    """The local or Kubernetes implementation, chosen as for jobs (flag > config > kubeconfig > local)."""
    from jupyter_kf.training.backends import resolve_name

    name = resolve_name(backend)
    if name == "local":
        from jupyter_kf.notebooks.backends.local import LocalNotebooks

        return LocalNotebooks()
    if name == "kubernetes":
        from jupyter_kf.notebooks.backends.kubernetes import KubernetesNotebooks

        return KubernetesNotebooks(namespace=namespace)
    raise InvalidSpec(f"backend {name!r} is unknown: use local, kubernetes or auto")
