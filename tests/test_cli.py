import json
import os
import subprocess
import sys

from jupyter_kf.training import api


def kf(*args):
    return subprocess.run([sys.executable, "-m", "jupyter_kf.cli", *args], capture_output=True, text=True, env=dict(os.environ))


def test_jobs_logs_status_results_cancel_delete():
    api.train("print('hello from the job')\nanswer = 42", name="cli-job", user_ns={}, wait=True)
    out = kf("jobs")
    assert out.returncode == 0 and "cli-job" in out.stdout and "Succeeded" in out.stdout
    assert json.loads(kf("jobs", "--json").stdout)[0]["name"] == "cli-job"
    assert kf("logs", "cli-job").stdout == "hello from the job\n"
    assert json.loads(kf("status", "cli-job").stdout)["phase"] == "Succeeded"
    assert kf("results", "cli-job").stdout == "answer: int\n"
    assert kf("cancel", "cli-job").stdout == "job cli-job: Succeeded\n"
    assert kf("delete", "cli-job").returncode == 0
    missing = kf("logs", "cli-job")
    assert missing.returncode == 2 and missing.stderr == "error: no job named 'cli-job' on the local backend: %kf_jobs lists the jobs there\n"


def test_cli_cancels_a_running_job():
    api.train("import time\ntime.sleep(60)", name="cli-long", user_ns={})
    out = kf("cancel", "cli-long")
    assert out.stdout == "job cli-long: Cancelled\n"


def test_bad_usage_is_one_line_from_argparse():
    out = kf("frobnicate")
    assert out.returncode == 2 and "invalid choice: 'frobnicate'" in out.stderr


def test_jupyter_kf_command_is_installed():
    import shutil

    exe = shutil.which("jupyter-kf", path=os.path.dirname(sys.executable))
    assert exe, "`pip install -e .` installs the jupyter-kf script that `jupyter kf` runs"
    jupyter = os.path.join(os.path.dirname(sys.executable), "jupyter")
    out = subprocess.run([jupyter, "kf", "jobs"], capture_output=True, text=True, env=dict(os.environ))
    assert out.returncode == 0 and "no jobs on the local backend yet" in out.stdout
