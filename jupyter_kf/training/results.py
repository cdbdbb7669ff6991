"""Results of a job back into the notebook, with the notebook's aliases intact.

The runner sends inputs back as references; here they resolve to the notebook's own objects (or,
after a kernel restart, to the job's copies of them), and inputs the cell mutated get their new
state copied in place, so ``b = a; a.append(1)`` in a job leaves ``b is a`` true in the notebook.
"""
from __future__ import annotations

import importlib
import json
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_kf.config import check_private
from jupyter_kf.errors import KfError, ResultsCorrupt, ResultsNotReady
from jupyter_kf.training import runner

_NO_VALUE = object()


@dataclass
class Results:
    """What a finished job produced (rank 0)."""

    values: dict = field(default_factory=dict)  # new or rebound names
    mutated: dict = field(default_factory=dict)  # inputs changed in place: name -> new state
    deleted: list = field(default_factory=list)
    imports: dict = field(default_factory=dict)
    unpicklable: dict = field(default_factory=dict)
    error: dict | None = None
    value: object = _NO_VALUE  # the cell's last expression

    @property
    def has_value(self) -> bool:
        return self.value is not _NO_VALUE

    def names(self) -> list[str]:
        return sorted(set(self.values) | set(self.mutated))


SUMMARY_KEYS = ("outputs", "deleted", "imports", "unpicklable", "error")


def read_summary(folder: Path) -> dict | None:
    """The job's ``result.json``; None before it is written, ``ResultsCorrupt`` when it is damaged."""
    try:
        summary = json.loads((folder / "result.json").read_bytes())
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _corrupt(folder, "result.json", err) from None
    if not isinstance(summary, dict) or not all(key in summary for key in SUMMARY_KEYS):
        raise _corrupt(folder, "result.json", ValueError(f"it lacks {', '.join(SUMMARY_KEYS)}"))
    return summary


def _corrupt(folder: Path, file: str, err: Exception) -> ResultsCorrupt:
    return ResultsCorrupt(f"job {folder.name!r}: its results are damaged ({file}: {type(err).__name__}: {err}); "
                          f"rerun the job (its logs are kept: %kf_logs {folder.name})")


def load(folder: Path, originals: dict | None = None) -> Results:
    """Read a job's results; references to inputs resolve to ``originals`` (else to the payload's copies)."""
    summary = read_summary(folder)
    if summary is None:
        raise ResultsNotReady(f"job {folder.name!r} has no results yet: it is still running or never started")
    results = Results(deleted=summary["deleted"], imports=summary["imports"], unpicklable=summary["unpicklable"],
                      error=summary["error"])
    if not (folder / "result.pkl").exists():
        for name in summary["outputs"]:
            warnings.warn(f"job {folder.name!r}: result {name!r} is missing (result.pkl is gone): it stays unset",
                          stacklevel=2)
        return results
    refs = originals
    if refs is None:
        payload = folder / "payload.bin"
        refs = _LazyPayload(payload)

    def persistent_load(pid):
        kind, name = pid
        return refs[name]

    data = _read_pickle(folder, persistent_load)
    results.value = data["outputs"].pop("__value__", _NO_VALUE)
    results.values = data["outputs"]
    for name, state in data["mutated"].items():  # the shipped object takes its new state, references see it
        try:
            target = refs[name]
        except KeyError:
            target = None
        results.mutated[name] = target if target is not None and copy_into(target, state) else state
    return results


def _read_pickle(folder: Path, persistent_load) -> dict:
    """``result.pkl`` unpickled; any damage is one ``ResultsCorrupt`` line, a missing module one clear line."""
    path = _private(folder / "result.pkl")
    try:
        data = runner.read_frames(path, persistent_load)
    except KfError:
        raise
    except ModuleNotFoundError as err:
        raise KfError(f"job {folder.name!r}: a result needs module {err.name!r}, which this kernel lacks: "
                      f"install it here (%pip install {err.name}) and fetch the results again") from None
    except Exception as err:
        raise _corrupt(folder, "result.pkl", err) from None
    if not isinstance(data, dict) or not isinstance(data.get("outputs"), dict) or "mutated" not in data:
        raise _corrupt(folder, "result.pkl", ValueError("it holds no outputs"))
    return data


def _private(path: Path) -> str:
    """Unpickling runs code: only a file of this user's, in a folder of this user's, that no one else may
    write to, is read (``StateNotPrivate`` otherwise)."""
    check_private(path.parent, "the job folder")
    check_private(path, "the pickle")
    return str(path)


class _LazyPayload:
    """The job's inputs as it saw them, read only if a result refers to one (after a kernel restart)."""

    def __init__(self, path: Path):
        self.path, self.values = path, None

    def __getitem__(self, name):
        if self.values is None:
            self.values = runner.read_frames(_private(self.path)) if self.path.exists() else {}
        return self.values[name]


def apply(results: Results, user_ns: dict) -> list[str]:
    """Bind results into ``user_ns`` (mutated inputs were updated in place by ``load``); the names that changed."""
    changed = []
    for name, value in results.mutated.items():
        user_ns[name] = value
        changed.append(name)
    for name, value in results.values.items():
        user_ns[name] = rebind(value, user_ns)
        changed.append(name)
    for name, module in results.imports.items():
        try:
            user_ns[name] = importlib.import_module(module)
            changed.append(name)
        except ImportError:
            pass  # installed in the job's image only
    for name in results.deleted:
        if user_ns.pop(name, None) is not None:
            changed.append(name)
    return changed


def copy_into(target, state) -> bool:
    """Give ``target`` the state of ``state`` in place; False when that type cannot be updated in place."""
    if target is state:
        return True
    if type(target) is not type(state):
        return False
    if isinstance(target, list):
        target[:] = state
    elif isinstance(target, dict):
        target.clear()
        target.update(state)
    elif isinstance(target, set):
        target.clear()
        target.update(state)
    elif isinstance(target, bytearray):
        target[:] = state
    elif type(target).__module__ == "numpy" and type(target).__name__ == "ndarray":
        if target.shape != state.shape or target.dtype != state.dtype:
            return False
        target[...] = state
    elif hasattr(target, "__dict__") and not isinstance(target, type):
        target.__dict__.clear()
        target.__dict__.update(state.__dict__)
    else:
        return False
    return True


def rebind(value, user_ns: dict):
    """A function defined in the job's cell sees the notebook's live globals, as if defined here."""
    if isinstance(value, types.FunctionType) and value.__module__ == "__main__" and value.__globals__ is not user_ns:
        fresh = types.FunctionType(value.__code__, user_ns, value.__name__, value.__defaults__, value.__closure__)
        fresh.__kwdefaults__ = value.__kwdefaults__
        fresh.__qualname__ = value.__qualname__
        fresh.__dict__.update(value.__dict__)
        fresh.__doc__ = value.__doc__
        return fresh
    return value
