"""The in-memory "etcd": objects, one global resourceVersion counter, and the event history.

Every write gets the next resourceVersion and appends an :class:`Event`; watches replay the history
after the resourceVersion they start from, and paged lists rebuild the state at the snapshot their
``continue`` token names. :meth:`Store.compact` drops history so both answer 410 Gone, as after an
etcd compaction.

Objects held here are never mutated in place: writers hand over new dicts and readers must copy
before changing anything. That keeps big objects (a 2 MB CRD) cheap to read and safe to share with
watch threads.
"""
from __future__ import annotations

import bisect
import json
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    rv: int
    type: str          # ADDED, MODIFIED or DELETED
    key: tuple         # (group, plural)
    obj: dict          # the object after the change; for DELETED its last state with the deletion's rv
    prev: dict | None  # the object before the change


class Store:
    def __init__(self, max_history: int = 200_000) -> None:
        # One re-entrant lock for the whole server: handlers hold it across read-modify-write, and
        # watch/log streams wait on the condition for new events.
        self.cond = threading.Condition(threading.RLock())
        self.max_history = max_history
        self._rv = 1
        self._objects: dict[tuple, dict[tuple, dict]] = {}
        self._history: list[Event] = []
        self._history_rvs: list[int] = []
        self.compacted_rv = 1       # history is complete for rv > compacted_rv
        self.epoch = 0              # bumped by reset(): open streams end

    # -- reads ---------------------------------------------------------------------------------------
    @property
    def rv(self) -> int:
        return self._rv

    def get(self, key: tuple, namespace: str, name: str) -> dict | None:
        return self._objects.get(key, {}).get((namespace, name))

    def items(self, key: tuple, namespace: str | None = None) -> list[dict]:
        """Objects of a resource in etcd key order (namespace, then name)."""
        table = self._objects.get(key, {})
        return [table[k] for k in sorted(table) if namespace is None or k[0] == namespace]

    def keys(self) -> list[tuple]:
        return list(self._objects)

    def snapshot(self, key: tuple, at_rv: int) -> list[dict]:
        """The objects of a resource as they were at ``at_rv`` (needs history back to it)."""
        with self.cond:
            table = dict(self._objects.get(key, {}))
            start = bisect.bisect_right(self._history_rvs, at_rv)
            for ev in reversed(self._history[start:]):
                if ev.key != key:
                    continue
                ident = _ident(ev.obj)
                if ev.type == "ADDED":
                    table.pop(ident, None)
                else:
                    table[ident] = ev.prev
            return [table[k] for k in sorted(table) if table[k] is not None]

    def events_after(self, rv: int) -> list[Event]:
        i = bisect.bisect_right(self._history_rvs, rv)
        return self._history[i:]

    # -- writes (callers hold self.cond) ---------------------------------------------------------------
    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _record(self, ev_type: str, key: tuple, obj: dict, prev: dict | None) -> None:
        ev = Event(int(obj["metadata"]["resourceVersion"]), ev_type, key, obj, prev)
        self._history.append(ev)
        self._history_rvs.append(ev.rv)
        if len(self._history) > self.max_history:
            drop = len(self._history) - self.max_history
            self.compacted_rv = self._history_rvs[drop - 1]
            del self._history[:drop], self._history_rvs[:drop]
        self.cond.notify_all()

    def put(self, key: tuple, obj: dict) -> dict:
        """Create or replace ``obj`` (a fresh dict, now owned by the store) with a new resourceVersion."""
        with self.cond:
            obj["metadata"]["resourceVersion"] = self._next_rv()
            ident = _ident(obj)
            table = self._objects.setdefault(key, {})
            prev = table.get(ident)
            table[ident] = obj
            self._record("MODIFIED" if prev is not None else "ADDED", key, obj, prev)
            return obj

    def remove(self, key: tuple, namespace: str, name: str) -> dict | None:
        """Delete an object; returns its last state carrying the deletion's resourceVersion."""
        with self.cond:
            prev = self._objects.get(key, {}).pop((namespace, name), None)
            if prev is None:
                return None
            final = dict(prev)
            final["metadata"] = dict(prev["metadata"], resourceVersion=self._next_rv())
            self._record("DELETED", key, final, prev)
            return final

    def compact(self, rv: int | None = None) -> int:
        """Forget history up to ``rv`` (default: everything); older watches and continues get 410."""
        with self.cond:
            rv = self._rv if rv is None else rv
            i = bisect.bisect_right(self._history_rvs, rv)
            del self._history[:i], self._history_rvs[:i]
            self.compacted_rv = max(self.compacted_rv, rv)
            return self.compacted_rv

    def end_streams(self) -> None:
        """Open watch and log streams finish cleanly, as when an apiserver's request timeout expires."""
        with self.cond:
            self.epoch += 1
            self.cond.notify_all()

    def notify(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def clear(self) -> None:
        """Drop every object and all history; open streams see the new epoch and end."""
        with self.cond:
            self._objects.clear()
            self._history.clear()
            self._history_rvs.clear()
            self.compacted_rv = self._rv
            self.epoch += 1
            self.cond.notify_all()


def _ident(obj: dict) -> tuple:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def clone(obj):
    """A deep copy of a JSON document (faster than copy.deepcopy for plain JSON)."""
    return json.loads(json.dumps(obj))
