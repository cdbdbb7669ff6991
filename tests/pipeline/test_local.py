"""Local runs of the DAG on the local backend: values flow, independent steps overlap, failures name cell and line."""
import hashlib
import json
import shutil

import pytest

from jupyter_kf.pipeline import run
from jupyter_kf.pipeline.model import PipelineError, PipelineFailed
from jupyter_kf.training import api
from tests.support.pipeline_helpers import DATA, write


def copy(tmp_path, name):
    target = tmp_path / "notebooks" / name
    target.parent.mkdir(exist_ok=True)
    shutil.copy(DATA / name, target)
    return target


def test_heading_notebook_end_to_end_and_the_notebook_untouched(tmp_path, kf_state_dir):
    path = copy(tmp_path, "headings.ipynb")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    lines = []
    result = run(path, on_line=lines.append)
    assert result.phase == "Succeeded"
    assert [(s.name, s.phase) for s in result.steps.values()] == [
        ("load_the_data", "Succeeded"), ("summarize", "Succeeded"), ("count", "Succeeded"), ("report", "Succeeded")]
    assert "[report] mean=1.75 spread=3.5 count=8" in lines
    assert lines[0] == f"pipeline 'headings': run {result.id}, 4 step(s) on the local backend"
    assert result.load("data") == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    assert result.values() == {"data": [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5], "mean": 1.75, "spread": 3.5, "count": 8}
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["headings.ipynb"]  # nothing written beside it
    record = json.loads((result.folder / "run.json").read_text())
    assert record["phase"] == "Succeeded" and set(record["steps"]) == {"load_the_data", "summarize", "count", "report"}
    assert result.folder.parent == kf_state_dir / "pipelines"
    # each step is a job on the local backend: listed, with its logs
    jobs = {j.name: j.phase for j in api.jobs()}
    assert jobs == {f"{result.id}-{t}": "Succeeded" for t in ("load-the-data", "summarize", "count", "report")}
    assert "mean=1.75 spread=3.5 count=8" in list(api.job(f"{result.id}-report").logs())


def test_kale_notebook_with_parameters_and_metrics(tmp_path):
    lines = []
    result = run(copy(tmp_path, "kale_tags.ipynb"), parameters={"size": 4}, on_line=lines.append)
    assert result.phase == "Succeeded"
    assert result.metrics == {"size": 4.0, "total": 15.0}
    assert result.load("scaled") == [0.0, 2.5, 5.0, 7.5]
    assert '[evaluate] {"label": "demo", "total": 15.0}' in lines
    assert ("[train_model] note: secret db-credentials/password is not available locally: set DB_PASSWORD in your "
            "environment to give it to the step") in lines
    executor_output = result.folder / "executor" / "train-model" / "executor_output.json"
    assert json.loads(executor_output.read_text())["artifacts"]["metrics"]["artifacts"][0]["metadata"] == {"total": 15.0}
    assert result.summary().splitlines()[-1] == "metrics: size=4, total=15"


def test_independent_steps_run_at_the_same_time(tmp_path):
    path = write(tmp_path, "par.ipynb", ("md", "## Load"), "data = [1, 2]", ("md", "## Left"), "import time\ntime.sleep(1.0)\na = sum(data)",
                 ("md", "## Right"), "import time\ntime.sleep(1.0)\nb = max(data)", ("md", "## Join"), "print('join', a, b)")
    lines = []
    result = run(path, on_line=lines.append)
    left, right = result.steps["left"], result.steps["right"]
    assert left.started < right.finished and right.started < left.finished  # the two intervals overlap
    assert "[join] join 3 2" in lines
    assert lines.index("[right] started (job %s-right)" % result.id) < lines.index("[left] succeeded in %.2f s" % left.seconds)


def test_a_failed_step_names_cell_and_line_and_skips_what_depends_on_it(tmp_path):
    path = write(tmp_path, "fail.ipynb", ("md", "## Load"), "data = [1, 2]", ("md", "## Divide"), "z = 0\n\nq = data[0] / z",
                 ("md", "## Other"), "other = len(data)", ("md", "## Use"), "print(q)")
    with pytest.raises(PipelineFailed) as info:
        run(path, on_line=lambda line: None)
    result = info.value.run
    assert str(info.value) == (f"pipeline run {result.id} failed: step 'divide' failed in cell 4, line 3 (q = data[0] / z): "
                               f"ZeroDivisionError: division by zero; not run: use (jupyter kf logs {result.id}-divide)")
    assert {n: s.phase for n, s in result.steps.items()} == {"load": "Succeeded", "divide": "Failed", "other": "Succeeded", "use": "Skipped"}
    assert result.steps["divide"].error["cell"] == 4 and result.steps["divide"].error["line"] == 3
    assert json.loads((result.folder / "run.json").read_text())["phase"] == "Failed"


def test_steps_run_in_the_notebook_folder(tmp_path):
    (tmp_path / "numbers.txt").write_text("4 5 6")
    path = write(tmp_path, "files.ipynb", ("values = [int(v) for v in open('numbers.txt').read().split()]", ["step:read"]),
                 ("print('sum', sum(values))", ["step:add"]))
    lines = []
    run(path, on_line=lines.append)
    assert "[add] sum 15" in lines


def test_bad_parameters_start_nothing(tmp_path, kf_state_dir):
    path = copy(tmp_path, "kale_tags.ipynb")
    with pytest.raises(PipelineError, match=r"^parameter 'epochs' is not a pipeline parameter: the pipeline's parameters are size, factor, label_text, verbose$"):
        run(path, parameters=["epochs=3"])
    with pytest.raises(PipelineError, match=r"^parameter size='many' is not a whole number, as its default in the notebook is$"):
        run(path, parameters=["size=many"])
    with pytest.raises(PipelineError, match=r"^parameter 'size' has no '=': use NAME=VALUE, e.g. --param lr=0.1$"):
        run(path, parameters=["size"])
    assert not (kf_state_dir / "pipelines").exists() and api.jobs() == []


def test_a_bad_notebook_starts_nothing(kf_state_dir):
    with pytest.raises(PipelineError, match="names no step"):
        run(DATA / "bad_unknown_prev.ipynb")
    assert not (kf_state_dir / "pipelines").exists()


def test_a_step_over_its_timeout_is_stopped(tmp_path):
    path = write(tmp_path, "slow.ipynb", ("import time\ntime.sleep(30)\nx = 1", ["step:slow"]), ("print(x)", ["step:after"]))
    with pytest.raises(PipelineFailed) as info:
        run(path, timeout=1, on_line=lambda line: None)
    assert str(info.value).startswith(f"pipeline run {info.value.run.id} failed: step 'slow' timed out after 1 s; not run: after")


def test_a_module_missing_locally_names_the_python_that_runs_the_steps(tmp_path):
    import sys

    path = write(tmp_path, "mod.ipynb", ("import not_installed_anywhere_xyz", ["step:a"]))
    with pytest.raises(PipelineFailed) as info:
        run(path, on_line=lambda line: None)
    assert (f"ModuleNotFoundError: No module named 'not_installed_anywhere_xyz': module 'not_installed_anywhere_xyz' is not "
            f"installed in {sys.executable}, which runs the steps locally") in str(info.value)
