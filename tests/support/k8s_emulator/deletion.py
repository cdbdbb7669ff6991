"""Deletion: finalizers, ``deletionTimestamp``, propagation policies and the garbage collector.

The apiserver marks an object with finalizers (including the ``orphan``/``foregroundDeletion`` ones
a propagation policy adds) as terminating and lets controllers finish the job. The emulator runs the
garbage collector's part synchronously, so when a DELETE returns its dependents are already handled:

* Background: the owner goes at once (DELETED), then its dependents are deleted;
* Foreground: owner MODIFIED (deletionTimestamp + ``foregroundDeletion``), dependents deleted, owner DELETED;
* Orphan: owner MODIFIED (``orphan``), dependents lose their ownerReference, owner DELETED.

Other finalizers are left for the test (or code under test) to remove; the update that removes the
last one deletes the object. Namespaces take everything in them along.
"""
from __future__ import annotations

from tests.support.k8s_emulator.logs import LogStore
from tests.support.k8s_emulator.meta import rfc3339
from tests.support.k8s_emulator.resources import Registry, Resource
from tests.support.k8s_emulator.store import Store, clone

GC_FINALIZERS = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}
POLICIES = ("Orphan", "Background", "Foreground")


class Deleter:
    def __init__(self, store: Store, registry: Registry, logs: LogStore):
        self.store = store
        self.registry = registry
        self.logs = logs

    def delete(self, resource: Resource, obj: dict, policy: str) -> tuple[bool, dict]:
        """Delete ``obj``; returns (removed at once?, the state to answer with)."""
        with self.store.cond:
            if resource.key == ("", "namespaces"):
                return self._delete_namespace(obj)
            meta = obj["metadata"]
            if meta.get("deletionTimestamp"):
                return False, obj
            gc_finalizer = GC_FINALIZERS.get(policy)
            finalizers = list(meta.get("finalizers") or [])
            if not gc_finalizer and not finalizers:
                final = self._remove(resource.key, obj)
                self._collect(obj, "Background")
                return True, final
            marked = clone(obj)
            m = marked["metadata"]
            m["deletionTimestamp"] = rfc3339()
            m["deletionGracePeriodSeconds"] = 0
            if m.get("generation"):
                m["generation"] += 1
            if gc_finalizer and gc_finalizer not in finalizers:
                m["finalizers"] = finalizers + [gc_finalizer]
            self.store.put(resource.key, marked)
            reported = clone(marked)
            if gc_finalizer:
                self._collect(marked, policy)
                self._drop_finalizer(resource.key, marked, gc_finalizer)
            return False, reported

    def finish_if_released(self, key: tuple, obj: dict) -> bool:
        """After an update: a terminating object whose last finalizer is gone is deleted."""
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(key, obj)
            self._collect(obj, "Background")
            return True
        return False

    # -- internals -----------------------------------------------------------------------------------
    def _drop_finalizer(self, key: tuple, obj: dict, finalizer: str) -> None:
        meta = obj["metadata"]
        current = self.store.get(key, meta.get("namespace") or "", meta["name"])
        if current is None:
            return
        updated = clone(current)
        updated["metadata"]["finalizers"] = [f for f in updated["metadata"].get("finalizers") or [] if f != finalizer]
        if not updated["metadata"]["finalizers"]:
            del updated["metadata"]["finalizers"]
        if not self.finish_if_released(key, updated):
            self.store.put(key, updated)

    def _remove(self, key: tuple, obj: dict) -> dict:
        meta = obj["metadata"]
        final = self.store.remove(key, meta.get("namespace") or "", meta["name"])
        if key == ("", "pods"):
            self.logs.drop_pod(meta.get("namespace") or "", meta["name"])
        elif key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            self._remove_custom_resources(obj)
        return final if final is not None else obj

    def _remove_custom_resources(self, crd: dict) -> None:
        spec = crd.get("spec") or {}
        key = (spec.get("group"), (spec.get("names") or {}).get("plural"))
        for cr in self.store.items(key):
            self._remove(key, cr)
            self._collect(cr, "Background")
        self.registry.remove_crd(crd["metadata"]["name"])

    def _exists(self, uid: str) -> bool:
        return any(o["metadata"].get("uid") == uid for k in self.store.keys() for o in self.store.items(k))

    def _dependents(self, owner: dict) -> list[tuple[tuple, dict]]:
        uid = owner["metadata"].get("uid")
        scope = owner["metadata"].get("namespace") or None
        return [(k, o) for k in self.store.keys() for o in self.store.items(k, scope)
                if any(ref.get("uid") == uid for ref in o["metadata"].get("ownerReferences") or [])]

    def _collect(self, owner: dict, policy: str) -> None:
        """The garbage collector's reaction to ``owner`` going away under ``policy``."""
        uid = owner["metadata"].get("uid")
        for key, dep in self._dependents(owner):
            refs = dep["metadata"].get("ownerReferences") or []
            others = [r for r in refs if r.get("uid") != uid]
            if policy == "Orphan" or any(self._exists(r.get("uid")) for r in others):
                updated = clone(dep)
                if others:
                    updated["metadata"]["ownerReferences"] = others
                else:
                    del updated["metadata"]["ownerReferences"]
                self.store.put(key, updated)
                continue
            versions = self.registry.versions_of(key)
            if versions:
                self.delete(versions[0], dep, policy)
            else:
                self._remove(key, dep)

    def _delete_namespace(self, ns: dict) -> tuple[bool, dict]:
        if ns["metadata"].get("deletionTimestamp"):
            return False, ns
        name = ns["metadata"]["name"]
        terminating = clone(ns)
        terminating["metadata"]["deletionTimestamp"] = rfc3339()
        terminating["metadata"]["deletionGracePeriodSeconds"] = 0
        terminating.setdefault("status", {})["phase"] = "Terminating"
        self.store.put(("", "namespaces"), terminating)
        reported = clone(terminating)
        for key in self.store.keys():
            for obj in self.store.items(key, name):
                if obj["metadata"].get("namespace") == name:
                    self._remove(key, obj)
        self._remove(("", "namespaces"), terminating)
        return False, reported
