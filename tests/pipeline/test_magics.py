"""``%kf_pipeline`` in a real kernel (nbclient), loaded by ``%load_ext jupyter_kf``."""
import os
import shutil

import pytest

from tests.support.notebook_runs import errors, run_notebook, text
from tests.support.pipeline_helpers import DATA


@pytest.fixture(autouse=True)
def kernel_env(kf_state_dir, monkeypatch):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))


def test_convert_run_and_errors_in_a_notebook(tmp_path):
    shutil.copy(DATA / "markers.ipynb", tmp_path / "markers.ipynb")
    shutil.copy(DATA / "bad_unknown_prev.ipynb", tmp_path / "bad.ipynb")
    nb = run_notebook([
        "%load_ext jupyter_kf",
        "%kf_pipeline convert markers.ipynb -o markers.yaml",
        "%kf_pipeline run markers.ipynb",
        "print(_kf_pipeline_run.phase, _kf_pipeline_run.load('median'))",
        "%kf_pipeline convert bad.ipynb",
        "%kf_pipeline convert",
        "__session__ = 'markers.ipynb'\n%kf_pipeline convert --name from-session -o -",
        "%kf_pipeline submit markers.ipynb --host http://127.0.0.1:9",
        "%kf_pipeline frobnicate",
    ], tmp_path)
    _, convert, run, printed, bad, no_path, session, submit, usage = nb.cells
    assert not errors(convert) and "pipeline 'markers': 3 step(s) from cell tags" in text(convert)
    html = "".join(o.get("data", {}).get("text/html", "") for o in convert.outputs)
    assert "<svg" in html and 'data-step="stats"' in html
    assert (tmp_path / "markers.yaml").is_file()
    assert not errors(run) and "[report] median 3.5" in text(run)
    run_html = "".join(o.get("data", {}).get("text/html", "") for o in run.outputs)
    assert run_html.count('stroke="#2e7d32"') == 3  # every box coloured as succeeded
    assert text(printed).strip() == "Succeeded 3.5"
    assert text(bad).strip() == "PipelineError: prev:missing on step 'second' (cell 2) names no step: the steps are first, second"
    assert not (tmp_path / "bad.pipeline.yaml").exists()
    assert "UsageError: this kernel does not know its notebook's path: give it, e.g. %kf_pipeline run train.ipynb" in text(no_path)
    assert not errors(session) and "pipeline 'from-session': 3 step(s)" in text(session)
    assert text(submit).strip() == ("KfpMissing: submitting to Kubeflow Pipelines needs the kfp client (kfp is not "
                                    "installed): pip install 'jupyter_kf[kfp]'")
    assert "UsageError: %kf_pipeline frobnicate: see %kf_pipeline? for the accepted commands and flags" in text(usage)
