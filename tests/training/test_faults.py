"""The fault matrix of a local job: killed processes, damaged results, a removed folder, racing replaces,
limits. After each, nothing keeps running, every failure is one line, and nothing written is lost.

Jobs signal the test through files (real state); nothing waits on a fixed sleep.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from jupyter_kf import config
from jupyter_kf.errors import KfError, ResultsCorrupt
from jupyter_kf.processes import alive
from jupyter_kf.training import api

# Writes its pid where the test looks, then waits to be stopped.
STUCK = textwrap.dedent("""
    import os, pathlib, time
    pathlib.Path(gate, f"started-{os.environ['RANK']}").write_text(str(os.getpid()))
    while True:
        time.sleep(0.05)
""")


def _until(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.02)


def _started(job, gate: Path, workers=1) -> list[int]:
    """The workers' pids once each is running the cell."""
    files = [gate / f"started-{rank}" for rank in range(workers)]

    def ready():
        assert not job.status().done, f"{job.name} ended before it started: {job.status()}"
        return all(f.exists() and f.read_text() for f in files)

    _until(ready, f"{job.name}'s workers starting")
    return [int(f.read_text()) for f in files]


def _state(job) -> dict:
    return json.loads((config.get().jobs_dir / job.name / "status.json").read_text())


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_kill_9_of_the_supervisor_takes_its_workers_with_it(tmp_path):
    job = api.train(STUCK, name="orphans", user_ns={"gate": str(tmp_path)}, workers=2)
    pids = _started(job, tmp_path, workers=2)
    os.kill(_state(job)["supervisor_pid"], signal.SIGKILL)
    _until(lambda: all(_gone(pid) for pid in pids), "the workers dying with their supervisor")
    status = job.status()
    assert status.phase == "Failed" and "supervisor" in status.message
    job.delete()
    assert not (config.get().jobs_dir / "orphans").exists()


def test_workers_left_by_a_dead_supervisor_are_stopped_by_status_and_delete(tmp_path):
    """Where the kernel cannot kill them with their parent (a supervisor of an older version, macOS)."""
    job = api.train(STUCK, name="leftover", user_ns={"gate": str(tmp_path)})
    [pid] = _started(job, tmp_path)
    folder = config.get().jobs_dir / "leftover"
    state = _state(job)
    # A stand-in worker: a process of the job folder that no PDEATHSIG binds, recorded as the job's worker.
    stray = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)", str(folder)],
                             start_new_session=True)
    try:
        os.kill(state["supervisor_pid"], signal.SIGKILL)
        _until(lambda: _gone(pid), "the real worker dying with its supervisor")
        state["workers"][0]["pid"] = stray.pid
        (folder / "status.json").write_text(json.dumps(state))
        assert alive(stray.pid, str(folder))
        assert job.status().phase == "Failed"
        assert stray.wait(timeout=30) == -signal.SIGKILL
    finally:
        if stray.poll() is None:
            stray.kill()


def test_kill_9_of_a_worker_fails_the_job_in_one_line(tmp_path):
    job = api.train(STUCK, name="killed-worker", user_ns={"gate": str(tmp_path)})
    [pid] = _started(job, tmp_path)
    os.kill(pid, signal.SIGKILL)
    status = job.wait(timeout=60)
    assert status.phase == "Failed" and status.message == "worker 0 exited with code -9"
    error = job.load_results().error
    assert error["message"] == "worker 0 was killed by signal 9 (out of memory?)", error


def test_cancel_still_works_when_the_job_folder_was_removed(tmp_path):
    job = api.train(STUCK, name="no-folder", user_ns={"gate": str(tmp_path)})
    [pid] = _started(job, tmp_path)
    supervisor = _state(job)["supervisor_pid"]
    import shutil

    shutil.rmtree(config.get().jobs_dir / "no-folder")
    status = job.cancel()
    assert status.phase == "Cancelled" and "removed" in status.message
    _until(lambda: _gone(pid) and _gone(supervisor), "the worker and its supervisor ending")


