"""Watch streams: one JSON event per line, replayed from the store's history.

Follows the watch cache: with no resourceVersion (or "0") the stream opens with a synthetic ADDED
per current object; with one, only newer events follow, or a single ``ERROR`` event with a 410
``Expired`` Status when history no longer reaches back that far. Selectors are applied to the old
and the new state of every change, so an object leaving the selection arrives as DELETED and one
entering it as ADDED. ``timeoutSeconds`` ends the stream cleanly; ``allowWatchBookmarks`` adds
BOOKMARK events (periodically, and just before a timeout ends the stream).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from tests.support.k8s_emulator.errors import status_body
from tests.support.k8s_emulator.resources import Resource
from tests.support.k8s_emulator.selectors import FieldSelector, LabelSelector
from tests.support.k8s_emulator.store import Store

HEARTBEAT = b""


@dataclass
class WatchSpec:
    resource: Resource
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    resource_version: int | None      # None: start with the current state
    timeout: float | None
    bookmarks: bool
    bookmark_interval: float
    send_initial_events: bool = False
    name: str | None = None           # /watch/.../<name> paths
    transform: Callable[[dict], dict] | None = None  # e.g. to a one-row Table (kubectl get -w)


def _out(spec: WatchSpec, obj: dict) -> dict:
    served = spec.resource.served(obj)
    return spec.transform(served) if spec.transform else served


def _encode(ev_type: str, obj: dict) -> bytes:
    return json.dumps({"type": ev_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


def _bookmark(spec: WatchSpec, rv: int, initial_end: bool = False) -> bytes:
    meta: dict = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _encode("BOOKMARK", {"kind": spec.resource.kind, "apiVersion": spec.resource.api_version,
                                "metadata": meta})


def expired_event(requested: int, oldest: int) -> bytes:
    return _encode("ERROR", status_body(410, "Expired", f"too old resource version: {requested} ({oldest})"))


def _matches(spec: WatchSpec, obj: dict | None) -> bool:
    if obj is None:
        return False
    meta = obj["metadata"]
    if spec.namespace is not None and meta.get("namespace") != spec.namespace:
        return False
    if spec.name is not None and meta.get("name") != spec.name:
        return False
    return spec.labels.matches(meta.get("labels")) and spec.fields.matches(obj)


def _translate(spec: WatchSpec, ev) -> bytes | None:
    """An event as this watcher sees it, after selector transitions."""
    was = ev.type != "ADDED" and _matches(spec, ev.prev)
    now = _matches(spec, ev.obj)
    if ev.type == "DELETED":
        return _encode("DELETED", _out(spec, ev.obj)) if _matches(spec, ev.obj) else None
    if now and not was:
        return _encode("ADDED", _out(spec, ev.obj))
    if was and not now:
        return _encode("DELETED", _out(spec, ev.obj))
    if now:
        return _encode(ev.type, _out(spec, ev.obj))
    return None


def stream(store: Store, spec: WatchSpec, stopping: Callable[[], bool]) -> Iterator[bytes]:
    """Take the starting point now (the watch is established when this returns), stream lazily."""
    epoch = store.epoch
    started = time.monotonic()
    with store.cond:
        if spec.resource_version not in (None, 0) and spec.resource_version < store.compacted_rv:
            first = [expired_event(spec.resource_version, store.compacted_rv)]
            cursor = None
        elif spec.resource_version in (None, 0) or spec.send_initial_events:
            first = [_encode("ADDED", _out(spec, o))
                     for o in store.items(spec.resource.key, spec.namespace) if _matches(spec, o)]
            cursor = store.rv
            if spec.send_initial_events:
                first.append(_bookmark(spec, cursor, initial_end=True))
        else:
            first, cursor = [], spec.resource_version
    return _events(store, spec, stopping, first, cursor, epoch, started)


def _events(store: Store, spec: WatchSpec, stopping: Callable[[], bool], first: list[bytes], cursor: int | None,
            epoch: int, started: float) -> Iterator[bytes]:
    key = spec.resource.key
    deadline = started + spec.timeout if spec.timeout else None
    yield from first
    if cursor is None:
        return
    last_bookmark = started
    while True:
        if stopping() or store.epoch != epoch:
            return
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            if spec.bookmarks:
                yield _bookmark(spec, cursor)
            return
        out: list[bytes] = []
        with store.cond:
            if cursor < store.compacted_rv:  # events this watcher had not received yet were compacted
                out.append(expired_event(cursor, store.compacted_rv))
                cursor = None
            else:
                events = store.events_after(cursor)
                if not events:
                    wait = min(0.5, spec.bookmark_interval - (now - last_bookmark)) if spec.bookmarks else 0.5
                    if deadline is not None:
                        wait = min(wait, deadline - now)
                    store.cond.wait(max(0.0, wait))
                    events = store.events_after(cursor)
                for ev in events:
                    cursor = ev.rv
                    if ev.key == key:
                        data = _translate(spec, ev)
                        if data:
                            out.append(data)
        if cursor is None:
            yield from out
            return
        if spec.bookmarks and time.monotonic() - last_bookmark >= spec.bookmark_interval:
            out.append(_bookmark(spec, cursor))
            last_bookmark = time.monotonic()
        if out:
            yield from out
        else:
            yield HEARTBEAT
