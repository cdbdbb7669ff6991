"""Datasets in pipelines: the ``data:`` cell tag (versions pinned when compiled, mounted before the step's
cells run) and ``kf.data.put`` / ``kf.data.load`` inside steps, locally and in the compiled KFP IR (run as a
pod would: the step program alone, Python without site-packages, the store a real S3 server on loopback)."""
import json
import os
import re
import subprocess
import sys

import pytest

import jupyter_kf as kf
from jupyter_kf.datasets.errors import DatasetNotFound
from jupyter_kf.pipeline import convert, run
from jupyter_kf.pipeline.model import PipelineError
from tests.datasets.conftest import store  # noqa: F401 - the moto-backed store fixture
from tests.pipeline.test_kfp import kfp
from tests.support.pipeline_helpers import write

READ_AND_WRITE = (
    ("import jupyter_kf as kf", ["imports"]),
    ("rows = open('data/rows.csv').read().splitlines()", ["step:load", "data:raw@1:data"]),
    ("made = kf.data.put('counts', {'rows': len(rows)})\nback = kf.data.load('counts')\nprint('back', back)",
     ["step:count", "prev:load"]),
)


@pytest.fixture
def raw(tmp_path):
    src = tmp_path / "raw-src"
    src.mkdir()
    (src / "rows.csv").write_text("a\nb\nc\n")
    assert kf.data.put("raw", src).version == 1
    (src / "rows.csv").write_text("changed\n")
    assert kf.data.put("raw", src).version == 2
    return src


def test_a_data_tag_is_kept_on_its_step_and_pinned_when_compiled(tmp_path, raw):
    conversion = convert(write(tmp_path, "nb.ipynb", *READ_AND_WRITE))
    load = conversion.pipeline.step("load")
    assert load.data == ["raw@1:data"]
    entry, = load.data_plan["data"]
    assert entry == {"name": "raw", "version": 1, "digest": kf.data.resolve("raw@1").digest, "mount": "data"}
    assert conversion.pipeline.step("count").data == []
    assert conversion.pipeline.warnings == [
        "step(s) load, count use datasets, which on Kubeflow Pipelines need the S3-compatible store (c.KfConfig.store, "
        "store_endpoint, store_secret): as compiled they run locally only"]


def test_a_data_tag_in_a_kf_comment_and_in_steps_defaults(tmp_path, raw):
    path = write(tmp_path, "nb.ipynb", "# kf: step:s data:raw@2:d\nx = open('d/rows.csv').read()",
                 ("y = 1", ["step:t"]), meta={"steps_defaults": ["data:raw@1:shared"]})
    pipeline = convert(path).pipeline
    assert pipeline.step("s").data == ["raw@2:d", "raw@1:shared"]
    assert pipeline.step("t").data == ["raw@1:shared"]


def test_latest_is_pinned_to_the_version_there_is_when_compiled(tmp_path, raw):
    conversion = convert(write(tmp_path, "nb.ipynb", ("x = open('d/rows.csv').read()", ["step:s", "data:raw:d"])))
    assert conversion.pipeline.step("s").data_plan["data"][0]["version"] == 2


@pytest.mark.parametrize("tag, error, expected", [
    ("data:nope:data", DatasetNotFound, "step 's', tag data:nope:data: no dataset named 'nope' on the local store"),
    ("data:raw@9:data", DatasetNotFound, "step 's', tag data:raw@9:data: dataset 'raw' has no version 9: its "
                                         "versions are 1, 2"),
    ("data:raw", PipelineError, re.escape("cell 1: tag 'data:raw' is not data:NAME[@VERSION]:MOUNT (e.g. "
                                          "data:mnist@2:data or data:clean:/mnt/clean): it has no mount point")),
    ("data:Raw:data", PipelineError, r"cell 1: tag 'data:Raw:data' is not data:NAME\[@VERSION\]:MOUNT .*: dataset name "
                                     "'Raw' is invalid"),
    ("data:raw:../up", PipelineError, "mount point '../up' is outside the job's working folder"),
])
def test_a_bad_data_tag_is_one_line_and_writes_nothing(tmp_path, raw, tag, error, expected):
    path = write(tmp_path, "nb.ipynb", ("x = 1", ["step:s", tag]))
    out = tmp_path / "out.yaml"
    with pytest.raises(error, match=expected) as caught:
        convert(path, output=out)
    assert "\n" not in str(caught.value)
    assert not out.exists()


