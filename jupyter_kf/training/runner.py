"""Runs one captured cell inside a job: ``python runner.py JOB_DIR [OUTPUT_DIR]``.

Stdlib plus cloudpickle only, so any image with a matching Python can run it (it travels with the
job, in its folder or ConfigMap). It checks the Python version before unpickling anything, runs
the cell in the globals dict the notebook's functions share, and on every exit path rank 0 writes
``result.json`` (last, atomically) and ``result.pkl``. Exit codes: 0 done, 1 the cell raised,
3 Python mismatch, 4 a module is missing, 5 the runner itself failed.
"""
# Only what every job needs is imported here, and not ast, json, signal or subprocess (their own imports
# cost a trivial job most of its start); cloudpickle only when a value needs it (see ``_plain``).
import _ast
import _pickle as pickle  # the C pickler that pickle.py wraps (pickle.py imports re)
import _signal as signal
import builtins
import io
import os
import sys
import time
import zlib

CELL_FILENAME = "<kf_train cell>"
FRAME_MAGIC = b"KFF1"
# Large buffers are page aligned, each on pages of its own: a write to one array of a memory-mapped frame file
# never touches a page of another (see ``_mapped_token``).
ALIGN, PAGE_ALIGN, PAGE_ALIGN_FROM = 64, max(4096, os.sysconf("SC_PAGE_SIZE")), 1 << 20
EXIT_OK, EXIT_CELL, EXIT_PYTHON, EXIT_MODULE, EXIT_RUNNER = 0, 1, 3, 4, 5
EXIT_OOM = 137  # what Kubernetes reports for a container over its memory limit (OOMKilled)
_ATOMIC = (type(None), bool, int, float, complex, str, bytes)
DATA_WRITTEN, DATA_WRITTEN_ENV = "data-written.jsonl", "KF_DATA_WRITTEN"  # kf.data.put in the cell: its versions


# -- framed pickles: one file, pickle stream + 64-byte aligned out-of-band buffers --------------
def write_frames(path, obj, pickler=None, protocol=5):
    """Pickle ``obj`` to ``path`` with large buffers written straight from memory (no copy)."""
    buffers = []
    stream = io.BytesIO()
    make = pickler or pickle.Pickler
    make(stream, protocol=protocol, buffer_callback=buffers.append).dump(obj)
    raws = [b.raw() for b in buffers]
    body = stream.getbuffer()
    align = PAGE_ALIGN if any(r.nbytes >= PAGE_ALIGN_FROM for r in raws) else ALIGN
    dumps = globals().get("json_dumps") or __import__("json").dumps  # see _json_from
    header = dumps({"pickle": len(body), "buffers": [r.nbytes for r in raws], "align": align}).encode()
    tmp = f"{path}.tmp{os.getpid()}"
    with _removed_on_error(tmp):
        with open(tmp, "wb") as f:
            f.write(FRAME_MAGIC + len(header).to_bytes(8, "little") + header)
            f.write(body)
            for raw in raws:
                f.write(b"\0" * (-f.tell() % align))
                f.write(raw)
        os.replace(tmp, path)
    return os.path.getsize(path)


class _removed_on_error:
    """A temporary file never outlives a failed write (a full disk must not stay full because of us)."""

    def __init__(self, tmp):
        self.tmp = tmp

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if err is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
        return False


def write_error(err, path):
    """One line for a failed write: the cause by its errno name (ENOSPC, EDQUOT, ...) and the path."""
    import errno as errnos

    name = errnos.errorcode.get(getattr(err, "errno", None), "")
    cause = f"{err.strerror} ({name})" if name else str(err)
    return f"cannot write {getattr(err, 'filename', None) or path}: {cause}"


