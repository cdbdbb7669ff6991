"""``kf.notebooks``: notebook servers (GPU-backed ones too) created, listed, stopped, started and deleted
from a notebook. Same calls on every backend: local Jupyter processes, a Kubeflow ``Notebook``, or a
StatefulSet on plain Kubernetes. The magic ``%kf_notebook`` and the form widget call these functions.
"""
from __future__ import annotations

import builtins
import time
from typing import TYPE_CHECKING

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.notebooks.errors import NotebookNotReady

if TYPE_CHECKING:  # imported on first use: ``%load_ext jupyter_kf`` loads this package and must stay fast
    from jupyter_kf.notebooks.status import NotebookLink, NotebookStatus, NotebookTable

__all__ = ["create", "list", "get", "stop", "start", "url", "delete", "wait"]
POLL_SECONDS = 0.5


def _named(name: str) -> str:
    """A server's name, checked before any backend builds a path or a request from it."""
    from jupyter_kf.training.spec import check_name

    return check_name(name, "notebook server name")


def backend_for(backend: str | None = None, namespace: str | None = None):
    from jupyter_kf.notebooks.backends import get_backend

    return get_backend(backend, namespace)


def create(name: str, *, image=None, cpu=None, memory=None, gpus=0, gpu_vendor=None, workspace=None, data_volumes=(),
           configurations=(), env=None, shm=True, namespace=None, backend=None, kind=None, wait=True, timeout=None,
           on_update=None, data=(), tpu=None) -> NotebookStatus:
    """Start a notebook server: ``kf.notebooks.create("gpu-lab", gpus=1)``.

    Args:
        name: the server's name. image, cpu, memory, gpus, gpu_vendor: what it runs on (defaults:
            ``c.KfConfig.notebook_image``, Kubeflow's spawner defaults). workspace: a size for a new volume at
            /home/jovyan (default ``c.KfConfig.notebook_workspace``), ``pvc:CLAIM``, or ``none``.
            data_volumes: ``["datasets:/data"]``. configurations: Kubeflow PodDefault labels. env, shm, kind.
            data: dataset versions to see read-only, ``["mnist@2:/home/jovyan/data"]`` (a relative path is under
            the workspace); on a cluster an init step fetches them, locally they are views of the store.
            tpu: a single-host TPU slice on GKE, ``"v5e:2x4"`` (TYPE:TOPOLOGY), instead of GPUs.
        wait: return once it is ready, its ``url`` set (``timeout``: default ``c.KfConfig.notebook_timeout``).

    Returns:
        Its ``NotebookStatus`` (phase, url, resources, workspace).

    Raises:
        InvalidSpec: a bad option. NotebookExists: the name is taken. QuotaExceeded: the namespace's quota.
        NotebookNotReady: it did not become ready in time (the server is kept; the message says why).
    """
    from jupyter_kf.notebooks.spec import NotebookSpec

    spec = NotebookSpec.create(name, image=image, cpu=cpu, memory=memory, gpus=gpus, gpu_vendor=gpu_vendor,
                               workspace=workspace, data_volumes=data_volumes, configurations=configurations, env=env,
                               shm=shm, namespace=namespace, backend=backend, kind=kind, timeout=timeout, data=data,
                               tpu=tpu)
    impl = backend_for(backend, spec.namespace)
    status = impl.create(spec)
    if on_update:
        on_update(status)
    return _wait(impl, spec.name, spec.timeout, on_update, status) if wait else status


def list(backend: str | None = None, namespace: str | None = None) -> NotebookTable:  # noqa: A001 - kf.notebooks.list()
    """Every notebook server, newest first (on Kubeflow also those made in its web UI)."""
    from jupyter_kf.notebooks.status import NotebookTable
    from jupyter_kf.training.backends import resolve_name

    return NotebookTable(backend_for(backend, namespace).list(), resolve_name(backend))


