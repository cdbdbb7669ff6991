"""c.KfConfig.data_cache: cluster jobs' --data init steps keep fetched files in a PersistentVolumeClaim by
content hash, so a second job reading the same version downloads nothing. The emulator (manifests created
strictly), its simulating mode (a claim is one folder shared by every pod), moto on loopback."""
import os
from pathlib import Path

import pytest

import jupyter_kf as kf
from jupyter_kf import config
from jupyter_kf.errors import InvalidSpec
from tests.support.helpers import KINDS, pod_exit_codes

READ = "blob = open('data/train.bin', 'rb').read()\nlabels = open('data/sub/labels.csv').read()\n"


def cache_claim(cluster, simulator) -> Path:
    """The cache's PersistentVolumeClaim, and the folder the simulated node keeps it in."""
    cluster.create_object({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                           "metadata": {"name": "kf-data-cache", "namespace": "default"},
                           "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}}})
    return simulator.root / "claims" / "default" / "kf-data-cache"


def ran(cluster, job) -> None:
    assert job.wait(timeout=60).phase == "Succeeded", "\n".join(job.logs())
    assert pod_exit_codes(cluster, job.name) == {0: 0}


@pytest.fixture
def mnist(store, tmp_path):
    src = tmp_path / "mnist"
    (src / "sub").mkdir(parents=True)
    blob = os.urandom(200_000)
    (src / "train.bin").write_bytes(blob)
    (src / "sub" / "labels.csv").write_text("v1\n")
    kf.data.put("mnist", src)
    config.get().data_cache = "kf-data-cache"
    return blob


def objects_in_bucket(store):
    listed = store.s3.list_objects_v2(Bucket=store.bucket, Prefix="team/datasets/objects/")
    return [o["Key"] for o in listed.get("Contents", [])]


@pytest.mark.parametrize("kind", ["job", "trainjob"])
def test_a_second_job_reading_the_same_version_downloads_nothing(simulated_cluster, simulator, store, mnist, kind):
    kf_cluster = simulated_cluster
    if kind == "job":
        kf_cluster.uninstall_crd("trainjobs.trainer.kubeflow.org")
        kf_cluster.uninstall_crd("pytorchjobs.kubeflow.org")
    cache = cache_claim(kf_cluster, simulator)
    first = kf.train(READ, name="first", data=["mnist@1:data"], user_ns={})
    ran(kf_cluster, first)
    assert first.results()["blob"] == mnist
    cached = sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file())
    assert len(cached) == 2 and all(c.startswith("objects/") for c in cached)
    for key in objects_in_bucket(store):  # the store loses the files: only the cache can serve them now
        store.s3.delete_object(Bucket=store.bucket, Key=key)
    second = kf.train(READ, name="second", data=["mnist@1:data"], user_ns={})
    ran(kf_cluster, second)
    assert second.results() == {"blob": mnist, "labels": "v1\n"}
    log = "\n".join(second.logs()) if kind == "trainjob" else init_log(kf_cluster)
    assert "2 file(s), 0.2 MiB fetched and verified (2 from the cache, not downloaded)" in log


def init_log(emu) -> str:
    """The second job's init step's log, read through the API as kubectl logs -c kf-data would."""
    import kubernetes

    pod = next(p["metadata"]["name"] for p in emu.list_objects("", "v1", "pods", "default")
               if p["metadata"]["name"].startswith("second"))
    kubernetes.config.load_kube_config()
    return kubernetes.client.CoreV1Api().read_namespaced_pod_log(pod, "default", container="kf-data")


def test_a_damaged_cache_copy_is_replaced_from_the_store(simulated_cluster, simulator, store, mnist):
    cache = cache_claim(simulated_cluster, simulator)
    first = kf.train(READ, name="first", data=["mnist@1:data"], kind="job", user_ns={})
    ran(simulated_cluster, first)
    digest = kf.data.resolve("mnist@1").files["train.bin"][0]
    kept = cache / "objects" / digest[:2] / digest[2:]
    os.chmod(kept, 0o644)
    kept.write_bytes(b"forged")
    second = kf.train(READ, name="second", data=["mnist@1:data"], kind="job", user_ns={})
    ran(simulated_cluster, second)
    assert second.results()["blob"] == mnist and kept.read_bytes() == mnist


def test_the_cache_claim_in_the_manifests(kf_cluster, store, mnist):
    import kubernetes_validate

    job = kf.train(READ, name="cached", data=["mnist@1:data"], kind="job", user_ns={})
    obj = kf_cluster.get_object(*KINDS["job"], "default", job.name)
    kubernetes_validate.validate(obj, "1.37", strict=True)
    pod = obj["spec"]["template"]["spec"]
    assert {"name": "kf-data-cache", "persistentVolumeClaim": {"claimName": "kf-data-cache"}} in pod["volumes"]
    init, = pod["initContainers"]
    assert {"name": "kf-data-cache", "mountPath": "/kf/cache"} in init["volumeMounts"]
    assert init["command"][-2:] == ["--cache", "/kf/cache"]
    assert not any(m["name"] == "kf-data-cache" for m in pod["containers"][0]["volumeMounts"])  # the job: not at all


def test_a_bad_cache_claim_name_makes_nothing(kf_cluster, store, mnist):
    config.get().data_cache = "Not A Claim"
    with pytest.raises(InvalidSpec, match=r"c.KfConfig.data_cache \(a PersistentVolumeClaim name\) 'Not A Claim' is "
                                          "invalid"):
        kf.train(READ, name="bad-cache", data=["mnist@1:data"], kind="job", user_ns={})
    assert [s["metadata"]["name"] for s in kf_cluster.list_objects("", "v1", "secrets", "default")] == ["kf-store"]


def test_the_data_cache_flag_names_the_claim_for_one_job(kf_cluster, store, mnist):
    config.get().data_cache = ""
    job = kf.train(READ, name="flagged", data=["mnist@1:data"], kind="job", data_cache="team-cache", user_ns={})
    pod = kf_cluster.get_object(*KINDS["job"], "default", job.name)["spec"]["template"]["spec"]
    assert {"name": "kf-data-cache", "persistentVolumeClaim": {"claimName": "team-cache"}} in pod["volumes"]
    plain = kf.train(READ, name="plain", data=["mnist@1:data"], kind="job", user_ns={})
    pod = kf_cluster.get_object(*KINDS["job"], "default", plain.name)["spec"]["template"]["spec"]
    assert not any(v["name"] == "kf-data-cache" for v in pod["volumes"])
    assert "--cache" not in pod["initContainers"][0]["command"]


def test_a_bad_data_cache_flag_in_the_magic_is_one_line_and_makes_nothing(kf_cluster, store, mnist):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_kf")
    with capture_output() as shown:
        shell.run_cell("%%kf_train --name magic-cache --kind job --data mnist@1:data --data-cache Bad_Claim\nx = 1")
    text = shown.stdout + shown.stderr + "".join(str(o.data) for o in shown.outputs)
    assert "--data-cache (a PersistentVolumeClaim name) 'Bad_Claim' is invalid" in text
    assert "Traceback" not in text
    assert kf_cluster.list_objects("batch", "v1", "jobs", "default") == []
