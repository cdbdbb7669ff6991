"""What a job ships: --include and --exclude reach the payload."""

import os
import pickle
import sys
import threading
import types

import cloudpickle
import pytest

from jupyter_kf.errors import CaptureError, StateWriteError
from jupyter_kf.training import api, payload
from jupyter_kf.training.capture import analyse
from jupyter_kf.training.spec import TrainSpec


def test_capture_inputs_skips_excluded_names():
    ns = {"a": 1, "secret": "s3cr3t", "extra": [1]}
    captured = payload.capture_inputs(analyse("b = a + len(secret)"), ns, include=("extra",), exclude=("secret",))
    assert captured.values == {"a": 1, "extra": [1]}
    everything = payload.capture_inputs(analyse("b = a"), ns, exclude=("secret",), ship_all=True)
    assert "secret" not in everything.values and everything.values["extra"] == [1]


def test_excluded_name_never_reaches_the_job(tmp_path):
    ns = {"a": 2, "secret": "s3cr3t"}
    dry = api.train("b = a * 2\nprint(secret)", user_ns=ns, exclude=("secret",), dry_run=True)
    assert set(dry.captured.values) == {"a"}
    job = api.train("try:\n    seen = secret\nexcept NameError:\n    seen = None\nb = a * 2", user_ns=ns,
                    exclude=("secret",))
    status = job.wait(timeout=60)
    assert status.phase == "Succeeded"
    loaded, _ = job.apply(ns)
    assert ns["seen"] is None and ns["b"] == 4


def test_a_cell_reading_a_name_defined_nowhere_is_refused_before_anything_starts(kf_state_dir):
    with pytest.raises(CaptureError, match=r"the cell reads nowhere_x, defined neither in the notebook .* NameError"):
        api.train("y = nowhere_x + 1", name="undefined", user_ns={})
    assert not (kf_state_dir / "jobs" / "undefined").exists()
    # the analysis cannot see every name: the job runs (and may define it)
    assert api.train("from math import *\ny = tau", name="star", user_ns={}, wait=True).results()["y"] > 6


def test_include_of_a_name_defined_nowhere_is_refused():
    with pytest.raises(CaptureError, match=r"^--include ghost: no such variable in the notebook"):
        api.train("y = 1", name="ghost-include", user_ns={"x": 1}, include=("ghost",))


# --- what ship_all adds -------------------------------------------------------------------------------------------

class ZMQExitAutocall:
    """Stands for ipykernel's ``exit`` object, whatever name it is bound to."""


def test_by_default_only_the_names_the_cell_reads_are_sent():
    captured = payload.capture_inputs(analyse("b = a"), {"a": 1, "unrelated": 2})
    assert captured.values == {"a": 1}


def test_ship_all_sends_the_notebooks_public_variables_only():
    ns = {"a": 1, "_private": 2, "_i3": "x = 1", "In": [], "leave": ZMQExitAutocall(), "zeta": 3}
    captured = payload.capture_inputs(analyse("b = 1"), ns, ship_all=True)
    assert set(captured.values) == {"a", "zeta"}


def test_capture_keeps_going_after_an_excluded_or_builtin_name():
    ns = {"a": 1, "secret": 2, "z": 3}
    captured = payload.capture_inputs(analyse("b = secret + len(a) + z"), ns, exclude=("secret",))
    assert captured.values == {"a": 1, "z": 3}
    captured = payload.capture_inputs(analyse("b = print(ghost) or z"), {"z": 3})
    assert captured.values == {"z": 3} and captured.missing == ["ghost"]


def test_a_cell_reading_two_undefined_names_suggests_excluding_the_first():
    analysis = analyse("y = first_ghost + second_ghost")
    captured = payload.capture_inputs(analysis, {})
    with pytest.raises(CaptureError, match=r"reads first_ghost, second_ghost, .* add --exclude first_ghost\)$"):
        payload.check_defined(analysis, captured)


# --- pickled sizes --------------------------------------------------------------------------------------------------

def test_sizes_are_each_values_pickled_size_and_minus_one_when_unpicklable():
    value = bytearray(b"x" * 100)  # protocol 5 pickles a bytearray differently from protocol 4
    sizes = payload.Captured(values={"data": value, "lock": threading.Lock()}).sizes()
    assert sizes == {"data": len(cloudpickle.dumps(value, protocol=5)), "lock": -1}


# --- which modules travel as source ---------------------------------------------------------------------------------

