"""The --data init step with and without the PVC cache (``--data-cache``): one version fetched from an
S3-compatible server on loopback (moto, its own process) straight into a job's folder (the baseline), through
a cold cache (fetched, verified, kept), and from a warm cache (copied and hash-checked, nothing downloaded).

``python bench/bench_data_cache.py [MB] [FILES] [REPEAT]`` (default 200 200 3).
"""
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench_data import make_folder, moto_server
from common import isolated_state, report, timed


def main() -> None:
    total_mb, files, repeat = (int(a) for a in (sys.argv[1:] + ["200", "200", "3"][len(sys.argv) - 1:])[:3])
    isolated_state()
    work = Path(tempfile.mkdtemp(prefix="kf-bench-cache-"))
    src = make_folder(work, total_mb, files)
    proc, endpoint = moto_server()
    try:
        import boto3

        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="bench")
        where = {"endpoint": endpoint, "bucket": "bench", "region": "us-east-1", "base": "team/datasets"}
        os.environ["KF_DATA_STORE"] = json.dumps(where)  # kf.data as a pod sees it: this store
        import jupyter_kf as kf
        from jupyter_kf.datasets import fetch

        made = kf.data.put("bench", src)
        plan = {"store": where, "data": [{"name": "bench", "version": made.version, "digest": made.digest,
                                          "mount": "data"}]}
        target, cache = work / "job", work / "cache"

        def into_job(use_cache=None, cold=False):
            def run():
                shutil.rmtree(target, ignore_errors=True)
                if cold:
                    shutil.rmtree(cache, ignore_errors=True)
                fetch.fetch(plan, [str(target)], cache=use_cache)
            return run

        rows = [("init step, no cache (download)", timed(into_job(), repeat)),
                ("init step, cold cache (download + keep)", timed(into_job(str(cache), cold=True), repeat)),
                ("init step, warm cache (copy, no download)", timed(into_job(str(cache)), repeat))]
        report(f"{total_mb} MB in {files} files into a job's folder from moto on loopback", rows, unit="s")
    finally:
        proc.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