def read_frames(path, persistent_load=None, maps=None):
    """Load what ``write_frames`` wrote. The buffers are views into a private (copy-on-write) memory map of the
    file: nothing is copied until written to. ``maps`` collects the map where each buffer has its own pages."""
    import mmap

    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise ValueError(f"{path} is empty: not a jupyter_kf payload")
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    view = memoryview(mapped)
    if bytes(view[:4]) != FRAME_MAGIC:
        raise ValueError(f"{path} is not a jupyter_kf payload")
    hlen = int.from_bytes(view[4:12], "little")
    loads = globals().get("json_loads") or __import__("json").loads  # see _json_from
    header = loads(bytes(view[12 : 12 + hlen]))
    pos = 12 + hlen
    body = bytes(view[pos : pos + header["pickle"]])
    pos += header["pickle"]
    buffers, align = [], header.get("align", ALIGN)
    if maps is not None and align % os.sysconf("SC_PAGE_SIZE") == 0:
        maps.append(mapped)  # each buffer on pages of its own: a write to one is told apart from the others
    for size in header["buffers"]:
        pos += -pos % align
        buffers.append(view[pos : pos + size])
        pos += size
    if persistent_load is None:
        return pickle.Unpickler(io.BytesIO(body), buffers=buffers).load()

    class _Unpickler(pickle.Unpickler):  # 3.13 made the attribute read-only on instances; a subclass may define it
        def persistent_load(self, pid):
            return persistent_load(pid)

    return _Unpickler(io.BytesIO(body), buffers=buffers).load()


def fingerprint(obj, maps=()):
    """A cheap checksum to tell whether the cell mutated an input in place (None: can't tell). An array
    in a memory map of the payload (``maps``) is not read: its token changes once a page of it was written."""
    try:
        if type(obj) in _PLAIN_ATOMS[:-1]:
            return 0  # immutable
        if type(obj).__module__ == "numpy" and type(obj).__name__ == "ndarray" and obj.flags.c_contiguous:
            mapped = _mapped_token(obj, maps)
            if mapped is not None:
                return mapped
            return (obj.shape, str(obj.dtype), zlib.crc32(memoryview(obj).cast("B")))
        stream = io.BytesIO()
        _pickler_for(obj)(stream, protocol=5).dump(obj)
        return zlib.crc32(stream.getbuffer())
    except Exception:
        return None


def _mapped_token(arr, maps):
    """("mapped", ...) for an array inside one of ``maps`` none of whose pages was written to, ("written", ...)
    once one was (a written page of a private map is the process's own, no longer the file's: Linux's
    /proc/self/pagemap tells, without reading the array); None outside the maps or where the kernel can't tell."""
    if not maps:
        return None
    import numpy as np

    start = arr.__array_interface__["data"][0]
    end = start + arr.nbytes
    if not any(_inside(np, m, start, end) for m in maps) or not arr.nbytes:
        return None
    page = os.sysconf("SC_PAGE_SIZE")
    first, count = start // page, (end - 1) // page - start // page + 1
    try:
        with open("/proc/self/pagemap", "rb") as f:
            f.seek(first * 8)
            entries = np.frombuffer(f.read(count * 8), np.uint64)
    except (OSError, ValueError):
        return None
    if len(entries) != count:
        return None
    bit = np.uint64(1)
    present, swapped, file_page = (entries >> np.uint64(63)) & bit, (entries >> np.uint64(62)) & bit, (
        entries >> np.uint64(61)) & bit
    written = bool(np.any(swapped | (present & (bit - file_page))))
    return ("written" if written else "mapped", start, arr.shape, str(arr.dtype))


def _inside(np, mapped, start, end):
    base = np.frombuffer(mapped, np.uint8).__array_interface__["data"][0]
    return base <= start and end <= base + len(mapped)


_PLAIN_ATOMS = (type(None), bool, int, float, complex, str, bytes, bytearray)


def _plain(obj, budget=10_000):
    """Whether ``obj`` is plain data, which pickle and cloudpickle write alike (no functions, classes or
    instances of other types): a job that moves only such values never imports cloudpickle."""
    stack = [obj]
    while stack:
        budget -= 1
        item = stack.pop()
        kind = type(item)
        if budget < 0:
            return False
        if kind in _PLAIN_ATOMS:
            continue
        if kind in (list, tuple, set, frozenset):
            stack.extend(item)
        elif kind is dict:
            stack.extend(item)
            stack.extend(item.values())
        elif not (kind.__module__ == "numpy" and kind.__name__ == "ndarray" and not item.dtype.hasobject):
            return False
    return True


