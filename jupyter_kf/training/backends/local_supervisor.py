"""Watches over one local job: ``python -I -S local_supervisor.py JOB_DIR``.

Started in its own session so the job outlives the kernel that submitted it. It starts one runner
process per worker with the distributed env contract a cluster gives (RANK, WORLD_SIZE, MASTER_*,
PET_*), sends each worker's output to ``logs/worker-N.log``, and records the job's phase in
``status.json`` (atomically) until every worker has ended. Stdlib only, imports nothing else.

It trusts the folder no further than its owner: a folder (or meta, payload, runner) that is not this
user's, or that others may write to, is refused, and the workers run the installed runner with this
interpreter, never a program or interpreter the folder names (a pipeline step's program excepted: it
is the pipeline's own code, in a folder checked as ours); its compiled code is kept in the state folder,
and loaded only from a file of this user's that no one else may write to. Everything the job writes is 0600
(umask 077).

Workers die with their supervisor (``PR_SET_PDEATHSIG`` on Linux): a ``kill -9`` of it leaves nothing
running. ``--memory`` and ``--cpu`` apply as a pod's limits would: a data-size limit (a job over it ends
``OOMKilled``, exit code 137) and the thread-count variables plus CPU affinity.
"""
# Not signal, json, socket, subprocess: what they import (enum, re, selectors, threading) would cost more than
# the rest of this supervisor's start together, and a job waits for it.
import _signal as signal
import errno
import math
import os
import sys
import time

GRACE_SECONDS = 5
STATUS_PADDING = 4096  # status.json's size: room to record a failure in place when the disk is full
INDEX, INDEX_LOCK = ".index", ".index.lock"  # local_index's files, beside the jobs folder: <state>/jobs.index
TERMINAL = ("Succeeded", "Failed", "Cancelled")
EXIT_OOM = 137  # what Kubernetes reports for a container killed over its memory limit
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")
QUANTITY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
                     "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "m": 1e-3}
RUNNER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "runner.py")
# Runs RUNNER as ``python RUNNER JOB_DIR`` would, with the job folder (not the package) first on sys.path. Its
# compiled code is kept beside the jobs folder (CODE_CACHE; as a __pycache__ would, which a package installed
# read-only or PYTHONDONTWRITEBYTECODE lacks): compiling the runner costs a trivial job as much as its imports.
LOADER = """\
import sys
def _code(path, cache):
    import marshal, os
    if cache:
        try:
            with open(cache, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_uid == os.geteuid() and not st.st_mode & 0o022:
                    return marshal.load(f)
        except (OSError, ValueError, EOFError, TypeError):
            pass
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    if cache:
        tmp = f"{cache}.tmp{os.getpid()}"
        try:
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                marshal.dump(code, f)
            os.replace(tmp, cache)
        except OSError:
            pass
    return code
__file__, _cache = sys.argv[1], sys.argv.pop(2)
del sys.argv[0]
"""
_RUN = "_run = _code(__file__, _cache)\ndel _code, _cache\nexec(_run)\n"
BOOTSTRAP = LOADER + "sys.path[0] = sys.argv[1]\n" + _RUN  # python -c BOOTSTRAP RUNNER CACHE JOB_DIR
SUPERVISOR_BOOTSTRAP = LOADER + _RUN  # python -I -S -c SUPERVISOR_BOOTSTRAP THIS_FILE CACHE JOB_DIR WAKE_FD


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


