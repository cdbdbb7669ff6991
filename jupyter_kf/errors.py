"""User-facing errors: each carries one line that says what was wrong and what is accepted.

Faces (magics, REST, CLI) print ``str(error)`` and nothing else: no traceback, nothing half-done.
"""


class KfError(Exception):
    """Base of every error jupyter_kf shows to a user."""

    http_status = 400


class InvalidSpec(KfError):
    """A flag or argument has a value we cannot accept."""


class CaptureError(KfError):
    """The cell cannot be shipped: syntax error, unpicklable input, payload too large."""


class NotFound(KfError):
    """What was asked for does not exist (a job, server, model, run, or a cluster object)."""

    http_status = 404


class AlreadyExists(KfError):
    """A name is taken."""

    http_status = 409


class JobNotFound(NotFound):
    pass


class JobExists(AlreadyExists):
    pass


class JobFailed(KfError):
    """The job ended without success; results that exist are still retrievable."""

    http_status = 409


class ResultsNotReady(KfError):
    http_status = 409


class StateWriteError(KfError):
    """A job's files could not be written under the state folder (disk full, quota, permissions)."""

    http_status = 507


class ResultsCorrupt(KfError):
    """A job's result files are truncated or damaged (a full disk, a killed writer, a hand edit)."""

    http_status = 500


class RunnerMismatch(KfError):
    """The job's Python cannot safely unpickle what the notebook's Python pickled."""
