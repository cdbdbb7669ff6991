"""The embedded default: jobs as processes on this machine, one folder per job.

The job folder is the whole record (meta, payload, logs, status, results), so jobs are listed,
followed and fetched again after a kernel restart by reading folders; a supervisor process in its
own session keeps ``status.json`` up to date even when no kernel is watching.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from jupyter_kf import config, processes
from jupyter_kf.errors import InvalidSpec, JobExists, JobNotFound, KfError
from jupyter_kf.processes import alive
from jupyter_kf.terminal import render_line
from jupyter_kf.training.backends import Backend
from jupyter_kf.training.spec import TERMINAL, TrainSpec, check_name
from jupyter_kf.training.status import JobStatus, WorkerStatus

SUPERVISOR = Path(__file__).with_name("local_supervisor.py")
STARTUP_GRACE_SECONDS = 30
WORKERS = "local-workers"  # <state>/local-workers/<name>: the workers of each job not seen ended yet, and .lock


class TooManyWorkers(InvalidSpec):
    """The local workers of the running jobs and this one together are more than this machine allows."""


class LocalBackend(Backend):
    name = "local"

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else config.get().jobs_dir
        self.workers = self.root.parent / WORKERS

    def folder(self, name: str) -> Path:
        folder = self.root / check_name(name)
        if not (folder / "meta.json").is_file():
            raise JobNotFound(f"no job named {name!r} on the local backend: %kf_jobs lists the jobs there")
        return folder

    def prepare(self, spec: TrainSpec) -> Path:
        self._check_workers(spec, 0)  # before anything is written; submit checks again, with the running jobs
        config.private_dir(self.root)
        folder = self.root / check_name(spec.name)
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            phase = self._phase_or_unknown(spec.name)
            raise JobExists(
                f"a job named {spec.name!r} already exists ({phase}): choose another --name, or add --replace "
                "to delete the finished one first"
            ) from None
        return folder

    def _phase_or_unknown(self, name):
        try:
            return self.status(name).phase
        except KfError:
            return "incomplete"

    def submit(self, spec: TrainSpec, bundle: Path) -> None:
        _private_tree(bundle)  # the bundle was written with the umask; the job's own files are 0600 (umask 077)
        with self._workers_lock():
            self._check_workers(spec, self._running_workers())
            active = self.workers / spec.name
            config.write_private(active, str(spec.workers))
            try:
                with config.open_private(bundle / "supervisor.log") as log:
                    subprocess.Popen(
                        [sys.executable, "-I", "-S", str(SUPERVISOR), str(bundle)],
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        close_fds=True,
                        # kf.data in the job uses this notebook's store, also when ipython_config.py sets it
                        env={**os.environ, "JUPYTER_KF_STATE_DIR": str(Path(config.get().state_dir).expanduser())},
                    )
            except BaseException:
                active.unlink(missing_ok=True)
                raise

    def discard(self, spec: TrainSpec, bundle: Path) -> None:
        shutil.rmtree(bundle, ignore_errors=True)
        (self.workers / spec.name).unlink(missing_ok=True)

    # -- the cap on local workers -----------------------------------------------------------------
    def _check_workers(self, spec: TrainSpec, running: int) -> None:
        cap = config.get().max_local_workers()
        if running + spec.workers > cap:
            busy = f" and the running jobs hold {running}" if running else ""
            raise TooManyWorkers(
                f"--workers {spec.workers}: local jobs may run {cap} workers at once on this machine{busy}: ask "
                "for at most "
                f"{max(cap - running, 0)}, wait for a running job to end, or raise c.KfConfig.local_max_workers"
            )

    def _running_workers(self) -> int:
        """Workers of the jobs not ended, all together; entries of jobs that ended are dropped."""
        total = 0
        for entry in list(os.scandir(self.workers)):
            if entry.name.startswith("."):
                continue
            try:
                workers = int(Path(entry.path).read_text() or 0)
                running = not self.status(entry.name).done
            except (OSError, ValueError, KfError):
                running = False
            if running:
                total += workers
            else:
                Path(entry.path).unlink(missing_ok=True)
        return total

    def _workers_lock(self):
        """One submit at a time counts and starts workers (across processes: the REST server, kernels)."""
        import contextlib
        import fcntl

        @contextlib.contextmanager
        def locked():
            with config.open_private(config.private_dir(self.workers) / ".lock") as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(f.fileno(), fcntl.LOCK_UN)

        return locked()

    def meta(self, name: str) -> dict:
        return json.loads((self.folder(name) / "meta.json").read_text())

    def status(self, name: str) -> JobStatus:
        folder = self.folder(name)
        meta = json.loads((folder / "meta.json").read_text())
        return self.status_of(folder, meta)

    def status_of(self, folder: Path, meta: dict) -> JobStatus:
        """The status of the job in ``folder`` (its meta already read: listings read each once)."""
        spec = meta["spec"]
        try:
            state = json.loads((folder / "status.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            state = {"phase": "Pending", "workers": [{"rank": r, "phase": "Pending"} for r in range(spec["workers"])]}
        phase, message = state["phase"], state.get("message", "")
        if phase not in TERMINAL and not self._supervisor_alive(folder, state, meta):
            phase, message = "Failed", "the local supervisor process ended unexpectedly (machine restarted or killed?)"
            self._stop_orphans(folder, state)
        workers = [
            WorkerStatus(
                rank=w["rank"],
                phase=w["phase"] if phase not in TERMINAL or w["phase"] in TERMINAL else phase,
                exit_code=w.get("exit_code"),
                message=w.get("reason", ""),
            )
            for w in state["workers"]
        ]
        return JobStatus(
            name=spec["name"],
            phase=phase,
            backend="local",
            kind="local",
            namespace=None,
            created=meta["created"],
            started=state.get("started"),
            finished=state.get("finished"),
            message=message,
            workers=workers,
            resources={
                "workers": spec["workers"],
                "cpu": spec.get("cpu"),
                "memory": spec.get("memory"),
                "gpus": spec.get("gpus", 0),
            },
        )

    @staticmethod
    def _stop_orphans(folder: Path, state: dict) -> list[int]:
        """Kill the recorded workers of a job whose supervisor is gone (they would run on unwatched)."""
        stopped = []
        for worker in state.get("workers", []):
            pid = worker.get("pid")
            if pid and alive(pid, str(folder)):
                try:
                    os.killpg(pid, signal.SIGKILL)  # each worker leads its own process group
                    stopped.append(pid)
                except (ProcessLookupError, PermissionError):
                    pass
        return stopped

    @staticmethod
    def _supervisor_alive(folder: Path, state: dict, meta: dict) -> bool:
        pid = state.get("supervisor_pid")
        if pid is None:  # not started yet: give it a moment
            return time.time() - meta.get("created_ts", 0) < STARTUP_GRACE_SECONDS
        return alive(pid, str(folder))

    def list(self) -> list[JobStatus]:
        statuses = []
        if not self.root.is_dir():
            return statuses
        for folder in self.root.iterdir():
            if folder.name.startswith("."):  # a replaced job on its way out
                continue
            try:
                meta = json.loads((folder / "meta.json").read_text())
            except (FileNotFoundError, NotADirectoryError, PermissionError, json.JSONDecodeError):
                continue
            statuses.append((meta.get("created_ts", 0), self.status_of(folder, meta)))
        return [status for _, status in sorted(statuses, key=lambda pair: -pair[0])]

    def read_logs(self, name: str, cursor: dict | None = None):
        logs = self.folder(name) / "logs"
        cursor = dict(cursor or {})
        lines = []
        for path in sorted(logs.glob("worker-*.log"), key=lambda p: int(p.stem.split("-")[1])):
            rank = int(path.stem.split("-")[1])
            offset = cursor.get(str(rank), 0)
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1
            if not end:
                continue
            for raw in chunk[:end].split(b"\n")[:-1]:  # not splitlines: a \r redraws a line, it ends none
                lines.append((rank, render_line(raw.decode("utf-8", "replace"))))
            cursor[str(rank)] = offset + end
        return lines, cursor

    def read_tail(self, name: str) -> list[tuple[int, str]]:
        """Lines not ended by a newline yet (a job that died mid-line), for a final flush."""
        tails = []
        for path in sorted((self.folder(name) / "logs").glob("worker-*.log")):
            with open(path, "rb") as f:
                start = max(0, os.fstat(f.fileno()).st_size - 65536)  # a line's end is near the file's end
                f.seek(start)
                chunk = f.read()
            tail = chunk.rsplit(b"\n", 1)[-1]
            if start and len(tail) == len(chunk) and b"\r" in tail:  # a long redrawn line: from a whole redraw
                tail = tail[tail.index(b"\r"):]
            tail = render_line(tail.decode("utf-8", "replace"))
            if tail:
                tails.append((int(path.stem.split("-")[1]), tail))
        return tails

    def cancel(self, name: str) -> JobStatus:
        if not (self.root / check_name(name) / "meta.json").is_file():
            return self._cancel_without_folder(name)
        folder = self.folder(name)
        status = self.status(name)
        if status.done:
            return status
        (folder / "cancel").touch(mode=0o600)  # a supervisor still starting reads this instead of a signal
        signalled = False
        deadline = time.time() + 10
        while time.time() < deadline:
            if not signalled:
                pid = self._read_state(folder).get("supervisor_pid")
                if pid and self._supervisor_alive(folder, {"supervisor_pid": pid}, {}):
                    os.kill(pid, signal.SIGTERM)
                    signalled = True
            status = self.status(name)
            if status.done:
                break
            time.sleep(0.05)
        return status

    @staticmethod
    def _read_state(folder: Path) -> dict:
        try:
            return json.loads((folder / "status.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def _cancel_without_folder(self, name: str) -> JobStatus:
        """A job whose folder was removed while it ran is still found by its supervisor's command line."""
        folder = str(self.root / name)
        pids = processes.find("local_supervisor.py", folder)
        if not pids:
            self.folder(name)  # JobNotFound, with the message users see
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 2 * STARTUP_GRACE_SECONDS
        while time.time() < deadline and any(alive(pid, folder) for pid in pids):
            time.sleep(0.05)
        return JobStatus(name=name, phase="Cancelled", backend="local",
                         message="cancelled; its folder was removed while it ran, so its logs and results are gone")

    def delete(self, name: str) -> None:
        folder = self.folder(name)
        if not self.status(name).done:
            self.cancel(name)
        self._stop_orphans(folder, self._read_state(folder))  # never remove a folder under running workers
        shutil.rmtree(folder, ignore_errors=True)

    def remove_finished(self, name: str) -> None:
        """Checked and moved aside under the submit lock: of several ``--replace`` of one name at once, exactly
        one removes the old job, and none removes another's new one."""
        trash = self.root / f".replaced-{check_name(name)}-{os.getpid()}-{time.monotonic_ns()}"
        with self._workers_lock():
            if not self.replaceable(name):
                return
            os.rename(self.folder(name), trash)
        shutil.rmtree(trash, ignore_errors=True)

    def result_dir(self, name: str) -> Path:
        return self.folder(name)


def _private_tree(folder: Path) -> None:
    """Folders 0700 and files 0600 (rights for the owner only) under ``folder``, itself included."""
    for path in (folder, *folder.rglob("*")):
        if not path.is_symlink():
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
