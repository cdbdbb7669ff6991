"""What the server serves: one :class:`Resource` per group/version/plural, built-in or from a CRD.

Each entry carries the per-kind behaviours that differ between registries in a real apiserver
(scope, subresources, short names, whether DELETE returns the object, the default garbage
collection policy, whether ``metadata.generation`` is tracked...). Discovery, routing and every
handler read them from here instead of special-casing kinds.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, eq=False)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple = ()
    categories: tuple = ()
    subresources: tuple = ()
    verbs: tuple = ALL_VERBS
    name_rule: str = "subdomain"          # see meta.NAME_RULES
    has_generation: bool = False
    return_deleted: bool = False          # DELETE answers with the object (pods, CRs, namespaces)
    default_gc: str = "Background"        # propagation when the request names none
    allow_unconditional_update: bool = True
    crd_name: str | None = None           # set for custom resources
    schema: dict | None = field(default=None, repr=False)  # served version's openAPIV3Schema
    selectable_fields: tuple = ()         # CRD spec.versions[].selectableFields jsonPaths
    storage_version: str = ""
    printer_columns: tuple = field(default=(), repr=False)  # CRD additionalPrinterColumns (dicts)
    deprecation_warning: str | None = None  # a deprecated CRD version's Warning text
    scale: dict | None = field(default=None, repr=False)  # CRD subresources.scale (specReplicasPath...)

    @property
    def key(self) -> tuple:
        """Storage key: all versions of a kind share their objects."""
        return (self.group, self.plural)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def is_custom(self) -> bool:
        return self.crd_name is not None

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def served(self, obj: dict) -> dict:
        """A stored object as this version serves it: all versions of a CRD share storage (no conversion)."""
        if obj.get("apiVersion") == self.api_version and obj.get("kind") == self.kind:
            return obj
        return {**obj, "apiVersion": self.api_version, "kind": self.kind}


def _core(plural, kind, namespaced=True, **kw) -> Resource:
    return Resource("", "v1", plural, kind, namespaced, **kw)


BUILTINS: tuple[Resource, ...] = (
    _core("namespaces", "Namespace", False, short_names=("ns",), subresources=("status",), name_rule="label",
          return_deleted=True),
    _core("pods", "Pod", short_names=("po",), categories=("all",), subresources=("status", "log"),
          has_generation=True, return_deleted=True),
    _core("services", "Service", short_names=("svc",), categories=("all",), subresources=("status",),
          name_rule="dns1035"),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("secrets", "Secret"),
    _core("events", "Event", short_names=("ev",)),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",), subresources=("status",)),
    _core("serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _core("nodes", "Node", False, short_names=("no",), subresources=("status",)),
    Resource("batch", "v1", "jobs", "Job", True, categories=("all",), subresources=("status",),
             has_generation=True, default_gc="Orphan"),
    Resource("batch", "v1", "cronjobs", "CronJob", True, short_names=("cj",), categories=("all",),
             subresources=("status",), has_generation=True),
    Resource("apps", "v1", "deployments", "Deployment", True, short_names=("deploy",), categories=("all",),
             subresources=("status", "scale"), has_generation=True),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True, short_names=("sts",), categories=("all",),
             subresources=("status", "scale"), has_generation=True),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, short_names=("rs",), categories=("all",),
             subresources=("status", "scale"), has_generation=True),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, short_names=("ds",), categories=("all",),
             subresources=("status",), has_generation=True),
    Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
             short_names=("crd", "crds"), categories=("api-extensions",), subresources=("status",),
             has_generation=True, return_deleted=True),
    Resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
             verbs=("create",)),
    Resource("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False,
             verbs=("create",)),
    Resource("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False, verbs=("create",)),
)

BUILTIN_GROUP_ORDER = ("", "apps", "batch", "authentication.k8s.io", "authorization.k8s.io", "apiextensions.k8s.io")

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple:
    """Kube-aware version order (v1 > v1beta2 > v1beta1 > v1alpha1 > others), higher sorts first."""
    m = _VERSION_RE.match(version)
    if not m:
        return (0, 0, 0, version)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    return ({None: 3, "beta": 2, "alpha": 1}[stage], major, minor, "")


class Registry:
    """Served resources, swapped copy-on-write so readers never need a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_gvr: dict[tuple, Resource] = {r_key(r): r for r in BUILTINS}

    def lookup(self, group: str, version: str, plural: str) -> Resource | None:
        return self._by_gvr.get((group, version, plural))

    def all(self) -> list[Resource]:
        return list(self._by_gvr.values())

    def versions_of(self, key: tuple) -> list[Resource]:
        return [r for r in self._by_gvr.values() if r.key == key]

    def group_versions(self) -> dict[str, list[str]]:
        """group -> served versions, preferred first; core group first, CRD groups after built-ins."""
        groups: dict[str, set] = {}
        for r in self._by_gvr.values():
            groups.setdefault(r.group, set()).add(r.version)
        order = [g for g in BUILTIN_GROUP_ORDER if g in groups] + sorted(g for g in groups
                                                                           if g not in BUILTIN_GROUP_ORDER)
        return {g: sorted(groups[g], key=version_priority, reverse=True) for g in order}

    def set_crd(self, crd_name: str, resources: list[Resource]) -> None:
        with self._lock:
            table = {k: r for k, r in self._by_gvr.items() if r.crd_name != crd_name}
            table.update({r_key(r): r for r in resources})
            self._by_gvr = table

    def remove_crd(self, crd_name: str) -> None:
        self.set_crd(crd_name, [])

    def reset(self) -> None:
        with self._lock:
            self._by_gvr = {r_key(r): r for r in BUILTINS}


def r_key(r: Resource) -> tuple:
    return (r.group, r.version, r.plural)
