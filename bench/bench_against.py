"""The trivial job and the 100 MB transfer, this checkout against another, interleaved in one run.

``python bench/bench_against.py OTHER`` where OTHER is another checkout of the package, e.g. made with
``git archive <commit> | tar -x -C /tmp/before``. A long-lived driver per checkout runs one job at a time,
in turns with the other and with the floors (``python -c "import cloudpickle"``, ``np.save``/``np.load`` by
hand), so that a machine whose load changes during the run weighs on both alike: medians of paired rounds.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from common import ROOT

MB = 1_000_000
DRIVER = """
import os, sys, time, tempfile
sys.path.insert(0, sys.argv[1])
os.environ["JUPYTER_KF_STATE_DIR"] = tempfile.mkdtemp(prefix="kf-against-")
os.environ["JUPYTER_KF_BACKEND"] = "local"
import numpy as np
from jupyter_kf.training import api
X = np.random.default_rng(0).random(100 * 10**6 // 8)
cells = {"big": "Y = X * 2", "numpy": "import numpy\\nb = a + 1", "trivial": "b = a + 1"}
for i, line in enumerate(sys.stdin):
    ns = {"X": X, "a": 1}
    t = time.perf_counter()
    job = api.train(cells[line.strip()], name=f"against-{i}", user_ns=ns)
    job.wait()
    job.apply(ns)
    job.delete()
    print(time.perf_counter() - t, flush=True)
"""


def main(other: str, rounds: int = 11):
    drivers = {name: subprocess.Popen([sys.executable, "-c", DRIVER, root], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
               for name, root in (("other", other), ("this", str(ROOT)))}
    X = np.random.default_rng(0).random(100 * MB // 8)
    times: dict = {}

    def floor(name, fn):
        start = time.perf_counter()
        fn()
        times.setdefault(name, []).append(time.perf_counter() - start)

    def by_hand():
        path = os.path.join(tempfile.gettempdir(), "kf-against-x.npy")
        np.save(path, X)
        np.save(path, np.load(path) * 2)
        np.load(path)
        os.remove(path)

    for _ in range(rounds):
        for kind in ("trivial", "numpy", "big"):
            for name, driver in drivers.items():
                driver.stdin.write(kind + "\n")
                driver.stdin.flush()
                times.setdefault((name, kind), []).append(float(driver.stdout.readline()))
        floor("cloudpickle", lambda: subprocess.run([sys.executable, "-c", "import cloudpickle"], check=True))
        floor("by hand", by_hand)
    med = {key: statistics.median(values) for key, values in times.items()}
    print(f"\n## this checkout against {other} ({rounds} paired rounds, medians)")
    print(f"  floors: python -c 'import cloudpickle' {med['cloudpickle'] * 1000:.0f} ms, np.save/np.load of 100 MB "
          f"in and out by hand {med['by hand'] * 1000:.0f} ms")
    for name in ("other", "this"):
        trivial, numpy, big = (med[(name, kind)] for kind in ("trivial", "numpy", "big"))
        print(f"  {name}: trivial job {trivial * 1000:.0f} ms (x{trivial / med['cloudpickle']:.2f} the floor); "
              f"100 MB transfer {(big - trivial) * 1000:.0f} ms (x{(big - trivial) / med['by hand']:.2f} by hand), "
              f"beyond a job importing numpy {(big - numpy) * 1000:.0f} ms (x{(big - numpy) / med['by hand']:.2f})")


if __name__ == "__main__":
    main(sys.argv[1])
