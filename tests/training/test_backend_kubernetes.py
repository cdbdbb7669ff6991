"""%%kf_train on a cluster: the official client over HTTP to the emulator, its simulating mode running our runner."""

import pytest

from jupyter_kf.errors import JobExists, JobNotFound, KfError
from jupyter_kf.training import api
from jupyter_kf.training.backends import kubernetes as kubernetes_backend
from tests.support.helpers import KINDS, fails_on_rank, pod_exit_codes


@pytest.fixture
def cluster(kf_cluster):
    return kf_cluster


def only(emu, *crds_to_remove):
    for name in crds_to_remove:
        emu.uninstall_crd(name)


def submit_and_run(emu, source, ns, **kwargs):
    job = api.train(source, user_ns=ns, **kwargs)
    status = job.wait(timeout=60)
    codes = pod_exit_codes(emu, job.name)
    loaded, _ = job.apply(ns)
    return job, status, loaded, codes


@pytest.mark.parametrize("kind,remove", [("trainjob", ()), ("pytorchjob", ("trainjobs.trainer.kubeflow.org",)),
                                         ("job", ("trainjobs.trainer.kubeflow.org", "pytorchjobs.kubeflow.org"))])
@pytest.mark.parametrize("workers", [1, 2])
def test_cell_runs_on_each_kind_and_results_come_back(simulated_cluster, kind, remove, workers):
    cluster = simulated_cluster
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
    assert ("[1] epoch=1 loss=60" in lines) if workers == 2 else lines == ["epoch=1 loss=60"]
    assert not any(line.startswith("::kf-result::") for line in lines)
    group, version, plural = KINDS[kind]
    workload = cluster.get_object(group, version, plural, "default", job.name)

    def owners():
        return cluster.get_object("", "v1", "secrets", "default", f"{job.name}-kf-bundle")["metadata"].get("ownerReferences")

    wait_for(owners)
    assert owners()[0]["uid"] == workload["metadata"]["uid"]
    assert workload["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "jupyter-kf"


def test_dry_run_shows_the_manifests_and_creates_nothing(cluster):
    dry = api.train("x = 1", name="dry", user_ns={}, gpus=2, workers=4, cpu="8", memory="32Gi", queue="team-gpus",
                    image="pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime", dry_run=True)
    text = dry.summary()
    assert "kind: TrainJob" in text and "numNodes: 4" in text and "nvidia.com/gpu: '2'" in text
    assert "kueue.x-k8s.io/queue-name: team-gpus" in text and "torchrun" in text
    assert "binaryData" in text or "data:" in text
    assert cluster.list_objects("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default") == []
    assert cluster.list_objects("", "v1", "secrets", "default") == []


def test_forbidden_creates_nothing_and_says_what_and_where(cluster):
    cluster.deny("create", "trainjobs", group="trainer.kubeflow.org", namespace="default")
    with pytest.raises(KfError) as err:
        api.train("x = 1", name="nope", user_ns={})
    message = str(err.value)
    assert "not allowed to create trainjobs in namespace 'default'" in message and "cannot create resource" in message
    assert "ask a cluster admin to grant it" in message
    assert cluster.list_objects("", "v1", "secrets", "default") == []


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
    assert cluster.list_objects("", "v1", "secrets", "default") == []


def test_pending_says_why(simulated_cluster):
    cluster = simulated_cluster  # its node has no GPU: the scheduler leaves the pod Pending and says why
    job = api.train("x = 1", name="stuck", user_ns={}, gpus=1)
    wait_for(lambda: "Insufficient nvidia.com/gpu" in job.status().message, timeout=30)
    status = job.status()
    assert status.phase == "Pending" and status.message.startswith("unschedulable: 0/1 nodes are available")
    pod = next(p["metadata"]["name"] for p in cluster.list_objects("", "v1", "pods", "default"))
    cluster.fail_image_pull("default", pod)  # images are ignored here: the pull failure is set by hand
    wait_for(lambda: "image pull failed" in job.status().message)


def test_kueue_admission_pending(cluster):
    job = api.train("x = 1", name="queued", user_ns={}, queue="team-gpus")
    cluster.set_condition("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default", "queued", "Suspended", "True",
                          reason="Suspended", message="waiting for Kueue")
    wait_for(lambda: job.status().message == "waiting for Kueue to admit it to queue 'team-gpus'")
    assert job.status().phase == "Pending"


def test_failed_worker_and_partial_results(simulated_cluster, tmp_path):
    """Rank 1 crashes once rank 0 has failed in the cell. A PyTorchJob: without --retries its pods never restart
    and are kept (cleanPodPolicy None); a TrainJob's JobSet defaults to OnFailure, and its failed Job's pods go."""
    ns, gate = {}, tmp_path / "rank-0-done"
    job = api.train(fails_on_rank(1, "p = 1\nraise ValueError('bad data')", gate), name="boom", user_ns=ns, workers=2,
                    kind="pytorchjob")
    wait_for(lambda: pod_exit_codes(simulated_cluster, "boom", partial=True).get(0), timeout=60)
    gate.touch()  # the operator already failed the job (its master failed); rank 1 ends before we look
    assert pod_exit_codes(simulated_cluster, "boom") == {0: 1, 1: 3}
    status = job.wait(timeout=60)
    assert status.phase == "Failed"
    loaded, changed = job.apply(ns)
    assert ns["p"] == 1 and loaded.error["type"] == "ValueError" and loaded.error["line"] == 8
    assert "[1] worker crashed" in list(job.logs())


def test_a_workers_lines_after_the_job_succeeded_are_kept(simulated_cluster, tmp_path):
    """A PyTorchJob succeeds once its master has (training-operator's default): a worker still running then is
    still read to its end, not cut off at the copy taken when the job was first seen done."""
    gate = tmp_path / "job-done"
    cell = (f"import os, time\nif os.environ['RANK'] == '1':\n    while not os.path.exists({str(gate)!r}):\n"
            "        time.sleep(0.05)\n    print('late line', flush=True)")
    job = api.train(cell, name="late", user_ns={}, workers=2, kind="pytorchjob")
    assert job.wait(timeout=60).phase == "Succeeded"
    assert list(job.logs()) == []
    gate.touch()
    assert pod_exit_codes(simulated_cluster, "late") == {0: 0, 1: 0}
    assert list(job.logs()) == ["[1] late line"]


def test_cancel_deletes_in_background_and_keeps_the_logs(simulated_cluster):
    cluster = simulated_cluster
    job = api.train("import time\nprint('hello from the pod', flush=True)\ntime.sleep(120)", name="long", user_ns={})
    wait_for(lambda: list(job.logs()) != [], timeout=60)
    status = job.cancel()
    assert status.phase == "Cancelled"
    assert cluster.get_object("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default", "long") is None
    wait_for(lambda: cluster.get_object("", "v1", "secrets", "default", "long-kf-bundle") is None)
    deletes = [r for r in cluster.requests if r.verb == "delete" and r.path.endswith("trainjobs/long")]
    assert deletes and "Background" in deletes[-1].body.decode() + str(deletes[-1].query)
    assert list(job.logs()) == ["hello from the pod"]
    assert api.job("long").status().phase == "Cancelled"


def test_job_deleted_from_outside_while_watched(cluster):
    job = api.train("x = 1", name="vanish", user_ns={})
    cluster.delete_object("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default", "vanish")
    with pytest.raises(JobNotFound, match="deleted outside jupyter_kf"):
        wait_for(lambda: job.status() and False, timeout=5)


def test_reattach_after_a_kernel_restart(simulated_cluster, kf_state_dir):
    import shutil

    data = [1]
    ns = {"data": data}
    job = api.train("data.append(2)\nout = sum(data)", name="again", user_ns=ns)
    job.wait(timeout=60)
    kubernetes_backend.reset()  # a new kernel: no connection, no cache, no originals in memory
    fresh = api.job("again")
    assert fresh.results() == {"data": [1, 2], "out": 3}
    shutil.rmtree(kf_state_dir / "kubernetes")  # another machine: nothing recorded, found by labels
    kubernetes_backend.reset()
    assert [s.name for s in api.jobs()] == ["again"]
    assert api.job("again").status().phase == "Succeeded"


def test_server_errors_are_retried_then_reported(cluster):
    cluster.fail_next("create", r"/secrets$", status=503, times=2)
    api.train("x = 1", name="retried", user_ns={})
    assert cluster.get_object("", "v1", "secrets", "default", "retried-kf-bundle") is not None
    cluster.fail_next("create", r"/secrets$", status=500, times=20)
    with pytest.raises(KfError, match="kept answering 500 .* after 5 retries"):
        api.train("x = 1", name="given-up", user_ns={})


def test_invalid_object_reports_the_servers_field_message(cluster):
    cluster.fail_next("create", r"/trainjobs$", status=422, message='TrainJob.trainer.kubeflow.org "bad" is invalid: spec.trainer.numNodes: Invalid value: 0')
    with pytest.raises(KfError, match=r"rejected create trainjobs in namespace 'default': .*spec.trainer.numNodes"):
        api.train("x = 1", name="bad", user_ns={})
    assert cluster.list_objects("", "v1", "secrets", "default") == []  # rolled back


def test_dry_run_without_a_cluster_shows_what_the_newest_trainer_would_get(cluster, tmp_path, monkeypatch):
    """As ``kubectl --dry-run=client``: no cluster needed, the assumptions said above the manifests."""
    options = dict(name="offline", user_ns={}, workers=2, cpu="2", memory="4Gi", dry_run=True)
    online = api.train("x = 1", **options).manifests
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    kubernetes_backend.reset()
    offline = api.train("x = 1", **options).manifests
    header = offline.splitlines()[:2]
    assert header[0].startswith("# offline dry run: no cluster configured") and "Trainer v2.3 (TrainJob)" in header[1]
    import re

    sized = re.compile(r"<\d+ bytes>")  # meta.json's size moves with its timestamps' digits
    assert sized.sub("<n>", offline.split("\n", 2)[2]) == sized.sub("<n>", online)  # what Trainer v2.3 gets
    kubernetes_backend.reset()


def test_unreachable_api_server_names_the_context(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{port}"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: lab-cluster, context: {{cluster: c, user: u}}}}]
current-context: lab-cluster
""")
    monkeypatch.setenv("KUBECONFIG", str(config_file))
    monkeypatch.setenv("JUPYTER_KF_BACKEND", "kubernetes")
    kubernetes_backend.reset()
    with pytest.raises(KfError, match=r"API server http://127.0.0.1:\d+ \(kubeconfig context 'lab-cluster'\) is unreachable"):
        api.train("x = 1", name="far", user_ns={})
    kubernetes_backend.reset()


def test_secrets_are_referenced_never_inlined(simulated_cluster):
    cluster = simulated_cluster
    cluster.create_object({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hf", "namespace": "default"},
                           "data": {"token": "c3VwZXItc2VjcmV0"}})
    ns = {}
    job, status, loaded, _ = submit_and_run(cluster, "import os\nseen = os.environ['HF_TOKEN'][::-1]", ns,
                                            name="secret", secret_env=["HF_TOKEN=hf/token"])
    assert ns["seen"] == "terces-repus"
    workload = cluster.get_object("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default", "secret")
    text = str(workload) + str(cluster.get_object("", "v1", "secrets", "default", "secret-kf-bundle"))
    assert "super-secret" not in text and "c3VwZXItc2VjcmV0" not in text
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}} in workload["spec"]["trainer"]["env"]


def test_cluster_options_reach_the_pods(cluster):
    api.train("x = 1", name="opts", user_ns={}, workers=2, cpu="2", memory="4Gi", gpus=1, node_selector=["gpu=h200"],
              tolerations=["dedicated=ml:NoSchedule"], volumes=["pvc:datasets:/data"], queue="q", pip=["tqdm==4.66.0"],
              timeout="1h")
    tj = cluster.get_object("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default", "opts")
    trainer = tj["spec"]["trainer"]
    assert trainer["numNodes"] == 2 and trainer["numProcPerNode"] == 1
    assert trainer["resourcesPerNode"] == {"requests": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
                                           "limits": {"memory": "4Gi", "nvidia.com/gpu": "1"}}
    pod = tj["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"gpu": "h200"}
    assert {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"} in pod["tolerations"]
    assert {"name": "data-0", "persistentVolumeClaim": {"claimName": "datasets"}} in pod["volumes"]
    assert tj["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "q" and tj["spec"]["activeDeadlineSeconds"] == 3600


def wait_for(predicate, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


@pytest.fixture
def s3_store(monkeypatch):
    """A real S3-compatible server (moto) on loopback, a bucket, and jupyter_kf configured to use it."""
    import base64

    import boto3
    from moto.server import ThreadedMotoServer

    from jupyter_kf import config
    from jupyter_kf.training.backends.local_supervisor import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "kf-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "kf-test-secret")
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="kf-bucket")
    cfg = config.get()
    cfg.store, cfg.store_endpoint, cfg.store_secret = "s3://kf-bucket/jobs", endpoint, "kf-store"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kf-store", "namespace": "default"},
              "data": {k: base64.b64encode(v.encode()).decode() for k, v in
                       (("AWS_ACCESS_KEY_ID", "kf-test-key"), ("AWS_SECRET_ACCESS_KEY", "kf-test-secret"))}}
    yield s3, secret
    server.stop()


def test_large_inputs_and_results_go_through_the_store(simulated_cluster, s3_store):
    cluster = simulated_cluster
    import numpy as np

    s3, secret = s3_store
    cluster.create_object(secret)
    X = np.arange(300_000, dtype=np.float64)  # 2.4 MB: too large for a ConfigMap
    ns = {"X": X, "np": np}
    job, status, loaded, codes = submit_and_run(cluster, "Y = np.concatenate([X, X]) * 2\nsmall = float(Y[-1])", ns,
                                                name="big", kind="job")  # 4.8 MB of results: more than a log carries
    assert status.phase == "Succeeded" and codes == {0: 0}, "\n".join(job.logs())
    assert ns["small"] == 599_998.0 and np.array_equal(ns["Y"], np.concatenate([X, X]) * 2)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="kf-bucket")["Contents"])
    assert keys == ["jobs/default/big/payload.bin", "jobs/default/big/result.pkl"]
    cm = cluster.get_object("", "v1", "secrets", "default", "big-kf-bundle")
    assert "payload.bin" not in cm["data"]  # it travelled through the store
    env = cluster.get_object("batch", "v1", "jobs", "default", "big")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "kf-store", "key": "AWS_SECRET_ACCESS_KEY"}}} in env
    assert "kf-test-secret" not in str(cm) + str(env)


def test_too_large_without_a_store_is_refused_before_anything_is_created(cluster):
    import numpy as np

    with pytest.raises(KfError, match=r"more than a Secret carries .* no store is configured: set c.KfConfig.store"):
        api.train("Y = X * 2", name="too-big", user_ns={"X": np.zeros(300_000)})
    assert cluster.list_objects("", "v1", "secrets", "default") == []