def get(name: str, backend: str | None = None, namespace: str | None = None) -> NotebookStatus:
    name = _named(name)
    return backend_for(backend, namespace).get(name)


def stop(name: str, backend: str | None = None, namespace: str | None = None) -> NotebookStatus:
    """Stop the server; its workspace (and data volumes) stay, ``start`` brings it back."""
    name = _named(name)
    return backend_for(backend, namespace).stop(name)


def start(name: str, backend: str | None = None, namespace: str | None = None, wait: bool = True, timeout=None,
          on_update=None) -> NotebookStatus:
    name = _named(name)
    impl = backend_for(backend, namespace)
    status = impl.start(name)
    return _wait(impl, name, _timeout(timeout), on_update, status) if wait else status


def _timeout(timeout) -> float:
    """``timeout`` in seconds, else ``c.KfConfig.notebook_timeout``."""
    from jupyter_kf import config
    from jupyter_kf.notebooks.spec import DEFAULT_TIMEOUT
    from jupyter_kf.training.spec import parse_duration

    return parse_duration(timeout or config.get().notebook_timeout) or DEFAULT_TIMEOUT


def wait(
    name: str, timeout=None, on_update=None, backend: str | None = None, namespace: str | None = None
) -> NotebookStatus:
    """Block until the server is ready; a line naming why not (pod conditions, events) if it is not in time."""
    name = _named(name)
    return _wait(backend_for(backend, namespace), name, _timeout(timeout), on_update)


def url(name: str, backend: str | None = None, namespace: str | None = None) -> NotebookLink:
    """The address to open it (with its token where it has one), and the step needed first, if any."""
    name = _named(name)
    return backend_for(backend, namespace).url(name)


def delete(name: str, keep_workspace: bool | None = None, backend: str | None = None, namespace: str | None = None,
           confirm=None) -> str | None:
    """Delete the server. Its workspace goes too if ``keep_workspace`` is False; None asks first (``confirm``,
    default: a yes/no prompt). Returns where the kept workspace is, if it was kept."""
    name = _named(name)
    impl = backend_for(backend, namespace)
    if keep_workspace is None:
        workspace = impl.workspace_of(name)
        keep_workspace = bool(workspace) and not (confirm or _ask)(
            f"Delete {name}'s workspace {workspace} too? Its files are lost. [y/N] ", name, workspace)
    return impl.delete(name, keep_workspace)


def _ask(question: str, name: str, workspace: str) -> bool:
    try:
        answer = input(question)
    except Exception:  # noqa: BLE001 - StdinNotImplementedError, EOFError: a kernel that cannot ask
        raise InvalidSpec(
            f"deleting {name} asks whether its workspace {workspace} goes too, and this kernel cannot ask: "
            "add --keep-workspace or --delete-workspace (keep_workspace=True or False)"
        ) from None
    return answer.strip().lower() in ("y", "yes")


def _wait(impl, name: str, timeout: float, on_update=None, status: NotebookStatus | None = None) -> NotebookStatus:
    deadline = time.monotonic() + timeout
    last = status
    while True:
        status = impl.get(name)
        if on_update and status != last:
            on_update(status)
        last = status
        if status.phase == "Ready":
            return status
        waited = time.monotonic() - deadline + timeout
        if status.phase in ("Error", "Stopped", "Terminating") or time.monotonic() > deadline:
            shown = [d for d in status.details if not d.startswith("log: ")]  # a local server's log: its path is enough
            why = "; ".join(builtins.list(dict.fromkeys([status.message, *shown]))) or status.phase
            verdict = (
                f"cannot start ({status.phase})"
                if status.phase in ("Error", "Stopped", "Terminating")
                else f"is not ready after {waited:.0f}s"
            )
            raise NotebookNotReady(f"notebook server {name!r} {verdict}: {why}. It is kept: fix the cause and "
                                   f"%kf_notebook start {name}, or %kf_notebook delete {name}")
        time.sleep(POLL_SECONDS)
