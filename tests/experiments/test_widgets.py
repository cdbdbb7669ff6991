"""The live view under %%kf_tune: it shows what it is given and calls back on Stop."""
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
