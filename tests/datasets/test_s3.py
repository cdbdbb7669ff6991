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


# -- transfers: parts, resuming, only what is missing, progress ---------------------------------------
@pytest.fixture
def small_parts(monkeypatch):
    """Parts of 5 MiB (S3's smallest) so a 12 MiB file goes up in three."""
    from jupyter_kf.datasets.backends import s3 as s3_backend

    monkeypatch.setattr(s3_backend, "MULTIPART_AT", 5 * 2**20)
    monkeypatch.setattr(s3_backend, "PART", 5 * 2**20)


def sent(monkeypatch):
    """Every request the store sends, as (method, key, query)."""
    calls = []
    real = S3DataStore._send

    def spy(self, method, key, body, query, headers, body_sha256):
        calls.append((method, key, dict(query or {})))
        return real(self, method, key, body, query, headers, body_sha256)

    monkeypatch.setattr(S3DataStore, "_send", spy)
    return calls


def test_a_large_file_goes_up_in_parts_and_an_interrupted_put_resumes(s3, small_parts, tmp_path, monkeypatch):
    from jupyter_kf.datasets.errors import CannotStore

    client, _ = s3
    src = tmp_path / "big"
    src.mkdir()
    blob = np.random.default_rng(0).bytes(12 * 2**20)
    (src / "weights.bin").write_bytes(blob)
    (src / "small.txt").write_text("s")
    real = S3DataStore._send
    parts_sent = []

    def flaky(self, method, key, body, query, headers, body_sha256):
        if (query or {}).get("partNumber"):
            parts_sent.append(query["partNumber"])
            if query["partNumber"] == 3:
                raise StoreError("store s3://x at http://y is unreachable: connection reset")
        return real(self, method, key, body, query, headers, body_sha256)

    monkeypatch.setattr(S3DataStore, "_send", flaky)
    with pytest.raises(CannotStore, match=r"^kf.data.put big: interrupted \(store s3://x at http://y is unreachable: "
                                          r"connection reset\); no version was made: run the same put again"):
        api.put("big", src)
    assert keys(client, "kf/datasets/sets/big/") == []  # no half version
    assert sorted(parts_sent) == [1, 2, 3]
    monkeypatch.setattr(S3DataStore, "_send", real)
    calls = sent(monkeypatch)
    seen = []
    made = api.put("big", src, progress=lambda done, total: seen.append((done, total)))
    assert made.version == 1
    assert [q["partNumber"] for _, _, q in calls if "partNumber" in q] == [3]  # parts 1 and 2 were kept
    assert seen[-1] == (len(blob) + 1, len(blob) + 1) and all(b <= t for b, t in seen)
    assert (api.get("big", tmp_path / "back") / "weights.bin").read_bytes() == blob


def test_an_unchanged_put_sends_nothing_but_the_listing(s3, tmp_path, monkeypatch):
    src = tmp_path / "many"
    src.mkdir()
    for i in range(20):
        (src / f"f{i}.txt").write_text(str(i))
    api.put("many", src)
    calls = sent(monkeypatch)
    assert api.put("many", src).unchanged
    assert not [c for c in calls if c[0] in ("PUT", "HEAD")]  # the latest version names every content: no upload


def test_get_checks_every_file_and_a_forged_object_is_one_line(s3, tmp_path):
    client, _ = s3
    src = tmp_path / "data"
    src.mkdir()
    for i in range(30):
        (src / f"{i}.bin").write_bytes(bytes([i]) * 1000)
    version = api.put("parts", src)
    seen = []
    out = api.get("parts", tmp_path / "out", progress=lambda done, total: seen.append((done, total)))
    assert all((out / f"{i}.bin").read_bytes() == bytes([i]) * 1000 for i in range(30))
    assert seen[-1] == (30_000, 30_000)
    digest = api.resolve(version.ref).files["7.bin"][0]
    client.put_object(Bucket=BUCKET, Key=f"kf/datasets/objects/{digest[:2]}/{digest[2:]}", Body=b"forged")
    with pytest.raises(StoreError, match=f"object sha256:{digest[:12]} does not match its content"):
        api.get("parts", tmp_path / "again")
    assert not [p for p in (tmp_path / "again").rglob("*") if p.name.startswith(".")]  # no partial file left


def test_the_bar_shows_slow_transfers_and_ends_at_the_total(monkeypatch):
    from IPython import display as ipy

    from jupyter_kf.datasets.progress import TransferBar

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(obj.data)

    monkeypatch.setattr(ipy, "display", lambda obj, display_id=None: shown.append(obj.data) or Handle())
    TransferBar("put quick")(10, 10)  # done within half a second: no bar
    assert shown == []
    bar = TransferBar("put mnist", delay=0)
    bar(0, 2 * 2**20)
    bar(2**20, 2 * 2**20)  # within 0.2 s of the last: not redrawn
    bar(2 * 2**20, 2 * 2**20)  # the end is always drawn
    assert len(shown) == 2 and 'data-percent="0"' in shown[0] and 'data-percent="100"' in shown[1]
    assert "put mnist" in shown[1] and "2.0 MiB / 2.0 MiB" in shown[1]


def test_content_another_dataset_stored_is_not_stored_again(s3, tmp_path):
    client, _ = s3
    src = tmp_path / "shared"
    src.mkdir()
    (src / "same.bin").write_bytes(b"shared content " * 100)
    assert api.put("first-copy", src).new_objects == 1
    listed = {o["Key"]: o["LastModified"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="kf/datasets/objects/")
              ["Contents"]}
    made = api.put("second-copy", src)  # a conditional write: the server keeps its copy
    assert (made.version, made.new_objects) == (1, 0)
    assert {o["Key"]: o["LastModified"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="kf/datasets/objects/")
            ["Contents"]} == listed
