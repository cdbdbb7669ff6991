"""Local predict latency for a small sklearn model over loopback: jupyter_kf's local model server
(tornado) beside KServe's own Python model server (``kserve`` package, FastAPI + uvicorn) serving the
same joblib file, measured with the same client and payload in the same run. V1 and V2 protocols.

KServe's server runs from ``.venv-kserve`` (``make bench-kserve-venv``); without it only ours is measured.
"""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from common import ROOT, isolated_state, report, timed

KSERVE_PYTHON = ROOT / ".venv-kserve" / "bin" / "python"
REPEAT = int(os.environ.get("KF_BENCH_REPEAT", "1000"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s")


def p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def main() -> None:
    isolated_state()
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from jupyter_kf.serving import api
    from jupyter_kf.serving.client import ModelClient

    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(X, y)
    row = X[:1]
    started = time.perf_counter()
    ours = api.deploy("iris", clf, backend="local")
    deploy_s = time.perf_counter() - started
    rows = []
    kserve_proc = None
    try:
        clients = {}
        for protocol in ("v1", "v2"):
            clients[("jupyter_kf", protocol)] = ModelClient(ours.url, "iris", protocol)
        if KSERVE_PYTHON.exists():
            folder = Path(os.environ["JUPYTER_KF_STATE_DIR"]) / "models" / "iris" / "v1"
            port = free_port()
            kserve_proc = subprocess.Popen(
                [str(KSERVE_PYTHON), str(ROOT / "bench" / "kserve_sklearn_server.py"), str(folder), "iris", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            wait_ready(f"http://127.0.0.1:{port}/v2/health/ready")
            for protocol in ("v1", "v2"):
                clients[("kserve", protocol)] = ModelClient(f"http://127.0.0.1:{port}", "iris", protocol)
        else:
            print(f"(KServe's model server not measured: {KSERVE_PYTHON} missing; make bench-kserve-venv)")
        for (server, protocol), client in sorted(clients.items(), key=lambda kv: (kv[0][1], kv[0][0] != "kserve")):
            expected = clf.predict(row)
            assert (client.predict(row) == expected).all(), (server, protocol)
            times = timed(lambda: client.predict(row), repeat=REPEAT, warmup=50)
            rows.append((f"{server} {protocol} predict, 1 row", times))
        print(f"\njupyter_kf local deploy (save + start server + Ready): {deploy_s * 1000:.0f} ms")
        report(
            "Local predict latency over loopback, sklearn LogisticRegression (baseline: KServe's model server)", rows
        )
        for label, times in rows:
            print(f"  {label:<46} median {statistics.median(times) * 1000:6.2f} ms   p99 {p99(times) * 1000:6.2f} ms")
        for client in clients.values():
            client.close()
    finally:
        if kserve_proc is not None:
            os.killpg(kserve_proc.pid, 15)
            kserve_proc.wait(10)
        api.undeploy("iris", backend="local")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
