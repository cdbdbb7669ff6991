"""Volumes on a cluster: PersistentVolumeClaims through the official client (read as plain JSON)."""
from __future__ import annotations

from jupyter_kf.datasets.errors import VolumeNotFound
from jupyter_kf.datasets.manifests import MANAGED_BY, VolumeSpec, build_pvc
from jupyter_kf.errors import AlreadyExists, InvalidSpec
from jupyter_kf.kube.client import ClusterClient


class KubernetesVolumes(ClusterClient):
    name = "kubernetes"

    def _core(self, method: str, *args, what: str, **kwargs):
        return self.call_json(getattr(self._api("CoreV1Api"), method), *args, what=what, **kwargs)

    def create(self, spec: VolumeSpec) -> dict:
        body = build_pvc(spec, self.namespace)
        try:
            return self._core("create_namespaced_persistent_volume_claim", self.namespace, body,
                              what=f"volume {spec.name}")
        except AlreadyExists:
            raise AlreadyExists(f"a PersistentVolumeClaim named {spec.name!r} exists in namespace {self.namespace!r}: "
                                "choose another name (%kf_volume list shows them)") from None

    def list(self) -> list[dict]:
        claims = self._core("list_namespaced_persistent_volume_claim", self.namespace, what="volumes")
        rows = []
        for pvc in claims.get("items", []):
            meta, spec, status = pvc["metadata"], pvc.get("spec", {}), pvc.get("status", {})
            ours = all((meta.get("labels") or {}).get(k) == v for k, v in MANAGED_BY.items())
            rows.append({"name": meta["name"], "size": spec.get("resources", {}).get("requests", {}).get("storage", ""),
                         "access": ",".join(spec.get("accessModes", [])), "class": spec.get("storageClassName") or "-",
                         "phase": status.get("phase", "Pending"), "created": meta.get("creationTimestamp", ""),
                         "made by": "jupyter_kf" if ours else "-"})
        return sorted(rows, key=lambda r: r["name"])

    def delete(self, name: str, force: bool = False) -> str:
        from jupyter_kf.errors import NotFound

        try:
            pvc = self._core("read_namespaced_persistent_volume_claim", name, self.namespace, what=f"volume {name}")
        except NotFound:
            raise VolumeNotFound(f"no volume named {name!r} in namespace {self.namespace!r}: %kf_volume list shows "
                                 "them") from None
        labels = pvc["metadata"].get("labels") or {}
        if not force and any(labels.get(k) != v for k, v in MANAGED_BY.items()):
            raise InvalidSpec(f"PersistentVolumeClaim {name!r} was not made by jupyter_kf: its data would be lost; "
                              "add --force (force=True) if you mean it")
        self._core("delete_namespaced_persistent_volume_claim", name, self.namespace, what=f"volume {name}")
        return f"volume {name} deleted from namespace {self.namespace} (a pod still using it keeps it until it ends)"
