"""``jupyter kf pipeline convert|run|submit`` in a subprocess: output, exit codes, one-line errors, no file on error."""
import os
import shutil
import subprocess
import sys

import yaml

from tests.support.pipeline_helpers import DATA, write


def kf(*args, cwd=None):
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "jupyter_kf.cli", "pipeline", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120)


def test_convert_writes_the_ir_and_prints_the_summary(tmp_path):
    out = kf("convert", DATA / "markers.ipynb", "-o", tmp_path / "m.yaml")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "pipeline 'markers': 3 step(s) from cell tags",
        "  load    cells 2; passes values",
        "  stats   cells 3; after load; reads values (load); passes median; memory 1Gi",
        "  report  cells 4; after stats; reads median (stats)",
        f"written to {tmp_path / 'm.yaml'}"]
    assert yaml.safe_load((tmp_path / "m.yaml").read_text())["pipelineInfo"]["name"] == "markers"


def test_convert_defaults_to_a_file_beside_the_notebook_and_dash_prints(tmp_path):
    shutil.copy(DATA / "markers.ipynb", tmp_path / "markers.ipynb")
    assert kf("convert", tmp_path / "markers.ipynb").returncode == 0
    assert (tmp_path / "markers.pipeline.yaml").is_file()
    out = kf("convert", tmp_path / "markers.ipynb", "-o", "-")
    assert yaml.safe_load(out.stdout)["root"]["dag"]["tasks"].keys() == {"load", "stats", "report"}
    assert out.stderr.startswith("pipeline 'markers': 3 step(s)")


def test_bad_notebook_one_line_exit_2_no_file(tmp_path):
    out = kf("convert", DATA / "bad_cycle.ipynb", "-o", tmp_path / "x.yaml")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == ("error: prev:second on step 'first' (cell 1) contradicts the data flow: second reads 'a' from "
                          "first (cycle first -> second -> first): drop the tag\n")
    assert list(tmp_path.iterdir()) == []


def test_run_streams_logs_and_exit_code(tmp_path):
    good = kf("run", DATA / "markers.ipynb")
    assert good.returncode == 0, good.stderr
    assert "[report] median 3.5" in good.stdout.splitlines()
    path = write(tmp_path, "f.ipynb", ("x = 1", ["step:a"]), ("y = x / 0", ["step:b"]))
    bad = kf("run", path, "-q")
    assert bad.returncode == 1
    assert "[b]" not in bad.stdout and " b  Failed " in bad.stdout
    assert bad.stderr.startswith("error: pipeline run f-") and "step 'b' failed in cell 2, line 1 (y = x / 0): ZeroDivisionError" in bad.stderr


def test_run_with_parameters(tmp_path):
    out = kf("run", DATA / "kale_tags.ipynb", "--param", "size=2", "-p", "factor=10", "-q")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "metrics: size=2, total=10"


def test_submit_without_the_kfp_extra_says_how_to_install_it():
    out = kf("submit", DATA / "markers.ipynb", "--host", "http://127.0.0.1:9")
    assert out.returncode == 2
    assert out.stderr == ("error: submitting to Kubeflow Pipelines needs the kfp client (kfp is not installed): "
                          "pip install 'jupyter_kf[kfp]'\n")


def test_usage_errors_are_argparse_errors():
    out = kf("convert")
    assert out.returncode == 2 and "the following arguments are required: notebook" in out.stderr
