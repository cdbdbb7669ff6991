"""kf.data on the local store: versions by content, what a put stores, get/load/list/show/delete, bad input."""
import hashlib
import json
import os
import stat

import numpy as np
import pytest

from jupyter_kf.datasets import api
from jupyter_kf.datasets.errors import CannotStore, DatasetInUse, DatasetNotFound
from jupyter_kf.datasets.store import LocalStore
from jupyter_kf.errors import InvalidSpec


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "mnist"
    (src / "train").mkdir(parents=True)
    (src / "train" / "x.bin").write_bytes(os.urandom(4096))
    (src / "labels.csv").write_text("a,b\n1,2\n")
    return src


def objects(state) -> set[str]:
    root = state / "datasets" / "objects"
    return {p.parent.name + p.name for p in root.glob("??/*")}


def test_versions_by_content(folder, kf_state_dir):
    first = api.put("mnist", folder)
    assert (first.version, first.files, first.new_objects, first.unchanged) == (1, 2, 2, False)
    again = api.put("mnist", str(folder) + "/")
    assert again.unchanged and again.version == 1
    assert again.summary().startswith("unchanged: still version 1 of mnist")
    (folder / "labels.csv").write_text("a,b\n1,3\n")
    second = api.put("mnist", folder)
    assert (second.version, second.new_objects) == (2, 1)  # only the changed file is stored again
    assert len(objects(kf_state_dir)) == 3
    assert api.resolve("mnist").version == 2 and api.resolve("mnist@1").digest == first.digest
    assert api.resolve(f"mnist@sha256:{first.digest[:8]}").version == 1
    assert api.resolve(f"mnist@{second.digest[:10]}").version == 2


def test_the_store_is_private_and_read_only(folder, kf_state_dir):
    api.put("mnist", folder)
    for path in (kf_state_dir / "datasets").rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
        elif "objects" in path.parts:
            assert mode == 0o400, path  # content is never written twice
        else:
            assert mode == 0o600, path


def test_an_interrupted_put_leaves_no_version_and_resumes(folder, kf_state_dir, monkeypatch):
    real = LocalStore.add_file

    def failing(self, path, *args):
        if path.name == "labels.csv":
            raise KeyboardInterrupt
        return real(self, path, *args)

    monkeypatch.setattr(LocalStore, "add_file", failing)
    with pytest.raises(KeyboardInterrupt):
        api.put("mnist", folder)
    stored = objects(kf_state_dir)
    assert len(stored) <= 1  # x.bin's object, if it was reached: whole, named by its content
    for digest in stored:
        path = kf_state_dir / "datasets" / "objects" / digest[:2] / digest[2:]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    with pytest.raises(DatasetNotFound, match="no dataset named 'mnist'"):
        api.resolve("mnist")
    assert "mnist" not in repr(api.list())
    monkeypatch.setattr(LocalStore, "add_file", real)
    resumed = api.put("mnist", folder)
    assert (resumed.version, resumed.new_objects) == (1, 2 - len(stored))  # what is there is not copied again
    assert len(objects(kf_state_dir)) == 2


def test_values(kf_state_dir):
    arr = np.arange(12.0).reshape(3, 4)
    v = api.put("arr", arr)
    assert v.format == "npy" and "ndarray as .npy" in v.summary()
    np.testing.assert_array_equal(api.load("arr"), arr)
    plain = {"lr": 0.1, "layers": [64, 32], "name": "x"}
    assert api.put("params", plain).format == "json"
    assert api.load("params") == plain
    assert api.put("params", dict(plain)).unchanged
    objs = np.array([{"a": 1}, None], dtype=object)
    v = api.put("objs", objs)
    assert v.format == "pickle" and "object array" in v.summary()
    assert api.load("objs")[0] == {"a": 1}
    with pytest.raises(CannotStore, match="a set has no dataset format"):
        api.put("bad", {1, 2})
    assert api.put("forced", {1, 2}, format="pickle").format == "pickle"


def test_dataframe_says_its_format(kf_state_dir):
    pd = pytest.importorskip("pandas")
    import importlib.util

    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    v = api.put("clean", df)
    if importlib.util.find_spec("pyarrow"):
        assert v.format == "parquet"
    else:
        assert v.format == "pickle" and "pyarrow is not installed: pickle, not Parquet" in v.summary()
    assert api.load("clean").equals(df)


def test_files_get_and_load(folder, tmp_path):
    api.put("mnist", folder)
    view = api.load("mnist")
    assert (view / "labels.csv").read_text() == "a,b\n1,2\n"
    assert stat.S_IMODE(os.stat(view / "labels.csv").st_mode) == 0o400
    api.put("labels", folder / "labels.csv")
    assert api.load("labels").name == "labels.csv" and api.load("labels").read_text() == "a,b\n1,2\n"
    out = api.get("mnist@1", tmp_path / "here")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["labels.csv", "train/x.bin"]
    assert (out / "train" / "x.bin").read_bytes() == (folder / "train" / "x.bin").read_bytes()
    assert api.get("mnist@1", out) == out  # the same files again: nothing to do
    (out / "labels.csv").write_text("changed")
    (out / "train" / "x.bin").unlink()
    with pytest.raises(InvalidSpec, match="labels.csv exists and differs .* nothing was written"):
        api.get("mnist", out)
    assert not (out / "train" / "x.bin").exists()


