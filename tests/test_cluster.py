"""Opt-in: the same flows against a real cluster (kind, k3s, or one with Kubeflow).

Run with ``KUBECONFIG=... pytest -m cluster tests/test_cluster.py``; deselected otherwise.
Needs to pull ``python:<major.minor>-slim`` (and Kubeflow Trainer for ``--kind trainjob``).
"""
import os

import pytest

from jupyter_kf.training import api

pytestmark = pytest.mark.cluster


@pytest.fixture(autouse=True)
def real_cluster(monkeypatch):
    if not os.environ.get("KUBECONFIG"):
        pytest.fail("set KUBECONFIG to a real cluster to run the cluster suite")
    monkeypatch.setenv("JUPYTER_KF_BACKEND", "kubernetes")
    from jupyter_kf import config
    from jupyter_kf.training.backends import kubernetes

    config.reset()
    kubernetes.reset()


@pytest.mark.parametrize("kind", ["job", "auto"])
@pytest.mark.parametrize("workers", [1, 2])
def test_cell_round_trip(kind, workers):
    data = [1, 2]
    ns = {"data": data}
    job = api.train("import os\ndata.append(3)\ntotal = sum(data)\nworld = os.environ['WORLD_SIZE']", user_ns=ns,
                    name=f"kf-e2e-{kind}-{workers}", workers=workers, kind=kind, replace=True)
    status = job.wait(timeout=600)
    assert status.phase == "Succeeded", status
    job.apply(ns)
    assert ns["total"] == 6 and ns["world"] == str(workers) and ns["data"] is data
    job.delete()


def test_cancel_on_a_real_cluster():
    job = api.train("import time\ntime.sleep(600)", user_ns={}, name="kf-e2e-cancel", kind="job", replace=True)
    assert job.cancel().phase == "Cancelled"
    job.delete()