def quantity(text):
    """A Kubernetes quantity (``8Gi``, ``500m``, ``1.5``) as a number; the spec checked its form already."""
    text = str(text)
    for suffix in sorted(QUANTITY_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * QUANTITY_SUFFIXES[suffix]
    return float(text)


def now():
    """RFC 3339 with milliseconds: a one-second job's duration is shown in tenths."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class Supervisor:
    def __init__(self, job_dir, wake=None):
        self.dir = job_dir
        self.wake = wake  # a pipe to the submitting kernel: a byte at each status change, closed at exit
        for name in ("", "meta.json", "payload.bin", "runner.py", "step-args.json", "src"):
            check_owned(os.path.join(job_dir, name))
        with open(os.path.join(job_dir, "meta.json"), "rb") as f:
            self.meta = json_loads(f.read())
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
        memory = spec.get("memory")
        self.memory_limit = int(quantity(memory)) if memory else None
        self.procs = {}
        self.stopping = None  # "Cancelled" or "timeout" once asked to stop
        self.write_error = None  # the first status write that failed (disk full, folder removed)

    def write(self, notify=True):
        """Record the status atomically. A write that fails (disk full, the folder removed) never stops the
        supervisor: its workers are still watched, cancelled and reaped. The error is recorded, if need be
        over the old status in place (``status.json`` is padded, so that rewrite needs no new disk blocks)."""
        text = json_dumps(self.status).ljust(STATUS_PADDING)
        path = os.path.join(self.dir, "status.json")
        try:
            save(path, text)
            if notify:
                self.notify()
        except OSError as err:
            if self.write_error is None:
                self.write_error = f"{err.strerror or err} ({errno.errorcode.get(err.errno, '?')}) writing {path}"
                say(f"cannot record the status: {self.write_error}")
            try:
                with open(path, "r+") as f:
                    f.write(text)
                    f.truncate()
            except OSError:
                pass

    def notify(self):
        """Wake the kernel waiting on this job (never blocks; a kernel gone or not reading is no error)."""
        if self.wake is not None:
            try:
                os.write(self.wake, b".")
            except OSError:
                pass

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
        cpu = self.meta["spec"].get("cpu")
        if cpu:
            threads = str(max(1, math.ceil(quantity(cpu))))
            for name in THREAD_VARIABLES:
                env.setdefault(name, threads)  # the user's own --env wins
        if self.memory_limit:
            env["KF_MEMORY_LIMIT"] = str(self.meta["spec"]["memory"])
        return env

    def cpus(self, rank):
        """The cores worker ``rank`` may run on: ``--cpu`` of them (rounded up), workers spread round robin."""
        cpu = self.meta["spec"].get("cpu")
        if not cpu or not hasattr(os, "sched_getaffinity"):
            return None
        available = sorted(os.sched_getaffinity(0))
        count = min(len(available), max(1, math.ceil(quantity(cpu))))
        return {available[(rank * count + i) % len(available)] for i in range(count)}

    def limits(self, rank):
        """What runs in the worker between fork and exec: die with the supervisor, then the pod's limits."""
        parent, memory, cpus = os.getpid(), self.memory_limit, self.cpus(rank)

        def apply():
            die_with_parent(parent)
            if memory:
                import resource

                which = getattr(resource, "RLIMIT_DATA" if sys.platform.startswith("linux") else "RLIMIT_AS")
                resource.setrlimit(which, (memory, memory))
            if cpus:
                os.sched_setaffinity(0, cpus)

        return apply

    def start(self):
        logs = os.path.join(self.dir, "logs")
        os.makedirs(logs, exist_ok=True)
        port = free_port()
        if self.meta.get("pipeline"):  # a pipeline step runs the program its pipeline carries
            command = [sys.executable, "-u", os.path.join(self.dir, "runner.py"), self.dir]
        else:
            root = os.path.dirname(os.path.abspath(self.dir))
            command = [sys.executable, "-u", "-c", BOOTSTRAP, RUNNER, code_cache(root, RUNNER), self.dir]
        for rank in range(self.count):
            pid = spawn(command, self.env(rank, port), self.dir, os.path.join(logs, f"worker-{rank}.log"),
                        self.limits(rank))
            self.procs[pid] = rank
            self.status["workers"][rank].update(phase="Running", pid=pid)
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
            if self.memory_limit and code == EXIT_OOM:
                worker.update(exit_code=EXIT_OOM, reason="OOMKilled")
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
        elif self.memory_limit and code == EXIT_OOM:
            message = f"worker 0 was OOMKilled: it needed more than --memory {self.meta['spec']['memory']}"
        elif code < 0:
            message = f"worker 0 was killed by signal {-code}" + (" (out of memory?)" if code == -9 else "")
        else:
            message = f"worker 0 exited with code {code} before writing results"
        result = {"status": "error", "rank": 0, "outputs": [], "mutated": [], "deleted": [], "imports": {},
                  "unpicklable": {}, "has_value": False, "exit_code": code,
                  "error": {"kind": "terminated" if self.stopping else "crashed", "message": message, "traceback": ""}}
        try:
            save(path, json_dumps(result))
        except OSError as err:
            say(f"cannot write {path}: {err}")

    def finish(self, failed):
        if self.stopping == "Cancelled":
            phase, message = "Cancelled", "cancelled by the user"
        elif self.stopping == "timeout":
            phase, message = "Failed", f"timed out after {self.timeout:g} s"
        elif failed and self.status["workers"][failed[0]].get("reason") == "OOMKilled":
            phase, message = "Failed", (f"worker {failed[0]} was OOMKilled (exit code {EXIT_OOM}): it needed more "
                                        f"than its memory limit --memory {self.meta['spec']['memory']}")
        elif failed:
            phase, message = "Failed", f"worker {failed[0]} exited with code {failed[1]}"
        else:
            phase, message = "Succeeded", ""
        if self.write_error:
            unrecorded = f"the supervisor could not record its status: {self.write_error}"
            message = f"{message}; {unrecorded}" if message else unrecorded
        for worker in self.status["workers"]:
            if worker["phase"] in ("Pending", "Running") or (phase == "Cancelled" and worker["exit_code"] not in (0,)):
                worker["phase"] = "Cancelled" if phase == "Cancelled" else worker["phase"]
        self.status.update(phase=phase, finished=now(), message=message)
        self.write(notify=False)
        if not self.write_error:
            self.index()
        self.notify()  # after the index: a listing once the kernel's wait returns finds the job indexed

    def index(self):
        """Add this finished job to its jobs folder's index (``local_index``: the same line and lock), so that
        listings need not read its folder. Only under a jobs folder that keeps one, and only while the folder
        is still this job's; the index is a cache, so any failure here just leaves the job to be read."""
        root = os.path.dirname(os.path.abspath(self.dir))
        try:
            import fcntl

            fd = os.open(root + INDEX_LOCK, os.O_WRONLY | os.O_CLOEXEC)
        except (OSError, ImportError):
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with open(os.path.join(self.dir, "meta.json"), "rb") as f:
                if json_loads(f.read()).get("created_ts", 0) != self.meta.get("created_ts", 0):
                    return  # deleted, and a job of the same name created since
            line = index_line(os.path.basename(os.path.abspath(self.dir)), os.stat(self.dir).st_ino, self.meta,
                              self.status)
            out = os.open(root + INDEX, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.write(out, (json_dumps(line, compact=True) + "\n").encode())
            finally:
                os.close(out)
        except (OSError, ValueError) as err:
            say(f"could not index the job (listings read its folder instead): {err}")
        finally:
            os.close(fd)


def code_cache(root, path):
    """Where the compiled code of ``path`` (the runner, this supervisor) is kept beside the jobs folder ``root``,
    for this interpreter and this version of the file (its size and time in the name, as a .pyc checks them);
    "" (compile each time) outside a jobs folder with an index."""
    try:
        st = os.stat(path)
        if not os.path.exists(root + INDEX_LOCK):
            return ""
    except OSError:
        return ""
    stem = os.path.splitext(os.path.basename(path))[0]
    return f"{root}.{stem}-{sys.implementation.cache_tag}-{st.st_mtime_ns}-{st.st_size}.code"


def index_line(name, ino, meta, state):
    """A finished job's line in the index: ``local_index.line``'s twin (this file imports nothing of ours)."""
    spec, phase = meta["spec"], state["phase"]
    pipeline = meta.get("pipeline")
    pipeline = {k: pipeline.get(k) for k in ("run", "step")} if pipeline else None
    workers = [[w["rank"], w["phase"] if w["phase"] in TERMINAL else phase, w.get("exit_code"), w.get("reason", "")]
               for w in state["workers"]]
    return [name, ino, meta.get("created_ts", 0), meta.get("created"), spec["workers"], spec.get("cpu"),
            spec.get("memory"), spec.get("gpus", 0), pipeline,
            phase, state.get("started"), state.get("finished"), state.get("message", ""), workers]


def say(line):
    """A line to supervisor.log, if the disk lets it: the supervisor goes on either way."""
    try:
        print(f"jupyter_kf supervisor: {line}", file=sys.stderr, flush=True)
    except OSError:
        pass


def save(path, text):
    """Write ``path`` atomically; a failed write leaves no temporary file behind."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def die_with_parent(parent):
    """In a new worker: the kernel kills it when its supervisor dies, however it dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the supervisor died before the line above
        os._exit(1)


def kill_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def free_port():
    import _socket

    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def spawn(command, env, cwd, log, setup):
    """Start a worker as ``subprocess.Popen`` would with ``start_new_session`` and ``preexec_fn=setup``:
    stdin from /dev/null, stdout and stderr appended to ``log``, no other file of ours (all are opened
    non-inheritable). A worker that cannot start says why in its log and exits 127."""
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child, until exec
            _become_worker(command, env, cwd, out, null, setup)
        return pid
    finally:
        os.close(out)
        os.close(null)


def _become_worker(command, env, cwd, out, null, setup):
    try:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)  # a stop before exec ends this worker, not the job's others
        os.setsid()
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.chdir(cwd)
        setup()
        os.execve(command[0], command, env)
    except BaseException as err:
        try:
            os.write(2, f"jupyter_kf supervisor: cannot start the worker: {err}\n".encode())
        finally:
            os._exit(127)


class _JsonContext:
    """What the C scanner of ``_json`` reads from a decoder."""

    strict, object_hook, object_pairs_hook, memo = True, None, None, None
    parse_float, parse_int = float, int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__


def json_loads(text):
    """``json.loads`` through ``_json``'s C scanner (as ``runner.json_loads``): importing ``json`` imports
    ``re``; the ``json`` module where ``_json`` is missing or unlike this Python's."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode()
    try:
        import _json

        value, end = _json.make_scanner(_JsonContext)(text, 0)
    except (ImportError, AttributeError, TypeError, StopIteration):
        end = None
    if end is None or text[end:].strip():
        import json

        return json.loads(text)  # or raises the error it would
    return value


def json_dumps(obj, compact=False):
    """``json.dumps`` through ``_json``'s C encoder (see ``json_loads``)."""
    try:
        import _json

        encode = _json.make_encoder({}, _unserializable, _json.encode_basestring_ascii, None,
                                    ":" if compact else ": ", "," if compact else ", ", False, False, True)
        return "".join(encode(obj, 0))
    except (ImportError, AttributeError, TypeError):
        import json

        return json.dumps(obj, separators=(",", ":") if compact else None)


def _unserializable(obj):
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def main(job_dir, wake=None):
    os.umask(0o077)
    if wake is not None:
        os.set_blocking(wake, False)
        os.set_inheritable(wake, False)  # the workers never get it
    try:
        supervisor = Supervisor(job_dir, wake)
    except Refused as err:
        print(err, file=sys.stderr, flush=True)
        return 2
    supervisor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None))
