"""--data on cluster jobs: the emulator (strict: manifests validated against the CRDs and built-in schemas),
its simulating mode running the init step and the runner as processes, a real S3 server (moto) on loopback."""
import os

import pytest

import jupyter_kf as kf
from jupyter_kf import config
from jupyter_kf.datasets.errors import DatasetInUse, DatasetNotFound
from jupyter_kf.errors import InvalidSpec
from tests.support.helpers import KINDS, pod_exit_codes

REMOVE = {"trainjob": (), "pytorchjob": ("trainjobs.trainer.kubeflow.org",),
          "job": ("trainjobs.trainer.kubeflow.org", "pytorchjobs.kubeflow.org")}
READ = """import os, hashlib
blob = open('data/train.bin', 'rb').read()
labels = open('data/sub/labels.csv').read()
try:
    open('data/new.txt', 'w').write('x')
    wrote = True
except OSError:
    wrote = False
"""


@pytest.fixture
def mnist(store, tmp_path):
    src = tmp_path / "mnist"
    (src / "sub").mkdir(parents=True)
    first = os.urandom(300_000)
    (src / "train.bin").write_bytes(first)
    (src / "sub" / "labels.csv").write_text("v1\n")
    assert kf.data.put("mnist", src).version == 1
    (src / "train.bin").write_bytes(os.urandom(1000))
    (src / "sub" / "labels.csv").write_text("v2\n")
    assert kf.data.put("mnist", src).version == 2
    return first


def workload(emu, kind, name):
    return emu.get_object(*KINDS[kind], "default", name)


@pytest.mark.parametrize("kind", ["job", "pytorchjob", "trainjob"])
def test_a_cluster_job_reads_its_pinned_version(simulated_cluster, mnist, kind):
    from jupyter_kf.training.backends import kubernetes as kubernetes_backend

    kf_cluster = simulated_cluster
    for crd in REMOVE[kind]:
        kf_cluster.uninstall_crd(crd)
    kubernetes_backend.reset()  # discovery is cached per connection: one made before the uninstall would not know
    job = kf.train(READ, name=f"read-{kind}", data=["mnist@1:data"], user_ns={})
    status = job.wait(timeout=60)
    assert status.phase == "Succeeded" and pod_exit_codes(kf_cluster, job.name) == {0: 0}, "\n".join(job.logs())
    results = job.results()
    assert results["blob"] == mnist and results["labels"] == "v1\n"
    if os.geteuid() != 0:  # root writes anything here; in a pod the readOnly mount refuses it (checked below)
        assert results["wrote"] is False
    obj = workload(kf_cluster, kind, job.name)
    text = str(obj)
    assert "kf-data-secret" not in text and "kf-data-key" not in text  # referenced, never inlined
    if kind == "trainjob":  # its pods take no init container of ours: the step runs first in the node container
        assert obj["spec"]["trainer"]["command"][:3] == ["python", "-u", "/kf/bundle/kf_fetch.py"]
    else:
        pod = obj["spec"]["template"]["spec"] if kind == "job" else \
            obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
        init, = pod["initContainers"]
        assert init["image"] == pod["containers"][0]["image"] and init["command"][2] == "/kf/bundle/kf_fetch.py"
        assert {"name": "AWS_SECRET_ACCESS_KEY",
                "valueFrom": {"secretKeyRef": {"name": "kf-store", "key": "AWS_SECRET_ACCESS_KEY"}}} in init["env"]
        mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "kf-data-0")
        assert mount == {"name": "kf-data-0", "mountPath": "/kf/out/work/data", "readOnly": True}
    assert f"mnist@1 -> read by job {job.name} at data" in repr(kf.data.show("mnist"))


def test_a_tampered_object_fails_the_init_step_with_one_line(simulated_cluster, mnist, store):
    kf_cluster = simulated_cluster
    manifest = kf.data.resolve("mnist@1")
    digest = manifest.files["train.bin"][0]
    store.s3.put_object(Bucket=store.bucket, Key=f"team/datasets/objects/{digest[:2]}/{digest[2:]}", Body=b"forged")
    job = kf.train(READ, name="tampered", data=["mnist@1:data"], kind="job", user_ns={})
    status = job.wait(timeout=60)
    assert pod_exit_codes(kf_cluster, job.name) == {0: 3}
    assert status.phase == "Failed"
    pod = kf_cluster.list_objects("", "v1", "pods", "default")[0]
    message = pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["message"]
    assert message.startswith("jupyter_kf data: mnist@1 file train.bin: sha256 mismatch: the store's object sha256:"
                              f"{digest[:12]}")
    assert message.endswith("\n") and "\n" not in message[:-1]  # the log's last line, as FallbackToLogsOnError takes it
    assert f"worker 0: {message.strip()}" in status.message and "\n" not in status.message


