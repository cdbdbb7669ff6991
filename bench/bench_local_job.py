"""A trivial cell end to end on the local backend, beside bare `python -c pass`. Budget: 0.3 s."""
import subprocess
import sys

from common import isolated_state, report, timed


def main(repeat: int = 15):
    isolated_state()
    from jupyter_kf.training import api

    ns = {"a": 1}
    counter = iter(range(10_000))

    def trivial_cell():
        job = api.train("b = a + 1", name=f"bench-{next(counter)}", user_ns=ns)
        job.wait()
        job.apply(ns)
        assert ns["b"] == 2

    rows = [
        ("baseline: python -c pass", timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeat)),
        (
            "baseline: python -c 'import cloudpickle'",
            timed(lambda: subprocess.run([sys.executable, "-c", "import cloudpickle"], check=True), repeat),
        ),
        ("kf.train('b = a + 1') -> wait -> results applied", timed(trivial_cell, repeat)),
    ]
    report("trivial cell, end to end, local backend", rows, budget=0.300)


if __name__ == "__main__":
    main()
