"""``kf.train`` end to end on the local backend: the cell's semantics survive the trip."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from jupyter_kf import config
from jupyter_kf.errors import CaptureError, JobExists, JobNotFound, KfError
from jupyter_kf.training import api
from tests.support.helpers import run_cell, wait_for_phase


def test_results_come_back_with_aliases_intact():
    a = [1, 2]
    ns = {"a": a, "b": a, "X": np.arange(4.0)}
    job, status, loaded = run_cell("a.append(3)\nX *= 2\nc = a\nd = X.sum()", ns)
    assert status.phase == "Succeeded"
    assert ns["a"] is a and ns["b"] is a and a == [1, 2, 3]
    assert ns["c"] is a  # a new name bound to an input stays that very object
    assert list(ns["X"]) == [0.0, 2.0, 4.0, 6.0] and ns["d"] == 12.0
    assert sorted(loaded.mutated) == ["X", "a"]


def test_notebook_functions_see_the_cells_later_assignments():
    src = textwrap.dedent("""
        def scaled(v):
            return v * factor
    """)
    ns = {}
    exec(src, ns)
    ns["factor"] = 2
    ns["__name__"] = "__main__"
    scaled = ns["scaled"]
    scaled.__module__ = "__main__"
    _, status, _ = run_cell("factor = 10\nout = scaled(3)", ns)
    assert status.phase == "Succeeded" and ns["out"] == 30


def test_functions_defined_in_the_cell_use_live_notebook_globals():
    ns = {"base": 1}
    run_cell("def add(v):\n    return v + base", ns)
    ns["base"] = 100
    assert ns["add"](1) == 101


def test_last_expression_is_the_value_and_imports_come_back():
    job, _, loaded = run_cell("import json as j\n6 * 7", {})
    assert loaded.value == 42 and job.value() == 42
    assert loaded.imports == {"j": "json"}


def test_deleted_names_are_deleted():
    ns = {"tmp": 5}
    run_cell("keep = tmp\ndel tmp", ns)
    assert "tmp" not in ns and ns["keep"] == 5


def test_failure_keeps_partial_results_and_cell_line_numbers():
    ns = {}
    job, status, loaded = run_cell("p = 1\nq = 2\n1 / 0\nr = 3", ns)
    assert status.phase == "Failed" and status.message == "worker 0 exited with code 1"
    assert ns["p"] == 1 and ns["q"] == 2 and "r" not in ns
    assert loaded.error["type"] == "ZeroDivisionError" and loaded.error["line"] == 3
    assert 'File "<kf_train cell>", line 3' in loaded.error["traceback"]
    assert "runner.py" not in loaded.error["traceback"]
    assert any("ZeroDivisionError" in line for line in job.logs())


def test_unpicklable_result_is_named_and_the_rest_come_back():
    ns = {}
    _, status, loaded = run_cell("import threading\nlock = threading.Lock()\nok = 5", ns)
    assert status.phase == "Succeeded"
    assert "lock" in loaded.unpicklable and "lock" in loaded.unpicklable["lock"] or "pickle" in loaded.unpicklable["lock"]
    assert ns["ok"] == 5 and "lock" not in ns


def test_unpicklable_input_is_refused_before_anything_starts(kf_state_dir):
    ns = {"__name__": "__main__"}
    exec("import threading\nlock = threading.Lock()\ndef uses_lock():\n    return lock", ns)
    with pytest.raises(CaptureError, match=r"input 'uses_lock': global 'lock' used by uses_lock\(\): .*_thread.lock"):
        api.train("uses_lock()", name="bad-input", user_ns=ns)
    assert not (kf_state_dir / "jobs" / "bad-input").exists()


def test_payload_limit_names_the_biggest_inputs(kf_state_dir):
    config.get().payload_limit = "1Mi"
    ns = {"big": np.zeros(300_000), "small": 1}
    with pytest.raises(CaptureError, match=r"over the payload limit of 1.0 MiB: big \(2.3 MiB\)"):
        api.train("s = big.sum() + small", name="too-big", user_ns=ns)
    assert not (kf_state_dir / "jobs" / "too-big").exists()


def test_names_are_unique_and_replace_removes_finished_jobs():
    run_cell("x = 1", {}, name="once")
    with pytest.raises(JobExists, match="already exists \\(Succeeded\\).*--replace"):
        api.train("x = 2", name="once", user_ns={})
    _, _, loaded = run_cell("x = 2", {}, name="once", replace=True)
    assert loaded.values == {"x": 2}


def test_distributed_env_contract_for_every_worker():
    job, status, _ = run_cell(
        "import os\nkeys = 'RANK WORLD_SIZE LOCAL_RANK MASTER_ADDR MASTER_PORT PET_NNODES PET_NODE_RANK PET_MASTER_PORT SEED'\n"
        "print(' '.join(f'{k}={os.environ[k]}' for k in keys.split()))", {}, workers=3, env={"SEED": "3"})
    assert status.phase == "Succeeded" and [w.phase for w in status.workers] == ["Succeeded"] * 3
    lines = sorted(job.logs())
    assert len(lines) == 3
    for rank, line in enumerate(lines):
        assert line.startswith(f"[{rank}] RANK={rank} WORLD_SIZE=3 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1")
        assert f"PET_NNODES=3 PET_NODE_RANK={rank}" in line and line.endswith("SEED=3")
    ports = {part for line in lines for part in line.split() if part.startswith("MASTER_PORT")}
    assert len(ports) == 1


def test_a_failing_worker_stops_the_others():
    job, status, _ = run_cell("import os, time\nif os.environ['RANK'] == '1':\n    raise SystemExit(7)\ntime.sleep(30)", {}, workers=2)
    assert status.phase == "Failed" and status.message == "worker 1 exited with code 7"
    elapsed_ok = status.finished is not None
    assert elapsed_ok and {w.rank: w.exit_code for w in status.workers}[1] == 7


def test_cancel_keeps_logs_and_says_cancelled():
    job = api.train("import time\nprint('started', flush=True)\ntime.sleep(60)", name="long", user_ns={})
    for _ in range(200):
        if any("started" in line for line in job.logs()):
            break
        import time

        time.sleep(0.05)
    status = job.cancel()
    assert status.phase == "Cancelled"
    logs = list(job.logs())
    assert logs[0] == "started" and "the job was stopped" in logs[-1]
    assert job.status().workers[0].phase == "Cancelled"


def test_timeout_fails_the_job():
    _, status, _ = run_cell("import time\ntime.sleep(30)", {}, timeout="1")
    assert status.phase == "Failed" and status.message == "timed out after 1 s"


def test_stdin_is_closed_and_ipython_shims_work():
    ns = {"val": "hi"}
    job, status, loaded = run_cell(
        "import sys\n%time t = 1 + 1\n!echo shell-{val}\ntry:\n    input()\nexcept EOFError:\n    eof = True", ns)
    assert status.phase == "Succeeded" and ns["t"] == 2 and ns["eof"] is True
    assert "shell-hi" in list(job.logs())


def test_unsupported_magic_says_so():
    _, status, loaded = run_cell("%debug", {})
    assert status.phase == "Failed" and "%debug is not available in a remote %%kf_train cell" in loaded.error["message"]


def test_probing_the_shell_for_an_attribute_it_lacks_is_false_in_a_job():
    """Libraries ask ``hasattr(get_ipython(), "kernel")`` (pandas on import): the job's stand-in shell says no."""
    ns = {}
    _, status, loaded = run_cell("probed = hasattr(get_ipython(), 'kernel')", ns)
    assert status.phase == "Succeeded", loaded.error
    assert ns["probed"] is False