def _pickler_for(obj):
    if _plain(obj):
        return pickle.Pickler
    import cloudpickle

    return cloudpickle.Pickler


def write_json_atomic(path, data):
    tmp = f"{path}.tmp{os.getpid()}"
    with _removed_on_error(tmp):
        with open(tmp, "w") as f:
            f.write(json_dumps(data))
        os.replace(tmp, path)


# _json_from: the pipeline's step program (``jupyter_kf.pipeline.step_runner.program``) carries write_frames,
# read_frames and run_code without the rest of this file: there they fall back to json and linecache.
class _JsonContext:
    """What the C scanner of ``_json`` reads from a decoder."""

    strict, object_hook, object_pairs_hook, memo = True, None, None, None
    parse_float, parse_int = float, int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__


def json_loads(text):
    """``json.loads`` through ``_json``'s C scanner (importing ``json`` imports ``re`` and ``enum``, a good
    part of a trivial job's start); the ``json`` module where ``_json`` is missing or unlike this one's."""
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


# -- a stand-in for the notebook's IPython -----------------------------------------------------
class RemoteShell:
    """What a cell may ask of ``get_ipython()`` inside a job."""

    _NOOP = frozenset({"matplotlib", "load_ext", "reload_ext", "config", "autoreload", "aimport", "xmode", "precision"})

    def __init__(self, namespace):
        self.user_ns = namespace

    def system(self, cmd):
        import subprocess

        return subprocess.call(self._expand(cmd), shell=True)

    def getoutput(self, cmd):
        import subprocess

        out = subprocess.run(self._expand(cmd), shell=True, capture_output=True, text=True).stdout
        return out.splitlines()

    def _expand(self, cmd):
        try:
            return cmd.format(**self.user_ns)
        except Exception:
            return cmd

    def run_line_magic(self, name, line, _stack_depth=1):
        if name == "time":
            return self._time(line)
        if name == "timeit":
            return self._timeit(line)
        if name == "pip":
            import shlex
            import subprocess

            return subprocess.call([sys.executable, "-m", "pip", *shlex.split(line)])
        if name in self._NOOP:
            print(f"(%{name} ignored inside a %%kf_train job)", file=sys.stderr)
            return None
        raise NotImplementedError(f"%{name} is not available in a remote %%kf_train cell")

    def run_cell_magic(self, name, line, cell):
        if name in ("time", "timeit"):
            return getattr(self, f"_{name}")(cell)
        if name in ("capture", "writefile"):
            raise NotImplementedError(f"%%{name} is not available in a remote %%kf_train cell")
        raise NotImplementedError(f"%%{name} is not available in a remote %%kf_train cell")

    def _time(self, code):
        start = time.perf_counter()
        value = run_code(code, self.user_ns, filename="<%time>")
        print(f"Wall time: {time.perf_counter() - start:.3f} s")
        return value

    def _timeit(self, code):
        loops, start = 0, time.perf_counter()
        while loops < 1000 and time.perf_counter() - start < 0.5:
            run_code(code, dict(self.user_ns), filename="<%timeit>")
            loops += 1
        print(f"{(time.perf_counter() - start) / loops * 1e6:.1f} us per loop ({loops} loops)")

    def __getattr__(self, name):
        raise NotInRemoteShell(f"get_ipython().{name} is not available in a remote %%kf_train cell")


class NotInRemoteShell(AttributeError):
    """An AttributeError, so that ``hasattr(get_ipython(), "kernel")`` (pandas' import does it) is False."""


def display(*objs, **kwargs):
    for obj in objs:
        print(repr(obj))


