"""An array into a job and one as large out, at 1 MB, 10 MB, 100 MB and 1 GB (fewer repetitions). Budgets:
300 MB/s at 100 MB; round two: the transfer (job minus a trivial job) <= 2x np.save/np.load of the same arrays
by hand on the same disk.

The fixed cost is a trivial job measured in the same run; what a job with arrays costs beyond it is the transfer:
writing and mapping the frames, and importing numpy in the job's fresh interpreter, which any job using numpy
pays whatever it moves. Both ratios are printed: over a trivial job, and over a trivial job that imports numpy
(the bytes' own cost).
"""
import os
import statistics
import tempfile

import numpy as np
from common import isolated_state, report, timed

MB = 1_000_000
SIZES = (1, 10, 100, 1000)


def main(repeat: int = 7):
    state = isolated_state()
    from jupyter_kf.training import api

    counter = iter(range(10_000))

    def job(source, ns):
        j = api.train(source, name=f"io-{next(counter)}", user_ns=ns)
        j.wait()
        j.apply(ns)
        j.delete()

    trivial = timed(lambda: job("b = a + 1", {"a": 1}), repeat)
    with_numpy = timed(lambda: job("import numpy\nb = a + 1", {"a": 1}), repeat)
    ratios = []
    for size in SIZES:
        X = np.random.default_rng(0).random(size * MB // 8)
        ns = {"X": X}

        def by_hand():
            path = os.path.join(tempfile.gettempdir(), "kf-bench-x.npy")
            np.save(path, X)
            Y = np.load(path) * 2
            np.save(path, Y)
            np.load(path)
            os.remove(path)

        reps = repeat if size < 1000 else 3  # 1 GB: 4 GB written and read a repetition
        hand = timed(by_hand, reps)
        big = timed(lambda: job("Y = X * 2", ns), reps)
        assert np.array_equal(ns["Y"], X * 2)
        report(f"{size} MB in, {size} MB out", [(f"baseline: np.save/np.load in+out by hand, {size} MB", hand),
                                                ("trivial job (fixed cost)", trivial),
                                                ("trivial job that imports numpy", with_numpy),
                                                (f"job: Y = X * 2 on a {size} MB X", big)])
        transfer = statistics.median(big) - statistics.median(trivial)
        own = statistics.median(big) - statistics.median(with_numpy)
        ratios.append((size, transfer, transfer / statistics.median(hand)))
        print(f"  transfer {transfer * 1000:.0f} ms: x{ratios[-1][2]:.2f} by hand (goal <= 2); the bytes alone "
              f"(beyond a job importing numpy) {own * 1000:.0f} ms: x{own / statistics.median(hand):.2f} by hand; "
              f"{2 * size / transfer:.0f} MB/s for {2 * size} MB moved"
              + (f" (budget 300 MB/s: {'within' if 2 * size / transfer >= 300 else 'UNDER'})" if size == 100 else ""))
    print("  growth of the transfer: " + ", ".join(f"{s} MB {t * 1000:.0f} ms" for s, t, _ in ratios)
          + f"; state folder {state}")


if __name__ == "__main__":
    main()
