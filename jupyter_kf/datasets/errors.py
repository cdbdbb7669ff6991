"""What can go wrong with datasets, each error one line for the user (see ``jupyter_kf.errors``)."""
from jupyter_kf.errors import InvalidSpec, KfError, NotFound


class DatasetNotFound(NotFound):
    """No dataset, or no version, of that name or hash (404 in REST)."""


class DatasetInUse(KfError):
    """A job still refers to the version asked to be deleted (409 in REST); ``--force`` deletes it anyway."""

    http_status = 409


class CannotStore(InvalidSpec):
    """The object or path cannot be put into a dataset (a path that does not exist, a type with no format)."""


class VolumeNotFound(DatasetNotFound):
    """No PersistentVolumeClaim of that name in the namespace."""
