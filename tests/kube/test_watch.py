"""The watch layer (jupyter_kf/kube/watch.py) against the Kubernetes API emulator: informers survive 410 Gone,
log followers resume after a reconnect without repeating a line. Waits are on events and requests, not sleeps."""
import functools
import threading
from datetime import datetime, timedelta, timezone

import pytest
from kubernetes import client

from jupyter_kf.kube.watch import Informer, LogFollower
from tests.support.k8s_emulator.testing import eventually


def _stop(k8s_emulator, informer):
    """End the informer's thread: stopped, then its watch ended (no watch lingers on the shared emulator).

    The streams are closed until the thread is gone: a close that lands between the informer's list and its
    next watch ends nothing, and that watch would otherwise live its whole timeout."""
    informer.stopped = True
    for _ in range(60):
        k8s_emulator.close_streams()
        informer.thread.join(0.5)
        if not informer.thread.is_alive():
            return
    raise AssertionError("the informer's thread did not end once stopped")


@pytest.fixture
def core(k8s_api_client):
    return client.CoreV1Api(k8s_api_client)


def test_informer_lists_again_after_410_gone(k8s_emulator, core):
    """The watch from the first list's version is compacted away: the API server answers ERROR 410, which the
    client raises as an ApiException; the informer must list again and keep following, not stop."""
    lists = []

    @functools.wraps(core.list_namespaced_pod)  # Watch reads the return type from the docstring
    def list_pods(*args, **kwargs):
        response = core.list_namespaced_pod(*args, **kwargs)
        if not kwargs.get("watch"):
            lists.append(kwargs)
            if len(lists) == 1:  # history moves on and is compacted before the watch starts
                k8s_emulator.make_pod("default", "unrelated", labels={"app": "other"})
                k8s_emulator.compact()
        return response

    informer = Informer(None, list_pods, ("default",), "app=kf", threading.Condition())
    assert informer.synced.wait(5)
    k8s_emulator.make_pod("default", "p1", labels={"app": "kf"})
    eventually(lambda: "p1" in informer.objects, timeout=15)
    assert len(lists) >= 2 and informer.thread.is_alive()
    assert "unrelated" not in informer.objects
    _stop(k8s_emulator, informer)


def test_log_follower_resumes_without_repeating_lines(k8s_emulator, core):
    k8s_emulator.make_pod("default", "worker", phase="Running")
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=2)
    # Two lines share the last timestamp: only counting lines per timestamp tells them apart.
    for text, ms in (("a", 0), ("b", 1), ("c1", 2), ("c2", 2)):
        k8s_emulator.write_log("default", "worker", text + "\n", timestamp=t0 + timedelta(milliseconds=ms))
    ended = threading.Event()
    follower = LogFollower(None, core, "default", "worker", ended.is_set, threading.Condition())
    eventually(lambda: follower.total == 4, timeout=10)

    k8s_emulator.close_streams()  # the API server ends the follow: the follower reconnects, gets it all again
    eventually(lambda: len(k8s_emulator.requests_matching(path="/pods/worker/log")) >= 2, timeout=10)
    k8s_emulator.write_log("default", "worker", "d\n", timestamp=t0 + timedelta(milliseconds=3))
    eventually(lambda: "d" in follower.lines, timeout=10)
    assert list(follower.lines) == ["a", "b", "c1", "c2", "d"]
    assert follower.since(3) == (["c2", "d"], 5)

    ended.set()
    k8s_emulator.set_pod_phase("default", "worker", "Succeeded", exit_code=0)
    k8s_emulator.close_streams()
    assert follower.done.wait(10)


