"""Watches over one local job: ``python -I -S local_supervisor.py JOB_DIR``.

Started in its own session so the job outlives the kernel that submitted it. It starts one runner
process per worker with the distributed env contract a cluster gives (RANK, WORLD_SIZE, MASTER_*,
PET_*), sends each worker's output to ``logs/worker-N.log``, and records the job's phase in
``status.json`` (atomically) until every worker has ended. Stdlib only, imports nothing else.

It trusts the folder no further than its owner: a folder (or meta, payload, runner) that is not this
user's, or that others may write to, is refused, and the workers run the installed runner with this
interpreter, never a program or interpreter the folder names (a pipeline step's program excepted: it
is the pipeline's own code, in a folder checked as ours). Everything the job writes is 0600 (umask 077).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

GRACE_SECONDS = 5
RUNNER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "runner.py")
# Runs RUNNER as ``python RUNNER JOB_DIR`` would, with the job folder (not the package) first on sys.path.
BOOTSTRAP = ("import sys; __file__ = sys.argv[1]; del sys.argv[0]; sys.path[0] = sys.argv[1]; "
             "exec(compile(open(__file__, 'rb').read(), __file__, 'exec'))")


class Refused(Exception):
    pass


def check_owned(path):
    """Refuse a path that is not this user's or that group or others may write to."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if hasattr(os, "geteuid") and (st.st_uid != os.geteuid() or st.st_mode & 0o022):
        raise Refused(f"jupyter_kf supervisor: refusing {path}: it is owned by uid {st.st_uid} with mode "
                      f"{st.st_mode & 0o7777:04o}, not yours alone: nothing was run")


def now():
    """RFC 3339 with milliseconds: a one-second job's duration is shown in tenths."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class Supervisor:
    def __init__(self, job_dir):
        self.dir = job_dir
        for name in ("", "meta.json", "payload.bin", "runner.py", "step-args.json", "src"):
            check_owned(os.path.join(job_dir, name))
        with open(os.path.join(job_dir, "meta.json")) as f:
            self.meta = json.load(f)
        spec = self.meta["spec"]
        self.count = int(spec["workers"])
        self.timeout = spec.get("timeout")
        self.status = {
            "phase": "Pending",
            "started": None,
            "finished": None,
            "message": "",
            "supervisor_pid": os.getpid(),
            "workers": [{"rank": r, "phase": "Pending", "exit_code": None, "pid": None} for r in range(self.count)],
        }
        self.procs = {}
        self.stopping = None  # "Cancelled" or "timeout" once asked to stop

    def write(self):
        tmp = os.path.join(self.dir, f"status.json.tmp{os.getpid()}")
        with open(tmp, "w") as f:
            json.dump(self.status, f)
        os.replace(tmp, os.path.join(self.dir, "status.json"))

    def env(self, rank, port):
        env = dict(os.environ)
        env.update(self.meta["spec"].get("env") or {})
        world = str(self.count)
        env.update({
            "RANK": str(rank), "WORLD_SIZE": world, "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
            "GROUP_RANK": str(rank), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
            "PET_NNODES": world, "PET_NPROC_PER_NODE": "1", "PET_NODE_RANK": str(rank),
            "PET_MASTER_ADDR": "127.0.0.1", "PET_MASTER_PORT": str(port),
            "JOB_COMPLETION_INDEX": str(rank), "KF_JOB_NAME": self.meta["spec"]["name"],
            "PYTHONUNBUFFERED": "1",
        })
        if not self.meta["spec"].get("gpus"):
            env.setdefault("CUDA_VISIBLE_DEVICES", "")
        return env

    def start(self):
        logs = os.path.join(self.dir, "logs")
        os.makedirs(logs, exist_ok=True)
        port = free_port()
        if self.meta.get("pipeline"):  # a pipeline step runs the program its pipeline carries
            command = [sys.executable, "-u", os.path.join(self.dir, "runner.py"), self.dir]
        else:
            command = [sys.executable, "-u", "-c", BOOTSTRAP, RUNNER, self.dir]
        for rank in range(self.count):
            with open(os.path.join(logs, f"worker-{rank}.log"), "ab") as out:
                proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, env=self.env(rank, port), cwd=self.dir,
                                        start_new_session=True)
            self.procs[proc.pid] = rank
            self.status["workers"][rank].update(phase="Running", pid=proc.pid)
        self.status.update(phase="Running", started=now())
        self.write()

    def stop(self, why):
        if self.stopping is None:
            self.stopping = why
        for pid in list(self.procs):
            kill_group(pid, signal.SIGTERM)
        signal.signal(signal.SIGALRM, lambda *_: [kill_group(p, signal.SIGKILL) for p in list(self.procs)])
        signal.alarm(GRACE_SECONDS)

    def run(self):
        signal.signal(signal.SIGTERM, lambda *_: self.stop("Cancelled"))
        signal.signal(signal.SIGINT, lambda *_: self.stop("Cancelled"))
        if os.path.exists(os.path.join(self.dir, "cancel")):
            self.status.update(phase="Cancelled", finished=now(), message="cancelled before it started")
            return self.write()
        self.start()
        if os.path.exists(os.path.join(self.dir, "cancel")):  # asked while the workers were starting
            self.stop("Cancelled")
        if self.timeout:
            signal.signal(signal.SIGALRM, lambda *_: self.stop("timeout"))
            signal.setitimer(signal.ITIMER_REAL, float(self.timeout))
        failed = None
        while self.procs:
            try:
                pid, code = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                continue
            rank = self.procs.pop(pid, None)
            if rank is None:
                continue
            code = os.waitstatus_to_exitcode(code)
            worker = self.status["workers"][rank]
            worker.update(exit_code=code, phase="Succeeded" if code == 0 else "Failed")
            if rank == 0:
                self.ensure_result(code)
            if code != 0 and failed is None and self.stopping is None:
                failed = (rank, code)
                self.stop("failed")
            self.write()
        self.finish(failed)

    def ensure_result(self, code):
        """Rank 0 always leaves a result.json, even when it died before its runner could write one."""
        path = os.path.join(self.dir, "result.json")
        if os.path.exists(path):
            return
        if self.stopping:
            message = "the job was stopped before the cell started"
        elif code < 0:
            message = f"worker 0 was killed by signal {-code}" + (" (out of memory?)" if code == -9 else "")
        else:
            message = f"worker 0 exited with code {code} before writing results"
        result = {"status": "error", "rank": 0, "outputs": [], "mutated": [], "deleted": [], "imports": {},
                  "unpicklable": {}, "has_value": False, "exit_code": code,
                  "error": {"kind": "terminated" if self.stopping else "crashed", "message": message, "traceback": ""}}
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(result, f)
        os.replace(tmp, path)

    def finish(self, failed):
        if self.stopping == "Cancelled":
            phase, message = "Cancelled", "cancelled by the user"
        elif self.stopping == "timeout":
            phase, message = "Failed", f"timed out after {self.timeout:g} s"
        elif failed:
            phase, message = "Failed", f"worker {failed[0]} exited with code {failed[1]}"
        else:
            phase, message = "Succeeded", ""
        for worker in self.status["workers"]:
            if worker["phase"] in ("Pending", "Running") or (phase == "Cancelled" and worker["exit_code"] not in (0,)):
                worker["phase"] = "Cancelled" if phase == "Cancelled" else worker["phase"]
        self.status.update(phase=phase, finished=now(), message=message)
        self.write()


def kill_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(job_dir):
    os.umask(0o077)
    try:
        supervisor = Supervisor(job_dir)
    except Refused as err:
        print(err, file=sys.stderr, flush=True)
        return 2
    supervisor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