def test_list_and_show(folder):
    assert "no datasets on the local store yet" in repr(api.list())
    api.put("mnist", folder)
    (folder / "extra.txt").write_text("x")
    api.put("mnist", folder)
    table = api.list()
    header, row = repr(table).splitlines()
    assert header.split() == ["NAME", "VERSIONS", "LATEST", "SIZE", "FILES", "CREATED", "WHERE"]
    assert row.split()[:3] == ["mnist", "2", "mnist@2"] and row.split()[-1] == "local" and row.split()[5] == "3"
    shown = repr(api.show("mnist@1"))
    assert "dataset mnist: 2 version(s)" in shown and "files of mnist@1:" in shown
    assert "  labels.csv  " in shown and "extra.txt" not in shown.split("files of")[1]
    assert "lineage: no job has read or written it yet" in shown


def test_delete(folder, kf_state_dir):
    api.put("mnist", folder)
    (folder / "labels.csv").write_text("new")
    api.put("mnist", folder)
    assert api.delete("mnist@1") == "deleted mnist@1; 1 stored object(s) freed"  # the shared one stays
    assert api.load("mnist") and len(objects(kf_state_dir)) == 2
    with pytest.raises(DatasetNotFound, match="has no version 1: its versions are 2"):
        api.resolve("mnist@1")
    assert api.delete("mnist") == "deleted dataset mnist (1 version(s)); 2 stored object(s) freed"
    assert objects(kf_state_dir) == set()
    with pytest.raises(DatasetNotFound):
        api.delete("mnist")


def test_delete_is_refused_while_a_job_read_it(folder, kf_state_dir):
    api.put("mnist", folder)
    mounts = api.resolve_mounts(["mnist@1:data"], "local")
    job = kf_state_dir / "jobs" / "fit-1"
    job.mkdir(parents=True)
    (job / "meta.json").write_text("{}")
    api.record_reads("fit-1", mounts)
    with pytest.raises(DatasetInUse, match="mnist@1 is read by job fit-1, which is still there: %kf_delete fit-1"):
        api.delete("mnist@1")
    with pytest.raises(DatasetInUse):
        api.delete("mnist")
    assert "mnist@1 -> read by job fit-1 at data" in repr(api.show("mnist"))
    (job / "meta.json").unlink()
    assert "(job deleted since)" in repr(api.show("mnist"))
    assert api.delete("mnist@1").startswith("deleted mnist@1")


def test_force_deletes_a_version_in_use(folder, kf_state_dir):
    api.put("mnist", folder)
    job = kf_state_dir / "jobs" / "fit-1"
    job.mkdir(parents=True)
    (job / "meta.json").write_text("{}")
    api.record_reads("fit-1", api.resolve_mounts(["mnist:data"], "local"))
    assert api.delete("mnist@1", force=True).startswith("deleted mnist@1")


@pytest.mark.parametrize("call, error, expected", [
    (lambda tmp: api.put("mnist", tmp / "missing"), CannotStore, "does not exist: give a folder, a file, or a value"),
    (lambda tmp: api.put("Mnist", tmp), InvalidSpec, "dataset name 'Mnist' is invalid"),
    (lambda tmp: api.put("empty", tmp), CannotStore, "has no files"),
    (lambda tmp: api.resolve("nope@2"), DatasetNotFound, "no dataset named 'nope' on the local store"),
    (lambda tmp: api.resolve_mounts(["nope:data"], "local"), DatasetNotFound, "no dataset named 'nope'"),
    (lambda tmp: api.resolve_mounts(["nope:/mnt/x"], "local"), InvalidSpec, "an absolute mount point needs a cluster"),
    (lambda tmp: api.resolve_mounts(["nope:x"], "kubernetes"), InvalidSpec, "--data on a cluster needs the S3"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, kf_state_dir, call, error, expected):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(error, match=expected) as err:
        call(empty if "empty" in expected or "has no files" in expected else tmp_path)
    assert "\n" not in str(err.value)
    assert not (kf_state_dir / "datasets" / "sets").exists()


def test_mount_into_makes_a_view_and_a_record(folder, tmp_path):
    api.put("mnist", folder)
    resolved = api.resolve_mounts(["mnist@1:inputs/mnist"], "local")
    record = api.mount_into(tmp_path / "work", resolved, record=tmp_path / "data.json")
    view = tmp_path / "work" / "inputs" / "mnist"
    assert (view / "train" / "x.bin").read_bytes() == (folder / "train" / "x.bin").read_bytes()
    assert (view / "labels.csv").is_symlink()  # a view, not a copy
    assert json.loads((tmp_path / "data.json").read_text()) == record
    assert record["data"][0]["version"] == 1 and record["data"][0]["mount"] == "inputs/mnist"


def test_concurrent_puts(kf_state_dir):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        same = list(pool.map(lambda i: api.put("same", {"a": 1}), range(8)))
        different = list(pool.map(lambda i: api.put("many", {"i": i}), range(8)))
    assert sum(not v.unchanged for v in same) == 1 and {v.version for v in same} == {1}
    assert sorted(v.version for v in different) == list(range(1, 9))
    assert sorted(api.load(f"many@{n}")["i"] for n in range(1, 9)) == list(range(8))
