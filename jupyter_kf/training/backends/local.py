"""The embedded default: jobs as processes on this machine, one folder per job.

The job folder is the whole record (meta, payload, logs, status, results), so jobs are listed,
followed and fetched again after a kernel restart by reading folders; a supervisor process in its
own session keeps ``status.json`` up to date even when no kernel is watching.
"""
from __future__ import annotations

import contextlib
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
from jupyter_kf.training.backends import Backend, local_index
from jupyter_kf.training.spec import TERMINAL, TrainSpec, check_name
from jupyter_kf.training.status import JobStatus, WorkerStatus

SUPERVISOR = Path(__file__).with_name("local_supervisor.py")
STARTUP_GRACE_SECONDS = 30
_built: dict[str, tuple] = {}  # name -> (index line, its JobStatus): a finished job's is built once a process
MAX_WAKES = 64  # wake pipes held for jobs not waited on yet (--no-wait loops), beyond which the oldest are closed
WORKERS = "local-workers"  # <state>/local-workers/<name>: the workers of each job not seen ended yet, and .lock


class TooManyWorkers(InvalidSpec):
    """The local workers of the running jobs and this one together are more than this machine allows."""


class LocalBackend(Backend):
    name = "local"

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else config.get().jobs_dir
        self.workers = self.root.parent / WORKERS
        self._wakes: dict[str, int] = {}  # job -> read end of a pipe its supervisor writes a byte to at each change

    def folder(self, name: str) -> Path:
        folder = self.root / check_name(name)
        if not (folder / "meta.json").is_file():
            raise JobNotFound(f"no job named {name!r} on the local backend: %kf_jobs lists the jobs there")
        return folder

    def prepare(self, spec: TrainSpec) -> Path:
        self._check_workers(spec, 0)  # before anything is written; submit checks again, with the running jobs
        config.private_dir(self.root)
        local_index.keep(self.root)  # the supervisors index their jobs here
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
            from jupyter_kf.training.backends import local_supervisor  # only to start jobs, not to list them

            wake_read, wake_write = os.pipe()
            try:
                with config.open_private(bundle / "supervisor.log") as log:
                    subprocess.Popen(
                        [sys.executable, "-I", "-S", "-c", local_supervisor.SUPERVISOR_BOOTSTRAP, str(SUPERVISOR),
                         local_supervisor.code_cache(str(self.root), str(SUPERVISOR)), str(bundle), str(wake_write)],
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        close_fds=True,
                        pass_fds=(wake_write,),
                        # kf.data in the job uses this notebook's store, also when ipython_config.py sets it
                        env={**os.environ, "JUPYTER_KF_STATE_DIR": str(Path(config.get().state_dir).expanduser())},
                    )
            except BaseException:
                active.unlink(missing_ok=True)
                os.close(wake_read)
                raise
            finally:
                os.close(wake_write)
            self._keep_wake(spec.name, wake_read)

    def __del__(self):
        for fd in getattr(self, "_wakes", {}).values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def _keep_wake(self, name: str, fd: int) -> None:
        """Hold the read end for ``pause``; a handle never waited on lets go of its oldest pipes."""
        os.set_blocking(fd, False)
        old = self._wakes.pop(name, None)  # a job of that name replaced
        if old is not None:
            os.close(old)
        self._wakes[name] = fd
        while len(self._wakes) > MAX_WAKES:
            os.close(self._wakes.pop(next(iter(self._wakes))))

    def pause(self, name: str, seconds: float) -> None:
        """``Job.wait``'s sleep: ends as soon as the supervisor records a change (a byte on the pipe it got at
        submit; end of file when it exits), else after ``seconds`` (jobs started by another process)."""
        import select

        fd = self._wakes.get(name)
        if fd is None:
            time.sleep(seconds)
            return
        poll = select.poll()  # not select(): a kernel may hold more than 1,024 files
        poll.register(fd, select.POLLIN)
        if poll.poll(seconds * 1000):
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                return
            if not chunk:  # the supervisor exited
                os.close(self._wakes.pop(name))

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
        return self._status(meta, self._read_state(folder) or None, folder)

    def _status(self, meta: dict, state: dict | None, folder: Path | None) -> JobStatus:
        """A ``JobStatus`` from meta.json and status.json; ``folder`` None: a finished job's, from the index."""
        spec = meta["spec"]
        if state is None:
            state = {"phase": "Pending", "workers": [{"rank": r, "phase": "Pending"} for r in range(spec["workers"])]}
        if state["phase"] not in TERMINAL and not self._supervisor_alive(folder, state, meta):
            state = self._read_state(folder) or state  # it may have recorded the end, then exited, since the read
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

    def list(self, limit: int | None = None) -> list[JobStatus]:
        """Every job, newest first (the newest ``limit`` only, if given): finished jobs from the index, the
        others (and finished ones not indexed yet, then indexed) from their folders."""
        return [self._row_status(row) for row in self.listing()[:limit]]

    def count_and_list(self, limit: int | None) -> tuple[int, list[JobStatus]]:
        """How many jobs there are, and the newest ``limit`` of them (``%kf_jobs``: only those are built)."""
        rows = self.listing()
        return len(rows), [self._row_status(row) for row in rows[:limit]]

    def list_dicts(self) -> list[dict]:
        """``[s.to_dict() for s in list()]``, with ``pipeline`` ({run, step}) for a pipeline's step, built
        straight from the index for finished jobs (``asdict`` of 10,000 statuses alone would cost 100 ms):
        for a REST server's cold start."""
        return [data for _, data, _ in self.dict_rows()]

    def dict_rows(self):
        """(created_ts, status dict as ``list_dicts`` has it, whether it came from the index) per job, newest
        first: a finished, indexed job's folder is not read."""
        for created_ts, line, meta, state, folder in self.listing():
            if line is not None:
                yield created_ts, _line_dict(line), True
                continue
            data = self._status(meta, state, folder).to_dict()
            if meta.get("pipeline"):
                data["pipeline"] = {k: meta["pipeline"].get(k) for k in ("run", "step")}
            yield created_ts, data, False

    def _row_status(self, row: tuple) -> JobStatus:
        _, line, meta, state, folder = row
        return _from_line(line) if line is not None else self._status(meta, state, folder)

    def listing(self) -> list[tuple]:
        """(created_ts, index line, meta, state, folder) per job, newest first: an indexed finished job has its
        line only, the others their meta, state and folder."""
        try:
            entries = [e for e in os.scandir(self.root) if not e.name.startswith(".") and e.is_dir()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        indexed = local_index.load(self.root)
        rows, unindexed = [], []
        for entry in entries:
            line = indexed.get(entry.name)
            if line is not None and line[local_index.INO] == entry.inode():
                rows.append((line[local_index.CREATED_TS], line, None, None, None))
                continue
            folder = Path(entry.path)
            try:
                meta = json.loads((folder / "meta.json").read_bytes())
            except (OSError, ValueError):
                continue  # a job being written, or not a job
            state = self._read_state(folder) or None
            if state is not None and state.get("phase") in TERMINAL:
                with contextlib.suppress(KeyError, TypeError, AttributeError):  # a damaged one is read each time
                    unindexed.append(local_index.line(entry.name, entry.inode(), meta, state))
            rows.append((meta.get("created_ts", 0), None, meta, state, folder))
        local_index.add(self.root, unindexed)
        if local_index.needs_compaction(self.root, len(entries)):
            local_index.compact(self.root, {entry.name for entry in entries})
        rows.sort(key=lambda row: -row[0])
        return rows

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
        local_index.forget(self.root, name)

    def remove_finished(self, name: str) -> None:
        """Checked and moved aside under the submit lock: of several ``--replace`` of one name at once, exactly
        one removes the old job, and none removes another's new one."""
        trash = self.root / f".replaced-{check_name(name)}-{os.getpid()}-{time.monotonic_ns()}"
        with self._workers_lock():
            if not self.replaceable(name):
                return
            os.rename(self.folder(name), trash)
        local_index.forget(self.root, name)
        shutil.rmtree(trash, ignore_errors=True)

    def result_dir(self, name: str) -> Path:
        return self.folder(name)


def _from_line(line: list) -> JobStatus:
    """A finished job's status from its index line (``local_index.line``); the same object for the same line,
    as a finished job's status never changes (listings hand out finished statuses to read, not to change)."""
    known = _built.get(line[0])
    if known is not None and known[0] is line:
        return known[1]
    status = _build(line)
    _built[line[0]] = (line, status)
    return status


def _build(line: list) -> JobStatus:
    name, _, _, created, workers, cpu, memory, gpus, _, phase, started, finished, message, ranks = line
    return JobStatus(name, phase, "local", "local", None, created, started, finished, message,
                     [WorkerStatus(rank, wphase, code, reason) for rank, wphase, code, reason in ranks],
                     {"workers": workers, "cpu": cpu, "memory": memory, "gpus": gpus})


def _line_dict(line: list) -> dict:
    """``_from_line(line).to_dict()``, and the pipeline step it is, without building the dataclasses."""
    name, _, _, created, workers, cpu, memory, gpus, pipeline, phase, started, finished, message, ranks = line
    data = {"name": name, "phase": phase, "backend": "local", "kind": "local", "namespace": None, "created": created,
            "started": started, "finished": finished, "message": message,
            "workers": [{"rank": rank, "phase": wphase, "exit_code": code, "message": reason}
                        for rank, wphase, code, reason in ranks],
            "resources": {"workers": workers, "cpu": cpu, "memory": memory, "gpus": gpus}}
    if pipeline:
        data["pipeline"] = pipeline
    return data


def _private_tree(folder: Path) -> None:
    """Folders 0700 and files 0600 (rights for the owner only) under ``folder``, itself included."""
    for path in (folder, *folder.rglob("*")):
        if not path.is_symlink():
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
