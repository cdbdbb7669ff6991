"""Small helpers shared by the tests."""
import time
from pathlib import Path

from jupyter_kf import api

# Kubeflow Trainer v2.3.0's stock ClusterTrainingRuntime, as a cluster with the Trainer has it.
STOCK_RUNTIME = Path(__file__).resolve().parents[2] / "shared/reference/manifests/trainer-v2/00-clustertrainingruntime-torch-distributed.yaml"


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
