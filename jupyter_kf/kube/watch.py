"""Watch-fed caches, one per kernel and namespace: statuses without a request each, waiters woken by events.

An ``Informer`` lists a resource once, then watches from that resourceVersion; a 410 Gone (history
compacted) or a cut stream makes it list again and carry on. Log followers stream each pod's log
with timestamps, so a reconnect resumes exactly where it stopped: no line lost, none repeated.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from datetime import datetime, timezone

from jupyter_kf.terminal import render_line

LOG_LINES_KEPT = 20_000  # per pod: bounded memory however long a job talks
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")  # what timestamps=true puts before each line
# Katib's StdOut metrics collector sends the training container's output to a file, and its sidecar prints each
# line with a klog header (katib.md §0.7): on such a pod the job's output is that container's log, headers removed.
KATIB_COLLECTOR = "metrics-logger-and-collector"
_KLOG_HEADER = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [^\]\s]+\] ")


def output_container(pod: dict) -> str | None:
    """The container whose log is the job's output when it is not the pod's only one (Katib's collector)."""
    names = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    return KATIB_COLLECTOR if KATIB_COLLECTOR in names else None


def collector_line(text: str) -> str | None:
    """A line of the collector's log as the training printed it; None for the collector's own continuation lines."""
    found = _KLOG_HEADER.match(text)
    return text[found.end():] if found else None
log = logging.getLogger("jupyter_kf.watch")


def _noted(where: str, err: Exception, last: str | None) -> str:
    """Log what a background loop caught (it retries; a repeat of the last failure is not logged again)
    and return the line a status can show."""
    what = f"HTTP {err.status} {err.reason}" if hasattr(err, "status") and hasattr(err, "reason") else err
    line = f"{where}: {type(err).__name__}: {str(what).splitlines()[0] if str(what) else ''}"
    if line != last:
        log.warning("%s (retrying)", line)
    return line


def _slim(obj: dict) -> dict:
    """The object as cached: without ``managedFields``, often half of a real server's object, read by nothing here."""
    obj.get("metadata", {}).pop("managedFields", None)
    return obj


class Informer:
    def __init__(self, cluster, list_fn, args: tuple, selector: str, changed: threading.Condition):
        self.cluster, self.list_fn, self.args, self.selector = cluster, list_fn, args, selector
        self.objects: dict[str, dict] = {}
        self.synced = threading.Event()
        self.changed = changed
        self.stopped = False
        self.last_error: str | None = None  # the last failure the loop retried past, for a status to show
        resource = args[-1] if len(args) > 1 else list_fn.__name__.rpartition("_")[2] + "s"
        self.what = f"watching {resource} in namespace {args[-2] if len(args) > 1 else args[0]}"
        self.thread = threading.Thread(target=self._run, name=f"kf-informer-{args[-1]}", daemon=True)
        self.thread.start()

    def _list(self) -> str:
        resp = self.list_fn(*self.args, label_selector=self.selector, _preload_content=False)
        body = json.loads(resp.data)
        with self.changed:
            self.objects = {o["metadata"]["name"]: _slim(o) for o in body["items"]}
            self.changed.notify_all()
        self.synced.set()
        return body["metadata"].get("resourceVersion", "")

    def _run(self) -> None:
        from kubernetes import watch

        delay = 0.5
        while not self.stopped:
            try:
                version = self._list()
                stream = watch.Watch().stream(self.list_fn, *self.args, label_selector=self.selector,
                                              resource_version=version, timeout_seconds=300, allow_watch_bookmarks=True)
                for event in stream:
                    # No ERROR event gets here: the client raises it (410 Gone included) as an ApiException.
                    obj = event["raw_object"]
                    if event["type"] == "BOOKMARK":
                        continue
                    with self.changed:
                        if event["type"] == "DELETED":
                            self.objects.pop(obj["metadata"]["name"], None)
                        else:
                            self.objects[obj["metadata"]["name"]] = _slim(obj)
                        self.changed.notify_all()
                delay, self.last_error = 0.5, None
            except Exception as err:  # 410 Gone, network or server trouble: back off, list and watch again
                self.last_error = _noted(self.what, err, self.last_error)
                time.sleep(delay)
                delay = min(delay * 2, 10)


class LogFollower:
    """One pod's log, streamed (follow) into a bounded buffer; reconnects resume by timestamp."""

    def __init__(self, cluster, core_api, namespace: str, pod: str, finished, changed: threading.Condition,
                 container: str | None = None):
        self.cluster, self.core, self.namespace, self.pod = cluster, core_api, namespace, pod
        self.container = container  # None: the pod's only container; KATIB_COLLECTOR: Katib's sidecar
        self.finished = finished  # () -> bool: the pod's containers have ended
        self.changed = changed
        self.last_error: str | None = None
        self.lines: deque[str] = deque(maxlen=LOG_LINES_KEPT)
        self.total = 0  # lines ever received (cursor positions count from the first line)
        self.done = threading.Event()
        self._ts, self._n = "", 0
        threading.Thread(target=self._run, name=f"kf-log-{pod}", daemon=True).start()

    def _run(self) -> None:
        delay = 0.2
        while True:
            ended_before = self.finished()
            kwargs = {"follow": True, "timestamps": True, "_preload_content": False}
            if self.container:
                kwargs["container"] = self.container
            if self._ts:
                kwargs["since_seconds"] = max(1, int(time.time() - epoch(self._ts)) + 5)
            try:
                resp = self.core.read_namespaced_pod_log(self.pod, self.namespace, **kwargs)
                buffer = b""
                count_at: dict = {}
                last = ts_key(self._ts) if self._ts else None
                for chunk in resp.stream(4096):
                    buffer += chunk
                    *complete, buffer = buffer.split(b"\n")
                    for raw in complete:
                        ts, _, text = raw.decode("utf-8", "replace").partition(" ")
                        if not _STAMP.match(ts):  # a line without the timestamp asked for: kept whole, never
                            ts, text = "", f"{ts} {text}" if text else ts  # a resume point
                        if self.container == KATIB_COLLECTOR:
                            text = collector_line(text)
                            if text is None:
                                continue
                        text = render_line(text)  # a line redrawn with \r (tqdm): its last state
                        if ts:
                            key = ts_key(ts)
                            count_at[key] = count_at.get(key, 0) + 1
                            if last is not None and (key < last or (key == last and count_at[key] <= self._n)):
                                continue
                            self._ts, self._n, last = ts, count_at[key], None
                        with self.changed:
                            self.lines.append(text)
                            self.total += 1
                            self.changed.notify_all()
                delay, self.last_error = 0.2, None
            except Exception as err:
                self.last_error = _noted(f"following the log of pod {self.pod}", err, self.last_error)
                time.sleep(delay)
                delay = min(delay * 2, 5)
            if ended_before:  # the stream ended after the container had: nothing more will come
                self.done.set()
                with self.changed:
                    self.changed.notify_all()
                return
            time.sleep(0.05)

    def since(self, position: int) -> tuple[list[str], int]:
        """Lines after ``position`` (lines that fell out of the bounded buffer are skipped)."""
        first = self.total - len(self.lines)
        start = max(position, first)
        return list(self.lines)[start - first:], self.total


def epoch(ts: str) -> float:
    """Seconds since the epoch of an RFC 3339 timestamp (the API server's, always UTC)."""
    return datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()


def ts_key(ts: str) -> tuple[str, str]:
    """RFC3339Nano sorts wrongly as text (Go trims trailing zeros): compare seconds, then nanoseconds."""
    seconds, _, frac = ts.rstrip("Z").partition(".")
    return seconds, frac.ljust(9, "0")
