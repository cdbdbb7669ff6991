"""The watch layer (jupyter_kf/kube/watch.py) against the Kubernetes API emulator: informers survive 410 Gone,
log followers resume after a reconnect without repeating a line. Waits are on events and requests, not sleeps."""
import functools
import threading
from datetime import datetime, timedelta, timezone

import pytest
from kubernetes import client

from jupyter_kf.kube.watch import Informer, LogFollower
from tests.support.k8s_emulator.testing import eventually


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
    informer.stopped = True


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