def run_code(source, namespace, filename=CELL_FILENAME):
    """Exec ``source``; the value of a final expression is returned, as IPython shows it."""
    keeper = globals().get("_CellSource")  # see _json_from
    if keeper is not None:
        keeper.remember(filename, source)
    else:
        import linecache

        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    tree = compile(source, filename, "exec", _ast.PyCF_ONLY_AST)  # ast.parse, without importing ast
    last = None
    if tree.body and isinstance(tree.body[-1], _ast.Expr):
        last = _ast.Expression(tree.body.pop().value)
    exec(compile(tree, filename, "exec"), namespace)
    if last is not None:
        return eval(compile(last, filename, "eval"), namespace)
    return None


class _CellSource:
    """Gives ``linecache`` the cell's source (for tracebacks, ``inspect.getsource``, warnings) when something
    first imports it: importing it up front would import tokenize, re and enum, much of a trivial job's start."""

    sources: dict = {}

    @classmethod
    def remember(cls, filename, source):
        cls.sources[filename] = source
        linecache = sys.modules.get("linecache")
        if linecache is not None:
            cls.fill(linecache)
        elif cls not in sys.meta_path:
            sys.meta_path.insert(0, cls)

    @classmethod
    def fill(cls, linecache):
        for filename, source in cls.sources.items():
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        """linecache's own spec, whose loader fills its cache once it has run."""
        if name != "linecache":
            return None
        sys.meta_path.remove(cls)
        for finder in sys.meta_path:
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and hasattr(spec.loader, "exec_module"):
                run = spec.loader.exec_module

                def exec_module(module, run=run):
                    run(module)
                    cls.fill(module)

                spec.loader.exec_module = exec_module
                return spec
        return None


# -- the job -----------------------------------------------------------------------------------
def distributed_env(environ):
    """RANK/WORLD_SIZE/MASTER_* from the PET_* contract of Kubeflow Trainer when no launcher set them,
    so ``init_process_group()`` works with one process per pod, as it does locally."""
    if "RANK" in environ or "PET_NODE_RANK" not in environ:
        return {}
    nodes = int(environ.get("PET_NNODES", "1"))
    return {"RANK": environ["PET_NODE_RANK"], "WORLD_SIZE": str(nodes), "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
            "GROUP_RANK": environ["PET_NODE_RANK"], "MASTER_ADDR": environ.get("PET_MASTER_ADDR", "127.0.0.1"),
            "MASTER_PORT": environ.get("PET_MASTER_PORT", "29500")}


