"""Runs one pipeline step: ``python3 -u -c PROGRAM --spec JSON [--param|--input|--output NAME VALUE]...``.

``program()`` builds PROGRAM from this file and the framing and IPython stand-in of
``jupyter_kf.training.runner``, and the IR carries it in the container command: the step's image needs only
Python and what the step's own code imports (cloudpickle only for values without a better format).
No kfp, no jupyter_kf, nothing downloaded at start. The local backend runs the same program as
``python runner.py JOB_DIR`` with the arguments in ``JOB_DIR/step-args.json``.

The cells run one by one in one namespace, as in the notebook; a failure names the cell and line.
Values travel in a format suited to their type, found again from the file's first bytes: numpy
arrays as ``.npy``, data frames as Parquet (when pyarrow is there), torch tensors and modules with
``torch.save``, plain JSON data as JSON, anything else as cloudpickle frames.
"""
import builtins
import json
import os
import subprocess
import sys
import time
import traceback

try:  # inside the package; the built program has these defined above instead
    from jupyter_kf.training.runner import FRAME_MAGIC, RemoteShell, display, read_frames, run_code, write_frames
except ImportError:  # pragma: no cover - the standalone program
    pass

EXIT_OK, EXIT_CELL, EXIT_INPUT, EXIT_OUTPUT, EXIT_MODULE, EXIT_RUNNER = 0, 1, 2, 6, 4, 5
JSON_LIMIT = 1 << 20
_NPY, _PARQUET, _ZIP = b"\x93NUMPY", b"PAR1", b"PK\x03\x04"
_NATIVE = b"KFNATIVE"  # + one JSON line {"kind", "module", "suffix"} + the library's own file


# -- values as files --------------------------------------------------------------------------
def save_value(obj, path):
    """Write ``obj`` to ``path`` in the best format its type has; returns the format's name."""
    kind = type(obj)
    module, name = kind.__module__, kind.__name__
    if module == "numpy" and name == "ndarray" and not obj.dtype.hasobject:
        import numpy

        with open(path, "wb") as f:
            numpy.save(f, obj, allow_pickle=False)
        return "npy"
    if module.startswith("pandas") and name == "DataFrame":
        try:
            obj.to_parquet(path)
            return "parquet"
        except Exception:  # no pyarrow, or columns parquet cannot hold: fall through to frames
            pass
    if module.startswith("torch") and _is_torch(obj):
        import torch

        torch.save(obj, path, pickle_module=_pickle_module())
        return "torch"
    native = _native_kind(module, name, obj)
    if native:
        _save_native(obj, path, *native)
        return native[0]
    if _plain(obj, 0):
        text = json.dumps(obj)
        if len(text) <= JSON_LIMIT:
            with open(path, "w") as f:
                f.write(text)
            return "json"
    pickler = _pickle_module().Pickler
    write_frames(path, obj, pickler)
    return "pickle"


def load_value(path):
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(_NPY):
        import numpy

        return numpy.load(path, allow_pickle=False)
    if head.startswith(_PARQUET):
        import pandas

        return pandas.read_parquet(path)
    if head.startswith(_ZIP):
        import torch

        return torch.load(path, weights_only=False)
    if head.startswith(FRAME_MAGIC):
        return read_frames(path)
    if head.startswith(_NATIVE):
        return _load_native(path)
    with open(path) as f:
        return json.load(f)


def _native_kind(module, name, obj):
    """(kind, module to load it with, file suffix) for values that need their library's own format.

    What Kale serializes that pickle cannot carry: an xgboost DMatrix (ctypes pointers) and Keras
    models (saved as .keras, which keeps the architecture, weights and optimizer state).
    """
    top = module.split(".")[0]
    if top == "xgboost" and name == "DMatrix":
        return "xgboost-dmatrix", "xgboost", ".buffer"
    if top == "xgboost" and name == "Booster":
        return "xgboost-booster", "xgboost", ".ubj"
    keras = "tensorflow.keras" if module.startswith("tensorflow.python.keras") else top
    if keras in ("keras", "tf_keras", "tensorflow.keras") and callable(getattr(obj, "save", None)) and any(
        c.__name__ == "Model" for c in type(obj).__mro__
    ):
        return "keras", keras, ".keras"
    return None