def test_damaged_results_are_one_resultscorrupt_line():
    job = api.train("x = list(range(3))", name="damaged", user_ns={}, wait=True)
    folder = config.get().jobs_dir / "damaged"
    assert job.results() == {"x": [0, 1, 2]}
    pickled = (folder / "result.pkl").read_bytes()
    for damage in (pickled[: len(pickled) // 2], b"not a payload", pickled[:4] + b"\xff" * 40):
        (folder / "result.pkl").write_bytes(damage)
        with pytest.raises(ResultsCorrupt) as corrupt:
            job.results()
        assert "result.pkl" in str(corrupt.value) and "\n" not in str(corrupt.value)
    summary = (folder / "result.json").read_text()
    for damage in (summary[:-5], "\xff\xfe", "[1, 2]"):
        (folder / "result.json").write_bytes(damage.encode("utf-8", "surrogateescape")
                                             if isinstance(damage, str) else damage)
        with pytest.raises(ResultsCorrupt) as corrupt:
            job.results()
        assert "result.json" in str(corrupt.value) and "%kf_logs damaged" in str(corrupt.value)


def test_a_missing_result_pickle_warns_for_each_output():
    job = api.train("x = 1\ny = 2", name="lost-pickle", user_ns={}, wait=True)
    (config.get().jobs_dir / "lost-pickle" / "result.pkl").unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert job.results() == {}
    assert sorted(str(w.message).split("'")[3] for w in caught) == ["x", "y"]


REPLACER = textwrap.dedent("""
    import sys
    from jupyter_kf.training import api
    who = sys.argv[1]
    try:
        api.train(f"who = {who!r}\\nimport time\\nwhile True: time.sleep(0.05)", name="raced", user_ns={}, replace=True)
        print("submitted", who)
    except Exception as err:
        print("refused", who, type(err).__name__, err)
""")


def test_concurrent_replace_of_one_name_submits_exactly_one(kf_state_dir):
    api.train("x = 1", name="raced", user_ns={}, wait=True)  # the finished job all four replace
    env = {**os.environ, "JUPYTER_KF_STATE_DIR": str(kf_state_dir)}
    racers = [subprocess.Popen([sys.executable, "-c", REPLACER, f"p{i}"], env=env, stdout=subprocess.PIPE,
                               text=True) for i in range(4)]
    said = [racer.communicate(timeout=120)[0].strip() for racer in racers]
    submitted = [line.split()[1] for line in said if line.startswith("submitted")]
    assert len(submitted) == 1, said
    job = api.job("raced")
    try:
        assert f"who = '{submitted[0]}'" in job.backend.meta("raced")["source"]
        assert not job.status().done
    finally:
        job.cancel()
    assert [p.name for p in config.get().jobs_dir.iterdir()] == ["raced"]  # no replaced folder left behind


def test_memory_over_the_limit_ends_oomkilled_in_kubernetes_words():
    job = api.train("big = bytearray(600 * 2**20)", name="greedy", user_ns={}, memory="200Mi")
    status = job.wait(timeout=120)
    assert status.phase == "Failed" and "OOMKilled" in status.message and "--memory 200Mi" in status.message
    assert status.workers[0].exit_code == 137 and status.workers[0].message == "OOMKilled"
    error = job.load_results().error
    assert error["kind"] == "oom_killed" and error["message"].startswith("OOMKilled"), error
    small = api.train("small = len(bytearray(20 * 2**20))", name="modest", user_ns={}, memory="200Mi", wait=True)
    assert small.results() == {"small": 20 * 2**20}


def test_cpu_sets_thread_counts_and_affinity():
    cell = "import os\nseen = (os.environ['OMP_NUM_THREADS'], os.environ['OPENBLAS_NUM_THREADS'], len(os.sched_getaffinity(0)))"
    job = api.train(cell, name="one-core", user_ns={}, cpu="500m", wait=True)
    assert job.results()["seen"] == ("1", "1", 1)
    mine = api.train(cell, name="my-threads", user_ns={}, cpu="1", env={"OMP_NUM_THREADS": "3"}, wait=True)
    assert mine.results()["seen"][0] == "3"  # the user's own --env wins


def test_replace_refuses_a_running_job_and_leaves_it_running(tmp_path):
    job = api.train(STUCK, name="busy", user_ns={"gate": str(tmp_path)})
    _started(job, tmp_path)
    try:
        with pytest.raises(KfError, match="still Running: --replace only removes finished jobs"):
            api.train("x = 1", name="busy", user_ns={}, replace=True)
        assert not job.status().done
    finally:
        job.cancel()


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """The state folder on a 3 MiB tmpfs: a real ENOSPC (mounting needs root; skipped elsewhere)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("a full disk is made with a tmpfs mount, which needs root")
    monkeypatch.setenv("JUPYTER_KF_STATE_DIR", str(disk / "state"))
    config.reset()
    yield disk
    config.reset()
    subprocess.run(["umount", "-l", str(disk)], check=True)


def _leftovers(disk: Path) -> list[str]:
    return [str(p) for p in disk.rglob("*") if ".tmp" in p.name]


def test_disk_full_on_submit_names_enospc_and_leaves_nothing(small_disk):
    from jupyter_kf.errors import StateWriteError

    with pytest.raises(StateWriteError) as full:
        api.train("n = len(x)", name="big-in", user_ns={"x": bytes(8 * 2**20)})
    assert "No space left on device (ENOSPC)" in str(full.value) and "nothing was started" in str(full.value)
    assert list((small_disk / "state" / "jobs").iterdir()) == []


def test_disk_full_for_results_fails_the_job_in_one_line_without_temp_files(small_disk):
    job = api.train("big = bytes(8 * 2**20)", name="big-out", user_ns={}, wait=True)
    assert job.status().phase == "Failed"
    error = job.load_results().error
    assert error["kind"] == "write" and "result.pkl: No space left on device (ENOSPC)" in error["message"], error
    assert _leftovers(small_disk) == []


def test_a_log_flood_ends_the_job_and_the_supervisor_records_why(small_disk):
    job = api.train("for i in range(10**6):\n    print('x' * 100)", name="flood", user_ns={}, wait=True)
    status = job.status()
    assert status.phase == "Failed" and "ENOSPC" in status.message, status
    assert "ended unexpectedly" not in status.message
    assert _leftovers(small_disk) == []
