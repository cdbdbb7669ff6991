"""kf.compare and %kf_compare: several jobs or trials side by side (charts overlaid, a table of finals)."""
import re

import pytest

import jupyter_kf as kf
from jupyter_kf.errors import InvalidSpec, NotFound
from jupyter_kf.experiments import api
from jupyter_kf.experiments.compare import compare, overlay_chart
from jupyter_kf.training import api as training
from tests.support.notebook_runs import errors, run_notebook, text

CURVE = "for epoch in range(4):\n    print(f'epoch={epoch} loss={scale / (epoch + 1)} acc={epoch / 10}')\n"


def job(name, scale):
    training.train(CURVE, name=name, user_ns={"scale": scale}, backend="local").wait()


def test_jobs_overlaid_one_chart_a_metric_one_line_a_job_and_a_table_of_finals():
    job("fit-a", 1.0)
    job("fit-b", 2.0)
    result = kf.compare("fit-a", "fit-b")
    assert result.metrics() == ["loss", "acc"]
    rows = result.rows()
    assert [r["job"] for r in rows] == ["fit-a", "fit-b"] and [r["phase"] for r in rows] == ["Succeeded"] * 2
    assert rows[0]["loss"] == 0.25 and rows[1]["loss"] == 0.5 and rows[1]["acc"] == pytest.approx(0.3)
    page = result._repr_html_()
    assert page.count('class="kf-compare-chart"') == 2  # loss and acc
    assert page.count('data-job="fit-a"') == 2 and page.count('data-job="fit-b"') == 2
    assert "loss by epoch" in page and "fit-b · epoch 3: loss = 0.5" in page
    table = result.table()
    assert list(table.index) == ["fit-a", "fit-b"] and table.loc["fit-b", "loss"] == 0.5
    assert re.search(r"fit-b\s+Succeeded\s+0\.5\s+0\.3", repr(result))


def test_trials_bring_their_typed_parameters_and_an_experiment_its_best_trials():
    api.tune("print(f'loss={(x - 2) ** 2}')\n", params={"x": "int(0,4)", "opt": "choice(adam,sgd)"},
             objective="loss", trials=5, parallel=1, algorithm="grid", name="cmp", backend="local", user_ns={})
    job("plain", 1.0)
    result = compare("cmp-000", "plain")
    first, second = result.rows()
    assert first["experiment"] == "cmp" and isinstance(first["x"], int) and first["opt"] in ("adam", "sgd")
    assert second["experiment"] is None and second["x"] is None and second["loss"] == 0.25
    best = compare("cmp").rows()
    assert len(best) == 5 and best[0]["x"] == 2 and best[0]["loss"] == 0
    assert [r["loss"] for r in best] == sorted(r["loss"] for r in best)  # best first


def test_an_unknown_name_is_one_line_naming_what_exists():
    job("fit-a", 1.0)
    with pytest.raises(NotFound) as err:
        compare("fit-a", "nope")
    message = str(err.value)
    assert "\n" not in message and "'nope'" in message and "jobs and trials: fit-a" in message
    assert "experiments: none" in message
    with pytest.raises(InvalidSpec, match="at least one"):
        compare()


def test_a_chart_of_nothing_is_empty():
    assert overlay_chart("loss", []) == ""


def test_kf_compare_in_a_real_kernel(tmp_path):
    nb = run_notebook([
        "%load_ext jupyter_kf",
        "scale = 1.0",
        f"%%kf_train --name k-one\n{CURVE}",
        "scale = 3.0",
        f"%%kf_train --name k-two\n{CURVE}",
        "%kf_compare k-one k-two",
        "%kf_compare k-one missing",
    ], tmp_path)
    shown = nb.cells[5]
    assert not errors(shown), text(shown)
    html = next(o.data["text/html"] for o in shown.outputs if "text/html" in o.get("data", {}))
    assert html.count('class="kf-compare-chart"') == 2 and 'data-job="k-two"' in html
    assert re.search(r"k-two\s+Succeeded\s+0\.75", text(shown))
    (error,) = errors(nb.cells[6])
    assert error.ename == "CompareNotFound" and "'missing'" in error.evalue and "k-one" in error.evalue
    assert "Traceback" not in text(nb.cells[6])


def test_jobs_on_a_cluster_compared_from_their_pod_logs(simulated_cluster):
    for name, scale in (("c-one", 1.0), ("c-two", 4.0)):
        job = training.train(CURVE, name=name, user_ns={"scale": scale}, backend="kubernetes")
        assert job.wait(timeout=60).phase == "Succeeded"
    result = compare("c-one", "c-two", backend="kubernetes")
    assert [r["loss"] for r in result.rows()] == [0.25, 1.0] and result.metrics() == ["loss", "acc"]
    with pytest.raises(NotFound, match=r"^no job, trial or experiment named 'c-three' on the kubernetes backend; "
                                       r"jobs and trials: c-one, c-two;"):
        compare("c-three", backend="kubernetes")