def test_two_data_tags_at_one_mount_point_are_refused(tmp_path, raw):
    path = write(tmp_path, "nb.ipynb", ("x = 1", ["step:s", "data:raw@1:data", "data:raw@2:data/sub"]))
    with pytest.raises(Exception, match="step 's': data: raw@2:data/sub and data: raw@1:data overlap"):
        convert(path)


def test_a_local_run_mounts_the_pinned_version_and_traces_what_steps_read_and_wrote(tmp_path, raw):
    lines = []
    result = run(write(tmp_path, "nb.ipynb", *READ_AND_WRITE), on_line=lines.append)
    assert result.phase == "Succeeded", lines
    assert result.load("rows") == ["a", "b", "c"]  # version 1, not the latest
    assert "[count] back {'rows': 3}" in lines
    assert kf.data.load("counts") == {"rows": 3}
    producer = kf.data.resolve("counts").producer
    assert producer == {"job": f"{result.id}-count", "rank": "0", "step": "nb/count"}
    assert f"raw@1 -> read by job {result.id}-load at data" in repr(kf.data.show("raw"))
    assert f"counts@1 <- written by pipeline step nb/count (job {result.id}-count)" in \
        repr(kf.data.show("counts"))
    assert os.path.islink(tmp_path / "data")  # a read-only view, linked where the step reads it
    again = run(write(tmp_path, "nb.ipynb", *READ_AND_WRITE), on_line=lines.append)  # the old link is replaced
    assert again.phase == "Succeeded"


def test_a_local_run_refuses_a_mount_point_that_holds_the_users_files(tmp_path, raw):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.txt").write_text("keep")
    result = run(write(tmp_path, "nb.ipynb", *READ_AND_WRITE), on_line=None, raise_on_failure=False)
    assert result.phase == "Failed"
    assert result.steps["load"].error["message"] == (
        f"step 'load': data:raw@1:data: {tmp_path / 'data'} exists already: a dataset needs a mount point of its own "
        "(change the tag's MOUNT)")
    assert (tmp_path / "data" / "mine.txt").read_text() == "keep"


