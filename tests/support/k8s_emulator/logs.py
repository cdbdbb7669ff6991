"""Pod logs: per-container buffers the tests write, and the ``pods/log`` subresource semantics.

A real apiserver proxies ``GET .../pods/p/log`` to the kubelet, so its answers depend on the pod:
an unscheduled pod (no ``spec.nodeName``) gives an empty 200, a waiting container gives the kubelet's
400 ``container "c" in pod "p" is waiting to start: ContainerCreating``, ``follow`` streams until the
container terminates. :func:`select_container` and :func:`check_started` reproduce those answers;
:class:`LogStore` holds the text and :func:`render`/:func:`follow` produce the bytes.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Iterator

from tests.support.k8s_emulator.errors import ApiError, bad_request, invalid
from tests.support.k8s_emulator.meta import now, parse_time, rfc3339_nano
from tests.support.k8s_emulator.schema import FieldError
from tests.support.k8s_emulator.store import Store

HEARTBEAT = b""  # yielded while idle so the writer can notice a closed client


@dataclass(frozen=True)
class LogLine:
    time: _dt.datetime
    text: str  # one line, with its trailing "\n" when the program wrote one


class LogStore:
    """Log lines per (namespace, pod, container), current and previous container instance."""

    def __init__(self, store: Store):
        self._store = store
        self._current: dict[tuple, list[LogLine]] = {}
        self._previous: dict[tuple, list[LogLine]] = {}

    def write(self, namespace: str, pod: str, container: str, text: str,
              timestamp: _dt.datetime | None = None) -> None:
        stamp = timestamp or now()
        with self._store.cond:
            lines = self._current.setdefault((namespace, pod, container), [])
            for part in text.splitlines(keepends=True):
                lines.append(LogLine(stamp, part))
            self._store.cond.notify_all()

    def lines(self, namespace: str, pod: str, container: str, previous: bool = False) -> list[LogLine] | None:
        table = self._previous if previous else self._current
        with self._store.cond:
            found = table.get((namespace, pod, container))
            return list(found) if found is not None else None

    def restart(self, namespace: str, pod: str, container: str) -> None:
        """The container restarted: its log becomes ``previous=true``, the new one starts empty."""
        with self._store.cond:
            key = (namespace, pod, container)
            self._previous[key] = self._current.pop(key, [])
            self._store.cond.notify_all()

    def drop_pod(self, namespace: str, pod: str) -> None:
        with self._store.cond:
            for table in (self._current, self._previous):
                for key in [k for k in table if k[:2] == (namespace, pod)]:
                    del table[key]

    def clear(self) -> None:
        with self._store.cond:
            self._current.clear()
            self._previous.clear()


@dataclass
class LogOptions:
    container: str = ""
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    since: _dt.datetime | None = None

    @classmethod
    def from_query(cls, query: dict, pod_name: str) -> "LogOptions":
        def flag(name):
            return query.get(name, "").lower() in ("true", "1")

        def integer(name):
            if query.get(name) in (None, ""):
                return None
            try:
                return int(query[name])
            except ValueError:
                raise bad_request(f'invalid value for {name}: strconv.ParseInt: parsing "{query[name]}": '
                                  "invalid syntax")

        opts = cls(container=query.get("container", ""), follow=flag("follow"), previous=flag("previous"),
                   timestamps=flag("timestamps"), tail_lines=integer("tailLines"), limit_bytes=integer("limitBytes"))
        since_seconds = integer("sinceSeconds")
        errs = []
        if opts.tail_lines is not None and opts.tail_lines < 0:
            errs.append(FieldError("FieldValueInvalid", "tailLines", opts.tail_lines,
                                   "must be greater than or equal to 0"))
        if opts.limit_bytes is not None and opts.limit_bytes < 1:
            errs.append(FieldError("FieldValueInvalid", "limitBytes", opts.limit_bytes, "must be greater than 0"))
        if since_seconds is not None and since_seconds < 1:
            errs.append(FieldError("FieldValueInvalid", "sinceSeconds", since_seconds, "must be greater than 0"))
        if since_seconds is not None and query.get("sinceTime"):
            errs.append(FieldError("FieldValueForbidden", "",
                                   detail="at most one of `sinceTime` or `sinceSeconds` may be specified"))
        if errs:
            raise invalid("PodLogOptions", "", pod_name, errs)
        if since_seconds is not None:
            opts.since = now() - _dt.timedelta(seconds=since_seconds)
        elif query.get("sinceTime"):
            try:
                opts.since = parse_time(query["sinceTime"])
            except ValueError:
                raise bad_request(f'parsing time "{query["sinceTime"]}" as "2006-01-02T15:04:05Z07:00": cannot parse')
        return opts


def _all_containers(pod: dict) -> list[str]:
    spec = pod.get("spec") or {}
    return [c.get("name") for part in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(part) or [] if isinstance(c, dict)]


def select_container(pod: dict, requested: str) -> str:
    """validateContainer() of pkg/registry/core/pod/strategy.go."""
    name = pod["metadata"]["name"]
    containers = (pod.get("spec") or {}).get("containers") or []
    if not requested:
        if len(containers) == 1:
            return containers[0]["name"]
        if not containers:
            raise bad_request(f"a container name must be specified for pod {name}")
        raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                          f"[{' '.join(_all_containers(pod))}]")
    if requested not in _all_containers(pod):
        raise bad_request(f"container {requested} is not valid for pod {name}")
    return requested


def _container_status(pod: dict, container: str) -> dict | None:
    status = pod.get("status") or {}
    for part in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(part) or []:
            if cs.get("name") == container:
                return cs
    return None


def check_started(pod: dict, container: str, previous: bool) -> None:
    """The kubelet's validateContainerLogStatus(): 400 while a container has not started."""
    name = pod["metadata"]["name"]
    cs = _container_status(pod, container) or {}
    state = cs.get("state") or {}
    if previous:
        if not (cs.get("lastState") or {}).get("terminated"):
            raise _kubelet_error(pod, f'previous terminated container "{container}" in pod "{name}" not found')
        return
    if "waiting" in state or not state:
        reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
        text = {"ErrImagePull": "image can't be pulled",
                "ImagePullBackOff": "trying and failing to pull image"}.get(reason, reason)
        raise _kubelet_error(pod, f'container "{container}" in pod "{name}" is waiting to start: {text}')


