"""One kernel following 100 / 1,000 running cluster jobs on the emulator (in its own process): idle CPU, memory
growth and the watches it holds.

The jobs are submitted by another process; "following" is what a kernel showing every job does: each job's
status from the shared watch-fed cache and its log streamed (``read_logs``). Budgets: idle CPU at most 1% of
a core, memory growth at most 50 MB at 1,000 jobs, one watch per namespace and kind (counted by the
emulator: watch requests by resource since the kernel started). The baseline, measured in the same run, is
the same kernel idle with its watches open and no job. 10,000 jobs are not measured: creating them takes
longer than this machine's bench run.
"""
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_k8s import CONTROLLER, cpu_seconds
from common import ROOT, isolated_state

SIZES = (100, 1_000)
IDLE_SECONDS = 10

# The bench_k8s controller, which also answers "how many watch requests, by resource?" when asked (a file).
ANSWER_WATCHES = """
    if os.path.exists({ask!r}):
        counts = {{}}
        for r in emu.requests_matching(verb="watch"):
            key = f"{{r.resource}} in {{r.namespace}}"
            counts[key] = counts.get(key, 0) + 1
        with open({answer!r} + ".tmp", "w") as f:
            json.dump(counts, f)
        os.replace({answer!r} + ".tmp", {answer!r})
        os.remove({ask!r})
"""


def controller_source(tmp: Path, kubeconfig: Path) -> str:
    runtime = ROOT / "tests/data/reference/manifests/trainer-v2/00-clustertrainingruntime-torch-distributed.yaml"
    base = CONTROLLER.format(root=str(ROOT), runtime=str(runtime), kubeconfig=str(kubeconfig))
    answer = ANSWER_WATCHES.format(ask=str(tmp / "ask"), answer=str(tmp / "watches.json"))
    return "import json, os\n" + base.replace("    time.sleep(0.2)\n", answer + "    time.sleep(0.2)\n")


def watch_counts(tmp: Path) -> dict[str, int]:
    (tmp / "ask").touch()
    deadline = time.monotonic() + 30
    while (tmp / "ask").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return json.loads((tmp / "watches.json").read_text())


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def idle_cpu(seconds: float = IDLE_SECONDS) -> float:
    """Share of one core this process used while nothing happened."""
    start_cpu, start = cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds() - start_cpu) / (time.monotonic() - start)


SUBMIT = """
import os, sys
sys.path.insert(0, {root!r})
from jupyter_kf.training import api
for i in range({first}, {last}):
    api.train("x = 1", name=f"idle-{{i}}", user_ns={{}})
os._exit(0)  # no interpreter shutdown under the watch threads
"""


def start_jobs(first: int, count: int, backend) -> list[str]:
    """Submit jobs ``idle-<first>`` .. from another process (this kernel only follows them: what it costs
    to submit is not what it costs to follow) and wait until the watch-fed cache sees every one Running."""
    subprocess.run([sys.executable, "-c", SUBMIT.format(root=str(ROOT), first=first, last=first + count)],
                   check=True)
    deadline = time.time() + 600
    while time.time() < deadline:
        running = sum(1 for s in backend.watched("default") if s.phase == "Running")
        if running >= first + count:
            break
        time.sleep(0.5)
    return [f"idle-{i}" for i in range(first, first + count)]


def follow(backend, names: list[str], cursors: dict) -> None:
    for name in names:
        _, cursors[name] = backend.read_logs(name, cursors.get(name))


def main(sizes=SIZES):
    isolated_state()
    tmp = Path(tempfile.mkdtemp(prefix="kf-bench-follow-"))
    kubeconfig = tmp / "kubeconfig"
    controller = subprocess.Popen([sys.executable, "-c", controller_source(tmp, kubeconfig)],
                                  stdout=subprocess.PIPE, text=True)
    try:
        assert controller.stdout.readline().strip() == "ready"
        os.environ.update(KUBECONFIG=str(kubeconfig), JUPYTER_KF_BACKEND="kubernetes")
        from jupyter_kf.training import api
        from jupyter_kf.training.backends import kubernetes as k8s

        k8s.reset()
        backend = k8s.KubernetesBackend()
        api.train("warm = 1", name="warmup", user_ns={}, kind="job")  # discovery, connection, the watches
        backend.watched("default")
        time.sleep(2)
        base_rss, base_cpu = rss_mb(), idle_cpu()
        print("\n## one kernel following running cluster jobs (emulator; watches and log streams, nothing polled)")
        print(f"  baseline: no job followed: idle CPU {base_cpu * 100:.2f}% of a core, RSS {base_rss:.0f} MB")
        cursors: dict = {}
        made = 0
        for size in sizes:
            names = start_jobs(made, size - made, backend)
            made = size
            follow(backend, names, cursors)
            follow(backend, list(cursors), cursors)  # every job read again: the streams are open
            time.sleep(2)
            used = idle_cpu()
            growth = rss_mb() - base_rss
            watches = watch_counts(tmp)
            print(f"  {size:>5,} jobs: idle CPU {used * 100:.2f}% of a core (budget 1%: "
                  f"{'within' if used <= 0.01 else 'OVER'}), memory growth {growth:.1f} MB (budget 50 MB: "
                  f"{'within' if growth <= 50 else 'OVER'}), {threads()} threads")
            print(f"         watch requests by resource: {dict(sorted(watches.items()))} "
                  f"({'one each' if set(watches.values()) == {1} else 'MORE than one for some'})")
    finally:
        logging.getLogger("jupyter_kf").setLevel(logging.ERROR)  # the streams' "retrying" as the emulator stops
        controller.terminate()
        controller.wait(timeout=10)
        os.environ.pop("KUBECONFIG", None)
        from jupyter_kf.training.backends import kubernetes

        kubernetes.reset()


def threads() -> int:
    import threading

    return threading.active_count()


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
