"""A 100 MB array into a job and a 100 MB array out. Budget: 300 MB/s.

Printed beside a trivial job (the fixed cost) and beside np.save/np.load of the same arrays on the
same disk (what a user would do by hand). Throughput = 200 MB / (job time - trivial job time).
"""
import os
import statistics
import tempfile

import numpy as np
from common import isolated_state, report, timed

MB = 1_000_000


def main(repeat: int = 7):
    state = isolated_state()
    from jupyter_kf.training import api

    X = np.random.default_rng(0).random(100 * MB // 8)
    ns = {"X": X, "a": 1}
    counter = iter(range(10_000))

    def job(source):
        j = api.train(source, name=f"io-{next(counter)}", user_ns=ns)
        j.wait()
        j.apply(ns)
        j.delete()

    def by_hand():
        path = os.path.join(tempfile.gettempdir(), "kf-bench-x.npy")
        np.save(path, X)
        Y = np.load(path) + 0
        np.save(path, Y)
        np.load(path)
        os.remove(path)

    trivial = timed(lambda: job("b = a + 1"), repeat)
    big = timed(lambda: job("Y = X * 2"), repeat)
    assert np.array_equal(ns["Y"], X * 2)
    report("100 MB in, 100 MB out", [("baseline: np.save/np.load in+out by hand", timed(by_hand, repeat)),
                                     ("trivial job (fixed cost)", trivial), ("job: Y = X * 2 on a 100 MB X", big)])
    transfer = statistics.median(big) - statistics.median(trivial)
    print(f"  transport throughput: {200 / transfer:.0f} MB/s for 200 MB moved (budget 300 MB/s: "
          f"{'within' if 200 / transfer >= 300 else 'UNDER'}); state folder {state}")


if __name__ == "__main__":
    main()