class Job:
    """One run of the cell: reads the bundle from ``job_dir``, writes results and work files to ``out_dir``
    (the same folder locally; a writable volume beside a read-only ConfigMap in a pod)."""

    def __init__(self, job_dir, out_dir=None):
        self.dir = job_dir
        self.out = out_dir or job_dir
        with open(os.path.join(job_dir, "meta.json"), "rb") as f:
            self.meta = json_loads(f.read())
        self.maps = []  # memory maps of the payload: arrays in them are checked for writes without reading them
        os.environ.update(distributed_env(os.environ))
        self.rank = int(os.environ.get("RANK", "0"))
        self.write_failed = False
        self.result = {"status": "error", "rank": self.rank, "outputs": [], "mutated": [], "deleted": [],
                       "imports": {}, "unpicklable": {}, "error": None, "has_value": False}

    def path(self, name):
        """A file of the bundle (read) or, for results and work files, of the output folder."""
        return os.path.join(self.out if name in ("result.json", "result.pkl", "work", DATA_WRITTEN) else self.dir, name)

    def fail(self, kind, message, code):
        self.result["error"] = {"kind": kind, "message": message, "traceback": ""}
        print(f"jupyter_kf runner: {message}", file=sys.stderr)
        return code

    def run(self):
        """Check, load, execute, collect: each phase refuses with its own line and exit code."""
        try:
            modules = self.prepare()
            values = self.load_inputs()
        except _Refused as refused:
            return refused.code
        namespace = self.shared_globals(values)
        namespace.update(modules)
        namespace.update(values)
        namespace.setdefault("__name__", "__main__")
        namespace["__builtins__"] = builtins
        shell = RemoteShell(namespace)
        builtins.get_ipython = lambda: shell
        builtins.display = display
        inputs = dict(values)
        inputs.update({k: namespace[k] for k in self.meta.get("modules", {})})
        detect = self.rank == 0 and self.meta.get("detect_mutation", True)
        before = {name: (id(obj), fingerprint(obj, self.maps) if detect and name in inputs else None)
                  for name, obj in namespace.items()}
        os.environ[DATA_WRITTEN_ENV] = os.path.abspath(self.path(DATA_WRITTEN))
        os.chdir(self.workdir())
        return self.execute(namespace, inputs, before)

    def refuse(self, kind, message, code):
        raise _Refused(self.fail(kind, message, code))

    def prepare(self):
        """The job's Python, its pip packages and the cell's modules; the modules, imported."""
        want, have = self.meta["python"], "%d.%d" % sys.version_info[:2]
        if want != have:
            self.refuse("python_mismatch", f"the notebook pickled with Python {want} but this job runs Python "
                        f"{have}: use an image with Python {want} (e.g. python:{want}-slim)", EXIT_PYTHON)
        src = self.path("src")
        if os.path.isdir(src):
            sys.path.insert(0, src)  # shipped local modules, and cloudpickle itself on a cluster
        packages = self.meta["spec"].get("pip") or []
        if packages and os.environ.get("KF_INSTALL_PIP") == "1":
            import subprocess

            print(f"jupyter_kf runner: pip install {' '.join(packages)}", flush=True)
            if subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", "--no-input", *packages]) != 0:
                self.refuse("pip", f"pip could not install {' '.join(packages)} in the job's image (its output is "
                            "above)", EXIT_MODULE)
        from importlib.machinery import PathFinder

        if "cloudpickle" not in sys.modules and PathFinder.find_spec("cloudpickle") is None:  # found, not imported
            self.refuse("missing_module", "cloudpickle is not installed in the job's image: add it with --pip "
                        "cloudpickle", EXIT_MODULE)
        modules, missing = {}, []
        for name, module in self.meta.get("modules", {}).items():
            try:
                modules[name] = __import__(module, fromlist=["_"]) if "." in module else __import__(module)
            except ImportError as err:
                modules[name] = self.data_shim(module)
                if modules[name] is None:
                    missing.append(f"{module} (as {name}: {err})")
        if missing:
            self.refuse("missing_module", "modules missing in the job's image: " + "; ".join(missing)
                        + ": add them with --pip", EXIT_MODULE)
        return modules

    def data_shim(self, module):
        """``jupyter_kf`` (its ``data``) for a cell in an image without it: the bundle's ``kf_data.py``, which
        puts and loads dataset versions in the store (None: no such module, or no shim shipped)."""
        if not (module == "jupyter_kf" or module.startswith(("jupyter_kf.data", "jupyter_kf.datasets"))):
            return None
        if not os.path.exists(os.path.join(self.dir, "kf_data.py")):
            return None
        if self.dir not in sys.path:
            sys.path.insert(0, self.dir)
        import types

        import kf_data

        package = types.ModuleType("jupyter_kf", "jupyter_kf's kf.data, as shipped to a job (put, load)")
        package.data = kf_data
        sys.modules.setdefault("jupyter_kf", package)
        return package if module == "jupyter_kf" else kf_data

    def data_written(self):
        """The dataset versions the cell put (``kf.data.put`` appends them to DATA_WRITTEN), for lineage."""
        try:
            with open(self.path(DATA_WRITTEN)) as f:
                return [json_loads(line) for line in f if line.strip()]
        except OSError:
            return []

    def load_inputs(self):
        """The pickled inputs, from the bundle or, when too large for it, from the store."""
        payload = self.path("payload.bin")
        store = self.meta.get("store")
        if store and not os.path.exists(payload):  # too large for the ConfigMap: it waits in the store
            payload = os.path.join(self.out, "payload.bin")
            with open(payload, "wb") as f:
                f.write(s3_request("GET", store, store["prefix"] + "payload.bin"))
        try:
            return read_frames(payload, maps=self.maps) if os.path.exists(payload) else {}
        except ModuleNotFoundError as err:
            self.refuse("missing_module", f"a shipped value needs module {err.name!r}, missing in the job's image: "
                        "add it with --pip", EXIT_MODULE)

    def execute(self, namespace, inputs, before):
        """Run the cell; whatever happens, rank 0 collects what it left."""
        code, value = EXIT_OK, None
        try:
            value = run_code(self.meta["code"], namespace)
            self.result["status"] = "ok"
        except BaseException as err:  # the cell's own error, KeyboardInterrupt and SystemExit included
            code = EXIT_CELL
            if isinstance(err, Terminated):
                self.result["error"] = {"kind": "terminated", "message": str(err), "line": _cell_line(err),
                                        "traceback": ""}
                print(f"jupyter_kf runner: {err}", file=sys.stderr)
            elif isinstance(err, SystemExit) and err.code in (0, None):
                self.result["status"], code = "ok", EXIT_OK
            elif isinstance(err, MemoryError) and os.environ.get("KF_MEMORY_LIMIT"):
                code = EXIT_OOM  # over the job's --memory: a pod would be OOMKilled
                limit = os.environ["KF_MEMORY_LIMIT"]
                self.result["error"] = {"kind": "oom_killed", "type": "MemoryError", "line": _cell_line(err),
                                        "message": f"OOMKilled: the cell needed more than its memory limit "
                                                   f"(--memory {limit})", "traceback": ""}
                print(f"jupyter_kf runner: OOMKilled: over the memory limit --memory {limit}", file=sys.stderr)
            else:
                if isinstance(err, SystemExit) and isinstance(err.code, int):
                    code = err.code
                import traceback

                tb = traceback.TracebackException.from_exception(err)
                tb.stack = traceback.StackSummary.from_list([f for f in tb.stack if f.filename != __file__])
                text = "".join(tb.format())
                sys.stderr.write(text)
                self.result["error"] = {"kind": "cell", "type": type(err).__name__, "message": str(err),
                                        "line": _cell_line(err), "traceback": text}
        sys.stdout.flush()
        sys.stderr.flush()
        if self.rank == 0:
            written = self.data_written()
            if written:
                self.result["data_written"] = written
            self.collect(namespace, inputs, before, value)
        return EXIT_RUNNER if self.write_failed and code == EXIT_OK else code

    def workdir(self):
        work = self.path("work")
        os.makedirs(work, exist_ok=True)
        return work

    @staticmethod
    def shared_globals(values):
        """The globals dict cloudpickle rebuilt for the notebook's functions (one per payload)."""
        for obj in values.values():
            code = getattr(obj, "__code__", None)
            module = getattr(obj, "__module__", None)
            if code is not None and module == "__main__":
                return obj.__globals__
        return {}

    def collect(self, namespace, inputs, before, value):
        """What the cell changed: new or rebound names, inputs mutated in place, deletions."""
        skip = {
            "__builtins__",
            "__name__",
            "__doc__",
            "__package__",
            "__loader__",
            "__spec__",
            "__file__",
            "__cached__",
        }
        outputs, mutated = {}, {}
        for name, obj in namespace.items():
            if name in skip or name.startswith("__"):
                continue
            if type(obj).__name__ == "module" and hasattr(obj, "__name__"):
                if name not in inputs or inputs[name] is not obj:
                    self.result["imports"][name] = obj.__name__
                continue
            if name in before:
                old_id, old_print = before[name]
                if id(obj) == old_id:
                    if old_print is not None and fingerprint(obj, self.maps) != old_print:
                        mutated[name] = obj
                    continue
            outputs[name] = obj
        self.result["deleted"] = [n for n in list(inputs) + self.meta.get("deleted", []) if n not in namespace]
        if value is not None:
            outputs["__value__"] = value
        refs = {id(obj): name for name, obj in inputs.items()
                if not isinstance(obj, _ATOMIC) and name not in self.meta.get("modules", {})}
        payload = {"outputs": outputs, "mutated": {k: _MutatedState(v) for k, v in mutated.items()}}
        self.save(payload, refs)

    def save(self, payload, refs):
        """Pickle all results in one call (aliasing kept); on failure, drop and name the culprits."""
        try:
            write_frames(self.path("result.pkl"), payload, _result_pickler(refs, payload))
        except OSError as err:  # the disk, not the values: nothing was kept, say why in one line
            self.write_failed = True
            message = write_error(err, self.path("result.pkl")) + ": the results are lost; free space and run again"
            self.result.update(status="error", error={"kind": "write", "message": message, "traceback": ""})
            print(f"jupyter_kf runner: {message}", file=sys.stderr)
            return
        except Exception:
            for group in ("outputs", "mutated"):
                for name in list(payload[group]):
                    try:
                        _result_pickler(refs)(io.BytesIO(), protocol=5).dump(payload[group][name])
                    except Exception as err:
                        self.result["unpicklable"][name] = f"{type(err).__name__}: {err}"
                        del payload[group][name]
            write_frames(self.path("result.pkl"), payload, _result_pickler(refs))
        self.result["has_value"] = "__value__" in payload["outputs"]
        self.result["outputs"] = sorted(n for n in payload["outputs"] if n != "__value__")
        self.result["mutated"] = sorted(payload["mutated"])


