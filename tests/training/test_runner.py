"""The runner on its own: the contract a pod relies on."""
import json
import os
import re
import subprocess
import sys
import time
import types

import pytest

from jupyter_kf.training import api, runner
from tests.support import pythons
from tests.support.helpers import run_cell


def test_pet_contract_becomes_torch_env():
    env = runner.distributed_env({"PET_NODE_RANK": "2", "PET_NNODES": "4", "PET_MASTER_ADDR": "job-node-0-0.job",
                                  "PET_MASTER_PORT": "29500"})
    assert env == {"RANK": "2", "WORLD_SIZE": "4", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1", "GROUP_RANK": "2",
                   "MASTER_ADDR": "job-node-0-0.job", "MASTER_PORT": "29500"}
    assert runner.distributed_env({"RANK": "0", "PET_NODE_RANK": "1"}) == {}  # torchrun already set it
    assert runner.distributed_env({}) == {}


def test_read_only_bundle_with_a_separate_output_folder(kf_state_dir, tmp_path):
    """As in a pod: the bundle is a read-only ConfigMap mount; results go to a writable volume."""
    job = api.train("x = 41 + 1\nimport os\nwhere = os.getcwd()", name="bundle", user_ns={}, wait=True)
    bundle = kf_state_dir / "jobs" / "bundle"
    for name in ("result.json", "result.pkl"):
        (bundle / name).unlink()
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(bundle, 0o555)
    try:
        env = {k: v for k, v in os.environ.items() if k != "RANK"}
        env.update(PET_NODE_RANK="0", PET_NNODES="1")
        proc = subprocess.run([sys.executable, str(bundle / "runner.py"), str(bundle), str(out)], env=env,
                              capture_output=True, text=True)
    finally:
        os.chmod(bundle, 0o755)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["outputs"] == ["where", "x"] and result["status"] == "ok"
    assert runner.read_frames(str(out / "result.pkl"))["outputs"]["where"] == str(out / "work")
    assert job.name == "bundle"


def test_frames_keep_large_buffers_aligned_and_exact(tmp_path):
    import numpy as np

    arrays = {"a": np.arange(1001, dtype=np.float64), "b": np.arange(7, dtype=np.int8), "c": "text"}
    path = str(tmp_path / "f.bin")
    runner.write_frames(path, arrays)
    back = runner.read_frames(path)
    assert np.array_equal(back["a"], arrays["a"]) and np.array_equal(back["b"], arrays["b"]) and back["c"] == "text"
    assert back["a"].ctypes.data % 64 == 0 and back["a"].flags.writeable


def test_a_job_on_another_python_refuses_before_unpickling(kf_state_dir, tmp_path):
    """An image whose Python differs from the kernel's: exit 3 and one clear line, nothing unpickled."""
    other = pythons.other_than_running()
    if other is None:
        pytest.skip("no second CPython 3.10+ on this machine (pyenv or python3.X on PATH)")
    version, python = other
    api.train("y = 1", name="elsewhere", user_ns={}, wait=True)
    bundle = kf_state_dir / "jobs" / "elsewhere"
    # A payload that would raise if unpickled: the check must come first.
    runner.write_frames(str(bundle / "payload.bin"), _Boom())
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([str(python), str(bundle / "runner.py"), str(bundle), str(out)], capture_output=True,
                          text=True, env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RANK")})
    mine = "%d.%d" % sys.version_info[:2]
    assert proc.returncode == runner.EXIT_PYTHON, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"jupyter_kf runner: the notebook pickled with Python {mine} but this job runs Python {version}: "
        f"use an image with Python {mine} (e.g. python:{mine}-slim)"]
    result = json.loads((out / "result.json").read_text())
    assert result["error"]["kind"] == "python_mismatch" and result["status"] == "error"


class _Boom:
    def __reduce__(self):
        return (_explode, ())


def _explode():
    raise AssertionError("unpickled before the version check")


def test_an_array_in_the_payloads_memory_map_is_fingerprinted_by_its_pages(tmp_path):
    import numpy as np

    path = str(tmp_path / "frames.bin")
    runner.write_frames(path, {"X": np.arange(300_000, dtype=np.float64)})
    maps = []
    mapped = runner.read_frames(path, maps=maps)["X"]
    assert runner.fingerprint(mapped, maps)[0] == "mapped"
    assert runner.fingerprint(np.array(mapped), maps)[0] == (300_000,)  # a copy outside the map: its checksum
    mapped[-1] = -1.0
    assert runner.fingerprint(mapped, maps)[0] == "written"


