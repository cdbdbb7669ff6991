"""%%kf_train --replace, re-submit and cancel on a cluster whose garbage collector is asynchronous, as every real
one is (issue 15): right after a delete the old run's bundle Secret (owned by the deleted workload) and pods are
still there for a moment, and a Foreground-deleted workload is "being deleted". The emulator's ``gc_delay`` opens
that window; the backend must not mistake it for a name that is taken. The simulating mode runs the pods."""
from __future__ import annotations

from jupyter_kf.training import api
from tests.support.helpers import wait_for_phase, waits_for

KIND = "pytorchjob"  # its pods are owned by the workload itself: the GC's whole chain is emulated


def _finished(name: str, code: str):
    job = api.train(code, name=name, user_ns={}, kind=KIND)
    assert job.wait(timeout=60).phase == "Succeeded"
    return job


def _pod_uids(cluster) -> set:
    return {p["metadata"]["uid"] for p in cluster.list_objects("", "v1", "pods", "default")}


def test_replace_while_the_old_runs_dependents_are_still_being_collected(simulated_cluster):
    cluster = simulated_cluster
    _finished("rerun", "answer = 1")
    old_pods = _pod_uids(cluster)
    cluster.gc_delay = 3.0  # the old bundle Secret outlives its workload for a while
    ns = {}
    second = api.train("answer = 2\nprint('second run')", name="rerun", user_ns=ns, replace=True, kind=KIND)
    assert old_pods & _pod_uids(cluster)  # the old run's pods: still there
    assert second.wait(timeout=60).phase == "Succeeded"  # the operator makes the new pods once the old ones are gone
    assert not old_pods & _pod_uids(cluster)
    second.apply(ns)
    assert ns["answer"] == 2
    assert list(second.logs()) == ["second run"]


def test_cancel_then_resubmit_the_same_name(simulated_cluster, tmp_path):
    simulated_cluster.gc_delay = 3.0
    job = api.train(waits_for(tmp_path / "never", "pass"), name="again", user_ns={}, kind=KIND)
    wait_for_phase(job, "Running", timeout=60)  # its pods run, waiting on a gate never opened
    assert job.cancel().phase == "Cancelled"
    ns = {}
    second = api.train("answer = 3", name="again", user_ns=ns, replace=True, kind=KIND)
    status = second.wait(timeout=60)
    assert status.phase == "Succeeded", (status, list(second.logs()))
    second.apply(ns)
    assert ns["answer"] == 3
