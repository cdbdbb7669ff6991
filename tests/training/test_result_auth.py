"""Results and logs come only from the job's own pods, and results only signed by its own run (issue item 10).

A pod counts as the job's when its owner chain leads to the workload's UID (pod -> Job -> JobSet ->
TrainJob); a decoy with the job's labels, or a replaced run's pod still terminating, does not. Results
are refused, never unpickled, unless their HMAC is made with this run's key, which the pod reads from
the bundle Secret (the pickled inputs travel in that Secret too: Kubernetes' view role reads ConfigMaps).
"""
import base64
import json
import pickle
import shutil

import pytest

from jupyter_kf.errors import KfError
from jupyter_kf.kube.objects import LABEL_JOB, LABEL_USER, MANAGED_BY, label_value
from jupyter_kf.training import api, runner
from jupyter_kf.training.backends import kubernetes as kubernetes_backend
from tests.support.helpers import pod_exit_codes
from tests.support.k8s_emulator.webhook_trainer import install_trainer

TRAINJOB = ("trainer.kubeflow.org", "v1alpha1", "trainjobs")
REFUSED = r"^the results of job '{}' failed authentication \(not signed with this run's key: another pod wrote them, or they were altered\), so they were not loaded; %kf_logs shows the job's output$"


@pytest.fixture(params=["jobset-readable", "jobset-forbidden"])
def cluster(simulated_cluster, request):
    """Trainer v2.3 with the JobSet API, simulated; a Kubeflow user may not read JobSets (their edit role has none)."""
    kf_cluster = simulated_cluster
    install_trainer(kf_cluster)
    if request.param == "jobset-forbidden":
        kf_cluster.deny("get", "jobsets", group="jobset.x-k8s.io")
    return kf_cluster


class Planted:
    """Unpickling this runs code: it creates ``path`` (what an attacker's pickle would do, harmlessly)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def crafted_result_lines(tmp_path, marker, key: str = "f" * 64) -> str:
    """A result block in the runner's format whose pickle creates ``marker`` when loaded, signed with ``key``."""
    path = tmp_path / "crafted.pkl"
    runner.write_frames(str(path), {"outputs": {"answer": Planted(marker)}, "mutated": {}}, pickle.Pickler)
    pickled = path.read_bytes()
    summary = json.dumps({"status": "ok", "rank": 0, "outputs": ["answer"], "mutated": [], "deleted": [], "imports": {},
                          "unpicklable": {}, "error": None, "has_value": False, "exit_code": 0}).encode()
    mark = runner.RESULT_MARK
    return (f"{mark} pkl {base64.b64encode(pickled).decode()}\n{mark} json {base64.b64encode(summary).decode()}\n"
            f"{mark} mac {runner.result_mac(key, summary, pickled)}\n{mark} end\n")


def test_a_decoy_pod_with_the_jobs_labels_is_ignored(cluster, tmp_path):
    ns = {}
    job = api.train("answer = 42\nprint('the real run')", name="victim", user_ns=ns)
    marker = tmp_path / "planted"
    labels = {**MANAGED_BY, LABEL_JOB: "victim", LABEL_USER: label_value(kubernetes_backend._user()),
              "jobset.sigs.k8s.io/jobset-name": "victim"}
    cluster.make_pod("default", "victim-node-0-0-zzzzz", labels=labels, phase="Running", containers=("node",),
                     annotations={"batch.kubernetes.io/job-completion-index": "0"})  # anyone may create such a pod
    cluster.write_log("default", "victim-node-0-0-zzzzz", "the decoy speaks\n" + crafted_result_lines(tmp_path, marker))
    cluster.set_pod_phase("default", "victim-node-0-0-zzzzz", "Succeeded", exit_code=0)  # a hand-made pod: no controller's
    status = job.wait(timeout=60)
    assert status.phase == "Succeeded" and len(status.workers) == 1
    job.apply(ns)
    assert ns["answer"] == 42 and not marker.exists()
    assert list(job.logs()) == ["the real run"]
    assert [s.workers[0].phase for s in api.jobs() if s.name == "victim"] == ["Succeeded"]


