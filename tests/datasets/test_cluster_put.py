"""kf.data.put / kf.data.load inside a cluster job: the emulator's simulating mode running the runner as a
process, a real S3 server (moto) on loopback. The pod's image may lack jupyter_kf, as the default python:*-slim
does: the runner then offers the bundle's stdlib kf_data.py (the simulator runs such an image's Python with -S,
so no site-packages)."""
import json
import os

import pytest

import jupyter_kf as kf
from tests.support.helpers import KINDS, pod_exit_codes

PUT = """scores = {"acc": 0.93, "epochs": [1, 2, 3]}
made = kf.data.put("scores", scores)
again = kf.data.put("scores", scores)
back = kf.data.load("scores")
"""


pytestmark = pytest.mark.simulated(stdlib_only_images=("python:",))
WITH_JUPYTER_KF = "ghcr.io/example/lab-with-jupyter-kf:1"  # an image with our package installed


@pytest.mark.parametrize("image", ["with-jupyter-kf", "bare"])
def test_a_cluster_job_puts_a_version_with_itself_as_producer(simulated_cluster, store, image):
    kf_cluster = simulated_cluster
    job = kf.train(PUT, name=f"put-{image}", kind="job", user_ns={"kf": kf},
                   image=None if image == "bare" else WITH_JUPYTER_KF)
    assert job.wait(timeout=60).phase == "Succeeded" and pod_exit_codes(kf_cluster, job.name) == {0: 0}, \
        "\n".join(job.logs())
    results = job.results()
    assert results["made"].version == 1 and results["again"].unchanged is True
    assert results["back"] == {"acc": 0.93, "epochs": [1, 2, 3]}
    made = kf.data.resolve("scores@1")
    assert made.producer["job"] == job.name and kf.data.load("scores") == results["back"]
    assert f"scores@1 <- written by job {job.name}" in repr(kf.data.show("scores"))
    readers = {r.get("reader"): r for r in kf.data.api._store().readers("scores")}
    assert readers["writer"] == {**readers["writer"], "job": job.name, "wrote": [1], "backend": "kubernetes"}
    obj = kf_cluster.get_object(*KINDS["job"], "default", job.name)
    env = {e["name"]: e for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}
    where = json.loads(env["KF_DATA_STORE"]["value"])
    assert where == {"endpoint": kf.config.get().store_endpoint, "bucket": store.bucket, "region": "us-east-1",
                     "base": "team/datasets"}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"] == {"secretKeyRef": {"name": "kf-store",
                                                                          "key": "AWS_SECRET_ACCESS_KEY"}}
    assert "kf-data-secret" not in str(obj) and "kf-data-secret" not in "\n".join(job.logs())


def test_a_job_reading_one_version_and_writing_another_is_traced_both_ways(simulated_cluster, store, tmp_path):
    src = tmp_path / "raw"
    src.mkdir()
    (src / "rows.csv").write_text("a,b\n1,2\n")
    kf.data.put("raw", src)
    cell = ("import os\nos.makedirs('clean', exist_ok=True)\n"
            "open('clean/rows.csv', 'w').write(open('data/rows.csv').read().upper())\n"
            "made = kf.data.put('clean', 'clean')\nfolder = kf.data.load('clean')\n"
            "back = open(os.path.join(folder, 'rows.csv')).read()\n")
    job = kf.train(cell, name="clean-raw", kind="job", data=["raw@1:data"], user_ns={"kf": kf})
    assert job.wait(timeout=60).phase == "Succeeded", "\n".join(job.logs())
    assert pod_exit_codes(simulated_cluster, job.name) == {0: 0}
    assert job.results()["back"] == "A,B\n1,2\n"
    assert (kf.data.load("clean") / "rows.csv").read_text() == "A,B\n1,2\n"
    assert f"raw@1 -> read by job {job.name} at data" in repr(kf.data.show("raw"))
    assert f"clean@1 <- written by job {job.name}" in repr(kf.data.show("clean"))


@pytest.mark.parametrize("cell, expected", [
    ("kf.data.put('Bad_Name', 1)", "kf.data.put: dataset name 'Bad_Name' is not accepted: at most 63 lowercase letters"),
    ("kf.data.put('x', object())", "kf.data.put: a object has no dataset format"),
    ("kf.data.load('nope')", "kf.data.load: no dataset named 'nope' in the store"),
])
def test_bad_data_calls_in_a_bare_pod_are_one_line_and_make_no_version(simulated_cluster, store, cell, expected):
    job = kf.train(cell, name="bad-put", kind="job", user_ns={"kf": kf})
    assert job.wait(timeout=60).phase == "Failed"
    assert pod_exit_codes(simulated_cluster, job.name) == {0: 1}
    assert expected in "\n".join(job.logs())
    assert len(kf.data.list()) == 0


def test_without_a_store_the_pod_gets_neither_the_shim_nor_the_env(kf_cluster):
    job = kf.train("x = 1", name="no-store", kind="job", user_ns={"kf": kf})
    obj = kf_cluster.get_object(*KINDS["job"], "default", job.name)
    names = {e["name"] for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "KF_DATA_STORE" not in names
    secret = kf_cluster.get_object("", "v1", "secrets", "default", f"{job.name}-kf-bundle")
    assert not any("kf_data" in key for key in secret["data"]), sorted(secret["data"])
    assert os.environ.get("KF_DATA_STORE") is None
