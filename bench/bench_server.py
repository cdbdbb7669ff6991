"""The REST API under load: listing 1,000 jobs (budget: median 50 ms), and 50 clients at once, no error.

A real Jupyter server (subprocess) with the jupyter_kf extension, over 1,000 finished local jobs. The
baseline is a static JSON reply of the same size from a handler in the same server (authenticated,
nothing computed): what serving those bytes costs at all. Beside it, what listing the folders on every
request would cost (``kf.jobs()`` in process), which the server's cache avoids.
"""
from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, isolated_state, report, timed

JOBS = 1000

STATIC_EXTENSION = '''
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
import tornado.web

BODY = open(__file__.replace(".py", ".json"), "rb").read()


class Static(APIHandler):
    @tornado.web.authenticated
    def get(self):
        self.set_header("Content-Type", "application/json")
        self.finish(BODY)


def _jupyter_server_extension_points():
    return [{"module": "kf_bench_static"}]


def _load_jupyter_server_extension(app):
    app.web_app.add_handlers(".*$", [(url_path_join(app.web_app.settings["base_url"], "bench-static"), Static)])
'''


def make_jobs(state: Path, count: int) -> None:
    """Finished local jobs, as the local backend writes them (meta.json + status.json)."""
    root = state / "jobs"
    now = time.time()
    for i in range(count):
        folder = root / f"bench-{i:04d}"
        (folder / "logs").mkdir(parents=True)
        created = now - (count - i)
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
        workers = 1 + i % 4
        spec = {"name": folder.name, "workers": workers, "cpu": "1", "memory": "2Gi", "gpus": i % 3}
        (folder / "meta.json").write_text(json.dumps({"spec": spec, "created": iso, "created_ts": created}))
        (folder / "status.json").write_text(json.dumps({
            "phase": "Succeeded" if i % 10 else "Failed", "started": iso, "finished": iso,
            "message": "" if i % 10 else "worker 0 exited with code 1",
            "workers": [{"rank": r, "phase": "Succeeded", "exit_code": 0} for r in range(workers)],
        }))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(state: str, extra: Path):
    port, token = free_port(), secrets.token_hex(16)
    root = tempfile.mkdtemp(prefix="kf-bench-root-")
    env = {**os.environ, "JUPYTER_KF_STATE_DIR": state, "JUPYTER_KF_BACKEND": "local",
           "PYTHONPATH": os.pathsep.join([str(extra), str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "JUPYTER_RUNTIME_DIR": os.path.join(root, ".runtime"), "JUPYTER_CONFIG_DIR": os.path.join(root, ".config")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
         "--ServerApp.jpserver_extensions=jupyter_kf=True", "--ServerApp.jpserver_extensions=kf_bench_static=True",
         "--ServerApp.log_level=WARN"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, _ = request(port, token, "/api/status")
            if status == 200:
                return proc, port, token
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the Jupyter server did not start")


def request(port: int, token: str, path: str, conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"token {token}"})
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        if own:
            conn.close()


def parallel_clients(port: int, token: str, clients: int = 50, each: int = 20) -> tuple[int, int, list[float], float]:
    """``clients`` threads, each with its own connection, ``each`` listings; (requests, errors, latencies, seconds)."""
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        paths = ["/jupyter-kf/api/jobs", "/jupyter-kf/api/info", f"/jupyter-kf/api/jobs/bench-{index:04d}"]
        start.wait()
        for i in range(each):
            path = paths[0] if i % 4 else paths[1 + i // 4 % 2]
            began = time.perf_counter()
            try:
                status, body = request(port, token, path, conn)
                ok = status == 200 and body[:1] == b"{"
            except OSError as err:
                ok, status = False, repr(err)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            took = time.perf_counter() - began
            with lock:
                latencies.append(took)
                if not ok:
                    errors.append(f"{path}: {status}")
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return clients * each, len(errors), latencies, time.perf_counter() - began


def main(repeat: int = 40):
    state = isolated_state()
    make_jobs(Path(state), JOBS)
    extra = Path(tempfile.mkdtemp(prefix="kf-bench-ext-"))
    from jupyter_kf.training import api

    proc = None
    try:
        direct = timed(lambda: api.jobs(), max(5, repeat // 4))  # what a list per request would cost, in process
        body = json.dumps({"jobs": [s.to_dict() for s in api.jobs()]}).encode()
        (extra / "kf_bench_static.json").write_bytes(body)
        (extra / "kf_bench_static.py").write_text(STATIC_EXTENSION)
        proc, port, token = start_server(state, extra)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def get(path):
            status, reply = request(port, token, path, conn)
            assert status == 200, (path, status, reply[:200])
            return reply

        first = time.perf_counter()
        listed = json.loads(get("/jupyter-kf/api/jobs"))["jobs"]
        first = time.perf_counter() - first
        assert len(listed) == JOBS, len(listed)
        assert len(get("/bench-static")) == len(body)
        rows = [
            (
                f"baseline: static JSON, same size ({len(body) / 1e3:.0f} kB)",
                timed(lambda: get("/bench-static"), repeat, 3),
            ),
            ("in process: kf.jobs() (a folder scan per request)", direct),
            (f"GET jupyter-kf/api/jobs ({JOBS} jobs, cached)", timed(lambda: get("/jupyter-kf/api/jobs"), repeat, 3)),
        ]
        conn.close()
        report(
            f"REST listing of {JOBS} local jobs (first request, cache cold: {first * 1000:.0f} ms)", rows, budget=0.050
        )

        total, errors, latencies, seconds = parallel_clients(port, token)
        print("\n## 50 clients in parallel (jobs listing, info, one job; keep-alive connections)")
        print(
            f"  {total} requests in {seconds:.2f} s ({total / seconds:.0f}/s): {errors} errors; "
            f"latency median {statistics.median(latencies) * 1000:.1f} ms, "
            f"p90 {sorted(latencies)[int(0.9 * (len(latencies) - 1))] * 1000:.1f} ms, max "
            f"{max(latencies) * 1000:.1f} ms"
        )
        print(f"  {'no error' if errors == 0 else 'ERRORS'}")
        return errors
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
