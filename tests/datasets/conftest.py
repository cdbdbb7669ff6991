"""The S3-compatible store the cluster tests share: moto on loopback, jupyter_kf configured to use it."""
import base64
import uuid
from types import SimpleNamespace

import pytest

from jupyter_kf import config


@pytest.fixture
def store(kf_cluster, monkeypatch):
    """moto on loopback, a bucket, jupyter_kf's store configured, and the credentials' Secret on the cluster."""
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "kf-data-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "kf-data-secret")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"kf-{uuid.uuid4().hex[:12]}"  # moto keeps buckets for the whole process: one of its own per test
    s3.create_bucket(Bucket=bucket)
    cfg = config.get()
    cfg.store, cfg.store_endpoint, cfg.store_secret = f"s3://{bucket}/team", endpoint, "kf-store"
    kf_cluster.create_object({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kf-store", "namespace": "default"},
                              "data": {k: base64.b64encode(v.encode()).decode() for k, v in
                                       (("AWS_ACCESS_KEY_ID", "kf-data-key"),
                                        ("AWS_SECRET_ACCESS_KEY", "kf-data-secret"))}})
    yield SimpleNamespace(s3=s3, bucket=bucket)
    server.stop()
