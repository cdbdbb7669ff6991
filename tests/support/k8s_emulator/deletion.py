"""Deletion: finalizers, ``deletionTimestamp``, propagation policies and the garbage collector.

The apiserver marks an object with finalizers (including the ``orphan``/``foregroundDeletion`` ones
a propagation policy adds) as terminating and lets controllers finish the job. The emulator runs the
garbage collector's part synchronously, so when a DELETE returns its dependents are already handled:

* Background: the owner goes at once (DELETED), then its dependents are deleted;
* Foreground: owner MODIFIED (deletionTimestamp + ``foregroundDeletion``), dependents deleted, owner DELETED;
* Orphan: owner MODIFIED (``orphan``), dependents lose their ownerReference, owner DELETED.

Other finalizers are left for the test (or code under test) to remove; the update that removes the
last one deletes the object. A deleted namespace goes Terminating, its contents are deleted (those with
finalizers stay until they are released) and it is removed once empty, as the namespace controller does.
"""
from __future__ import annotations

import threading

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
        self.gc_delay: float | None = None  # None: the GC acts within the DELETE; seconds: it acts that much later
        self._generation = 0  # bumped by reset(): pending GC work from before is dropped
        self.pod_termination: float | None = None  # None: pods go at once; seconds: a kubelet stops them first

    def reset(self) -> None:
        with self.store.cond:
            self._generation += 1
            self.gc_delay = None
            self.pod_termination = None

    def _later(self, work) -> None:
        """Run the garbage collector's ``work`` now, or ``gc_delay`` seconds later in its own thread (as the
        real, asynchronous GC does: dependents linger and Foreground owners stay "being deleted" meanwhile).
        Work scheduled before a reset is dropped."""
        if self.gc_delay is None:
            work()
            return
        generation = self._generation

        def run():
            with self.store.cond:
                if self._generation == generation:
                    work()

        timer = threading.Timer(self.gc_delay, run)
        timer.daemon = True
        timer.start()

    def delete(self, resource: Resource, obj: dict, policy: str, grace: int | None = None) -> tuple[bool, dict]:
        """Delete ``obj``; returns (removed at once?, the state to answer with). ``grace``: the request's
        gracePeriodSeconds (pods)."""
        with self.store.cond:
            if resource.key == ("", "namespaces"):
                return self._delete_namespace(obj)
            meta = obj["metadata"]
            if resource.key == ("", "pods") and self._graceful(obj, grace):
                return False, self._terminate_pod(obj, grace)
            if meta.get("deletionTimestamp"):
                if resource.key == ("", "pods") and grace == 0 and not meta.get("finalizers"):
                    return True, self._remove(resource.key, obj)  # --force: the kubelet is not waited for
                return False, obj
            gc_finalizer = GC_FINALIZERS.get(policy)
            finalizers = list(meta.get("finalizers") or [])
            if not gc_finalizer and not finalizers:
                final = self._remove(resource.key, obj)
                self._later(lambda: self._collect(obj, "Background"))
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
            if policy == "Orphan":
                self._later(lambda: (self._collect(marked, policy),
                                     self._drop_finalizer(resource.key, marked, gc_finalizer)))
            elif policy == "Foreground":
                self._later(lambda: (self._collect(marked, policy), self._release_owner(resource.key, marked)))
            return False, reported

    def _graceful(self, pod: dict, grace: int | None) -> bool:
        """A running pod on a node is stopped by its kubelet first, when ``pod_termination`` emulates one."""
        phase = (pod.get("status") or {}).get("phase")
        return (self.pod_termination is not None and grace != 0 and not pod["metadata"].get("deletionTimestamp")
                and bool((pod.get("spec") or {}).get("nodeName")) and phase not in ("Succeeded", "Failed"))

    def _terminate_pod(self, pod: dict, grace: int | None) -> dict:
        """Terminating: deletionTimestamp = now + grace period; the kubelet ends the containers after
        ``pod_termination`` seconds and deletes the pod for good (finalizers still hold it)."""
        from datetime import datetime, timedelta, timezone

        seconds = grace if grace is not None else (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        marked = clone(pod)
        m = marked["metadata"]
        m["deletionTimestamp"] = (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
        m["deletionGracePeriodSeconds"] = seconds
        stored = self.store.put(("", "pods"), marked)
        generation = self._generation
        namespace, name, uid = m["namespace"], m["name"], m.get("uid")

        def kubelet_done():
            with self.store.cond:
                current = self.store.get(("", "pods"), namespace, name)
                if self._generation != generation or current is None or current["metadata"].get("uid") != uid:
                    return
                final = clone(current)
                final["metadata"]["deletionGracePeriodSeconds"] = 0
                if not self.finish_if_released(("", "pods"), final):
                    self.store.put(("", "pods"), final)

        timer = threading.Timer(self.pod_termination, kubelet_done)
        timer.daemon = True
        timer.start()
        return clone(stored)

    def finish_if_released(self, key: tuple, obj: dict) -> bool:
        """After an update: a terminating object whose last finalizer is gone is deleted."""
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(key, obj)
            self._later(lambda: self._collect(obj, "Background"))
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
        if final is not None:
            for ref in meta.get("ownerReferences") or []:
                owner_key = self._key_of(ref)
                if owner_key is not None:
                    for owner in self.store.items(owner_key, meta.get("namespace") or None):
                        if owner["metadata"].get("uid") == ref.get("uid"):
                            self._release_owner(owner_key, owner)
        if meta.get("namespace"):
            self.finish_namespace(meta["namespace"])
        return final if final is not None else obj

    def _key_of(self, ref: dict) -> tuple | None:
        for r in self.registry.all():
            if r.api_version == ref.get("apiVersion") and r.kind == ref.get("kind"):
                return r.key
        return None

    def _release_owner(self, key: tuple, owner: dict) -> None:
        """A Foreground-deleted owner loses ``foregroundDeletion`` (and goes) once no dependent is left."""
        current = self.store.get(key, owner["metadata"].get("namespace") or "", owner["metadata"]["name"])
        if current is None or "foregroundDeletion" not in (current["metadata"].get("finalizers") or []):
            return
        if not current["metadata"].get("deletionTimestamp") or self._dependents(current):
            return
        self._drop_finalizer(key, current, "foregroundDeletion")

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
            # the GC deletes a dependent in the foreground only when it has dependents of its own
            dep_policy = "Foreground" if policy == "Foreground" and self._dependents(dep) else "Background"
            if versions:
                self.delete(versions[0], dep, dep_policy)
            else:
                self._remove(key, dep)

    def _delete_namespace(self, ns: dict) -> tuple[bool, dict]:
        """Terminating at once; the namespace controller then deletes its contents (finalizers honoured) and
        removes it once nothing is left, which may be later: see :meth:`finish_namespace`."""
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
            versions = self.registry.versions_of(key)
            for listed in self.store.items(key, name):
                obj = self.store.get(key, name, listed["metadata"]["name"])  # the GC may have taken it meanwhile
                if obj is None or obj["metadata"].get("namespace") != name or obj["metadata"].get("deletionTimestamp"):
                    continue
                if versions:
                    self.delete(versions[0], obj, "Background")
                else:
                    self._remove(key, obj)
        self.finish_namespace(name)
        return False, reported

    def finish_namespace(self, name: str) -> None:
        """Remove a terminating namespace that is empty; else report what remains in its conditions, with the
        namespace controller's messages."""
        ns = self.store.get(("", "namespaces"), "", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        for key in self.store.keys():
            for obj in self.store.items(key, name):
                if obj["metadata"].get("namespace") == name:
                    label = f"{key[1]}.{key[0]}"
                    remaining[label] = remaining.get(label, 0) + 1
                    for f in obj["metadata"].get("finalizers") or []:
                        finalizers[f] = finalizers.get(f, 0) + 1
        if not remaining:
            self.store.remove(("", "namespaces"), "", name)
            return
        now = rfc3339()
        content = ", ".join(f"{r} has {n} resource instances" for r, n in sorted(remaining.items()))
        conditions = [{"type": "NamespaceContentRemaining", "status": "True", "lastTransitionTime": now,
                       "reason": "SomeResourcesRemain", "message": f"Some resources are remaining: {content}"}]
        if finalizers:
            held = ", ".join(f"{f} in {n} resource instances" for f, n in sorted(finalizers.items()))
            conditions.append({"type": "NamespaceFinalizersRemaining", "status": "True", "lastTransitionTime": now,
                               "reason": "SomeFinalizersRemain",
                               "message": f"Some content in the namespace has finalizers remaining: {held}"})
        updated = clone(ns)
        old = {c["type"]: c for c in (ns.get("status") or {}).get("conditions") or []}
        for c in conditions:
            if c["type"] in old and old[c["type"]]["message"] == c["message"]:
                c["lastTransitionTime"] = old[c["type"]]["lastTransitionTime"]
        updated["status"]["conditions"] = conditions
        if updated != ns:
            self.store.put(("", "namespaces"), updated)
