"""Listing local jobs from the index of finished jobs: fast, and never wrong about a job."""
import json
import os
import subprocess
import sys
import textwrap
import time

from jupyter_kf import cli, config
from jupyter_kf.processes import alive
from jupyter_kf.training import api
from jupyter_kf.training.backends import local_index
from jupyter_kf.training.backends.local import LocalBackend
from jupyter_kf.training.backends.local_supervisor import index_line
from tests.support.helpers import wait_for_phase


def finished(root, name, ts, phase="Succeeded"):
    """A finished job's folder as its supervisor leaves it, written directly."""
    folder = root / name
    folder.mkdir(parents=True, mode=0o700)
    meta = {"spec": {"name": name, "workers": 1, "cpu": None, "memory": "1Gi", "gpus": 0},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)), "created_ts": ts}
    state = {"phase": phase, "started": "2025-01-01T00:00:00.000Z", "finished": "2025-01-01T00:00:01.500Z",
             "message": "", "supervisor_pid": 1, "workers": [{"rank": 0, "phase": phase, "exit_code": 0, "pid": 2}]}
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "status.json").write_text(json.dumps(state))
    return folder


def index_lines(root):
    path = root.parent / "jobs.index"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_finished_job_is_listed_from_its_supervisors_index_line(kf_state_dir):
    job = api.train("b = 1", name="indexed", user_ns={})
    job.wait(timeout=60)
    root = kf_state_dir / "jobs"
    supervisor = json.loads((root / "indexed" / "status.json").read_text())["supervisor_pid"]
    while alive(supervisor, str(root / "indexed")):  # it indexes the job, then exits
        time.sleep(0.01)
    lines = [line for line in index_lines(root) if line[0] == "indexed"]
    assert len(lines) == 1 and lines[0][9] == "Succeeded"  # written by the supervisor as the job ended
    folder = root / "indexed"
    meta, state = json.loads((folder / "meta.json").read_text()), json.loads((folder / "status.json").read_text())
    assert lines[0] == local_index.line("indexed", os.stat(folder).st_ino, meta, state)  # the twins agree
    assert index_line("indexed", 7, meta, {**state, "phase": "Failed"}) == local_index.line(
        "indexed", 7, meta, {**state, "phase": "Failed"})
    (folder / "status.json").write_text("damaged")  # a listing that read the folder would say Pending
    assert [(s.name, s.phase, s.resources["workers"]) for s in api.jobs()] == [("indexed", "Succeeded", 1)]
    assert oct(os.stat(root.parent / "jobs.index").st_mode & 0o777) == "0o600"


def test_a_new_job_is_listed_at_once_and_a_running_one_never_stale(tmp_path):
    release = tmp_path / "go"
    api.jobs()  # the index read once: the new job must still appear
    job = api.train(f"import os, time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.02)", name="slow",
                    user_ns={})
    assert [s.name for s in api.jobs()] == ["slow"]
    wait_for_phase(job, "Running")
    assert api.jobs()[0].phase == "Running"
    release.touch()
    job.wait(timeout=60)
    assert api.jobs()[0].phase == "Succeeded"


def test_finished_jobs_not_indexed_yet_are_read_once_then_indexed(kf_state_dir):
    root = kf_state_dir / "jobs"
    for i in range(3):
        finished(root, f"old-{i}", 1_700_000_000 + i)
    assert [s.name for s in api.jobs()] == ["old-2", "old-1", "old-0"]
    assert sorted(line[0] for line in index_lines(root)) == ["old-0", "old-1", "old-2"]
    for i in range(3):
        (root / f"old-{i}" / "meta.json").write_text("{}")  # unreadable now: only the index can list them
    assert [s.message for s in LocalBackend(root).list()] == ["", "", ""]
    assert len(LocalBackend(root).list()) == 3


def test_a_deleted_job_leaves_a_tombstone_and_a_new_one_of_its_name_is_read_from_its_folder(kf_state_dir):
    root = kf_state_dir / "jobs"
    finished(root, "same", 1_700_000_000)
    assert api.jobs()[0].phase == "Succeeded"
    api.job("same").delete()
    assert index_lines(root)[-1] == ["same", None]
    assert "same" not in local_index.load(root)
    folder = finished(root, "same", 1_700_000_100, phase="Failed")
    stale = local_index.line("same", os.stat(folder).st_ino, {"spec": {"name": "same", "workers": 1},
                                                               "created_ts": 1_700_000_000}, {"phase": "Succeeded",
                                                                                              "workers": []})
    local_index.add(root, [stale])  # a listing that read the old job before the delete: refused under the lock
    assert [s.phase for s in api.jobs()] == ["Failed"]


def test_damaged_and_torn_lines_are_skipped(kf_state_dir):
    root = kf_state_dir / "jobs"
    finished(root, "a", 1_700_000_000)
    api.jobs()
    with open(root.parent / "jobs.index", "a") as f:
        f.write('["b", 1, oops\n["c", 2')  # a damaged line, and one still being appended
    finished(root, "b", 1_700_000_001, phase="Failed")
    assert [(s.name, s.phase) for s in api.jobs()] == [("b", "Failed"), ("a", "Succeeded")]


