"""The REST server under many open log streams and many jobs (issue: safe on a shared machine).

1. CPU of the Jupyter server (a subprocess with the jupyter_kf extension) while 200 clients follow one
   running job's log (``GET jupyter-kf/api/jobs/<name>/logs``, server-sent events), beside the same
   server with no client and with one client, measured over the same window from /proc.
2. One process submitting, listing and cancelling many local jobs: each step's time, and that nothing of
   them keeps running afterwards.
"""
from __future__ import annotations

import http.client
import os
import tempfile
import threading
import time
from pathlib import Path

from bench_server import start_server
from common import isolated_state

STREAMS = 200
WINDOW_S = 5.0
JOBS = int(os.environ.get("KF_BENCH_JOBS", "200"))  # 2 processes a job: 200 jobs are ~400 processes
TALKER = "import time\nfor i in range(10**6):\n    print(f'step={i}', flush=True)\n    time.sleep(0.2)"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def follow(port: int, token: str, name: str, stop: threading.Event, opened: threading.Semaphore) -> None:
    """One client: open the stream and read it until told to stop."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", f"/jupyter-kf/api/jobs/{name}/logs", headers={"Authorization": f"token {token}"})
    reply = conn.getresponse()
    assert reply.status == 200, reply.status
    opened.release()
    while not stop.is_set():
        if not reply.fp.readline():
            break
    conn.close()


def server_cpu(proc, port: int, token: str, name: str, clients: int) -> float:
    """The server's CPU, in % of one core, over WINDOW_S with ``clients`` streams of job ``name`` open."""
    stop, opened = threading.Event(), threading.Semaphore(0)
    threads = [threading.Thread(target=follow, args=(port, token, name, stop, opened), daemon=True)
               for _ in range(clients)]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert opened.acquire(timeout=60), "a stream did not open"
    time.sleep(1.0)  # streams opened; their first burst is not the steady state measured
    before, began = cpu_seconds(proc.pid), time.monotonic()
    time.sleep(WINDOW_S)
    used = (cpu_seconds(proc.pid) - before) / (time.monotonic() - began) * 100
    stop.set()
    return used


def streams(state: str) -> None:
    from jupyter_kf.training import api

    job = api.train(TALKER, name="bench-talker", user_ns={})
    extra = Path(tempfile.mkdtemp(prefix="kf-bench-ext-"))
    (extra / "kf_bench_static.json").write_text("{}")
    (extra / "kf_bench_static.py").write_text("def _jupyter_server_extension_points():\n    return []\n")
    proc, port, token = start_server(state, extra)
    try:
        rows = [(clients, server_cpu(proc, port, token, job.name, clients)) for clients in (0, 1, STREAMS)]
    finally:
        proc.terminate()
        proc.wait(30)
        job.cancel()
    print(f"\n## Jupyter server CPU while clients follow one job's log ({WINDOW_S:.0f} s windows)")
    base = rows[1][1] or 0.1
    for clients, used in rows:
        print(f"  {clients:>4} log streams open   {used:6.1f} % of a core   x {used / base:.2f} of one stream")


def many_jobs() -> None:
    """Submit, list and cancel JOBS local jobs from one process; nothing may keep running."""
    from jupyter_kf import config
    from jupyter_kf.processes import find
    from jupyter_kf.training import api

    config.get().local_max_workers = JOBS  # the default cap (a few workers a core) would refuse most
    began = time.perf_counter()
    jobs = [api.train("import time\ntime.sleep(600)", name=f"load-{i:03d}", user_ns={}) for i in range(JOBS)]
    submitted = time.perf_counter() - began
    began = time.perf_counter()
    listed = [s for s in api.jobs() if s.name.startswith("load-")]
    listing = time.perf_counter() - began
    began = time.perf_counter()
    phases = [job.cancel().phase for job in jobs]
    cancelling = time.perf_counter() - began
    left = [pid for job in jobs for pid in find("local_supervisor.py", str(config.get().jobs_dir / job.name))]
    print(f"\n## {JOBS} local jobs from one process")
    print(f"  submitted in {submitted:.2f} s ({submitted / JOBS * 1000:.0f} ms a job); listed ({len(listed)}) in "
          f"{listing * 1000:.0f} ms; cancelled in {cancelling:.2f} s ({cancelling / JOBS * 1000:.0f} ms a job)")
    print(f"  {phases.count('Cancelled')} of {JOBS} Cancelled; supervisors still running: {len(left)}")


def main() -> int:
    state = isolated_state()
    streams(state)
    many_jobs()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
