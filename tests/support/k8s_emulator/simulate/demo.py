"""``make cluster-demo``: the simulating emulator plus JupyterLab pointed at it, the quickstart open, so the
cluster path (TrainJob, pods, logs, results) can be seen working with no cluster.

    python -m tests.support.k8s_emulator.simulate.demo [--headless] [--port 8001]
        [--kubeconfig /tmp/kf-cluster.kubeconfig] [--notebook examples/quickstart.ipynb] [-- lab args...]

``--headless`` runs the notebook in a kernel instead (``python -m jupyter_kf.demo``) and prints its output.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]


def start_cluster(port: int, kubeconfig: str, log: Path) -> subprocess.Popen:
    """The simulating emulator as a child process; returns once it serves (its output goes to ``log``)."""
    out = log.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.k8s_emulator", "--simulate", "--port", str(port),
                             "--kubeconfig", kubeconfig], cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while "simulating:" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the simulating emulator did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
    return proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.k8s_emulator.simulate.demo",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--headless", action="store_true", help="run the notebook in a kernel, no JupyterLab")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--kubeconfig", default="/tmp/kf-cluster.kubeconfig")
    parser.add_argument("--notebook", default="examples/quickstart.ipynb")
    parser.add_argument("lab_args", nargs="*", help="extra arguments for jupyter lab (after --)")
    args = parser.parse_args(argv)
    notebook = (REPO / args.notebook).resolve()
    if not notebook.is_file():
        parser.error(f"--notebook {args.notebook}: no such notebook")
    log = Path(args.kubeconfig).with_suffix(".log")
    cluster = start_cluster(args.port, args.kubeconfig, log)
    # Its own state folder: the jobs this throwaway cluster ran are not mixed into the user's list.
    state = os.environ.get("JUPYTER_KF_STATE_DIR") or str(Path(args.kubeconfig).with_suffix(".state"))
    # Notebook servers' links go through the emulator's port, this cluster's gateway (as on Kubeflow).
    env = {**os.environ, "KUBECONFIG": args.kubeconfig, "JUPYTER_KF_BACKEND": "kubernetes",
           "JUPYTER_KF_STATE_DIR": state, "JUPYTER_KF_KUBEFLOW_URL": f"http://127.0.0.1:{args.port}"}
    print(log.read_text(errors="replace"), end="", flush=True)
    print(f"simulator log: {log}\nJupyterLab uses the kubernetes backend against it (KUBECONFIG={args.kubeconfig})",
          flush=True)
    if args.headless:
        command = [sys.executable, "-m", "jupyter_kf.demo", str(notebook)]
    else:
        command = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={notebook.parent}", notebook.name,
                   *args.lab_args]
    try:
        return subprocess.call(command, cwd=REPO, env=env)
    except KeyboardInterrupt:
        return 130
    finally:
        cluster.terminate()
        cluster.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