def _kubelet_error(pod: dict, message: str) -> ApiError:
    """A kubelet 400 relayed by the apiserver (genericHttpResponseChecker)."""
    return ApiError(400, "BadRequest", message, {"name": pod["metadata"]["name"], "kind": "pods"})


def container_finished(pod: dict | None, container: str) -> bool:
    if pod is None or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return True
    return "terminated" in ((_container_status(pod, container) or {}).get("state") or {})


def _format(line: LogLine, timestamps: bool) -> bytes:
    text = f"{rfc3339_nano(line.time)} {line.text}" if timestamps else line.text
    return text.encode()


def _initial(lines: list[LogLine], opts: LogOptions) -> list[LogLine]:
    if opts.since is not None:
        lines = [ln for ln in lines if ln.time >= opts.since]
    if opts.tail_lines is not None:
        lines = lines[-opts.tail_lines:] if opts.tail_lines else []
    return lines


def render(lines: list[LogLine], opts: LogOptions) -> bytes:
    data = b"".join(_format(ln, opts.timestamps) for ln in _initial(lines, opts))
    return data[:opts.limit_bytes] if opts.limit_bytes is not None else data


def follow(store: Store, logs: LogStore, namespace: str, pod_name: str, container: str, opts: LogOptions,
           stopping) -> Iterator[bytes]:
    """Stream existing lines then new ones until the container terminates or the pod goes away."""
    epoch = store.epoch
    budget = opts.limit_bytes
    with store.cond:
        lines = logs.lines(namespace, pod_name, container) or []
        sent = len(lines)
        chunk = b"".join(_format(ln, opts.timestamps) for ln in _initial(lines, opts))
    while True:
        if chunk:
            if budget is not None:
                chunk = chunk[:budget]
                budget -= len(chunk)
            yield chunk
            if budget is not None and budget <= 0:
                return
        else:
            yield HEARTBEAT
        with store.cond:
            lines = logs.lines(namespace, pod_name, container) or []
            if len(lines) <= sent:
                pod = store.get(("", "pods"), namespace, pod_name)
                if container_finished(pod, container) or store.epoch != epoch or stopping():
                    return
                store.cond.wait(0.5)
                lines = logs.lines(namespace, pod_name, container) or []
            chunk = b"".join(_format(ln, opts.timestamps) for ln in lines[sent:])
            sent = max(sent, len(lines))
