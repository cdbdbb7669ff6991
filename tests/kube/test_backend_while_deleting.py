"""%%kf_train --replace, re-submit and cancel on a cluster whose garbage collector is asynchronous, as every real
one is (issue 15): right after a delete the old run's bundle Secret (owned by the deleted workload) and pods are
still there for a moment, and a Foreground-deleted workload is "being deleted". The emulator's ``gc_delay`` opens
that window; the backend must not mistake it for a name that is taken."""
from __future__ import annotations

from jupyter_kf.training import api
from tests.support.fake_kubelet import FakeKubelet
from tests.support.k8s_emulator.testing import eventually

KIND = "pytorchjob"  # its pods are owned by the workload itself: the GC's whole chain is emulated


def _finished(cluster, name: str, code: str, suffix: str):
    job = api.train(code, name=name, user_ns={}, kind=KIND)
    FakeKubelet(cluster, suffix=suffix).run("default", name)
    assert job.wait(timeout=30).phase == "Succeeded"
    return job


def test_replace_while_the_old_runs_dependents_are_still_being_collected(kf_cluster):
    _finished(kf_cluster, "rerun", "answer = 1", "zzzzz")
    kf_cluster.gc_delay = 3.0  # the old bundle Secret outlives its TrainJob for a while
    ns = {}
    second = api.train("answer = 2\nprint('second run')", name="rerun", user_ns=ns, replace=True, kind=KIND)
    assert kf_cluster.list_objects("", "v1", "pods", "default")  # the old run's pods: still there
    _collected(kf_cluster)
    FakeKubelet(kf_cluster, suffix="aaaaa").run("default", "rerun")
    assert second.wait(timeout=30).phase == "Succeeded"
    second.apply(ns)
    assert ns["answer"] == 2
    assert list(second.logs()) == ["second run"]


def _collected(cluster) -> None:
    """Wait for the GC to take the old run's pods: only then can the operator (which retries; the fake one here
    does not) make the new run's pods of the same names."""
    eventually(lambda: not cluster.list_objects("", "v1", "pods", "default"), timeout=20)


def test_cancel_then_resubmit_the_same_name(kf_cluster):
    kf_cluster.gc_delay = 3.0
    job = api.train("import time\ntime.sleep(60)", name="again", user_ns={}, kind=KIND)
    FakeKubelet(kf_cluster).run("default", "again", start_only=True)
    assert job.cancel().phase == "Cancelled"
    ns = {}
    second = api.train("answer = 3", name="again", user_ns=ns, replace=True, kind=KIND)
    _collected(kf_cluster)
    FakeKubelet(kf_cluster, suffix="bbbbb").run("default", "again")
    assert second.wait(timeout=30).phase == "Succeeded"
    second.apply(ns)
    assert ns["answer"] == 3
