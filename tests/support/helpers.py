"""Small helpers shared by the tests."""
import time
from pathlib import Path

from jupyter_kf.training import api

# Kubeflow Trainer v2.3.0's stock ClusterTrainingRuntime, as a cluster with the Trainer has it.
REFERENCE_MANIFESTS = Path(__file__).resolve().parents[1] / "data" / "reference" / "manifests"  # copied from shared/
STOCK_RUNTIME = REFERENCE_MANIFESTS / "trainer-v2/00-clustertrainingruntime-torch-distributed.yaml"
# (group, version, plural) of each workload kind a cell runs as
KINDS = {"trainjob": ("trainer.kubeflow.org", "v1alpha1", "trainjobs"), "pytorchjob": ("kubeflow.org", "v1", "pytorchjobs"),
         "job": ("batch", "v1", "jobs")}


def run_cell(source, ns, **kwargs):
    """Run ``source`` as a local job reading ``ns``; bind its results into ``ns``; return (job, status, results)."""
    kwargs.setdefault("name", api.new_job_name("t"))
    job = api.train(source, user_ns=ns, **kwargs)
    status = job.wait(timeout=60)
    loaded, _ = job.apply(ns)
    return job, status, loaded


def wait_for_phase(job, phase, timeout=30):
    deadline = time.monotonic() + timeout
    while job.status().phase != phase:
        assert time.monotonic() < deadline, f"{job.name} never reached {phase}: {job.status()}"
        time.sleep(0.02)


def server_config(**extra) -> dict:
    """pytest-jupyter's server config: only our extension, auth required, plus ``extra`` sections."""
    return {"ServerApp": {"jpserver_extensions": {"jupyter_kf": True}, "allow_unauthenticated_access": False,
                          "terminals_enabled": False}, **extra}


async def get_json(jp_fetch, *parts, **kwargs):
    """A jupyter-kf REST call that must succeed, as JSON."""
    import json

    response = await jp_fetch("jupyter-kf", "api", *parts, **kwargs)
    assert response.code in (200, 201)
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def error_of(jp_fetch, *parts, **kwargs):
    """A jupyter-kf REST call that must fail: (status, body); the message is one line."""
    import json

    import pytest
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("jupyter-kf", "api", *parts, **kwargs)
    body = json.loads(info.value.response.body)
    assert "\n" not in body["message"]
    return info.value.code, body


async def until(predicate, timeout=20.0):
    """Await ``predicate()`` until it is truthy or ``timeout`` passes; its last value."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


def two_versions(tmp_path: Path, second: str = "v2\n") -> Path:
    """Dataset ``mnist`` at versions 1 and 2 (``labels.csv`` reads ``v1``, then ``second``); its folder."""
    import jupyter_kf as kf

    src = tmp_path / "mnist"
    src.mkdir()
    (src / "labels.csv").write_text("v1\n")
    kf.data.put("mnist", src)
    (src / "labels.csv").write_text(second)
    kf.data.put("mnist", src)
    return src


def volumes_on(cluster, **scratch) -> None:
    """Volume ``scratch`` made by jupyter_kf (``scratch``: its options) and mounted by pod lab-0, and a claim
    ``theirs`` made by someone else, mounted by nothing."""
    import jupyter_kf as kf

    kf.data.volumes.create("scratch", **scratch)
    cluster.create_object({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "lab-0", "namespace": "default",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "lab", "uid": "u1"}]},
        "spec": {"containers": [{"name": "main", "image": "python:3.12"}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "scratch"}}]}})
    cluster.create_object({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                           "metadata": {"name": "theirs", "namespace": "default"},
                           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})


def read_by_job(job_name: str, version: str = "mnist@1") -> None:
    """A local job that read ``version`` (mounted at data/) and succeeded: the lineage a delete must respect."""
    import jupyter_kf as kf

    job = kf.train("x = open('data/labels.csv').read()", name=job_name, data=[f"{version}:data"], user_ns={})
    assert job.wait(timeout=60).phase == "Succeeded"


def pod_exit_codes(cluster, job_name: str, namespace: str = "default", timeout: float = 60,
                   partial: bool = False) -> dict[int, int]:
    """{rank: exit code} of a finished workload's pods, as the cluster's kubelet reported them (waits for them);
    ``partial``: at once, the pods terminated so far."""
    from tests.support.k8s_emulator.testing import eventually

    def codes():
        found = {}
        for pod in cluster.list_objects("", "v1", "pods", namespace):
            meta = pod["metadata"]
            if (meta.get("labels") or {}).get("jupyter-kf.io/job") != job_name:
                continue
            state = _worker_state(pod.get("status") or {})
            if "terminated" not in state:
                if partial:
                    continue
                return None
            found[pod_rank(meta)] = state["terminated"]["exitCode"]
        return found if partial else found or None

    return codes() if partial else eventually(codes, timeout=timeout)


def _worker_state(status: dict) -> dict:
    """The state that ended the pod: a failed init container's, else its (first) container's."""
    for init in status.get("initContainerStatuses") or []:
        if (init.get("state") or {}).get("terminated", {}).get("exitCode"):
            return init["state"]
    return ((status.get("containerStatuses") or [{}])[0].get("state")) or {}


def pod_rank(meta: dict) -> int:
    """A worker pod's rank: its completion index (Job, JobSet), or its PyTorchJob replica (master 0, worker i+1)."""
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    if "batch.kubernetes.io/job-completion-index" in annotations:
        return int(annotations["batch.kubernetes.io/job-completion-index"])
    index = int(labels["training.kubeflow.org/replica-index"])
    return index if labels["training.kubeflow.org/replica-type"] == "master" else index + 1


def fails_on_rank(rank: int, source: str, gate=None) -> str:
    """``source`` preceded by lines that end the worker of ``rank`` with exit code 3 (a crashed worker); with
    ``gate`` (a path), that worker first waits for the file, which the test creates when the moment has come."""
    wait = f"    while not _os.path.exists({str(gate)!r}):\n        __import__('time').sleep(0.05)\n" if gate else ""
    return (f"import os as _os\nif _os.environ.get('PET_NODE_RANK', _os.environ.get('RANK')) == '{rank}':\n{wait}"
            f"    print('worker crashed', flush=True)\n    _os._exit(3)\n{source}")


def waits_for(gate, source: str) -> str:
    """``source`` run once the file ``gate`` exists: a workload that stays Running until the test says."""
    return f"import os as _os, time as _time\nwhile not _os.path.exists({str(gate)!r}):\n    _time.sleep(0.05)\n{source}"
