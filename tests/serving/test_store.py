"""The model store: S3-compatible (stdlib SigV4, against moto on loopback) and PVC (jupyter_kf/serving/store.py)."""
import pytest

from jupyter_kf import config
from jupyter_kf.serving.errors import NoStore
from jupyter_kf.serving.store import PvcStore, S3Store, StoreError, get_store


def test_no_store_and_incomplete_stores_are_one_line():
    with pytest.raises(NoStore, match=r"^no store is configured: set c.KfConfig.store = 's3://bucket/prefix'"):
        get_store()
    cfg = config.get()
    cfg.store = "s3://models/kf"
    with pytest.raises(NoStore, match="^store s3://models/kf has no endpoint: set c.KfConfig.store_endpoint"):
        get_store()
    cfg.store = "pvc://models/kf"
    with pytest.raises(NoStore, match="^store pvc://models/kf is a PVC: set c.KfConfig.store_mount"):
        get_store()
    cfg.store = "gs://b"
    with pytest.raises(NoStore, match="is not supported for models"):
        get_store()


def test_pvc_store_writes_under_the_mount(tmp_path):
    cfg = config.get()
    cfg.store, cfg.store_mount = "pvc://team-models/kf", str(tmp_path / "mnt")
    store = get_store()
    assert isinstance(store, PvcStore)
    src = tmp_path / "model"
    (src / "net/1").mkdir(parents=True)
    (src / "net/1/model.pt").write_bytes(b"weights")
    uri, keys = store.upload(src, "models/ns/net/v1-abc")
    assert uri == "pvc://team-models/kf/models/ns/net/v1-abc"
    assert (tmp_path / "mnt/kf/models/ns/net/v1-abc/net/1/model.pt").read_bytes() == b"weights"
    store.delete(keys)
    assert not (tmp_path / "mnt/kf/models/ns/net/v1-abc").exists()


def test_s3_upload_and_delete_on_a_real_server(tmp_path, monkeypatch):
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="models")
        src = tmp_path / "m"
        (src / "sub").mkdir(parents=True)
        (src / "model.joblib").write_bytes(b"x" * 1000)
        (src / "sub/config.pbtxt").write_text("name: 'm'")
        store = S3Store("s3://models/kf", endpoint)
        uri, keys = store.upload(src, "models/ns/m/v1")
        assert uri == "s3://models/kf/models/ns/m/v1"
        assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="models")["Contents"]) == keys == [
            "kf/models/ns/m/v1/model.joblib", "kf/models/ns/m/v1/sub/config.pbtxt"]
        store.delete(keys)
        assert s3.list_objects_v2(Bucket="models").get("KeyCount") == 0
        with pytest.raises(StoreError, match=r"^store s3://nobucket at .* refused PUT .*: NoSuchBucket"):
            S3Store("s3://nobucket", endpoint).upload(src, "k")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        with pytest.raises(StoreError, match="^no credentials for store s3://models/kf: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
            store.upload(src, "k")
    finally:
        server.stop()


def test_unreachable_s3_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
    (tmp_path / "model.joblib").write_bytes(b"x")
    with pytest.raises(StoreError, match=r"^store s3://models at http://127.0.0.1:9 is unreachable: "):
        S3Store("s3://models", "http://127.0.0.1:9").upload(tmp_path, "k")