def test_a_replaced_runs_terminating_pod_is_ignored(cluster):
    ns = {}
    first = api.train("answer = 1\nprint('first run')", name="rerun", user_ns=ns)
    assert first.wait(timeout=60).phase == "Succeeded"
    old_pod = only_pod(cluster, "rerun")  # it lingers while it terminates (a grace period; here a finalizer)
    cluster.update_object("", "v1", "pods", "default", old_pod, lambda p: p["metadata"].update(finalizers=["example.com/grace"]))
    second = api.train("answer = 2\nprint('second run')", name="rerun", user_ns=ns, replace=True)
    assert cluster.get_object("", "v1", "pods", "default", old_pod)["metadata"].get("deletionTimestamp")
    status = second.wait(timeout=60)
    assert status.phase == "Succeeded" and len(status.workers) == 1
    second.apply(ns)
    assert ns["answer"] == 2
    assert list(second.logs()) == ["second run"]


def test_results_with_a_bad_hmac_are_refused_and_never_unpickled(simulated_cluster, tmp_path, kf_state_dir):
    """A pod of the job's own (its owner chain is right) whose log carries a result not signed with the run's key:
    the cell prints it and ends before the runner writes the real one."""
    ns = {}
    marker = tmp_path / "planted"
    forged = crafted_result_lines(tmp_path, marker)
    job = api.train(f"answer = 42\nprint({forged!r}, end='', flush=True)\n__import__('os')._exit(0)", name="forged",
                    user_ns=ns)
    assert job.wait(timeout=60).phase == "Succeeded"
    with pytest.raises(KfError, match=REFUSED.format("forged")) as err:
        job.apply(ns)
    assert "\n" not in str(err.value)
    assert not marker.exists() and "answer" not in ns
    assert not list((kf_state_dir / "kubernetes").glob("*/forged/result.pkl"))
    with pytest.raises(KfError, match=REFUSED.format("forged")):
        api.job("forged").results()  # and so it stays


def test_a_runner_without_the_key_is_refused(simulated_cluster):
    ns = {}  # the cell changes the key the runner signs with (read from its env when it signs)
    job = api.train("import os\nos.environ['KF_RESULT_KEY'] = '0' * 64\nanswer = 42", name="wrong-key", user_ns=ns)
    assert job.wait(timeout=60).phase == "Succeeded" and pod_exit_codes(simulated_cluster, "wrong-key") == {0: 0}
    with pytest.raises(KfError, match=REFUSED.format("wrong-key")):
        job.apply(ns)


def test_inputs_and_key_travel_in_a_secret_owned_by_the_workload(simulated_cluster, kf_state_dir):
    import time

    kf_cluster = simulated_cluster
    ns = {"data": [1, 2, 3]}
    job = api.train("total = sum(data)", name="carried", user_ns=ns)
    assert kf_cluster.list_objects("", "v1", "configmaps", "default") == []  # nothing the view role may read
    secret = kf_cluster.get_object("", "v1", "secrets", "default", "carried-kf-bundle")
    key = base64.b64decode(secret["data"]["kf-result-key"]).decode()
    assert len(key) == 64 and "payload.bin" in secret["data"]
    tj = kf_cluster.get_object(*TRAINJOB, "default", "carried")
    assert key not in json.dumps(tj)
    assert {"name": "KF_RESULT_KEY", "valueFrom": {"secretKeyRef": {"name": "carried-kf-bundle", "key": "kf-result-key"}}} \
        in tj["spec"]["trainer"]["env"]
    deadline = time.monotonic() + 10
    while not kf_cluster.get_object("", "v1", "secrets", "default", "carried-kf-bundle")["metadata"].get("ownerReferences"):
        assert time.monotonic() < deadline, "the Secret never got its owner"
        time.sleep(0.05)
    job.wait(timeout=60)
    shutil.rmtree(kf_state_dir / "kubernetes")  # another machine: no local key; the Secret still has it
    kubernetes_backend.reset()
    assert api.job("carried").results() == {"total": 6}
    kf_cluster.delete_object(*TRAINJOB, "default", "carried")
    assert kf_cluster.get_object("", "v1", "secrets", "default", "carried-kf-bundle") is None  # collected with it


def only_pod(cluster, job_name: str) -> str:
    pods = [p["metadata"]["name"] for p in cluster.list_objects("", "v1", "pods", "default")
            if p["metadata"]["labels"].get(LABEL_JOB) == job_name]
    assert len(pods) == 1, pods
    return pods[0]
