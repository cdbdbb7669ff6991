"""Listing local jobs at 100 / 1,000 / 10,000 finished jobs: ``kf.jobs()``, ``%kf_jobs``, ``jupyter kf jobs``,
the REST server's first listing.

Budget: 10,000 jobs in 150 ms. The baseline, measured in the same run, is a bare ``os.scandir`` of the jobs
folder (what any listing must at least do) and a read of every folder's meta.json and status.json (what a
listing without an index does). "Cold" is a fresh process's first listing (the CLI, a REST server starting);
"warm" a kernel listing again.
"""
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, isolated_state, report, timed

SIZES = (100, 1_000, 10_000)


def make_jobs(root: Path, count: int, start: int = 0) -> None:
    """``count`` finished jobs as a supervisor leaves them (meta.json, status.json), written directly: fast."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    for i in range(start, start + count):
        folder = root / f"job-{i:05d}"
        folder.mkdir(mode=0o700)
        spec = {"name": folder.name, "workers": 1, "cpu": None, "memory": None, "gpus": 0, "env": {}, "pip": []}
        ts = 1.7e9 + i
        meta = {"spec": spec, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)), "created_ts": ts,
                "python": "3.11", "code": "b = a + 1", "source": "b = a + 1", "modules": {}, "inputs": ["a"]}
        state = {"phase": "Succeeded", "started": "2023-11-14T22:13:21.100Z", "finished": "2023-11-14T22:13:21.200Z",
                 "message": "", "supervisor_pid": 1,
                 "workers": [{"rank": 0, "phase": "Succeeded", "exit_code": 0, "pid": 2}]}
        (folder / "meta.json").write_text(json.dumps(meta))
        (folder / "status.json").write_text(json.dumps(state).ljust(4096))


def read_every_folder(root: Path) -> int:
    n = 0
    for entry in os.scandir(root):
        if entry.is_dir() and not entry.name.startswith("."):
            json.loads(Path(entry.path, "meta.json").read_text())
            json.loads(Path(entry.path, "status.json").read_text())
            n += 1
    return n


REST_COLD = ("cache = LocalJobsCache(config.get().jobs_dir)\ncache.refresh()\n"
             "body = json.dumps({'jobs': cache.jobs()}).encode()")


def cold(code: str, repeat: int, setup: str = "") -> list[float]:
    """Seconds of ``code`` in a fresh interpreter, as printed by it (its imports, ``setup`` and settings loaded
    first: a REST server starting, or the CLI once it has read its settings)."""
    prog = ("import sys, time; sys.path.insert(0, %r)\nfrom jupyter_kf.training import api\n"
            "from jupyter_kf import cli, config\nconfig.get().jobs_dir\n%s\n"
            "t = time.perf_counter()\n%s\nprint(time.perf_counter() - t)") % (str(ROOT), setup, code)
    out = []
    for _ in range(repeat):
        run = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, check=True)
        out.append(float(run.stdout.split()[-1]))
    return out


def main(repeat: int = 9):
    state = Path(isolated_state())
    from jupyter_kf.training import api

    root = state / "jobs"
    made = 0
    growth = []
    for size in SIZES:
        make_jobs(root, size - made, made)
        made = size
        assert len(api.jobs()) == size
        rows = [
            ("baseline: os.scandir of the jobs folder", timed(lambda: list(os.scandir(root)), repeat)),
            ("baseline: read every meta.json + status.json", timed(lambda: read_every_folder(root), repeat)),
            ("kf.jobs(), warm (a kernel listing again)", timed(api.jobs, repeat)),
            ("kf.jobs(), cold (a fresh process)", cold("api.jobs()", repeat)),
            ("jupyter kf jobs, cold (table printed)", cold("import io, contextlib\nwith contextlib.redirect_stdout("
                                                            "io.StringIO()): cli.main(['jobs'])", repeat)),
            ("REST, cold (the server's first listing, JSON body)",
             cold(REST_COLD, repeat, "import json\nfrom jupyter_kf.server.manager import LocalJobsCache")),
        ]
        report(f"listing {size:,} local jobs", rows, budget=0.150 if size == 10_000 else None)
        growth.append((size, statistics.median(rows[3][1]), statistics.median(rows[5][1])))
    (small, k0, r0), (big, k1, r1) = growth[0], growth[-1]
    for what, t0, t1 in (("cold kf.jobs()", k0, k1), ("REST cold", r0, r1)):
        print(f"  growth, {what}: x{t1 / t0:.1f} for x{big // small} jobs "
              f"({t0 / small * 1e6:.1f} -> {t1 / big * 1e6:.1f} us a job)")


if __name__ == "__main__":
    main()