def test_results_too_large_for_the_log_without_a_store_are_named_not_sent(tmp_path, monkeypatch):
    (tmp_path / "result.pkl").write_bytes(b"x" * (3 * 2**20))
    monkeypatch.setenv("KF_RESULT_LOG_LIMIT", str(2 * 2**20))
    job = types.SimpleNamespace(path=lambda name: str(tmp_path / name), meta={},
                                result={"outputs": ["model"], "mutated": ["data"], "unpicklable": {}})
    assert runner.send_results_via_log(job) is None
    expected = "results are 3.0 MiB together, over the 2 MiB a job without a store can send back: configure " \
               "c.KfConfig.store"
    assert job.result == {"outputs": [], "mutated": [], "unpicklable": {"model": expected, "data": expected}}


def test_shell_commands_in_a_job_expand_notebook_names_and_give_text_lines():
    shell = runner.RemoteShell({"who": "kf"})
    assert shell.getoutput("echo hello {who}; echo bye") == ["hello kf", "bye"]
    assert shell.getoutput("echo {missing}") == ["{missing}"]  # an unknown name stays as written, as in IPython
    assert shell.system("exit 3") == 3


def test_a_cells_own_error_under_a_memory_limit_stays_its_own():
    job, status, loaded = run_cell("1 / 0", {}, memory="200Mi")
    assert status.phase == "Failed" and status.message == "worker 0 exited with code 1"
    assert loaded.error["type"] == "ZeroDivisionError" and loaded.error.get("kind") != "oom_killed"


def test_a_value_that_cannot_be_pickled_has_no_fingerprint():
    import threading

    assert runner.fingerprint(threading.Lock()) is None


def test_display_in_a_job_prints_each_objects_repr(capsys):
    runner.display(1, "a", [2])
    assert capsys.readouterr().out == "1\n'a'\n[2]\n"


def test_an_error_raised_inside_a_library_points_at_the_cells_line():
    _, status, loaded = run_cell("x = 1\nimport json\njson.loads('{')\ny = 2", {})
    assert status.phase == "Failed" and loaded.error["type"] == "JSONDecodeError" and loaded.error["line"] == 3


def test_a_package_pip_cannot_install_fails_the_job_before_the_cell(monkeypatch):
    monkeypatch.setenv("KF_INSTALL_PIP", "1")  # as in a pod
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # no index: the install fails at once, offline
    _, status, loaded = run_cell("ran = True", {}, pip=["kf-no-such-package==0.0.1"])
    assert status.phase == "Failed" and loaded.error["kind"] == "pip"
    assert loaded.error["message"].startswith("pip could not install kf-no-such-package==0.0.1 in the job's image")


def test_timeit_in_a_job_reports_the_time_per_loop(capsys):
    before = time.perf_counter()
    runner.RemoteShell({}).run_line_magic("timeit", "sum(range(10))")
    elapsed_us = (time.perf_counter() - before) * 1e6
    match = re.fullmatch(r"(\d+\.\d) us per loop \((\d+) loops\)\n", capsys.readouterr().out)
    assert match
    per_loop_us = float(match[1]) - 0.05  # printed to one decimal
    assert per_loop_us * int(match[2]) <= elapsed_us  # per loop: the total divided by the loops


@pytest.mark.parametrize("start", [b"AAAA", b"ZZZZ"])
def test_a_file_that_is_not_a_payload_is_refused(tmp_path, start):
    path = tmp_path / "other.bin"
    path.write_bytes(start + b"\0" * 64)
    with pytest.raises(ValueError, match="is not a jupyter_kf payload"):
        runner.read_frames(str(path))


def test_a_final_expressions_value_is_not_listed_among_the_outputs(kf_state_dir):
    api.train("y = 1\nzeta = 2\ny + zeta", name="last-value", user_ns={}, wait=True)
    result = json.loads((kf_state_dir / "jobs" / "last-value" / "result.json").read_text())
    assert result["outputs"] == ["y", "zeta"]
