"""Datasets: put and get of 100 MB (10 files of 10 MB) beside a plain copy of the same folder.

Rows: ``shutil.copytree`` (the baseline), ``kf.data.put`` of new content (hash + store every file),
``kf.data.put`` of content already stored (hash only: the "unchanged" path), ``kf.data.get`` into an
empty folder (a copy out), and the read-only view a local job is given (symlinks, no copy).
"""
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from common import isolated_state, report, timed

MB = 1_000_000
FILES = 10


def main(repeat: int = 7):
    state = isolated_state()
    from jupyter_kf.datasets import api

    work = Path(tempfile.mkdtemp(prefix="kf-bench-data-"))
    src = work / "src"
    src.mkdir()
    for i in range(FILES):
        (src / f"part-{i}.bin").write_bytes(os.urandom(100 * MB // FILES))
    counter = iter(range(1_000_000))

    def fresh_content():
        """Change the first bytes of every file: each put stores all 100 MB anew."""
        stamp = next(counter).to_bytes(8, "little")
        for i in range(FILES):
            with open(src / f"part-{i}.bin", "r+b") as f:
                f.write(stamp)

    def fresh_folder(kind: str) -> Path:
        """A new destination each time: removing the last one is not timed."""
        return work / "out" / f"{kind}-{next(counter)}"

    def clean():
        shutil.rmtree(work / "out", ignore_errors=True)

    def copy():
        shutil.copytree(src, fresh_folder("copy"))

    def put_new():
        fresh_content()
        assert api.put("bench", src).new_objects == FILES

    def put_same():
        assert api.put("bench", src).unchanged

    def get():
        api.get("bench", fresh_folder("get"))

    def view():
        from jupyter_kf.datasets.backends.local import make_view
        from jupyter_kf.datasets.store import LocalStore

        make_view(LocalStore(), api.resolve("bench"), fresh_folder("view"))

    def measured(fn):
        times = timed(fn, repeat)
        clean()
        return times

    rows = [("baseline: shutil.copytree of the folder", measured(copy)),
            ("kf.data.put, new content (hash + store)", measured(put_new)),
            ("kf.data.put, unchanged (hash only)", measured(put_same)),
            ("kf.data.get into an empty folder", measured(get)),
            ("a local job's read-only view (symlinks)", measured(view))]
    report("100 MB dataset, 10 files", rows)
    for label, times in rows[1:4]:
        print(f"  {label}: {100 / statistics.median(times):.0f} MB/s")
    print(f"  state folder {state}")
    s3_rows(src, fresh_content, repeat)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(state, ignore_errors=True)


def s3_rows(src: Path, fresh_content, repeat: int) -> None:
    """The same folder into an S3-compatible server on loopback (moto): boto3's upload_file, then kf.data.put."""
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("  (S3 rows skipped: boto3 and moto[server] are not installed)")
        return
    from jupyter_kf import config
    from jupyter_kf.datasets import api

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        endpoint = "http://%s:%d" % server.get_host_and_port()
        os.environ.update(AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b", JUPYTER_KF_BACKEND="kubernetes")
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="bench")
        config.reset()
        cfg = config.get()
        cfg.store, cfg.store_endpoint = "s3://bench/kf", endpoint
        files = sorted(src.iterdir())

        def boto3_upload():
            fresh_content()
            for path in files:
                client.upload_file(str(path), "bench", f"boto3/{path.name}")

        def put_new():
            fresh_content()
            assert api.put("bench", src).new_objects == FILES

        rows = [("baseline: boto3 upload_file of each file", timed(boto3_upload, repeat)),
                ("kf.data.put to the same store, new content", timed(put_new, repeat))]
        report("100 MB dataset into an S3-compatible server on loopback (moto)", rows)
    finally:
        server.stop()
        os.environ["JUPYTER_KF_BACKEND"] = "local"
        config.reset()


if __name__ == "__main__":
    main()
