"""Searches on the local backend, in this process: optuna asks, each trial is a local training job."""
import os
import stat
import time

import pytest

from jupyter_kf.errors import AlreadyExists, JobNotFound, KfError
from jupyter_kf.experiments import api
from jupyter_kf.training import api as training


def quadratic(x, y):
    return (x - 0.3) ** 2 + (y - 2) ** 2


def wait_for(check, what: str, timeout: float = 60):
    """Poll real state until ``check()`` is true; fail after ``timeout`` (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_grid_search_finds_the_known_minimum_with_at_most_parallel_trials_at_once():
    running = []
    exp = api.tune(quadratic, params={"x": "uniform(0,1,0.1)", "y": "int(0,4)"}, objective="loss", trials=55,
                   parallel=4, algorithm="grid", name="grid-quad", backend="local",
                   on_update=lambda s: running.append(s.running))
    status = exp.status()
    assert status.phase == "Succeeded" and status.count("Succeeded") == 55
    assert max(running) <= 4 and max(running) >= 2  # trials ran side by side, never more than --parallel
    points = {(round(float(t.params["x"]), 6), t.params["y"]) for t in status.trials}
    assert len(points) == 55  # every grid point once
    best = exp.best
    assert best.params["y"] == 2 and best.params["x"] == pytest.approx(0.3) and best.objective == pytest.approx(0)


def test_tpe_search_gets_near_the_minimum():
    exp = api.tune(quadratic, params={"x": "uniform(-1,1)", "y": "int(0,4)"}, objective="loss", trials=40,
                   parallel=4, algorithm="tpe", seed=7, name="tpe-quad", backend="local")
    best = exp.best
    assert best.objective < 0.1 and best.params["y"] == 2 and abs(best.params["x"] - 0.3) < 0.32
    rows = exp.trials()
    rows = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
    assert len(rows) == 40 and {"trial", "x", "y", "status", "objective", "duration"} <= set(rows[0])


def test_maximize_with_a_target_ends_early():
    exp = api.tune(lambda a: a, params={"a": "int(0,100)"}, objective="score", goal="maximize", trials=100,
                   parallel=2, algorithm="random", target=10, seed=1, name="target", backend="local")
    status = exp.status()
    assert status.phase == "Succeeded" and status.message.startswith("goal reached: score=")
    assert exp.best.objective >= 10 and len(status.trials) < 100


def test_cell_source_reads_bound_typed_variables(tmp_path):
    cell = ("assert isinstance(lr, float) and isinstance(n, int) and isinstance(opt, str) and isinstance(bs, int)\n"
            "print(f'loss={lr * n}')\nmodel = (lr, n, opt, bs)")
    ns = {}
    exp = api.tune(cell, params=["lr=loguniform(1e-3,1e-1)", "n=int(1,3)", "opt=choice(adam,sgd)",
                                 "bs=discrete(16,32)"], objective="loss", trials=4, parallel=2, name="typed",
                   backend="local", user_ns=ns)
    assert exp.status().count("Succeeded") == 4
    best, (loaded, changed) = exp.apply(ns)
    assert ns["model"] == (ns["lr"], ns["n"], ns["opt"], ns["bs"]) and ns["lr"] == exp.best.params["lr"]
    assert {"model", "lr", "n", "opt", "bs"} <= set(changed)


def test_median_stop_ends_poor_trials(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    cell = (f"import os, time\nk = len(os.listdir({str(marks)!r})); os.mkdir(os.path.join({str(marks)!r}, str(k)))\n"
            "for step in range(5):\n    print(f'step={step} loss={0.1 if k < 3 else 5}', flush=True)\n"
            "if k >= 3:\n    time.sleep(120)\nx = lr")
    exp = api.tune(cell, params=["lr=uniform(0,1)"], objective="loss", trials=5, parallel=1, algorithm="random",
                   early_stopping="medianstop", name="median", backend="local", user_ns={})
    status = exp.status()
    assert [t.phase for t in status.trials] == ["Succeeded"] * 3 + ["EarlyStopped"] * 2
    assert status.phase == "Succeeded" and status.trials[3].message == "early stopped (medianstop)"


def test_trial_without_objective_fails_the_search():
    exp = api.tune("print('accuracy=0.5')\nx = lr", params=["lr=uniform(0,1)"], objective="loss", trials=2,
                   parallel=2, name="no-metric", backend="local", user_ns={})
    status = exp.status()
    assert [t.phase for t in status.trials] == ["MetricsUnavailable"] * 2
    assert status.phase == "Failed" and "no trial reported loss=<number>" in status.message


def test_stop_cancels_running_trials_and_keeps_state_private(tmp_path):
    exp = api.tune("import time\ntime.sleep(120)\nprint(f'loss={lr}')", params=["lr=uniform(0,1)"],
                   objective="loss", trials=6, parallel=2, name="stopme", backend="local", user_ns={}, wait=False)
    wait_for(lambda: exp.status().count("Running") == 2, "two running trials")
    status = exp.stop()
    assert status.phase == "Cancelled" and [t.phase for t in status.trials] == ["Cancelled"] * 2
    for t in status.trials:
        wait_for(lambda: training.job(t.name).status().done, f"{t.name} to end")
    folder = exp.backend.folder("stopme")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    with pytest.raises(AlreadyExists):
        api.tune("print(f'loss={lr}')", params=["lr=uniform(0,1)"], objective="loss", name="stopme",
                 backend="local", user_ns={})
    assert [s.name for s in api.experiments("local")] == ["stopme"]
    exp.delete()
    assert api.experiments("local") == [] and not folder.exists()
    with pytest.raises(JobNotFound):
        training.job(status.trials[0].name, backend="local")


def test_unread_parameter_warns(capsys):
    api.tune("print(f'loss={lr}')", params=["lr=uniform(0,1)", "momentum=uniform(0,1)"], objective="loss",
             trials=1, parallel=1, name="warn", backend="local", user_ns={})
    assert "never reads parameter 'momentum'" in capsys.readouterr().err


def test_bad_input_starts_nothing():
    with pytest.raises(KfError, match="--parallel 5 is more than --trials 2"):
        api.tune(quadratic, params={"x": "uniform(0,1)", "y": "int(0,1)"}, objective="loss", trials=2, parallel=5,
                 backend="local")
    assert api.experiments("local") == [] and training.jobs("local") == []


def test_dry_run_shows_the_trial_code():
    text = api.tune("print(f'loss={lr}')", params=["lr=loguniform(1e-4,1e-1)"], objective="loss", name="dry",
                    backend="local", user_ns={}, dry_run=True)
    assert 'lr = float(__import__("os").environ["KF_PARAM_lr"])' in text and "nothing was started" in text
    assert api.experiments("local") == []


def test_env_of_the_trials_is_kept():
    exp = api.tune("import os\nprint(f\"loss={lr + int(os.environ['SHIFT'])}\")", params=["lr=uniform(0,1)"],
                   objective="loss", trials=1, parallel=1, name="envs", backend="local", user_ns={},
                   env=["SHIFT=10"])
    assert exp.best.objective >= 10
    assert os.environ.get("SHIFT") is None


def test_a_failing_cell_gives_its_error_and_line():
    exp = api.tune("y = 1\nz = 1 / 0\nprint(f'loss={lr}')", params=["lr=uniform(0,1)"], objective="loss", trials=2,
                   parallel=2, name="fails", backend="local", user_ns={})
    status = exp.status()
    assert [t.message for t in status.trials] == ["ZeroDivisionError: division by zero at cell line 2"] * 2
    assert status.phase == "Failed" and status.message.endswith(
        "fails-000: ZeroDivisionError: division by zero at cell line 2")


def test_trials_share_the_local_worker_cap_with_other_jobs():
    from jupyter_kf import config

    config.get().local_max_workers = 3
    holder = training.train("import time\ntime.sleep(120)", name="holder", user_ns={}, backend="local")
    wait_for(lambda: holder.status().phase == "Running", "the holder job to run")
    running = []
    exp = api.tune("import time\ntime.sleep(0.2)\nprint(f'loss={x}')", params=["x=uniform(0,1)"], objective="loss",
                   trials=6, parallel=4, name="capped", backend="local", user_ns={},
                   on_update=lambda s: running.append(s.running))
    holder.cancel()
    assert exp.status().count("Succeeded") == 6  # trials that found the cap full waited for a free worker
    # --parallel 4 is capped at 3 workers, one of them held by the other job: 2 trials run, and a third only
    # starts once a trial's job has ended (the search may not have seen that end yet)
    assert 2 <= max(running) <= 3
