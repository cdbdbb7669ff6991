"""A trivial cell end to end on the local backend, beside bare `python -c pass` and `python -c "import cloudpickle"`
(a fresh interpreter that can unpickle: the floor). Budgets: 0.3 s; round two: <= 1.5x the floor.

Three sizes: 1, 2 and 4 workers (a runner process each; rank 0 returns the results).
"""
import statistics
import subprocess
import sys

from common import isolated_state, report, timed

WORKERS = (1, 2, 4)


def main(repeat: int = 15):
    isolated_state()
    from jupyter_kf.training import api

    ns = {"a": 1}
    counter = iter(range(10_000))

    def trivial_cell(workers):
        job = api.train("b = a + 1", name=f"bench-{next(counter)}", user_ns=ns, workers=workers)
        job.wait()
        job.apply(ns)
        assert ns["b"] == 2

    floor = timed(lambda: subprocess.run([sys.executable, "-c", "import cloudpickle"], check=True), repeat)
    rows = [
        ("baseline: python -c 'import cloudpickle'", floor),
        ("baseline: python -c pass", timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeat)),
    ]
    for workers in WORKERS:
        label = f"kf.train('b = a + 1', workers={workers}) -> results"
        rows.append((label, timed(lambda: trivial_cell(workers), repeat)))
    report("trivial cell, end to end, local backend (ratios to a fresh interpreter importing cloudpickle)",
           rows[:3], budget=0.300)
    report("the same with 1 / 2 / 4 workers", [rows[0]] + rows[2:])
    one = statistics.median(rows[2][1])
    print(f"  round two: x{one / statistics.median(floor):.2f} the floor (goal <= 1.5); growth: "
          + ", ".join(f"{w} workers x{statistics.median(r[1]) / one:.2f}" for w, r in zip(WORKERS, rows[2:])))


if __name__ == "__main__":
    main()