def test_informer_follows_changes_and_clears_a_failure_it_retried_past(k8s_emulator, core):
    k8s_emulator.fail_next("list", "/pods", status=500)
    changed = threading.Condition()
    informer = Informer(None, core.list_namespaced_pod, ("default",), "app=kf", changed)
    assert informer.synced.wait(10)
    assert informer.last_error == "watching pods in namespace default: ServiceException: HTTP 500 Internal Server Error"
    k8s_emulator.wait_for_requests(verb="watch", resource="pods")
    k8s_emulator.make_pod("default", "p1", labels={"app": "kf"})
    k8s_emulator.make_pod("default", "p2", labels={"app": "other"})
    with changed:
        assert changed.wait_for(lambda: "p1" in informer.objects, timeout=10)
    k8s_emulator.set_pod_phase("default", "p1", "Running")
    eventually(lambda: informer.objects["p1"]["status"]["phase"] == "Running", timeout=10)
    k8s_emulator.delete_object("", "v1", "pods", "default", "p1")
    eventually(lambda: "p1" not in informer.objects, timeout=10)
    assert "p2" not in informer.objects
    k8s_emulator.close_streams()  # a watch that ended cleanly: the failure before it is history
    eventually(lambda: informer.last_error is None, timeout=10)
    _stop(k8s_emulator, informer)


def test_log_follower_keeps_a_bounded_buffer(k8s_emulator, core, monkeypatch):
    from jupyter_kf.kube import watch

    monkeypatch.setattr(watch, "LOG_LINES_KEPT", 3)
    k8s_emulator.make_pod("default", "talker", phase="Running")
    k8s_emulator.write_log("default", "talker", "".join(f"line {i}\n" for i in range(5)))
    follower = LogFollower(None, core, "default", "talker", lambda: True, threading.Condition())
    eventually(lambda: follower.total == 5, timeout=10)
    assert follower.since(0) == (["line 2", "line 3", "line 4"], 5)  # lines 0 and 1 fell out
    assert follower.since(4) == (["line 4"], 5) and follower.since(5) == ([], 5)
    k8s_emulator.set_pod_phase("default", "talker", "Succeeded", exit_code=0)
    assert follower.done.wait(10)


def test_timestamps_compare_as_times_not_text():
    from jupyter_kf.kube.watch import epoch, ts_key

    assert ts_key("2026-01-01T00:00:00.5Z") > ts_key("2026-01-01T00:00:00.123456789Z")  # Go trims zeros
    assert ts_key("2026-01-01T00:00:01Z") > ts_key("2026-01-01T00:00:00.999999999Z")
    assert ts_key("2026-01-01T00:00:00.5Z") == ts_key("2026-01-01T00:00:00.500000000Z")
    assert epoch("2026-01-01T00:00:01.75Z") == epoch("2026-01-01T00:00:00Z") + 1 == 1767225601.0


def test_a_repeated_failure_is_logged_once(caplog):
    from jupyter_kf.kube.watch import _noted

    err = ValueError("first line\nsecond line")
    with caplog.at_level("WARNING", logger="jupyter_kf.watch"):
        line = _noted("watching pods", err, None)
        assert _noted("watching pods", err, line) == line == "watching pods: ValueError: first line"
    assert [r.getMessage() for r in caplog.records] == ["watching pods: ValueError: first line (retrying)"]


def test_log_follower_keeps_lines_without_a_timestamp_and_goes_on():
    """A log line that lacks the timestamp asked for (a proxy or runtime that drops it) is kept whole, and
    the reconnect that follows still works: the follower never dies with a traceback on it."""
    calls = []

    class Stream:
        def __init__(self, data):
            self.data = data

        def stream(self, size):
            yield self.data

    class Core:
        def read_namespaced_pod_log(self, pod, namespace, **kwargs):
            calls.append(kwargs)
            first = b"2026-12-07T10:00:00.000000001Z stamped\nno stamp here\nalone\n"
            return Stream(first if len(calls) == 1 else b"2026-12-07T10:00:01Z later\n")

    ended = threading.Event()
    follower = LogFollower(None, Core(), "default", "odd", ended.is_set, threading.Condition())
    eventually(lambda: len(calls) >= 2, timeout=10)
    ended.set()
    assert follower.done.wait(10)
    assert list(follower.lines)[:4] == ["stamped", "no stamp here", "alone", "later"]
    assert follower.last_error is None
    assert "since_seconds" in calls[1]  # resumed from the last stamped line
