"""Volumes as Kubernetes objects: the checked spec and the PersistentVolumeClaim built from it (pure, no I/O)."""
from __future__ import annotations

from dataclasses import dataclass

from jupyter_kf.errors import InvalidSpec

ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod")
MANAGED_BY = {"app.kubernetes.io/managed-by": "jupyter-kf", "app.kubernetes.io/component": "volume"}


@dataclass(frozen=True)
class VolumeSpec:
    name: str
    size: str
    access_mode: str = "ReadWriteOnce"
    storage_class: str | None = None
    namespace: str | None = None

    @classmethod
    def create(cls, name, size="10Gi", access_mode=None, storage_class=None, namespace=None) -> "VolumeSpec":
        from jupyter_kf.training.spec import check_name, parse_quantity

        if parse_quantity(size, "--size") < 2**20:
            raise InvalidSpec(f"--size {size!r} is below 1Mi: did you mean {size}Gi?")
        mode = access_mode or "ReadWriteOnce"
        if mode not in ACCESS_MODES:
            raise InvalidSpec(f"--access-mode {mode!r} is unknown: use one of {', '.join(ACCESS_MODES)}")
        return cls(name=check_name(name, "volume name"), size=str(size), access_mode=mode,
                   storage_class=check_name(storage_class, "storage class name") if storage_class else None,
                   namespace=check_name(namespace, "namespace") if namespace else None)


def build_pvc(spec: VolumeSpec, namespace: str) -> dict:
    """The claim, as a plain dict (pure: no I/O)."""
    body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": spec.name, "namespace": namespace, "labels": dict(MANAGED_BY)},
            "spec": {"accessModes": [spec.access_mode], "resources": {"requests": {"storage": spec.size}}}}
    if spec.storage_class:
        body["spec"]["storageClassName"] = spec.storage_class
    return body
