"""What can go wrong when serving a model, each error one line for the user (see ``jupyter_kf.errors``)."""
from jupyter_kf.errors import AlreadyExists, InvalidSpec, KfError, NotFound


class ModelNotFound(NotFound):
    """No deployed model of that name where we looked (404 in REST)."""


class ModelExists(AlreadyExists):
    """The name is taken by a deployment of another kind or owner (409 in REST)."""


class CannotSave(InvalidSpec):
    """The object cannot be written in the format asked for, or its framework is not installed."""


class NoStore(InvalidSpec):
    """An in-memory model needs a place the cluster can read it from, and none is configured."""


class NotReady(KfError):
    """The model did not become Ready in time (or cannot); it stays deployed and the line says why."""

    http_status = 504


class PredictionError(KfError):
    """The model server refused the request; the line carries the server's own message."""

    http_status = 502
