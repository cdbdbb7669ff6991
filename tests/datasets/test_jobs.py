"""kf.train(data=[...]) on the local backend: exact versions, read-only views, records, nothing made on bad input."""
import json
import os
import stat

import pytest

import jupyter_kf as kf
from jupyter_kf.datasets.errors import DatasetNotFound
from jupyter_kf.errors import InvalidSpec
from tests.support.helpers import two_versions

READ = """import os
text = open('data/labels.csv').read()
linked = os.path.islink('data/labels.csv')
try:
    open('data/labels.csv', 'a').write('more')
    refused = False
except PermissionError:
    refused = True
made = kf.data.put('out', {'seen': text})
"""


@pytest.fixture
def mnist(tmp_path):
    return two_versions(tmp_path)


def test_a_job_reads_the_version_it_names(mnist, kf_state_dir):
    job = kf.train(READ, name="reader", data=["mnist@1:data"], user_ns={"kf": kf})
    assert job.wait(timeout=60).phase == "Succeeded", list(job.logs())
    results = job.results()
    assert results["text"] == "v1\n" and results["linked"] is True
    if os.geteuid() != 0:  # root may write anything; the mode still says read-only
        assert results["refused"] is True
    folder = kf_state_dir / "jobs" / "reader"
    assert os.path.islink(folder / "work" / "data")  # one link to the version's view: the same for any size
    assert stat.S_IMODE(os.stat(folder / "work" / "data").st_mode) == 0o500  # the view takes no new file
    target = os.path.realpath(folder / "work" / "data" / "labels.csv")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o400
    record = json.loads((folder / "data.json").read_text())["data"]
    assert [(r["name"], r["version"], r["mount"]) for r in record] == [("mnist", 1, "data")]
    assert record[0]["digest"] == kf.data.resolve("mnist@1").digest
    assert kf.data.resolve("out").producer["job"] == "reader"
    assert json.loads((folder / "meta.json").read_text())["spec"]["data"] == ["mnist@1:data"]


def test_latest_is_resolved_at_submit(mnist):
    job = kf.train(READ, name="latest", data=["mnist:data"], user_ns={"kf": kf})
    assert job.wait(timeout=60).phase == "Succeeded"
    assert job.results()["text"] == "v2\n"
    assert "mnist@2 -> read by job latest at data" in repr(kf.data.show("mnist"))


def test_dry_run_names_the_data_and_makes_nothing(mnist, kf_state_dir):
    dry = kf.train("x = 1", name="dry", data=["mnist@2:data"], dry_run=True, user_ns={})
    assert "data: mnist@2:data" in dry.summary()
    assert not (kf_state_dir / "jobs" / "dry").exists()


@pytest.mark.parametrize("data, error, expected", [
    (["mnist@9:data"], DatasetNotFound, "dataset 'mnist' has no version 9: its versions are 1, 2"),
    (["nope:data"], DatasetNotFound, "no dataset named 'nope'"),
    (["mnist:/mnt/mnist"], InvalidSpec, "an absolute mount point needs a cluster"),
    (["mnist:../x"], InvalidSpec, "outside the job's working folder"),
    (["mnist:a", "mnist@1:a/b"], InvalidSpec, "overlap"),
])
def test_bad_data_starts_nothing(mnist, kf_state_dir, data, error, expected):
    with pytest.raises(error, match=expected):
        kf.train("x = 1", name="bad", data=data, user_ns={})
    assert not (kf_state_dir / "jobs" / "bad").exists()
    assert not (kf_state_dir / "datasets" / "sets" / "mnist" / "readers").exists()


def test_a_cluster_job_with_data_and_no_store_is_refused_before_anything_is_made(kf_cluster):
    with pytest.raises(InvalidSpec, match="--data on a cluster needs the S3-compatible store the pods fetch from"):
        kf.train("x = 1", name="remote", data=["mnist:data"], user_ns={})
    made = [o for plural in ("configmaps", "secrets") for o in kf_cluster.list_objects("", "v1", plural, "default")]
    assert not [o for o in made if o["metadata"]["name"].startswith("remote")]


def test_a_put_in_a_job_reaches_the_notebooks_store_when_only_the_config_names_it(tmp_path, monkeypatch):
    """The state folder set as a trait (ipython_config.py), not in the environment: the job still finds it."""
    from jupyter_kf import config

    monkeypatch.delenv("JUPYTER_KF_STATE_DIR")
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "default-data"))  # where a job would look otherwise
    config.reset()
    config.get().state_dir = str(tmp_path / "configured")
    job = kf.train("import jupyter_kf as kf\nkf.data.put('made', {'x': 1})", name="writer", user_ns={})
    assert job.wait(timeout=60).phase == "Succeeded", list(job.logs())
    assert kf.data.load("made") == {"x": 1} and kf.data.resolve("made").producer["job"] == "writer"
    assert not (tmp_path / "default-data").exists()
