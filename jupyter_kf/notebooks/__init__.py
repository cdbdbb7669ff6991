"""``kf.notebooks``: notebook servers (GPU-backed ones too) created, listed, stopped, started and deleted
from a notebook. The calls live in ``api``; the spec and status types load on first use, so that
``%load_ext jupyter_kf`` stays fast.
"""
from jupyter_kf.notebooks.api import create, delete, get, list, start, stop, url, wait  # noqa: A004, F401
from jupyter_kf.notebooks.errors import NotebookExists, NotebookNotFound, NotebookNotReady, QuotaExceeded  # noqa: F401

__all__ = ["create", "list", "get", "stop", "start", "url", "delete", "wait", "NotebookSpec", "NotebookStatus",
           "NotebookExists", "NotebookNotFound", "NotebookNotReady", "QuotaExceeded"]


def __getattr__(name):
    if name == "NotebookSpec":
        from jupyter_kf.notebooks.spec import NotebookSpec

        return NotebookSpec
    if name in ("NotebookStatus", "NotebookTable", "NotebookLink"):
        from jupyter_kf.notebooks import status

        return getattr(status, name)
    raise AttributeError(f"module 'jupyter_kf.notebooks' has no attribute {name!r}")
