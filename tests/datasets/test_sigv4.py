"""The two stdlib SigV4 signers (``datasets.fetch.sign``, used by the store client, the --data step and kf.data in
pods; ``training.runner.s3_request``, used for job payloads and models) against botocore's own S3 signer, at a fixed
time. moto accepts any signature, so only this comparison shows a real S3 or MinIO would accept ours."""
import hashlib
import time
import urllib.request

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from jupyter_kf.datasets import fetch
from jupyter_kf.training import runner

ACCESS, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
AT = time.strptime("20261207T153045Z", "%Y%m%dT%H%M%SZ")


@pytest.fixture
def frozen(monkeypatch):
    monkeypatch.setattr(time, "gmtime", lambda *args: AT)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)


def botocore_signature(method: str, url: str, region: str, body: bytes, extra: dict | None = None) -> str:
    request = AWSRequest(method=method, url=url, data=body,
                         headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest(), **(extra or {})})
    request.context["timestamp"] = "20261207T153045Z"
    auth = S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", region)
    request.headers["X-Amz-Date"] = "20261207T153045Z"
    canonical = auth.canonical_request(request)
    return auth.signature(auth.string_to_sign(request, canonical), request)


@pytest.mark.parametrize("method,key,query,region,extra", [
    ("GET", "datasets/mnist/v1/labels.csv", None, "us-east-1", None),
    ("PUT", "datasets/a b/ü+1.bin", None, "eu-west-3", {"Content-Type": "application/octet-stream"}),
    ("GET", "", {"list-type": "2", "prefix": "datasets/mnist/", "continuation-token": "a/b=c"}, "us-east-1", None),
    ("POST", "models/big.bin", {"uploadId": "x~y", "partNumber": "3"}, "us-west-2", None),
])
def test_the_store_client_signs_as_botocore_does(frozen, method, key, query, region, extra):
    store = {"endpoint": "http://127.0.0.1:9000", "bucket": "kf-store"}
    url = fetch.object_url(store, key, query)
    body = b"hello, store" if method != "GET" else b""
    ours = fetch.sign(method, url, region, hashlib.sha256(body).hexdigest(), extra)
    assert ours["Authorization"].endswith("Signature=" + botocore_signature(method, url, region, body, extra))
    assert f"Credential={ACCESS}/20261207/{region}/s3/aws4_request" in ours["Authorization"]


@pytest.mark.parametrize("method,key", [("PUT", "jobs/fit-1/payload.bin"), ("GET", "models/ns/iris/v1 (copy)/model.pkl")])
def test_the_runner_signs_as_botocore_does(frozen, monkeypatch, method, key):
    sent = []

    class Answer:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b""

    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout: sent.append(request) or Answer())
    body = b"\x80\x05payload" if method == "PUT" else b""
    runner.s3_request(method, {"endpoint": "http://127.0.0.1:9000", "bucket": "kf-store", "region": "eu-west-3"},
                      key, body)
    [request] = sent
    headers = {k.lower(): v for k, v in request.header_items()}
    expected = botocore_signature(method, request.full_url, "eu-west-3", body)
    assert headers["authorization"].endswith("Signature=" + expected)
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date," in headers["authorization"]
