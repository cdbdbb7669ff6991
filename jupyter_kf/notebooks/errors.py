"""What can go wrong with a notebook server, each error one line for the user (see ``jupyter_kf.errors``)."""
from jupyter_kf.errors import AlreadyExists, KfError, NotFound


class NotebookNotFound(NotFound):
    """No server of that name where we looked (404 in REST)."""


class NotebookExists(AlreadyExists):
    """The name is taken (409 in REST)."""


class NotebookNotReady(KfError):
    """The server did not become ready in time, or cannot (image pull error, crash loop); it is kept."""

    http_status = 504


class QuotaExceeded(KfError):
    """The namespace's ResourceQuota refused what the server asks for."""

    http_status = 403