def test_writers_in_several_processes_append_whole_lines(kf_state_dir):
    root = kf_state_dir / "jobs"
    root.mkdir(parents=True)
    local_index.keep(root)
    writer = textwrap.dedent("""
        import sys
        from pathlib import Path
        from jupyter_kf.training.backends import local_index
        root, who = Path(sys.argv[1]), sys.argv[2]
        meta = {"spec": {"name": "x", "workers": 1}, "created_ts": 0}
        for i in range(200):
            (root / f"{who}-{i}").mkdir()
            (root / f"{who}-{i}" / "meta.json").write_text('{"created_ts": 0}')
            line = local_index.line(f"{who}-{i}", 1, meta, {"phase": "Failed", "message": "m" * 500, "workers": []})
            local_index.add(root, [line])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(root), f"w{n}"]) for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert len(index_lines(root)) == 800  # every line parses: none interleaved
    assert len(local_index.load(root)) == 800


def test_the_index_is_compacted_when_mostly_dead(kf_state_dir):
    root = kf_state_dir / "jobs"
    finished(root, "kept", 1_700_000_000)
    api.jobs()
    for i in range(2 * local_index.COMPACT_SLACK):
        local_index.forget(root, f"gone-{i}")
    assert len(index_lines(root)) > 2 * local_index.COMPACT_SLACK
    assert [s.name for s in api.jobs()] == ["kept"]
    assert [line[0] for line in index_lines(root)] == ["kept"]
    assert [s.name for s in api.jobs()] == ["kept"]


def test_the_table_shows_the_newest_twenty_and_says_how_many_are_hidden(kf_state_dir, capsys):
    root = kf_state_dir / "jobs"
    for i in range(25):
        finished(root, f"job-{i:02d}", 1_700_000_000 + i)
    assert cli.main(["jobs"]) == 0
    out = capsys.readouterr().out
    assert "job-24" in out and "job-05" in out and "job-04" not in out
    assert "5 older jobs not shown: jupyter kf jobs --all shows every job, --limit N the newest N" in out
    assert cli.main(["jobs", "--all"]) == 0
    out = capsys.readouterr().out
    assert "job-00" in out and "not shown" not in out
    assert cli.main(["jobs", "--limit", "2"]) == 0
    assert "23 older jobs not shown" in capsys.readouterr().out
    assert cli.main(["jobs", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 25  # machine-readable: every job unless --limit
    total, shown = api.newest_jobs(3)
    assert total == 25 and [s.name for s in shown] == ["job-24", "job-23", "job-22"]


def test_kf_jobs_magic_limits_by_default():
    from IPython.core.interactiveshell import InteractiveShell

    root = config.get().jobs_dir
    for i in range(21):
        finished(root, f"m-{i:02d}", 1_700_000_000 + i)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "jupyter_kf")
    table = shell.run_line_magic("kf_jobs", "")
    assert [s.name for s in table.statuses][:2] == ["m-20", "m-19"] and len(table.statuses) == 20
    assert "1 older job not shown: %kf_jobs --all" in repr(table)
    assert len(shell.run_line_magic("kf_jobs", "--all").statuses) == 21


def test_status_dicts_for_a_server_are_the_statuses_as_dicts(kf_state_dir):
    root = kf_state_dir / "jobs"
    finished(root, "plain", 1_700_000_000)
    step = finished(root, "step", 1_700_000_001, phase="Failed")
    meta = json.loads((step / "meta.json").read_text())
    (step / "meta.json").write_text(json.dumps({**meta, "pipeline": {"run": "r1", "step": "s", "other": 1}}))
    running = api.train("import time\ntime.sleep(30)", name="running", user_ns={})
    backend = LocalBackend(root)
    for _ in range(2):  # the first time from the folders, then from the index
        dicts = backend.list_dicts()
        assert [d.pop("pipeline", None) for d in dicts] == [None, {"run": "r1", "step": "s"}, None]
        assert dicts == [s.to_dict() for s in backend.list()]
    running.cancel()


def test_a_supervisor_ending_between_the_read_and_the_check_is_not_taken_for_dead(kf_state_dir, monkeypatch):
    root = kf_state_dir / "jobs"
    folder = finished(root, "racy", time.time())
    done = (folder / "status.json").read_text()
    running = json.loads(done)
    running.update(phase="Running", supervisor_pid=2**22 + 7, workers=[{"rank": 0, "phase": "Running", "pid": None}])
    (folder / "status.json").write_text(json.dumps(running))
    backend = LocalBackend(root)

    def ends_now(*_):  # it records the end and exits just after the status was read
        (folder / "status.json").write_text(done)
        return False

    monkeypatch.setattr(backend, "_supervisor_alive", ends_now)
    assert backend.status("racy").phase == "Succeeded"
    (folder / "status.json").write_text(json.dumps(running))
    monkeypatch.setattr(backend, "_supervisor_alive", lambda *_: False)  # gone for good: failed, said so
    assert "ended unexpectedly" in backend.status("racy").message