def _save_native(obj, path, kind, module, suffix):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        own = os.path.join(folder, "value" + suffix)
        if kind == "xgboost-dmatrix":
            obj.save_binary(own)
        else:
            obj.save_model(own) if kind == "xgboost-booster" else obj.save(own)
        header = json.dumps({"kind": kind, "module": module, "suffix": suffix}).encode() + b"\n"
        with open(path, "wb") as out, open(own, "rb") as f:
            out.write(_NATIVE + header)
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)


def _load_native(path):
    import importlib
    import tempfile

    with open(path, "rb") as f:
        f.read(len(_NATIVE))
        header = json.loads(f.readline())
        lib = importlib.import_module(header["module"])
        with tempfile.TemporaryDirectory() as folder:
            own = os.path.join(folder, "value" + header["suffix"])
            with open(own, "wb") as out:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    out.write(chunk)
            if header["kind"] == "xgboost-dmatrix":
                return lib.DMatrix(own)
            if header["kind"] == "xgboost-booster":
                return lib.Booster(model_file=own)
            return importlib.import_module(header["module"] + ".models").load_model(own)


def _is_torch(obj):
    import torch

    return isinstance(obj, (torch.Tensor, torch.nn.Module))


def _pickle_module():
    try:
        import cloudpickle

        return cloudpickle
    except ImportError:
        import pickle

        return pickle


def _plain(obj, depth):
    """JSON gives it back exactly: None, bool, int, float, str, and lists/str-keyed dicts of them."""
    kind = type(obj)
    if obj is None or kind in (bool, int, float, str):
        return True
    if depth > 20:
        return False
    if kind is list:
        return all(_plain(v, depth + 1) for v in obj)
    if kind is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in obj.items())
    return False


def describe(obj):
    shape = getattr(obj, "shape", None)
    text = type(obj).__name__
    if shape is not None and isinstance(shape, tuple):
        text += "[" + ", ".join(str(s) for s in shape) + "]"
    return text


# -- parameters ---------------------------------------------------------------------------------
def typed(value, kind):
    """A parameter as KFP substitutes it (a string) back to its declared type."""
    if kind == "NUMBER_INTEGER":
        return int(float(value)) if value not in ("", None) else 0
    if kind == "NUMBER_DOUBLE":
        return float(value)
    if kind == "BOOLEAN":
        return str(value).strip().lower() in ("true", "1", "yes")
    if kind in ("LIST", "STRUCT"):
        return json.loads(value) if isinstance(value, str) else value
    return value


# -- the step -------------------------------------------------------------------------------------
def parse_args(argv):
    opts = {"spec": {}, "params": [], "inputs": [], "outputs": [], "metrics": None, "executor_input": None}
    i = 0
    while i < len(argv):
        flag = argv[i]
        if flag == "--spec":
            opts["spec"] = json.loads(argv[i + 1])
            i += 2
        elif flag in ("--param", "--input", "--output"):
            opts[flag[2:] + "s"].append((argv[i + 1], argv[i + 2]))
            i += 3
        elif flag == "--metrics":
            opts["metrics"] = argv[i + 1]
            i += 2
        elif flag == "--executor-input":
            opts["executor_input"] = argv[i + 1]
            i += 2
        else:
            raise SystemExit(f"jupyter_kf step: unknown argument {flag!r}")
    return opts


class Unavailable(AttributeError, NotImplementedError):
    """What a step's ``get_ipython()`` lacks: libraries probe with ``hasattr(ip, "kernel")`` (pandas does on import)."""


class StepShell(RemoteShell):
    def __getattr__(self, name):
        raise Unavailable(f"get_ipython().{name} is not available in a pipeline step")


