"""Datasets in an S3-compatible store: a real S3 server (moto) on loopback, requests signed by our SigV4."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from jupyter_kf import config
from jupyter_kf.datasets import api
from jupyter_kf.datasets.backends.s3 import S3DataStore, StoreError

BUCKET = "team-data"


@pytest.fixture
def s3(monkeypatch):
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
    monkeypatch.setenv("JUPYTER_KF_BACKEND", "kubernetes")
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)

    def configure():
        config.reset()
        cfg = config.get()
        cfg.store, cfg.store_endpoint = f"s3://{BUCKET}/kf", endpoint

    configure()
    yield client, configure
    server.stop()


def keys(client, prefix):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def test_versions_live_in_the_bucket(s3, tmp_path, monkeypatch):
    client, configure = s3
    src = tmp_path / "mnist"
    src.mkdir()
    (src / "a.txt").write_text("a")
    (src / "b.txt").write_text("b")
    assert isinstance(api._store(), S3DataStore)
    assert api.put("mnist", src).version == 1
    assert api.put("mnist", src).unchanged
    (src / "b.txt").write_text("b2")
    assert api.put("mnist", src).new_objects == 1
    assert len(keys(client, "kf/datasets/objects/")) == 3
    assert keys(client, "kf/datasets/sets/mnist/versions/") == ["kf/datasets/sets/mnist/versions/1.json",
                                                                  "kf/datasets/sets/mnist/versions/2.json"]
    api.put("arr", np.arange(4))
    row = repr(api.list()).splitlines()[2]
    assert row.split()[:3] == ["mnist", "2", "mnist@2"] and row.rstrip().endswith(f"s3://{BUCKET}/kf")
    # another machine: a new state folder, nothing cached; the bucket is the truth
    monkeypatch.setenv("JUPYTER_KF_STATE_DIR", str(tmp_path / "elsewhere"))
    configure()
    np.testing.assert_array_equal(api.load("arr"), np.arange(4))
    assert (api.load("mnist@1") / "b.txt").read_text() == "b"
    out = api.get("mnist", tmp_path / "out")
    assert (out / "b.txt").read_text() == "b2"
    assert api.delete("mnist@1").startswith("deleted mnist@1; 1 stored object(s) freed")
    assert len(keys(client, "kf/datasets/objects/")) == 3  # mnist@2's two and arr's one
    assert keys(client, "kf/datasets/sets/mnist/versions/") == ["kf/datasets/sets/mnist/versions/2.json"]


def test_concurrent_writers_never_share_a_number(s3):
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda i: api.put("many", {"i": i}), range(4)))
    assert sorted(v.version for v in made) == [1, 2, 3, 4]
    assert sorted(api.load(f"many@{n}")["i"] for n in range(1, 5)) == [0, 1, 2, 3]


def test_no_credentials_is_one_line(s3, monkeypatch):
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreError, match=f"no credentials for store s3://{BUCKET}/kf: set AWS_ACCESS_KEY_ID"):
        api.list()
