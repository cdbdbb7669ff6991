"""%%kf_train on a cluster: the official client over HTTP to the emulator, a fake kubelet running our runner."""
from pathlib import Path

import pytest
import yaml

from jupyter_kf import api
from jupyter_kf.backends import k8s_client
from jupyter_kf.errors import JobExists, KfError

from .fake_kubelet import KINDS, FakeKubelet


STOCK_RUNTIME = Path(__file__).resolve().parents[2] / "shared/reference/manifests/trainer-v2/00-clustertrainingruntime-torch-distributed.yaml"


@pytest.fixture
def cluster(k8s_emulator, kubeconfig_path, monkeypatch):
    """The emulator as the user's cluster (kubeconfig), a fresh connection per test."""
    monkeypatch.setenv("JUPYTER_KF_BACKEND", "kubernetes")
    from jupyter_kf import config

    config.reset()
    k8s_client.reset_connections()
    k8s_emulator.create_object(yaml.safe_load(STOCK_RUNTIME.read_text()))
    yield k8s_emulator
    k8s_client.reset_connections()


def only(emu, *crds_to_remove):
    for name in crds_to_remove:
        emu.uninstall_crd(name)


def submit_and_run(emu, source, ns, **kwargs):
    job = api.train(source, user_ns=ns, **kwargs)
    codes = FakeKubelet(emu).run("default", job.name)
    status = job.wait(timeout=30)
    loaded, _ = job.apply(ns)
    return job, status, loaded, codes


@pytest.mark.parametrize("kind,remove", [("trainjob", ()), ("pytorchjob", ("trainjobs.trainer.kubeflow.org",)),
                                         ("job", ("trainjobs.trainer.kubeflow.org", "pytorchjobs.kubeflow.org"))])
@pytest.mark.parametrize("workers", [1, 2])
def test_cell_runs_on_each_kind_and_results_come_back(cluster, kind, remove, workers):
    only(cluster, *remove)
    data = [1, 2]
    ns = {"data": data, "alias": data, "scale": lambda v: v * 10}
    job, status, loaded, codes = submit_and_run(
        cluster, "import os\ndata.append(3)\ntotal = scale(sum(data))\nrank_env = (os.environ['RANK'], os.environ['WORLD_SIZE'])\n"
        "print(f'epoch=1 loss={total}')", ns, name=f"fit-{kind}-{workers}", workers=workers)
    assert codes == {r: 0 for r in range(workers)}
    assert status.phase == "Succeeded" and status.kind == {"trainjob": "TrainJob", "pytorchjob": "PyTorchJob", "job": "Job"}[kind]
    assert ns["total"] == 60 and ns["rank_env"] == ("0", str(workers))
    assert ns["alias"] is data and data == [1, 2, 3]
    lines = list(job.logs())
    assert (f"[1] epoch=1 loss=60" in lines) if workers == 2 else lines == ["epoch=1 loss=60"]
    assert not any(line.startswith("::kf-result::") for line in lines)
    group, version, plural = KINDS[kind]
    workload = cluster.get_object(group, version, plural, "default", job.name)
    cm = cluster.get_object("", "v1", "configmaps", "default", f"{job.name}-kf-bundle")
    assert cm["metadata"]["ownerReferences"][0]["uid"] == workload["metadata"]["uid"]
    assert workload["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "jupyter-kf"


def test_dry_run_shows_the_manifests_and_creates_nothing(cluster):
    dry = api.train("x = 1", name="dry", user_ns={}, gpus=2, workers=4, cpu="8", memory="32Gi", queue="team-gpus",
                    image="pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime", dry_run=True)
    text = dry.summary()
    assert "kind: TrainJob" in text and "numNodes: 4" in text and "nvidia.com/gpu: '2'" in text
    assert "kueue.x-k8s.io/queue-name: team-gpus" in text and "torchrun" in text
    assert "binaryData" in text or "data:" in text
    assert cluster.list_objects("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default") == []
    assert cluster.list_objects("", "v1", "configmaps", "default") == []


def test_forbidden_creates_nothing_and_says_what_and_where(cluster):
    cluster.deny("create", "trainjobs", group="trainer.kubeflow.org", namespace="default")
    with pytest.raises(KfError) as err:
        api.train("x = 1", name="nope", user_ns={})
    message = str(err.value)
    assert "not allowed to create trainjobs in namespace 'default'" in message and "cannot create resource" in message
    assert "ask a cluster admin to grant it" in message
    assert cluster.list_objects("", "v1", "configmaps", "default") == []


def test_missing_crd_for_the_requested_kind(cluster):
    only(cluster, "trainjobs.trainer.kubeflow.org")
    with pytest.raises(KfError, match="--kind trainjob: the cluster has no TrainJob API .*use --kind pytorchjob"):
        api.train("x = 1", name="k", user_ns={}, kind="trainjob")


def test_name_taken(cluster):
    api.train("x = 1", name="taken", user_ns={})
    with pytest.raises(JobExists, match="already exists"):
        api.train("x = 2", name="taken", user_ns={})


def test_unknown_training_runtime_lists_the_ones_there(cluster):
    with pytest.raises(KfError, match="training runtime 'torch-gpu' not found: the cluster has torch-distributed; pick one with --runtime"):
        api.train("x = 1", name="rt", user_ns={}, runtime="torch-gpu")
    assert cluster.list_objects("", "v1", "configmaps", "default") == []
