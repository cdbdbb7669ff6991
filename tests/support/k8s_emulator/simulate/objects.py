"""Helpers every simulated controller shares: owner references, owned objects, conditions, pod counts."""
from __future__ import annotations

import secrets
import string

from tests.support.k8s_emulator.meta import rfc3339
from tests.support.k8s_emulator.store import clone

TERMINAL = ("Succeeded", "Failed")


def controller_ref(owner: dict) -> dict:
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def owned_by(objects: list[dict], owner: dict) -> list[dict]:
    uid = owner["metadata"]["uid"]
    return [o for o in objects if any(ref.get("uid") == uid and ref.get("controller")
                                      for ref in o["metadata"].get("ownerReferences") or [])]


def random_suffix(length: int = 5) -> str:
    """The random tail of a generated name (the API server's alphabet has no vowels or look-alikes)."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def find_condition(status: dict, ctype: str) -> dict | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == ctype), None)


def is_true(status: dict, ctype: str) -> bool:
    return (find_condition(status, ctype) or {}).get("status") == "True"


def put_condition(status: dict, ctype: str, value: str, reason: str, message: str, probe: bool = False) -> bool:
    """Insert or update a condition (lastTransitionTime moves only with its status); True when it changed."""
    conditions = status.setdefault("conditions", [])
    now = rfc3339()
    old = find_condition(status, ctype)
    if old is not None and (old.get("status"), old.get("reason"), old.get("message")) == (value, reason, message):
        return False
    fresh = {"type": ctype, "status": value, "reason": reason, "message": message,
             "lastTransitionTime": now if old is None or old.get("status") != value else old["lastTransitionTime"]}
    if probe:
        fresh["lastProbeTime"] = now
    if old is None:
        conditions.append(fresh)
    else:
        conditions[conditions.index(old)] = fresh
    return True


def phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase", "Pending")


def active(pod: dict) -> bool:
    return phase(pod) not in TERMINAL and not pod["metadata"].get("deletionTimestamp")


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions") or [])


def pod_from_template(template: dict, namespace: str, name: str, owner: dict, labels: dict | None = None,
                      annotations: dict | None = None) -> dict:
    """A pod as a workload controller makes it from its template."""
    meta = clone(template.get("metadata") or {})
    meta.update(name=name, namespace=namespace, ownerReferences=[controller_ref(owner)])
    meta["labels"] = {**(meta.get("labels") or {}), **(labels or {})}
    meta["annotations"] = {**(meta.get("annotations") or {}), **(annotations or {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": clone(template.get("spec") or {})}


def status_writer(emulator, group: str, version: str, plural: str):
    """``write(obj, mutate)``: apply ``mutate`` to the stored object's status; no write when nothing changed."""
    def write(obj: dict, mutate) -> None:
        meta = obj["metadata"]
        current = emulator.get_object(group, version, plural, meta.get("namespace"), meta["name"])
        if current is None or current["metadata"]["uid"] != meta["uid"]:
            return
        before = clone(current.get("status") or {})
        after = clone(before)
        mutate(after)
        if after != before:
            emulator.set_status(group, version, plural, meta.get("namespace"), meta["name"], after)
    return write


def valid_letters(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch in string.ascii_lowercase + string.digits + "-")
