"""Datasets: 1 GB in 1,000 files, on this machine's store and through an S3-compatible server on loopback.

Local rows: ``shutil.copytree`` (the baseline), ``kf.data.put`` of new content (hash + store every file),
``kf.data.put`` of the unchanged folder (hash only), ``kf.data.get`` into an empty folder, building a
version's read-only view (symlinks, once per version), a job's mount (one link to that view), and a local
job with ``--data`` beside the same job without.

S3 rows (moto's server in a process of its own, so it does not share the client's GIL): boto3 uploading and
downloading the same files with as many threads as kf.data uses (the baseline, measured in the same run),
``kf.data.put`` (new content), ``kf.data.put`` of the unchanged folder, ``kf.data.get``.

``python bench/bench_data.py [MB] [FILES] [REPEAT]`` (default 1000 1000 3).
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import isolated_state, report, timed

MB = 1_000_000
THREADS = 16  # kf.data's S3 transfers (S3DataStore.workers); boto3 gets the same


def make_folder(root: Path, total_mb: int, files: int) -> Path:
    src = root / "src"
    src.mkdir(parents=True)
    for i in range(files):
        (src / f"d{i % 10}" / f"part-{i}.bin").parent.mkdir(exist_ok=True)
        (src / f"d{i % 10}" / f"part-{i}.bin").write_bytes(os.urandom(total_mb * MB // files))
    return src


def freshener(src: Path):
    """Change the first bytes of every file: the next put stores all of it anew."""
    counter = iter(range(1_000_000))
    paths = sorted(p for p in src.rglob("*") if p.is_file())

    def fresh():
        stamp = next(counter).to_bytes(8, "little")
        for path in paths:
            with open(path, "r+b") as f:
                f.write(stamp)
    return fresh


def drop_older(api, name: str) -> None:
    """Keep only the latest version (untimed), so repeated puts do not fill the disk or the server."""
    for version in api.show(name).versions[:-1]:
        api.delete(f"{name}@{version.version}", force=True)


def local_rows(work: Path, src: Path, total_mb: int, files: int, repeat: int) -> None:
    import jupyter_kf as kf
    from jupyter_kf.datasets import api
    from jupyter_kf.datasets.backends.local import make_view, mount_view
    from jupyter_kf.datasets.store import LocalStore

    fresh, out = freshener(src), work / "out"
    counter = iter(range(1_000_000))

    def place(kind):
        return out / f"{kind}-{next(counter)}"

    def measured(fn, after=None):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
            shutil.rmtree(out, ignore_errors=True)
            if after:
                after()
        return times

    def put_new():
        fresh()
        start = time.perf_counter()
        assert api.put("bench", src).new_objects == files
        return time.perf_counter() - start

    put_times = []
    for _ in range(repeat):
        put_times.append(put_new())
        drop_older(api, "bench")
    rows = [("baseline: shutil.copytree of the folder", measured(lambda: shutil.copytree(src, place("copy")))),
            ("kf.data.put, new content (hash + store)", put_times),
            ("kf.data.put, unchanged (hash only)", measured(lambda: api.put("bench", src).unchanged or 1 / 0)),
            ("kf.data.get into an empty folder", measured(lambda: api.get("bench", place("get")))),
            ("a version's read-only view, built (symlinks)",
             measured(lambda: make_view(LocalStore(), api.resolve("bench"), place("view")))),
            ("a job's mount: one link to the kept view", measured(lambda: mount_view(LocalStore(), api.resolve("bench"),
                                                                                    place("mount"))))]
    report(f"{total_mb} MB dataset, {files} files, local store", rows)
    for label, times in rows[1:4]:
        print(f"  {label}: {total_mb / statistics.median(times):.0f} MB/s")

    names = iter(range(1_000_000))

    def job(data):
        """Submit, run, results back: timed; deleting the job (its folder, the view's links) is not."""
        times = []
        for _ in range(repeat + 1):
            start = time.perf_counter()
            done = kf.train("import os\nn = len(os.listdir('data')) if os.path.isdir('data') else 0",
                            name=f"bench-{next(names)}", data=data, user_ns={}, wait=True)
            n = done.results()["n"]
            times.append(time.perf_counter() - start)
            assert n == (10 if data else 0), n
            done.delete()
        return times[1:]  # the first warms up

    report(f"a local job reading the {total_mb} MB version (mounted: a view, no copy)",
           [("baseline: the same job without --data", job([])),
            ("the job with --data bench:data", job(["bench:data"]))])


def moto_server() -> tuple[subprocess.Popen, str]:
    """moto's S3 server in its own process, on a free loopback port; waits until it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)


def s3_rows(work: Path, src: Path, total_mb: int, files: int, repeat: int) -> None:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        print("  (S3 rows skipped: boto3 and moto[server] are not installed)")
        return
    from concurrent.futures import ThreadPoolExecutor

    from jupyter_kf import config
    from jupyter_kf.datasets import api

    proc, endpoint = moto_server()
    try:
        os.environ.update(AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b", JUPYTER_KF_BACKEND="kubernetes")
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              config=Config(max_pool_connections=THREADS))
        client.create_bucket(Bucket="bench")
        config.reset()
        cfg = config.get()
        cfg.store, cfg.store_endpoint = "s3://bench/kf", endpoint
        paths = sorted(p for p in src.rglob("*") if p.is_file())
        fresh, out = freshener(src), work / "s3-out"
        counter = iter(range(1_000_000))

        def boto3_put():
            with ThreadPoolExecutor(THREADS) as pool:
                list(pool.map(lambda p: client.upload_file(str(p), "bench", f"boto3/{p.relative_to(src)}"), paths))

        def boto3_get():
            target = out / f"boto3-{next(counter)}"

            def one(p):
                dest = target / p.relative_to(src)
                dest.parent.mkdir(parents=True, exist_ok=True)
                client.download_file("bench", f"boto3/{p.relative_to(src)}", str(dest))
            with ThreadPoolExecutor(THREADS) as pool:
                list(pool.map(one, paths))

        def kf_put():
            assert api.put("bench", src).new_objects == files

        def each_fresh(fn, after=None):
            times = []
            for _ in range(repeat):
                fresh()
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
                shutil.rmtree(out, ignore_errors=True)
                if after:
                    after()
            return times

        rows = [("baseline: boto3 upload_file, 16 threads", each_fresh(boto3_put)),
                ("kf.data.put, new content (hash + upload)", each_fresh(kf_put, lambda: drop_older(api, "bench"))),
                ("kf.data.put, unchanged (hash only)", timed(lambda: api.put("bench", src).unchanged or 1 / 0,
                                                            repeat, warmup=0))]
        report(f"{total_mb} MB in {files} files up to an S3-compatible server on loopback (moto, own process)", rows)
        down = [("baseline: boto3 download_file, 16 threads", each_fresh(boto3_get)),
                ("kf.data.get (each file checked by sha256)",
                 each_fresh(lambda: api.get("bench", out / f"kf-{next(counter)}")))]
        report(f"{total_mb} MB in {files} files down from the same server", down)
        for label, times in rows[:2] + down:
            print(f"  {label}: {total_mb / statistics.median(times):.0f} MB/s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        os.environ["JUPYTER_KF_BACKEND"] = "local"
        config.reset()


def main(total_mb: int = 1000, files: int = 1000, repeat: int = 3):
    state = isolated_state()
    work = Path(tempfile.mkdtemp(prefix="kf-bench-data-"))
    try:
        src = make_folder(work, total_mb, files)
        local_rows(work, src, total_mb, files, repeat)
        s3_rows(work, src, total_mb, files, repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