class Step:
    def __init__(self, opts, job_dir=None):
        self.opts = opts
        self.spec = opts["spec"]
        self.name = self.spec.get("step", "step")
        self.job_dir = job_dir
        self.result = {"status": "error", "rank": 0, "outputs": [], "mutated": [], "deleted": [], "imports": {},
                       "unpicklable": {}, "error": None, "has_value": False, "saved": {}, "types": {}, "metrics": {}}

    def fail(self, kind, message, code, **extra):
        self.result["error"] = dict({"kind": kind, "message": message, "traceback": ""}, **extra)
        print(f"jupyter_kf: {message}", file=sys.stderr, flush=True)
        return code

    def run(self):
        start = time.time()
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        shell = StepShell(namespace)
        builtins.get_ipython = lambda: shell
        builtins.display = display
        code = self.install_packages()
        if code:
            return code
        types = self.spec.get("params", {})
        for name, value in self.opts["params"]:
            namespace[name] = typed(value, types.get(name, "STRING"))
        sources = self.spec.get("inputs", {})
        for name, path in self.opts["inputs"]:
            where = f"from step {sources[name]!r}" if name in sources else "from an upstream step"
            try:
                namespace[name] = load_value(path)
            except ModuleNotFoundError as err:
                return self.fail(
                    "missing_module",
                    f"step {self.name!r}: input {name!r} ({where}) needs module {err.name!r}, "
                    "missing in this step's image: use an image that has it (image: tag or --image)",
                    EXIT_MODULE,
                )
            except Exception as err:
                return self.fail(
                    "input",
                    f"step {self.name!r}: input {name!r} ({where}) could not be read: "
                    f"{type(err).__name__}: {err} (steps that pass values need the same Python and libraries)",
                    EXIT_INPUT,
                )
        if self.opts["inputs"] or self.opts["params"]:
            got = [f"{n}={namespace[n]!r}" for n, _ in self.opts["params"]] + [
                f"{n}: {describe(namespace[n])}" for n, _ in self.opts["inputs"]
            ]
            print(f"[jupyter_kf] step {self.name}: " + ", ".join(got), flush=True)
        workdir = os.environ.get("KF_STEP_WORKDIR")
        if workdir and os.path.isdir(workdir):
            os.chdir(workdir)
        code = self.prepare_data()
        if code:
            return code
        for cell in self.spec.get("cells", []):
            filename = f"<cell {cell['cell']}>"
            try:
                value = run_code(cell["code"], namespace, filename=filename)
                if value is not None:
                    print(repr(value), flush=True)
            except SystemExit as err:
                if err.code in (0, None):
                    break
                return self.cell_failed(err, cell)
            except BaseException as err:  # the step's own error, KeyboardInterrupt included
                return self.cell_failed(err, cell)
        sys.stdout.flush()
        code = self.save_outputs(namespace)
        if code:
            return code
        self.report_metrics(namespace)
        if self.opts["executor_input"]:
            self.write_executor_output()
        self.result["status"] = "ok"
        saved = ", ".join(f"{n} ({fmt})" for n, fmt in self.result["saved"].items())
        print(
            f"[jupyter_kf] step {self.name} done in {time.time() - start:.2f} s"
            + (f"; passed on: {saved}" if saved else ""),
            flush=True,
        )
        return EXIT_OK

    def prepare_data(self):
        """``kf.data`` for the cells (the shipped stdlib one where the image lacks jupyter_kf) and the step's
        ``data:`` versions at their mount points, before any cell runs."""
        if self.spec.get("kf_modules"):
            offer_kf_data(self.spec["kf_modules"])
        plan = self.spec.get("data")
        if not plan or not plan.get("data"):
            return 0
        try:
            mount_data(plan)
        except Exception as err:  # the store's or the mount's own one line
            return self.fail("data", f"step {self.name!r}: {err}", EXIT_INPUT)
        names = ", ".join(f"{e['name']}@{e['version']} at {e['mount']}" for e in plan["data"])
        print(f"[jupyter_kf] step {self.name}: data {names}", flush=True)
        return 0

    def install_packages(self):
        """pip-install the pinned distributions of the step's imports that this image lacks (--install-packages)."""
        import importlib.util

        wanted = self.spec.get("packages") or {}
        if os.environ.get("KF_PIPELINE_RUN"):  # a local run uses this machine's Python: never install into it
            return 0
        missing = sorted({req for module, req in wanted.items() if importlib.util.find_spec(module) is None})
        if not missing:
            return 0
        print(f"[jupyter_kf] step {self.name}: installing {', '.join(missing)}", flush=True)
        import site
        import sysconfig

        user = not os.access(sysconfig.get_paths()["purelib"], os.W_OK)  # an image that runs as a non-root user
        out = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-input",
                              "--disable-pip-version-check", *(["--user"] if user else []), *missing],
                             capture_output=True, text=True)
        if user and site.getusersitepackages() not in sys.path:
            site.addsitedir(site.getusersitepackages())
        if out.returncode:
            sys.stderr.write(out.stdout + out.stderr)
            reason = ([line for line in out.stderr.splitlines() if line.strip()] or ["pip failed"])[-1].strip()
            return self.fail("install", f"step {self.name!r} could not install {', '.join(missing)}: {reason} "
                             "(use an image that has them, or convert without --install-packages)", EXIT_MODULE)
        importlib.invalidate_caches()
        return 0

    def cell_failed(self, err, cell):
        tb = traceback.TracebackException.from_exception(err)
        frames = [f for f in tb.stack if f.filename.startswith("<cell ")]
        own = ("<string>", globals().get("__file__"))
        tb.stack = traceback.StackSummary.from_list([f for f in tb.stack if f.filename not in own])
        text = "".join(tb.format())
        sys.stderr.write(text)
        last = frames[-1] if frames else None
        number = int(last.filename[6:-1]) if last else cell["cell"]
        line = last.lineno if last else None
        source = (last.line or "").strip() if last else ""
        where = f"cell {number}" + (f", line {line}" if line else "") + (f" ({source})" if source else "")
        what = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        hint = ""
        if isinstance(err, ModuleNotFoundError):
            hint = f": module {err.name!r} is missing in this step's image, use one that has it (image: tag or --image)"
            if os.environ.get("KF_PIPELINE_RUN"):  # a local run: the steps use this machine's Python
                hint = f": module {err.name!r} is not installed in {sys.executable}, which runs the steps locally"
        message = f"step {self.name!r} failed in {where}: {what}{hint}"
        print(f"jupyter_kf: {message}", file=sys.stderr, flush=True)
        self.result["error"] = {"kind": "cell", "type": type(err).__name__, "message": message, "cell": number,
                                "line": line, "source": source, "traceback": text}
        return EXIT_MODULE if isinstance(err, ModuleNotFoundError) else EXIT_CELL

    def save_outputs(self, namespace):
        readers = self.spec.get("readers", {})
        for name, path in self.opts["outputs"]:
            who = ", ".join(readers.get(name, [])) or "a later step"
            if name not in namespace:
                return self.fail("output", f"step {self.name!r} ended without defining {name!r}, which {who} reads "
                                 "(assigned only in a branch that did not run?)", EXIT_OUTPUT)
            try:
                os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
                self.result["saved"][name] = save_value(namespace[name], path)
                self.result["types"][name] = describe(namespace[name])
            except Exception as err:
                reason = f"{type(err).__name__}: {err}".split("\n")[0]
                self.result["unpicklable"][name] = reason
                return self.fail(
                    "output", f"value {name!r} cannot be passed from step {self.name!r} to {who}: {reason}", EXIT_OUTPUT
                )
        self.result["outputs"] = sorted(self.result["saved"])
        return 0

    def report_metrics(self, namespace):
        names = self.spec.get("metrics", [])
        if not names or not self.opts["metrics"]:
            return
        values = {}
        for name in names:
            try:
                values[name] = float(namespace[name])
            except KeyError:
                print(f"[jupyter_kf] metric {name!r} was not assigned: not reported", file=sys.stderr)
            except (TypeError, ValueError):
                print(
                    f"[jupyter_kf] metric {name!r} is a {type(namespace[name]).__name__}, not a number: not reported",
                    file=sys.stderr,
                )
        self.result["metrics"] = values
        print("[jupyter_kf] metrics: " + ", ".join(f"{k}={v:g}" for k, v in values.items()), flush=True)
        path = self.opts["metrics"]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            json.dump(values, f)

    def write_executor_output(self):
        """Tell KFP what the step produced: each artifact with its format and type, metrics as metadata."""
        executor_input = json.loads(self.opts["executor_input"])
        outputs = executor_input.get("outputs", {})
        if not outputs.get("outputFile"):
            return
        python = "%d.%d" % sys.version_info[:2]
        metadata = {name: {"format": fmt, "type": self.result["types"].get(name, ""), "python": python}
                    for name, fmt in self.result["saved"].items()}
        metrics_key = self.spec.get("metrics_key") or "metrics"
        if self.spec.get("metrics"):
            metadata[metrics_key] = dict(self.result["metrics"])
        artifacts = {}
        for key, values in metadata.items():
            given = outputs.get("artifacts", {}).get(key, {}).get("artifacts", [])
            if not given:
                continue
            artifact = given[0]
            artifacts[key] = {"artifacts": [{"name": artifact.get("name", key), "uri": artifact.get("uri", ""),
                                             "metadata": dict(artifact.get("metadata") or {}, **values)}]}
        out = outputs["outputFile"]
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w") as f:
            json.dump({"artifacts": artifacts}, f)