def test_pandas_imports_in_a_job():
    pytest.importorskip("pandas", reason="pandas is in the test extra; the kernel-side matrix venvs lack it")
    ns = {}
    _, status, loaded = run_cell("import pandas as pd\nshape = pd.DataFrame({'a': [1, 2]}).shape", ns)
    assert status.phase == "Succeeded", loaded.error
    assert ns["shape"] == (2, 1)


def test_results_survive_a_new_process(kf_state_dir):
    """After a kernel restart: a fresh interpreter finds the job and gets results, references resolved."""
    data = [1, 2, 3]
    run_cell("pair = (data, len(data))\ndata.append(4)", {"data": data}, name="restart-me")
    code = ("import jupyter_kf as kf; j = kf.job('restart-me'); r = j.results(); "
            "print(r['pair'][0], r['pair'][1], r['data'], r['pair'][0] is r['data'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "JUPYTER_KF_STATE_DIR": str(kf_state_dir)}).stdout
    assert out.strip() == "[1, 2, 3, 4] 3 [1, 2, 3, 4] True"


def test_python_mismatch_is_refused_before_unpickling(kf_state_dir):
    job = api.train("x = 1", name="old-python", user_ns={"v": 1})
    job.wait(timeout=30)
    folder = kf_state_dir / "jobs" / "old-python"
    meta = json.loads((folder / "meta.json").read_text())
    meta["python"] = "3.9"
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "payload.bin").write_bytes(b"KFF1 this would crash any unpickler")
    proc = subprocess.run([sys.executable, str(folder / "runner.py"), str(folder)], capture_output=True, text=True)
    assert proc.returncode == 3
    result = json.loads((folder / "result.json").read_text())
    assert result["error"]["kind"] == "python_mismatch"
    assert "Python 3.9 but this job runs Python 3." in result["error"]["message"]