def test_latest_is_pinned_at_submit(simulated_cluster, mnist):
    job = kf.train(READ, name="latest", data=["mnist:data"], kind="job", user_ns={})
    kf.data.put("mnist", {"another": "version"})  # version 3, after the submit: the job still reads 2
    assert job.wait(timeout=60).phase == "Succeeded"
    assert job.results()["labels"] == "v2\n"


@pytest.mark.parametrize("data, setup, error, expected", [
    (["mnist@9:data"], None, DatasetNotFound, "dataset 'mnist' has no version 9: its versions are 1, 2"),
    (["nope:data"], None, DatasetNotFound, r"no dataset named 'nope' on the s3://kf-\w+/team store"),
    (["mnist:/kf/out"], None, InvalidSpec, "mount point '/kf/out' is not allowed"),
    (["mnist:data"], "no-secret", InvalidSpec, "c.KfConfig.store_secret is not set"),
    (["mnist:data"], "no-store", InvalidSpec, "--data on a cluster needs the S3-compatible store"),
])
def test_bad_data_on_a_cluster_makes_nothing(kf_cluster, mnist, data, setup, error, expected):
    if setup == "no-secret":
        config.get().store_secret = ""
    if setup == "no-store":
        config.get().store = ""
    with pytest.raises(error, match=expected):
        kf.train("x = 1", name="bad", data=data, user_ns={})
    secrets = kf_cluster.list_objects("", "v1", "secrets", "default")
    assert [s["metadata"]["name"] for s in secrets] == ["kf-store"]


# -- pvc:// datasets: mounted straight from their claim, read-only ------------------------------------
def test_a_pvc_dataset_is_pinned_by_place_and_refused_where_no_cluster_mounts_it(tmp_path):
    made = kf.data.put("imagenet", "pvc://datasets/imagenet/train")
    assert made.version == 1 and "pvc://datasets/imagenet/train, mounted as it is by cluster jobs" in made.summary()
    assert kf.data.put("imagenet", "pvc://datasets/imagenet/train/").unchanged
    assert kf.data.put("imagenet", "pvc://datasets/imagenet/val").version == 2
    with pytest.raises(InvalidSpec, match=r"^kf.data.load: imagenet@2 stays on pvc://datasets/imagenet/val, which only"):
        kf.data.load("imagenet")
    with pytest.raises(InvalidSpec, match="%kf_data get: imagenet@1 stays on pvc://datasets/imagenet/train"):
        kf.data.get("imagenet@1", tmp_path / "here")
    assert not (tmp_path / "here").exists()
    with pytest.raises(InvalidSpec, match="imagenet lives on claim 'datasets', which only cluster jobs mount"):
        kf.train("x = 1", name="local-pvc", data=["imagenet:data"], user_ns={})


@pytest.mark.parametrize("uri, expected", [
    ("pvc://Data/x", "claim 'Data' is not a PersistentVolumeClaim name"),
    ("pvc://data/../x", "path '../x' leaves the claim"),
    ("pvc:///x", "claim '' is not a PersistentVolumeClaim name"),
])
def test_a_bad_pvc_uri_is_one_line_and_makes_nothing(uri, expected):
    with pytest.raises(InvalidSpec, match=expected):
        kf.data.put("bad", uri)
    assert len(kf.data.list()) == 0