class _Refused(Exception):
    """A phase refused to go on: ``code`` is the runner's exit code, its line already printed."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


class Terminated(BaseException):
    """SIGTERM (cancel, timeout, another worker failed): stop the cell but keep what it computed."""


def _terminated(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise Terminated("the job was stopped (cancelled, timed out, or another worker failed)")


class _MutatedState:
    """A shallow copy of a mutated input, so it pickles by value while its contents may be references."""

    def __init__(self, obj):
        self.obj = obj

    def __reduce__(self):
        import copy

        return (_identity, (copy.copy(self.obj),))


def _identity(obj):
    return obj


def _result_pickler(refs, payload=None):
    """A pickler that sends inputs back as references: pickle's own for plain ``payload``, else cloudpickle's."""
    if payload is not None:
        base = _pickler_for(payload)
    else:
        import cloudpickle

        base = cloudpickle.Pickler

    class ResultPickler(base):
        def persistent_id(self, obj):
            name = refs.get(id(obj))
            return ("input", name) if name is not None else None

    return ResultPickler


def _cell_line(err):
    import traceback

    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if frame.filename == CELL_FILENAME:
            return frame.lineno
    return None


def s3_request(method, store, key, body=b""):
    """One S3 object GET or PUT, signed with AWS Signature V4 (stdlib only: pods need no boto3).

    ``store``: {"endpoint", "bucket", "region"}; credentials come from the environment
    (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, from a Secret on a cluster), never from the bundle.
    """
    import hashlib
    import hmac
    import urllib.parse
    import urllib.request

    access, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    region = store.get("region") or "us-east-1"
    endpoint = urllib.parse.urlsplit(store["endpoint"])
    path = "/" + urllib.parse.quote(f"{store['bucket']}/{key}", safe="/-_.~")
    now = time.gmtime()
    stamp, day = time.strftime("%Y%m%dT%H%M%SZ", now), time.strftime("%Y%m%d", now)
    digest = hashlib.sha256(body).hexdigest()
    headers = {"host": endpoint.netloc, "x-amz-content-sha256": digest, "x-amz-date": stamp}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([method, path, "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed, digest])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key_bytes = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key_bytes = hmac.new(key_bytes, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    headers["Content-Type"] = "application/octet-stream"  # urllib's default (a form) makes servers parse the body
    request = urllib.request.Request(
        f"{endpoint.scheme}://{endpoint.netloc}{path}",
        data=body if method == "PUT" else None,
        method=method,
        headers=headers,
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return response.read()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _terminated)
    job = Job(argv[0], argv[1] if len(argv) > 1 else None)
    code = EXIT_RUNNER
    try:
        code = job.run()
    except Terminated as err:
        job.result["error"] = {"kind": "terminated", "message": str(err), "traceback": ""}
        code = EXIT_CELL
    except BaseException as err:
        import traceback

        text = traceback.format_exc()
        sys.stderr.write(text)
        job.result["error"] = {
            "kind": "runner",
            "message": f"the runner failed: {type(err).__name__}: {err}",
            "traceback": text,
        }
        code = EXIT_RUNNER
    finally:
        if job.rank == 0:
            job.result["exit_code"] = code
            via_log = os.environ.get("KF_RESULT_VIA_LOG") == "1"
            pickled = send_results_via_log(job) if via_log else None
            write_json_atomic(job.path("result.json"), job.result)
            if via_log:
                summary = emit_file("json", job.path("result.json"))
                key = os.environ.get(RESULT_KEY_ENV)
                if key:  # without it the client refuses the results: nothing unsigned is unpickled there
                    print(f"{RESULT_MARK} mac {result_mac(key, summary, pickled)}")
                print(f"{RESULT_MARK} end", flush=True)
    return code


RESULT_MARK = "::kf-result::"
RESULT_LOG_LIMIT = 4 * 2**20
RESULT_KEY_ENV = "KF_RESULT_KEY"  # the job's result key, from its bundle Secret (secretKeyRef)
RESULT_MAC_CONTEXT = b"jupyter-kf result v1\0"


def result_mac(key, summary, pickled):
    """HMAC-SHA256 over what the client receives: the summary and the pickled results (``None``: none
    were sent). Only a holder of the job's key can make it, so results another pod wrote are refused."""
    import hashlib
    import hmac

    mac = hmac.new(key.encode("ascii") if isinstance(key, str) else key, RESULT_MAC_CONTEXT, hashlib.sha256)
    mac.update(hashlib.sha256(summary).digest())
    mac.update(b"\0" if pickled is None else b"\1" + hashlib.sha256(pickled).digest())
    return mac.hexdigest()