def test_missing_module_in_the_image_is_named():
    import types

    fake = types.ModuleType("not_installed_anywhere")
    _, status, loaded = run_cell("v = not_installed_anywhere.x", {"not_installed_anywhere": fake})
    assert status.phase == "Failed" and loaded.error["kind"] == "missing_module"
    assert "not_installed_anywhere" in loaded.error["message"] and "--pip" in loaded.error["message"]


def test_local_helper_module_travels_as_source(tmp_path, monkeypatch):
    (tmp_path / "mylocalhelpers.py").write_text("def triple(v):\n    return 3 * v\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    import mylocalhelpers

    try:
        ns = {"mylocalhelpers": mylocalhelpers, "triple": mylocalhelpers.triple}
        _, status, _ = run_cell("a = mylocalhelpers.triple(2)\nb = triple(3)", ns)
        assert status.phase == "Succeeded" and (ns["a"], ns["b"]) == (6, 9)
    finally:
        sys.modules.pop("mylocalhelpers", None)


def test_dry_run_starts_nothing(kf_state_dir):
    dry = api.train("m = fit(X)", name="dry", user_ns={"X": np.zeros(1000), "fit": len}, dry_run=True)
    text = dry.summary()
    assert "X" in text and "7.9 KiB" in text and "nothing was started" in text
    assert not (kf_state_dir / "jobs" / "dry").exists()


def test_unknown_job_and_results_before_the_end():
    with pytest.raises(JobNotFound, match="no job named 'ghost'"):
        api.job("ghost")
    job = api.train("import time\ntime.sleep(20)", name="slow", user_ns={})
    with pytest.raises(KfError, match="still (Pending|Running)"):
        job.results()
    wait_for_phase(job, "Running")
    job.cancel()
    assert job.results() == {}  # partial results of a cancelled job: the cell assigned nothing yet


def test_callables_run_as_jobs():
    job = api.train(lambda: sum(range(10)), name="fn", wait=True)
    assert job.value() == 45


def test_jobs_are_listed_newest_first():
    run_cell("x = 1", {}, name="first")
    run_cell("x = 1", {}, name="second")
    names = [s.name for s in api.jobs()]
    assert names.index("second") <= names.index("first") and set(names) == {"first", "second"}


def test_follow_streams_until_the_job_ends():
    job = api.train("import time\nfor i in range(3):\n    print(f'step={i}', flush=True)\n    time.sleep(0.2)", name="follow",
                    user_ns={})
    assert list(job.logs(follow=True)) == ["step=0", "step=1", "step=2"]
    assert job.status().phase == "Succeeded"


def test_a_line_without_newline_is_not_lost():
    job = api.train("import sys\nsys.stdout.write('no newline at the end')", name="partial-line", user_ns={}, wait=True)
    assert list(job.logs()) == ["no newline at the end"]


def test_cancel_right_after_submit_is_never_lost():
    """A cancel that lands while the supervisor is still starting its workers still stops the job."""
    for i in range(5):
        job = api.train("import time\ntime.sleep(30)", name=f"racy-{i}", user_ns={})
        assert job.cancel().phase == "Cancelled"