@pytest.mark.parametrize("kind", ["job", "trainjob"])
def test_a_pvc_dataset_is_mounted_read_only_into_a_cluster_job(kf_cluster, kind):
    import kubernetes_validate

    for crd in REMOVE[kind]:
        kf_cluster.uninstall_crd(crd)
    kf.data.put("imagenet", "pvc://datasets/imagenet/train")
    job = kf.train("x = 1", name=f"pvc-{kind}", data=["imagenet:/mnt/imagenet"], user_ns={})  # created strictly
    obj = workload(kf_cluster, kind, job.name)
    if kind == "job":
        pod = obj["spec"]["template"]["spec"]
        kubernetes_validate.validate(obj, "1.37", strict=True)
    else:
        pod = obj["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0][
            "template"]["spec"]["template"]["spec"]
        assert "kf_fetch.py" not in str(obj["spec"]["trainer"]["command"])
    assert "initContainers" not in pod  # nothing to fetch
    assert {"name": "kf-data-0", "persistentVolumeClaim": {"claimName": "datasets", "readOnly": True}} in pod["volumes"]
    assert {"name": "kf-data-0", "mountPath": "/mnt/imagenet", "readOnly": True,
            "subPath": "imagenet/train"} in pod["containers"][0]["volumeMounts"]
    assert f"imagenet@1 -> read by job {job.name} at /mnt/imagenet" in repr(kf.data.show("imagenet"))


def test_the_built_job_with_both_kinds_of_data_is_a_valid_batch_job():
    """Store and pvc:// datasets together, as the builder makes them, against the built-in Job schema."""
    import kubernetes_validate

    from jupyter_kf.kube.objects import bundle_secret, job_labels
    from jupyter_kf.training.manifests import TrainPlan, build_workload
    from jupyter_kf.training.spec import TrainSpec

    spec = TrainSpec.create(name="both", workers=2, data=["mnist@1:data", "imagenet:/mnt/imagenet"],
                            secret_env=["AWS_ACCESS_KEY_ID=kf-store/AWS_ACCESS_KEY_ID",
                                        "AWS_SECRET_ACCESS_KEY=kf-store/AWS_SECRET_ACCESS_KEY"])
    secret, items = bundle_secret("both-kf-bundle", "default", {"runner.py": b"", "data.json": b"{}"},
                                  job_labels("both"), "k" * 64)
    data = ({"name": "mnist", "version": 1, "digest": "0" * 64, "mount": "data"},
            {"name": "imagenet", "version": 1, "digest": "1" * 64, "mount": "/mnt/imagenet",
             "pvc": {"claim": "datasets", "path": ""}})
    plan = TrainPlan(spec=spec, namespace="default", image="python:3.12-slim", bundle="both-kf-bundle",
                     bundle_items=items, labels=job_labels("both"), data=data)
    service, job = build_workload(plan, "job")
    for obj in (secret, service, job):
        kubernetes_validate.validate(obj, "1.37", strict=True)
    pod = job["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["command"] == ["python", "-u", "/kf/bundle/kf_fetch.py", "/kf/bundle/data.json",
                                                   "/kf/data/0", "-"]  # the claim's entry is not fetched
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["kf-data-1"] == {"name": "kf-data-1", "mountPath": "/mnt/imagenet", "readOnly": True}


def test_data_and_a_volume_at_one_place_make_nothing(kf_cluster):
    kf.data.put("imagenet", "pvc://datasets/imagenet")
    with pytest.raises(InvalidSpec, match="--data imagenet:/mnt/x and --volume pvc:scratch:/mnt overlap at /mnt/x"):
        kf.train("x = 1", name="both", data=["imagenet:/mnt/x"], volumes=["pvc:scratch:/mnt"], kind="job", user_ns={})
    assert kf_cluster.list_objects("", "v1", "secrets", "default") == []
    assert kf_cluster.list_objects("batch", "v1", "jobs", "default") == []


def test_a_deleted_cluster_job_no_longer_holds_its_versions(kf_cluster, mnist):
    job = kf.train(READ, name="gone", data=["mnist@1:data"], kind="job", user_ns={})
    with pytest.raises(DatasetInUse, match="mnist@1 is read by job gone, which is still there"):
        kf.data.delete("mnist@1")
    job.delete()
    assert "mnist@1 -> read by job gone at data (job deleted since)" in repr(kf.data.show("mnist"))
    assert kf.data.delete("mnist@1").startswith("deleted mnist@1")


def test_a_dry_run_shows_the_init_step_that_fetches_the_data(kf_cluster, mnist):
    kf_cluster.uninstall_crd("trainjobs.trainer.kubeflow.org")
    kf_cluster.uninstall_crd("pytorchjobs.kubeflow.org")
    dry = kf.train(READ, name="read-dry", data=["mnist@1:data"], user_ns={}, dry_run=True)
    assert "name: kf-data" in dry.manifests and "kf_fetch.py" in dry.manifests
    assert kf_cluster.list_objects("batch", "v1", "jobs", "default") == []  # nothing created
