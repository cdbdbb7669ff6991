"""200 trivial tuning trials, 4 at a time, on the local backend, beside a trivial %%kf_train job.

Figures: the search's wall time; each trial's slot time (wall x parallel / trials: how long a trial holds one of
the 4 slots, search bookkeeping included); the same 200 trivial jobs run 4 at a time with no search (threads
calling kf.train + wait); and the per-trial overhead of the search over that (optuna ask/tell, the state file,
metric parsing), measured in the same run.

Then search quality: the best value after 50 trials on Branin (a standard test function, minimum 0.397887)
found by ``kf.tune`` beside optuna used directly with the same sampler and seed; medians over 3 seeds, 1 and 4
trials at a time (with 1 the two should agree: the same sampler sees the same values; with 4, trials are
asked before earlier ones are told, as in any parallel search).
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
    if status.count("Succeeded") != trials:
        from collections import Counter

        print(f"  warning: not every trial succeeded: {dict(Counter(t.phase for t in status.trials))}; e.g. "
              + "; ".join(f"{t.name}: {t.message}" for t in status.trials if t.phase != "Succeeded")[:300])
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
    search_quality()


BRANIN = """import math
loss = ((x2 - 5.1 / (4 * math.pi ** 2) * x1 ** 2 + 5 / math.pi * x1 - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)
print(f'loss={loss!r}')
"""
BRANIN_MIN = 0.397887  # at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475)
SPACE = {"x1": "uniform(-5,10)", "x2": "uniform(0,15)"}


def branin(x1: float, x2: float) -> float:
    import math

    return ((x2 - 5.1 / (4 * math.pi ** 2) * x1 ** 2 + 5 / math.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


def optuna_direct(algorithm: str, seed: int, trials: int) -> float:
    """The baseline: optuna's own loop, the sampler ``%%kf_tune --algorithm`` maps to, the same seed."""
    import optuna

    from jupyter_kf.experiments import sampling
    from jupyter_kf.experiments.spec import ExperimentSpec

    spec = ExperimentSpec.create(name="direct", params=SPACE, objective="loss", trials=trials, parallel=1,
                                 algorithm=algorithm, seed=seed)
    study = optuna.create_study(direction="minimize", sampler=sampling.sampler(spec))
    study.optimize(lambda t: branin(t.suggest_float("x1", -5, 10), t.suggest_float("x2", 0, 15)), n_trials=trials)
    return study.best_value


def search_quality(algorithm: str = "tpe", trials: int = 50, seeds=(0, 1, 2), parallels=(1, 4)) -> None:
    """Best Branin value after ``trials`` trials: kf.tune (local jobs) beside optuna used directly, per seed."""
    import optuna

    from jupyter_kf.experiments import api as tuning

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"\n## search quality: Branin (min {BRANIN_MIN}), {trials} trials, {algorithm}, seeds {list(seeds)}")
    direct = {seed: optuna_direct(algorithm, seed, trials) for seed in seeds}
    print(f"  {'baseline: optuna directly, 1 at a time':<44} best median {statistics.median(direct.values()):.4f}"
          f"   per seed {', '.join(f'{v:.4f}' for v in direct.values())}")
    for parallel in parallels:
        ours, wall = {}, []
        for seed in seeds:
            start = time.perf_counter()
            exp = tuning.tune(BRANIN, params=SPACE, objective="loss", trials=trials, parallel=parallel,
                              algorithm=algorithm, seed=seed, name=f"branin-{algorithm}-p{parallel}-s{seed}",
                              user_ns={})
            wall.append(time.perf_counter() - start)
            ours[seed] = exp.best.objective
        ratios = [ours[s] / direct[s] for s in seeds]
        gaps = [(ours[s] - BRANIN_MIN) / (direct[s] - BRANIN_MIN) for s in seeds]
        print(f"  {f'kf.tune, {parallel} at a time (local jobs)':<44} best median "
              f"{statistics.median(ours.values()):.4f}   per seed {', '.join(f'{v:.4f}' for v in ours.values())}")
        print(f"    ratio of best values (kf / optuna): median x{statistics.median(ratios):.3f} "
              f"({', '.join(f'{r:.3f}' for r in ratios)}); ratio of gaps to the optimum median "
              f"x{statistics.median(gaps):.2f}; wall {statistics.median(wall):.1f} s a search")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
