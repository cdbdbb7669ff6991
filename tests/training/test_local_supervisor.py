"""The local supervisor (jupyter_kf/training/backends/local_supervisor.py): several workers, several jobs.

Workers wait on files the test creates (real state), never on a fixed sleep.
"""
import textwrap

from jupyter_kf.training import api

# Rank 0 holds MASTER_PORT as torch's TCPStore would, until the test releases it; rank 1 connects to it.
RENDEZVOUS = textwrap.dedent("""
    import os, pathlib, socket, time
    gate = pathlib.Path(gate)
    port = int(os.environ["MASTER_PORT"])
    if os.environ["RANK"] == "0":
        server = socket.socket()
        server.bind(("127.0.0.1", port))
        server.listen()
        (gate / (os.environ["KF_JOB_NAME"] + "-bound")).touch()
        server.accept()[0].close()  # rank 1 reached it
        while not (gate / "release").exists():
            time.sleep(0.01)
        server.close()
    else:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except ConnectionRefusedError:
                time.sleep(0.01)
""")


def _wait_for(path, job):
    """Until ``path`` exists; fails at once if the job ends first."""
    import time

    deadline = time.monotonic() + 30
    while not path.exists():
        status = job.status()
        assert not status.done, f"{job.name} ended before {path.name} appeared: {status}"
        assert time.monotonic() < deadline, f"{path.name} never appeared: {status}"
        time.sleep(0.01)


def test_two_multi_worker_jobs_at_once_get_their_own_master_port(tmp_path):
    ns = {"gate": str(tmp_path)}
    first = api.train(RENDEZVOUS, name="port-a", user_ns=ns, workers=2)
    try:
        _wait_for(tmp_path / "port-a-bound", first)
        second = api.train(RENDEZVOUS, name="port-b", user_ns=ns, workers=2)
        _wait_for(tmp_path / "port-b-bound", second)  # its rank 0 could bind while the first job holds its port
    finally:
        (tmp_path / "release").touch()
    for job in (first, second):
        status = job.wait(timeout=60)
        assert status.phase == "Succeeded", (status, list(job.logs()))


def test_a_failing_worker_terminates_the_others(tmp_path):
    """Rank 0 would wait forever: only the supervisor stopping it ends the job."""
    source = textwrap.dedent("""
        import os, pathlib, time
        gate = pathlib.Path(gate)
        if os.environ["RANK"] == "1":
            while not (gate / "rank0-started").exists():
                time.sleep(0.01)
            raise SystemExit(7)
        (gate / "rank0-started").touch()
        while not (gate / "release").exists():
            time.sleep(0.01)
    """)
    job = api.train(source, name="fail-fast", user_ns={"gate": str(tmp_path)}, workers=2)
    try:
        status = job.wait(timeout=30)
    finally:
        (tmp_path / "release").touch()  # lets a worker that was never stopped end
    assert status.phase == "Failed" and status.message == "worker 1 exited with code 7"
    exits = {w.rank: w.exit_code for w in status.workers}
    assert exits[1] == 7 and exits[0] not in (0, None)  # rank 0 was stopped, not released