def offer_kf_data(sources):
    """``import jupyter_kf`` in a step whose image lacks it: ``jupyter_kf.data`` (put, load) from the sources
    the IR carries (``kf_fetch`` and ``kf_data``, stdlib only)."""
    import importlib.util
    import types

    for name in ("kf_fetch", "kf_data"):  # kf_data imports kf_fetch; the data: step fetches with kf_fetch
        module = types.ModuleType(name)
        module.__file__ = f"<{name}>"
        sys.modules[name] = module
        exec(compile(sources[name], f"<{name}>", "exec"), module.__dict__)
    if importlib.util.find_spec("jupyter_kf") is not None:
        return
    package = types.ModuleType("jupyter_kf", "jupyter_kf's kf.data, as shipped to a pipeline step (put, load)")
    package.data = sys.modules["kf_data"]
    sys.modules["jupyter_kf"] = package


def mount_data(plan):
    """The pinned versions at their mount points: linked read-only views in a local run (this machine's
    jupyter_kf), else fetched from the store and checked against their hashes."""
    if os.environ.get("KF_PIPELINE_RUN"):
        from jupyter_kf.datasets.api import mount_for_step

        return mount_for_step(plan, os.getcwd(), os.environ.get("KF_JOB_NAME"))
    fetch = sys.modules.get("kf_fetch")  # offered with the store (see offer_kf_data)
    if not plan.get("store") or fetch is None:
        raise RuntimeError("its data: tags were compiled without the S3-compatible store pods fetch from: set "
                           "c.KfConfig.store, store_endpoint and store_secret, then compile the pipeline again")
    folders = [os.path.abspath(entry["mount"]) for entry in plan["data"]]
    fetch.fetch(plan, folders, cache=plan.get("cache"))
    step = os.environ.get("KF_PIPELINE_STEP")
    if step and "kf_data" in sys.modules:  # lineage: this step read these versions
        sys.modules["kf_data"].record_read(plan["data"], step)
    return folders


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    job_dir = None
    if len(argv) == 1 and os.path.isfile(os.path.join(argv[0], "step-args.json")):
        job_dir = argv[0]
        with open(os.path.join(job_dir, "step-args.json")) as f:
            argv = json.load(f)
    step = Step(parse_args(argv), job_dir)
    code = EXIT_RUNNER
    try:
        code = step.run()
    except BaseException as err:
        text = traceback.format_exc()
        sys.stderr.write(text)
        step.result["error"] = {
            "kind": "runner",
            "message": f"the step runner failed: {type(err).__name__}: {err}",
            "traceback": text,
        }
    finally:
        if job_dir:
            step.result["exit_code"] = code
            tmp = os.path.join(job_dir, f"result.json.tmp{os.getpid()}")
            with open(tmp, "w") as f:
                json.dump(step.result, f)
            os.replace(tmp, os.path.join(job_dir, "result.json"))
    return code


