"""``%kf_volume``: PersistentVolumeClaims for data on a cluster, made, listed and deleted from a notebook.

A volume is a claim labelled as jupyter_kf's; ``--volume pvc:NAME:/path`` on ``%%kf_train`` (and
``--data-volume`` on ``%kf_notebook``) mounts it. Deleting refuses a claim jupyter_kf did not make, unless
forced; Kubernetes itself keeps a claim a running pod uses until that pod is gone.
"""
from __future__ import annotations

from dataclasses import dataclass

from jupyter_kf.datasets.manifests import ACCESS_MODES, MANAGED_BY, VolumeSpec, build_pvc
from jupyter_kf.errors import InvalidSpec

__all__ = ["create", "list", "delete", "VolumeSpec", "build_pvc", "ACCESS_MODES", "MANAGED_BY"]

@dataclass
class VolumeTable:
    rows: list
    namespace: str

    COLUMNS = ["name", "size", "access", "class", "phase", "created", "made by"]

    def __repr__(self):
        from jupyter_kf.display import text_table

        if not self.rows:
            return f"no volumes in namespace {self.namespace}: %kf_volume create NAME --size 10Gi makes one"
        return text_table(self.COLUMNS, self.rows)


def _backend(backend: str | None, namespace: str | None):
    from jupyter_kf.training.backends import resolve_name

    if resolve_name(backend) != "kubernetes":
        raise InvalidSpec("volumes are PersistentVolumeClaims on a cluster: the local backend has none (%kf_data keeps "
                          "data on this machine); add --backend kubernetes with a cluster configured")
    from jupyter_kf.datasets.backends.kubernetes import KubernetesVolumes

    return KubernetesVolumes(namespace=namespace)


def create(name: str, size="10Gi", access_mode=None, storage_class=None, namespace=None, backend=None) -> dict:
    """Make a claim; returns it as the cluster answered."""
    spec = VolumeSpec.create(name, size, access_mode, storage_class, namespace)
    return _backend(backend, spec.namespace).create(spec)


def list(namespace=None, backend=None) -> VolumeTable:  # noqa: A001 - kf.data.volumes.list()
    impl = _backend(backend, namespace)
    return VolumeTable(impl.list(), impl.namespace)


def delete(name: str, force: bool = False, namespace=None, backend=None) -> str:
    from jupyter_kf.training.spec import check_name

    check_name(name, "volume name")
    return _backend(backend, namespace).delete(name, force)