@pytest.fixture
def notebook_dir(tmp_path, monkeypatch):
    """A notebook folder with fake imported modules in ``sys.modules``; installed prefixes limited to ``venv/``."""
    monkeypatch.setattr(payload, "_prefixes", {str(tmp_path / "venv")})
    root = tmp_path / "nb"
    root.mkdir()
    return root


def imported(monkeypatch, name: str, path) -> None:
    if path is not None and not str(path).startswith("rel"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("X = 1\n")
    module = types.ModuleType(name)
    module.__file__ = str(path) if path is not None else None
    monkeypatch.setitem(sys.modules, name, module)


def test_modules_from_the_notebook_folder_travel_with_their_package_paths(notebook_dir, monkeypatch):
    imported(monkeypatch, "helper_x", notebook_dir / "helper_x.py")
    imported(monkeypatch, "pkg_x", notebook_dir / "pkg_x" / "__init__.py")
    imported(monkeypatch, "pkg_x.sub.mod", notebook_dir / "pkg_x" / "sub" / "mod.py")
    imported(monkeypatch, "pkg_x.Models", notebook_dir / "pkg_x" / "Models.py")  # sorts before "__init__.py"
    imported(monkeypatch, "pkg_x.tests", notebook_dir / "pkg_x" / "tests.py")
    files = payload.local_module_files(str(notebook_dir))
    assert files == {
        "helper_x.py": str(notebook_dir / "helper_x.py"),
        os.path.join("pkg_x", "__init__.py"): str(notebook_dir / "pkg_x" / "__init__.py"),
        os.path.join("pkg_x", "sub", "mod.py"): str(notebook_dir / "pkg_x" / "sub" / "mod.py"),
        os.path.join("pkg_x", "Models.py"): str(notebook_dir / "pkg_x" / "Models.py"),
        os.path.join("pkg_x", "tests.py"): str(notebook_dir / "pkg_x" / "tests.py"),
    }


@pytest.mark.parametrize("name, where", [
    ("outside_x", "../elsewhere/outside_x.py"),
    ("sibling_x", "../nb2/sibling_x.py"),  # a folder whose name starts with the notebook folder's
    ("installed_x", "../venv/lib/installed_x.py"),
    ("site_x", "site-packages/site_x.py"),
    ("dist_x", "dist-packages/dist_x.py"),
    ("compiled_x", "compiled_x.so"),
    ("tests.helper_x", "tests/helper_x.py"),
    ("jupyter_kf.fake_x", "jupyter_kf/fake_x.py"),
    ("__main__", "main_x.py"),
])
def test_modules_that_are_not_the_notebooks_own_stay_behind(notebook_dir, monkeypatch, name, where):
    imported(monkeypatch, name, notebook_dir / where)
    assert name not in {m for m in sys.modules if m in payload.local_module_files(str(notebook_dir))}
    assert not any(path.endswith(os.path.basename(where)) for path in payload.local_module_files(str(notebook_dir)))


def test_modules_without_a_real_file_stay_behind(notebook_dir, monkeypatch):
    imported(monkeypatch, "relative_x", "relative_x.py")
    imported(monkeypatch, "builtin_x", None)
    monkeypatch.setitem(sys.modules, "vanished_x", types.ModuleType("vanished_x"))
    sys.modules["vanished_x"].__file__ = str(notebook_dir / "vanished_x.py")
    monkeypatch.chdir(notebook_dir)
    (notebook_dir / "relative_x.py").write_text("X = 1\n")
    assert payload.local_module_files(str(notebook_dir)) == {}


def test_installed_prefixes_include_the_interpreters(monkeypatch):
    monkeypatch.setattr(payload, "_prefixes", set())
    assert os.path.realpath(sys.prefix) in payload._installed_prefixes()


# --- naming the part that cannot be pickled -------------------------------------------------------------------------

LOCK = threading.Lock()


def notebook_function(source: str, name: str):
    """A function defined in a notebook (``__main__``): cloudpickle ships it by value, globals included."""
    namespace = {"__name__": "__main__", "LOCK": LOCK, "threading": threading}
    exec(source, namespace)
    return namespace[name]


def test_a_global_used_by_a_nested_function_is_named():
    f = notebook_function("def uses_lock():\n    return (lambda: LOCK)()\n", "uses_lock")
    assert payload.find_unpicklable(f, "f").startswith("global 'LOCK' used by uses_lock(): TypeError")


def test_a_closed_over_variable_is_named_after_an_empty_cell():
    source = ("def outer():\n    lock = threading.Lock()\n    def inner():\n        return later, lock\n"
              "    return inner\n    later = 1\n")  # ``later``: a closure cell never filled, listed first
    assert payload.find_unpicklable(notebook_function(source, "outer")(), "f").startswith(
        "variable 'lock' closed over by inner(): TypeError")


def test_a_default_argument_is_named_by_position():
    f = notebook_function("def with_default(x=LOCK):\n    return x\n", "with_default")
    assert payload.find_unpicklable(f, "f").startswith("default #1 of with_default(): TypeError")


def test_the_culprit_inside_containers_and_objects_is_named():
    holder = types.SimpleNamespace(config={"ok": 1, "lock": [0, LOCK]})
    assert payload.find_unpicklable(holder, "h").startswith("h.config['lock'][1]: TypeError")


def test_the_search_stops_four_levels_down():
    assert payload.find_unpicklable([[[[[[LOCK]]]]]], "x").startswith("x[0][0][0][0]: TypeError")


def test_the_search_looks_at_the_first_thousand_items():
    assert payload.find_unpicklable([0] * 999 + [LOCK], "x").startswith("x[999]: TypeError")
    assert payload.find_unpicklable([0] * 1000 + [LOCK], "x").startswith("x: TypeError")
    assert payload.find_unpicklable({i: 0 for i in range(999)} | {"k": LOCK}, "d").startswith("d['k']: TypeError")
    assert payload.find_unpicklable({i: 0 for i in range(1000)} | {"k": LOCK}, "d").startswith("d: TypeError")


class RefusesTwoLines:
    def __reduce__(self):
        raise ValueError("first line\nsecond line")


def test_the_reason_is_the_errors_first_line():
    assert payload.find_unpicklable(RefusesTwoLines(), "r") == "r: ValueError: first line"


# --- the bundle -----------------------------------------------------------------------------------------------------

def bundle_of(folder, values, local_files=None, **kwargs):
    analysis = analyse("y = 1")
    captured = payload.Captured(values=values, local_files=local_files or {})
    return payload.write_bundle(folder, TrainSpec.create(name="bundle"), analysis, captured, **kwargs)


def test_a_bundle_without_inputs_has_no_payload(tmp_path):
    meta = bundle_of(tmp_path, {}, limit=0)
    assert meta["payload_bytes"] == 0 and meta["detect_mutation"] is True
    assert not (tmp_path / "payload.bin").exists()


def test_inputs_exactly_at_the_limit_are_accepted(tmp_path):
    size = bundle_of(tmp_path, {"x": b"y" * 1000}, limit=10**6)["payload_bytes"]
    assert bundle_of(tmp_path, {"x": b"y" * 1000}, limit=size)["payload_bytes"] == size


def test_over_the_limit_the_three_biggest_inputs_are_named_biggest_first(tmp_path):
    values = {"small": b"s" * 1000, "huge": b"h" * 9000, "mid": b"m" * 4000, "big": b"b" * 6000}
    with pytest.raises(CaptureError, match=r"over the payload limit of 100 B: huge \(8\.\d KiB\), big \(5\.\d KiB\), "
                                           r"mid \(3\.\d KiB\)\. Load"):
        bundle_of(tmp_path, values, limit=100)


def test_local_modules_are_copied_into_the_bundles_source_folder(tmp_path):
    (tmp_path / "a.py").write_text("A = 1\n")
    (tmp_path / "b.py").write_text("B = 2\n")
    local = {os.path.join("pkg", "sub", "a.py"): str(tmp_path / "a.py"),
             os.path.join("pkg", "sub", "b.py"): str(tmp_path / "b.py")}
    (tmp_path / "job").mkdir()
    bundle_of(tmp_path / "job", {}, local_files=local)
    assert (tmp_path / "job" / "src" / "pkg" / "sub" / "a.py").read_text() == "A = 1\n"
    assert (tmp_path / "job" / "src" / "pkg" / "sub" / "b.py").read_text() == "B = 2\n"


def test_inputs_that_only_fail_together_are_reported_as_such(tmp_path, monkeypatch):
    def refuse(*args):
        raise pickle.PicklingError("the whole")

    monkeypatch.setattr(payload.runner, "write_frames", refuse)
    with pytest.raises(CaptureError, match="cannot send the cell's inputs to the job: the inputs together cannot be"):
        bundle_of(tmp_path, {"x": 1})


def test_a_disk_error_is_named_as_such_not_as_an_unpicklable_input(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(StateWriteError, match="nothing was started"):
        bundle_of(tmp_path / "file" / "job", {"x": 1})
