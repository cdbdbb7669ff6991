"""Metrics read as Katib's StdOut collector reads them, and Katib's medianstop rule."""
from jupyter_kf.experiments.status import ExperimentStatus, Observation, TrialStatus, median_stop_rule, should_stop


def test_katib_filter_and_strategies():
    obs = Observation("loss")
    for line in ["epoch=1 loss=0.5", "val_loss=0.1", "loss: 0.01", "loss = .3 accuracy=0.9",
                 "Score=-7.53e-05", "loss=2E-1", "nothing here"]:
        obs.add_line(line)
    assert obs.values == [0.5, 0.3, 0.2]  # 'val_loss' is another name; 'loss: 0.01' is not Katib's format
    assert obs.value("min") == 0.2 and obs.value("max") == 0.5 and obs.value("latest") == 0.2


def test_objective_never_printed_is_none():
    obs = Observation("loss")
    obs.add_line("accuracy=0.9")
    assert obs.value("min") is None


def trial(n, history, phase="Succeeded"):
    return TrialStatus(n, f"t-{n}", {}, phase=phase, history=history, objective=min(history) if history else None)


def test_median_stop_needs_three_trials_with_four_steps():
    done = [trial(0, [1, 1, 1, 1]), trial(1, [2, 2, 2, 2])]
    assert median_stop_rule(done, "minimize") is None
    done.append(trial(2, [3, 3, 3, 3, 0.1]))
    assert median_stop_rule(done, "minimize") == 2.0  # the mean of the first-four means
    assert should_stop(trial(3, [5, 4, 3, 2.5], "Running"), 2.0, "minimize")
    assert not should_stop(trial(3, [5, 4, 3, 1.5], "Running"), 2.0, "minimize")
    assert not should_stop(trial(3, [5, 4, 3], "Running"), 2.0, "minimize")  # before start_step
    assert should_stop(trial(3, [0.1, 0.2, 0.3, 0.4], "Running"), 2.0, "maximize")


def test_best_ignores_running_and_failed():
    status = ExperimentStatus("e", "Running", "local", "loss", "minimize", 4, 2, "tpe",
                              trials=[trial(0, [0.5]), trial(1, [0.1], "Running"), trial(2, [0.05], "Failed"),
                                      trial(3, [0.3], "EarlyStopped")])
    assert status.best.name == "t-3" and status.progress() == "3/4, 1 running"
    assert ExperimentStatus.from_dict(status.to_dict()) == status
