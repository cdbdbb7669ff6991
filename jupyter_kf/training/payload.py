"""The captured inputs of a cell and the job bundle they travel in.

Modules are re-imported by name; every other value goes through ONE cloudpickle call (aliasing
kept; notebook functions share one rebuilt globals dict); local helper modules travel as source.
A value that cannot be pickled is named, with the path to the culprit, before anything starts.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_kf.display import format_size
from jupyter_kf.errors import CaptureError
from jupyter_kf.training import runner
from jupyter_kf.training.capture import BUILTINS, CellAnalysis, is_ipython_name
from jupyter_kf.training.spec import TrainSpec, parse_quantity


@dataclass
class Captured:
    values: dict = field(default_factory=dict)
    modules: dict = field(default_factory=dict)  # name in the notebook -> module to import
    local_files: dict = field(default_factory=dict)  # relative path -> absolute path
    missing: list = field(default_factory=list)  # read, but defined nowhere (a NameError to come)

    def sizes(self) -> dict[str, int]:
        """Pickled size of each value (one pickle per value: for display, not for shipping)."""
        import cloudpickle

        sizes = {}
        for name, obj in self.values.items():
            counter = _CountingWriter()
            try:
                cloudpickle.Pickler(counter, protocol=5).dump(obj)
            except Exception:
                counter.size = -1
            sizes[name] = counter.size
        return sizes


class _CountingWriter(io.RawIOBase):
    size = 0

    def write(self, data):
        size = memoryview(data).nbytes
        self.size += size
        return size


def capture_inputs(analysis: CellAnalysis, user_ns: dict, include=(), exclude=(), ship_all=False) -> Captured:
    unknown = [n for n in include if n not in user_ns and n not in BUILTINS]
    if unknown:
        raise CaptureError(f"--include {' '.join(unknown)}: no such variable in the notebook; --include names a "
                           "variable the notebook defines that the cell uses unseen (through exec, eval or globals())")
    names = list(analysis.inputs) + [n for n in include if n not in analysis.inputs]
    if ship_all:
        names += [n for n in user_ns if not n.startswith("_") and not is_ipython_name(n) and n not in names]
    captured = Captured()
    for name in names:
        if name in exclude or is_ipython_name(name):
            continue
        if name not in user_ns:
            if name not in BUILTINS:
                captured.missing.append(name)
            continue
        obj = user_ns[name]
        if ship_all and (name in ("exit", "quit") or type(obj).__name__ in ("ZMQExitAutocall",)):
            continue
        if isinstance(obj, types.ModuleType):
            captured.modules[name] = obj.__name__
        else:
            captured.values[name] = obj
    captured.local_files = local_module_files()
    return captured


def check_defined(analysis: CellAnalysis, captured: Captured) -> None:
    """Refuse a job that can only fail with NameError: the cell reads names defined nowhere.

    Not when the analysis cannot see every name (a star import, exec/eval). A cell that handles the
    absence itself (``except NameError``) runs with ``--exclude NAME``."""
    if captured.missing and analysis.complete:
        names = ", ".join(captured.missing)
        raise CaptureError(f"the cell reads {names}, defined neither in the notebook nor as a builtin: it would fail "
                           f"with NameError. Run the cell that defines it first (or, if the cell handles its absence, "
                           f"add --exclude {captured.missing[0]})")


_module_files: dict[tuple, str | None] = {}  # (root, module name, file) -> relative path to ship, or None


def local_module_files(root: str | None = None) -> dict[str, str]:
    """Source files of modules imported from the notebook's folder (not installed packages).

    Decisions are cached per module: a kernel imports ~1,000 modules and resolving each path costs.
    """
    root = os.path.realpath(root or os.getcwd())
    files = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        key = (root, name, path)
        if key not in _module_files:
            _module_files[key] = _ship_as(name, path, root)
        if _module_files[key]:
            files[_module_files[key]] = os.path.realpath(path)
    return files


def _installed_prefixes() -> set[str]:
    if not _prefixes:
        _prefixes.update(os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix))
    return _prefixes


_prefixes: set[str] = set()


def _ship_as(name: str, path: str | None, root: str) -> str | None:
    if (
        not path
        or not os.path.isabs(path)
        or not path.endswith(".py")
        or name.split(".")[0] in ("jupyter_kf", "tests", "__main__")
    ):
        return None
    if not (os.path.realpath(os.path.dirname(path)) + os.sep).startswith(root + os.sep):
        return None
    real = os.path.realpath(path)
    installed = _installed_prefixes()
    if (not os.path.isfile(real) or any(real.startswith(p + os.sep) for p in installed)
            or "site-packages" in real or "dist-packages" in real):
        return None
    parts = name.split(".")
    if os.path.basename(real) == "__init__.py":
        return os.path.join(*parts, "__init__.py")
    return os.path.join(*parts[:-1], os.path.basename(real))


def find_unpicklable(obj, path: str, depth: int = 0) -> str | None:
    """A readable path to the part of ``obj`` that cannot be pickled, e.g. "global 'lock' used by f()"."""
    import cloudpickle

    try:
        cloudpickle.dumps(obj)
        return None
    except Exception as err:
        reason = f"{type(err).__name__}: {err}".split("\n")[0]
    if depth < 4:
        for child_path, child in _children(obj, path):
            found = find_unpicklable(child, child_path, depth + 1)
            if found:
                return found
    return f"{path}: {reason}"


def _children(obj, path):
    if isinstance(obj, types.FunctionType):
        code_names = _code_names(obj.__code__)
        for name in code_names:
            if name in obj.__globals__:
                yield f"global {name!r} used by {obj.__name__}()", obj.__globals__[name]
        for var, cell in zip(obj.__code__.co_freevars, obj.__closure__ or ()):
            try:
                yield f"variable {var!r} closed over by {obj.__name__}()", cell.cell_contents
            except ValueError:
                continue
        for i, default in enumerate(obj.__defaults__ or ()):
            yield f"default #{i + 1} of {obj.__name__}()", default
    elif isinstance(obj, dict):
        for key, val in list(obj.items())[:1000]:
            yield f"{path}[{key!r}]", val
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, val in enumerate(list(obj)[:1000]):
            yield f"{path}[{i}]", val
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        for key, val in vars(obj).items():
            yield f"{path}.{key}", val


def _code_names(code) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names += _code_names(const)
    return list(dict.fromkeys(names))


def payload_limit_bytes() -> int:
    from jupyter_kf import config

    return int(parse_quantity(config.get().payload_limit, "payload_limit"))


def write_bundle(folder: Path, spec: TrainSpec, analysis: CellAnalysis, captured: Captured, limit: int | None = None,
                 detect_mutation: bool = True) -> dict:
    """Write everything the job needs into ``folder``; return its metadata. Raises before writing much;
    a full disk is named as such (``StateWriteError``), never mistaken for an unpicklable input."""
    try:
        return _write_bundle(folder, spec, analysis, captured, limit, detect_mutation)
    except OSError as err:
        from jupyter_kf.errors import StateWriteError

        raise StateWriteError(f"{runner.write_error(err, folder)}: nothing was started; free space, or point "
                              "JUPYTER_KF_STATE_DIR at a larger disk") from None


def _write_bundle(folder, spec, analysis, captured, limit, detect_mutation):
    import cloudpickle

    limit = payload_limit_bytes() if limit is None else limit
    try:
        size = (
            runner.write_frames(str(folder / "payload.bin"), captured.values, cloudpickle.Pickler)
            if captured.values
            else 0
        )
    except OSError:
        raise
    except Exception:
        culprits = [
            f"input {name!r}: {found}"
            for name, obj in captured.values.items()
            if (found := find_unpicklable(obj, name))
        ]
        detail = "; ".join(culprits) or "the inputs together cannot be pickled"
        raise CaptureError(
            f"cannot send the cell's inputs to the job: {detail}. Define it inside the cell, or leave it "
            "out with --exclude NAME"
        ) from None
    if size > limit:
        biggest = sorted(captured.sizes().items(), key=lambda kv: -kv[1])[:3]
        listed = ", ".join(f"{n} ({format_size(s)})" for n, s in biggest)
        raise CaptureError(
            f"the cell's inputs are {format_size(size)}, over the payload limit of {format_size(limit)}: "
            f"{listed}. Load the data inside the cell, or raise c.KfConfig.payload_limit"
        )
    src = folder / "src"
    for rel, real in captured.local_files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real, src / rel)
    shutil.copyfile(runner.__file__, folder / "runner.py")
    import cloudpickle as cp

    meta = {
        "spec": spec.to_dict(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "created_ts": time.time(),
        "python": "%d.%d" % sys.version_info[:2],
        "executable": sys.executable,
        "cloudpickle": cp.__version__,
        "source": analysis.source,
        "code": analysis.code,
        "modules": captured.modules,
        "inputs": sorted(captured.values),
        "deleted": analysis.deleted,
        "payload_bytes": size,
        "detect_mutation": detect_mutation,
        "notebook": os.environ.get("JPY_SESSION_NAME", ""),
        "cwd": os.getcwd(),
        "user": os.environ.get("USER", ""),
    }
    (folder / "meta.json.tmp").write_text(json.dumps(meta))
    os.replace(folder / "meta.json.tmp", folder / "meta.json")
    return meta