# -- the program the IR carries -------------------------------------------------------------------
_FROM_RUNNER = (
    "CELL_FILENAME",
    "FRAME_MAGIC",
    "ALIGN",
    "write_frames",
    "_removed_on_error",
    "read_frames",
    "RemoteShell",
    "display",
    "run_code",
)
_PROGRAM = None


def program():
    """This module plus the parts of runner.py it uses, as one stdlib-only script (built once)."""
    global _PROGRAM
    if _PROGRAM is None:
        import ast

        from jupyter_kf.training import runner

        with open(runner.__file__) as f:
            runner_source = f.read()
        with open(__file__) as f:
            own = f.read()
        tree = ast.parse(runner_source)
        imports, parts = [], []
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.append(ast.get_source_segment(runner_source, node))
            elif _defines(node) & set(_FROM_RUNNER):
                parts.append(ast.get_source_segment(runner_source, node))
        head, _, rest = own.partition("try:  # inside the package")
        rest = rest.split("\n\n", 1)[1]  # drop the package import block
        body = rest.split("# -- the program the IR carries")[0].rstrip()
        header = ('"""jupyter_kf pipeline step (built from jupyter_kf/pipeline/step_runner.py and '
                  'jupyter_kf/training/runner.py)."""')
        text = "\n".join([*imports, "", *parts, "", _strip_docstring(head), body, "",
                          "if __name__ == '__main__':", "    sys.exit(main())", ""])
        _PROGRAM = header + "\n" + _compact(ast.parse(text)) + "\n"
    return _PROGRAM


def _compact(tree):
    """The program without docstrings and comments: it travels in every step's container spec."""
    import ast

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def _defines(node):
    import ast

    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _strip_docstring(head):
    text = head.split('"""', 2)[-1] if head.lstrip().startswith('"""') else head
    return text.strip() + "\n"


if __name__ == "__main__":  # pragma: no cover - the program has its own
    sys.exit(main())
