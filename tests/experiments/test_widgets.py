"""The live view under %%kf_tune: it shows what it is given and calls back on Stop."""
import re

import pytest

from jupyter_kf.errors import NotFound
from jupyter_kf.experiments import api
from jupyter_kf.experiments.status import ExperimentStatus, TrialStatus
from jupyter_kf.experiments.widgets import ExperimentView


def status(phase="Running"):
    trials = [TrialStatus(0, "s-000", {"lr": "0.1"}, "Succeeded", 0.5, [0.5], 1.0, 2.0),
              TrialStatus(1, "s-001", {"lr": "0.01"}, "Succeeded", 0.2, [0.2], 1.0, 3.0),
              TrialStatus(2, "s-002", {"lr": "0.3"}, "Running", None, [], 2.0)]
    return ExperimentStatus("s", phase, "local", "loss", "minimize", 10, 2, "tpe", trials)


def test_view_shows_progress_best_chart_table_and_stop():
    stopped = []
    view = ExperimentView("s", "local", on_stop=lambda: stopped.append(True))
    view.update(status(), force=True)
    assert "2/10, 1 running" in view.header_html.value and 'data-phase="Running"' in view.header_html.value
    assert "best: <b>loss=0.2</b> (s-001: lr=0.01)" in view.best_html.value
    assert view.chart_html.value.count("<circle") == 2 and "<polyline" in view.chart_html.value
    assert view.table_html.value.count("<tr") == 4 and "font-weight:bold'><td>s-001" in view.table_html.value
    view.stop_button.click()
    assert stopped == [True] and view.stop_button.layout.display == ""
    view.update(status("Succeeded"))
    assert view.stop_button.layout.display == "none"


def test_unknown_experiment_is_one_line():
    with pytest.raises(NotFound, match="experiment 'nope' not found on the local backend"):
        api.experiment("nope", backend="local")


def searched():
    from jupyter_kf.experiments.spec import parse_params

    params = parse_params(["lr=loguniform(1e-4,1e-1)", "layers=int(1,4)", "opt=choice(adam,sgd,rms)"])
    trials = [TrialStatus(0, "p-000", {"lr": "0.001", "layers": "2", "opt": "adam"}, "Succeeded", 0.5, [], 1, 2),
              TrialStatus(1, "p-001", {"lr": "0.01", "layers": "4", "opt": "rms"}, "Succeeded", 0.2, [], 1, 2),
              TrialStatus(2, "p-002", {"lr": "0.1", "layers": "1", "opt": "sgd"}, "Failed", None, [], 1, 2),
              TrialStatus(3, "p-003", {"lr": "0.05", "layers": "3", "opt": "sgd"}, "Running", None, [], 1)]
    return ExperimentStatus("p", "Running", "local", "loss", "minimize", 10, 2, "tpe", trials), params


def polyline(svg, trial):
    points = re.search(rf'points="([^"]+)" data-trial="{trial}"', svg).group(1)
    return [tuple(float(v) for v in p.split(",")) for p in points.split()]


def test_parallel_coordinates_log_and_categorical_axes_and_the_best_trial_highlighted():
    from jupyter_kf.experiments.widgets import parallel_coordinates

    status, params = searched()
    svg = parallel_coordinates(status, params, height=170)  # plot from y=14 (top) to y=142 (bottom)
    assert svg.count("<polyline") == 2  # finished trials with an objective only
    lr, layers, opt, loss = polyline(svg, "p-000")
    assert lr[1] == pytest.approx(142 - 128 / 3, abs=0.1)  # 1e-3 is a third of the way up 1e-4..1e-1 on a log axis
    assert layers[1] == pytest.approx(142 - 128 / 3, abs=0.1) and opt[1] == 142 and loss[1] == 14  # worst on top
    best = polyline(svg, "p-001")
    assert best[2][1] == 14 and best[3][1] == 142  # rms: the last choice; the lowest loss at the bottom
    assert re.search(r'class="kf-pc-best" points="[^"]+" data-trial="p-001"', svg)
    assert svg.index('data-trial="p-001"') > svg.index('data-trial="p-000"')  # drawn last, on top
    for tick in (">0.0001<", ">0.1<", ">adam<", ">sgd<", ">rms<", ">lr<", ">loss<"):
        assert tick in svg
    assert "p-001: lr=0.01, layers=4, opt=rms -&gt; loss=0.2" in svg


def test_parallel_coordinates_without_a_spec_follow_the_values():
    from jupyter_kf.experiments.widgets import parallel_coordinates

    status, _ = searched()
    svg = parallel_coordinates(status)
    lr, *_ = polyline(svg, "p-000")
    assert lr[1] == 142 and ">0.001<" in svg and ">0.01<" in svg  # a linear axis over the values seen
    status.trials = status.trials[2:]
    assert parallel_coordinates(status) == ""


def test_the_view_draws_parallel_coordinates_with_the_spec_of_a_real_search():
    exp = api.tune("print(f'loss={(x - 2) ** 2 + float(lr)}')\n",
                   params={"x": "int(0,4)", "lr": "loguniform(1e-3,1)"}, objective="loss", trials=3, parallel=1,
                   algorithm="random", seed=0, name="pc-view", backend="local", user_ns={})
    view = ExperimentView("pc-view", "local")
    view.update(exp.status(), force=True)
    assert view.parallel_html.value.count("<polyline") == 3 and ">0.001<" in view.parallel_html.value
    lr = exp.status().trials[0].params["lr"]
    assert len(lr) > 8 and f"<td>{float(lr):.4g}</td>" in view.table_html.value  # short in the table
    assert [p.name for p in view.params] == ["x", "lr"]
    empty = ExperimentView("gone", "local")
    empty.update(status(), force=True)
    assert empty.params == () and empty.parallel_html.value.count("<polyline") == 2