# -- the compiled IR, run as a KFP pod would run it --------------------------------------------------
def test_the_ir_carries_the_store_by_reference_and_a_bare_pod_step_reads_and_writes(tmp_path, kf_cluster, raw,
                                                                                   store):  # noqa: F811
    src = tmp_path / "s3-src"
    src.mkdir()
    (src / "rows.csv").write_text("x\ny\n")
    kf.data.put("raw", src)  # version 1 in the S3 store
    conversion = convert(write(tmp_path, "nb.ipynb", *READ_AND_WRITE))
    text = conversion.yaml()
    assert conversion.pipeline.warnings == []
    assert "kf-data-secret" not in text and "kf-data-key" not in text
    executors = conversion.spec["deploymentSpec"]["executors"]
    platform = conversion.platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for task in ("load", "count"):
        env = {e["name"]: e["value"] for e in executors[f"exec-{task}"]["container"]["env"]}
        assert json.loads(env["KF_DATA_STORE"])["bucket"] == store.bucket
        assert env["KF_PIPELINE_STEP"] == f"{conversion.name}/{task}"
        refs = platform[f"exec-{task}"]["secretAsEnv"]
        assert refs[0]["secretName"] == "kf-store" and {k["envVar"] for k in refs[0]["keyToEnv"]} == {
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    conversion.write(tmp_path / "data.yaml")  # kfp itself loads it and compiles it again to the same spec
    assert kfp("roundtrip", tmp_path / "data.yaml")["data.yaml"] == {"identical": True, "documents": 2, "inputs": []}
    load = run_as_pod(executors["exec-load"]["container"], tmp_path / "pod-load")
    assert load.returncode == 0, load.stderr
    assert "[jupyter_kf] step load: data raw@1 at data" in load.stdout
    assert os.access(tmp_path / "pod-load" / "data" / "rows.csv", os.R_OK)
    count = run_as_pod(executors["exec-count"]["container"], tmp_path / "pod-count",
                       code="made = kf.data.put('counts', {'rows': 2})\nprint('back', kf.data.load('counts'))")
    assert count.returncode == 0, count.stderr
    assert "back {'rows': 2}" in count.stdout
    assert kf.data.load("counts") == {"rows": 2}
    assert kf.data.resolve("counts").producer["step"] == f"{conversion.name}/count"
    assert f"raw@1 -> read by pipeline step {conversion.name}/load at data" in repr(kf.data.show("raw"))
    assert kf.data.delete("raw@1").startswith("deleted raw@1")  # a step's read keeps nothing from deletion


def test_a_data_step_on_kfp_fetches_through_the_cache_claim(tmp_path, kf_cluster, raw, store):  # noqa: F811
    src = tmp_path / "s3-src"
    src.mkdir()
    (src / "rows.csv").write_text("x\ny\n")
    kf.data.put("raw", src)
    kf.config.get().data_cache = "kf-data-cache"
    conversion = convert(write(tmp_path, "nb.ipynb", *READ_AND_WRITE))
    platform = conversion.platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert platform["exec-load"]["pvcMount"] == [{"constant": "kf-data-cache", "mountPath": "/kf/cache",
                                                  "pvcNameParameter": {"runtimeValue": {"constant": "kf-data-cache"}}}]
    assert "pvcMount" not in platform["exec-count"]  # it reads no data: tag
    container = conversion.spec["deploymentSpec"]["executors"]["exec-load"]["container"]
    first = run_as_pod(container, tmp_path / "pod-1", cache=tmp_path / "claim")
    assert first.returncode == 0, first.stderr
    listed = store.s3.list_objects_v2(Bucket=store.bucket, Prefix="team/datasets/objects/")["Contents"]
    for obj in listed:  # only the claim has the file now
        store.s3.delete_object(Bucket=store.bucket, Key=obj["Key"])
    second = run_as_pod(container, tmp_path / "pod-2", cache=tmp_path / "claim")
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "pod-2" / "data" / "rows.csv").read_text() == "x\ny\n"


def run_as_pod(container: dict, cwd, code: str | None = None, cache=None):
    """The step's own command and arguments with ``python -S`` (no site-packages: no jupyter_kf, as in a
    bare image); its env as the IR gives it, plus the Secret's keys as KFP would inject them."""
    cwd.mkdir()
    given = list(container["args"])
    spec = json.loads(given[given.index("--spec") + 1])
    if cache is not None:  # the cache claim, as the kubelet would mount it
        spec["data"]["cache"] = str(cache)
    args = ["--spec", json.dumps(spec)]
    for i, arg in enumerate(given):
        if arg == "--output":  # where KFP would have it write the artifact
            args += ["--output", given[i + 1], str(cwd / f"out-{given[i + 1]}")]
    if code is not None:  # the step alone: its input from the upstream step is not at hand here
        spec["cells"] = [c for c in spec["cells"] if "import" in c["code"]] + [{"cell": 9, "code": code}]
        spec["inputs"] = {}
        args = ["--spec", json.dumps(spec)]
    env = {"PATH": os.environ["PATH"], "AWS_ACCESS_KEY_ID": "kf-data-key", "AWS_SECRET_ACCESS_KEY": "kf-data-secret",
           **{e["name"]: e["value"] for e in container["env"]}}
    command = [sys.executable, "-S", *container["command"][1:]]
    return subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
