"""``kf.data``: versioned datasets stored by content, mounted into jobs, traced to the jobs that read and wrote them.

``kf.data.put(name, path_or_value)``, ``kf.data.load(name)``, ``kf.data.get(ref, folder)``, ``kf.data.list()``,
``kf.data.show(ref)``, ``kf.data.delete(ref)``; the magic is ``%kf_data``. Nothing is imported until used.
"""
_API = ("put", "get", "load", "list", "show", "delete", "resolve")


def __getattr__(name):
    if name in _API:
        from jupyter_kf.datasets import api

        return getattr(api, name)
    if name == "volumes":  # kf.data.volumes: PersistentVolumeClaims on a cluster
        import importlib

        return importlib.import_module(".volumes", __name__)
    if name in ("DataVersion", "DatasetTable", "DatasetDetail"):
        from jupyter_kf.datasets import status

        return getattr(status, name)
    if name in ("DatasetNotFound", "DatasetInUse", "CannotStore"):
        from jupyter_kf.datasets import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'jupyter_kf.datasets' has no attribute {name!r}")
