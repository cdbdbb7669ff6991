"""200 trivial tuning trials, 4 at a time, on the local backend, beside a trivial %%kf_train job.

Figures: the search's wall time; each trial's slot time (wall x parallel / trials: how long a trial holds one of
the 4 slots, search bookkeeping included); the same 200 trivial jobs run 4 at a time with no search (threads
calling kf.train + wait); and the per-trial overhead of the search over that (optuna ask/tell, the state file,
metric parsing), measured in the same run.
"""
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from common import isolated_state, report, timed

TRIALS, PARALLEL = 200, 4


def main(trials: int = TRIALS, parallel: int = PARALLEL, repeat: int = 10):
    isolated_state()
    from jupyter_kf.experiments import api as tuning
    from jupyter_kf.training import api

    ns = {"a": 1}
    counter = iter(range(100_000))

    def trivial_job():
        job = api.train("print(f'loss={a}')", name=f"bench-{next(counter)}", user_ns=ns)
        job.wait()

    single = timed(trivial_job, repeat)

    def jobs_without_search():
        with ThreadPoolExecutor(parallel) as pool:
            list(pool.map(lambda _: trivial_job(), range(trials)))

    start = time.perf_counter()
    jobs_without_search()
    plain = time.perf_counter() - start

    start = time.perf_counter()
    exp = tuning.tune("print(f'loss={(x - 0.3) ** 2}')", params={"x": "uniform(0,1)"}, objective="loss",
                      trials=trials, parallel=parallel, algorithm="random", seed=0, name="bench-tune", user_ns={})
    wall = time.perf_counter() - start
    status = exp.status()
    assert status.count("Succeeded") == trials, status.progress()
    durations = [t.finished - t.started for t in status.trials]
    report("trivial job vs one tuning trial (slot time), local backend", [
        ("baseline: kf.train trivial job -> wait", single),
        (f"{trials} jobs, {parallel} at a time, no search (slot time)", [plain * parallel / trials]),
        (f"{trials} tuning trials, {parallel} at a time (slot time)", [wall * parallel / trials]),
    ])
    print(f"  search wall time {wall:.2f} s for {trials} trials ({parallel} parallel); plain jobs {plain:.2f} s; "
          f"trial durations median {statistics.median(durations) * 1000:.0f} ms")
    print(f"  per-trial overhead of the search over plain jobs: {(wall - plain) * parallel / trials * 1000:.1f} ms "
          f"of slot time ({(wall - plain) / trials * 1000:.1f} ms of wall time per trial)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