def send_results_via_log(job):
    """Small results travel in the pod's log as base64 lines that the client takes back out; larger
    ones go to the store when there is one. Returns the pickled bytes sent (None: none)."""
    path = job.path("result.pkl")
    if not os.path.exists(path):
        return None
    size = os.path.getsize(path)
    limit = int(os.environ.get("KF_RESULT_LOG_LIMIT", RESULT_LOG_LIMIT))
    store = job.meta.get("store")
    if size > limit and store:
        with open(path, "rb") as f:
            pickled = f.read()
        s3_request("PUT", store, store["prefix"] + "result.pkl", pickled)
        job.result["result_in_store"] = True
        return pickled
    if size > limit:
        names = ", ".join(job.result["outputs"] + job.result["mutated"])
        job.result["unpicklable"].update(
            {
                n: f"results are {size / 2**20:.1f} MiB together, over the {limit / 2**20:.0f} MiB "
                "a job without a store can send back: configure c.KfConfig.store"
                for n in job.result["outputs"] + job.result["mutated"]
            }
        )
        job.result["outputs"], job.result["mutated"] = [], []
        print(f"jupyter_kf runner: results ({names}) are too large to come back without a store", file=sys.stderr)
        return None
    return emit_file("pkl", path)


def emit_file(kind, path):
    """Print a file as base64 result lines; returns its bytes."""
    import base64

    with open(path, "rb") as f:
        raw = f.read()
    data = base64.b64encode(raw).decode("ascii")
    sys.stdout.flush()
    for i in range(0, len(data), 4096):
        print(f"{RESULT_MARK} {kind} {data[i:i + 4096]}")
    sys.stdout.flush()
    return raw


if __name__ == "__main__":
    sys.exit(main())
