"""Reading a job's results folder (jupyter_kf/training/results.py): before, after and without a kernel restart."""
import numpy as np
import pytest

from jupyter_kf.errors import ResultsNotReady
from jupyter_kf.training import api, results


def _finished(source, ns, **kwargs):
    job = api.train(source, user_ns=ns, **kwargs)
    status = job.wait(timeout=60)
    return status, job.backend.result_dir(job.name)


def test_no_summary_yet_says_so(tmp_path):
    folder = tmp_path / "train-x"
    folder.mkdir()
    with pytest.raises(ResultsNotReady, match=r"^job 'train-x' has no results yet: it is still running or never started$"):
        results.load(folder)
    assert results.read_summary(folder) is None


def test_mutated_inputs_resolve_to_the_notebooks_objects_or_the_jobs_copies():
    a = [1]
    ns = {"a": a, "X": np.zeros(3)}
    status, folder = _finished("a.append(2)\nX += 1\nb = a\nc = 5\nc * 2", ns)
    assert status.phase == "Succeeded" and results.read_summary(folder)["status"] == "ok"

    loaded = results.load(folder, originals=ns)
    assert loaded.mutated["a"] is a and a == [1, 2]  # updated in place
    assert loaded.values["b"] is a and loaded.values["c"] == 5
    assert loaded.has_value and loaded.value == 10
    assert loaded.names() == ["X", "a", "b", "c"]

    restarted = results.load(folder)  # a new kernel: references resolve to the job's copies of its inputs
    assert restarted.mutated["a"] == [1, 2] and restarted.mutated["a"] is not a
    assert restarted.values["b"] is restarted.mutated["a"]
    assert list(restarted.mutated["X"]) == [1.0, 1.0, 1.0]


def test_a_worker_that_died_leaves_an_error_and_no_values():
    status, folder = _finished("import os\nos._exit(3)", {})
    assert status.phase == "Failed"
    loaded = results.load(folder)
    assert loaded.error["kind"] == "crashed" and "exited with code 3" in loaded.error["message"]
    assert loaded.values == {} and loaded.mutated == {} and not loaded.has_value


def test_copy_into_identity_and_numpy_mismatches():
    x = np.zeros(3)
    assert results.copy_into(x, x) is True
    assert results.copy_into(np.zeros(3), np.ones(2)) is False  # shapes differ: a new array, not an update
    assert results.copy_into(np.zeros(2), np.ones(3)) is False
    assert results.copy_into(np.zeros(2), np.ones(2, dtype=np.float32)) is False
    same = np.zeros(2)
    assert results.copy_into(same, np.ones(2)) is True and list(same) == [1.0, 1.0]


def test_names_are_new_and_mutated_names_sorted():
    assert results.Results(values={"b": 1, "a": 2}, mutated={"c": 3, "a": 4}).names() == ["a", "b", "c"]


def test_copy_into_numpy_arrays_only_by_their_real_type():
    text = np.array(["abc", "def"])
    assert results.copy_into(text, np.array(["xyz", "uvw"])) is True  # equal dtypes, distinct dtype objects
    assert list(text) == ["xyz", "uvw"]
    assert results.copy_into(np.str_("a"), np.str_("b")) is False  # a numpy scalar is not an array
    for module in ("a_lib", "zz_lib"):  # a class named ndarray elsewhere is a plain object
        lookalike = type("ndarray", (), {"__module__": module})
        target, state = lookalike(), lookalike()
        state.size = 3
        assert results.copy_into(target, state) is True and target.size == 3


def test_rebind_even_when_the_jobs_globals_equal_the_notebooks():
    job_globals = {"__name__": "__main__"}
    exec("def f():\n    return X", job_globals)
    user_ns = dict(job_globals)  # equal, not the same dict
    fresh = results.rebind(job_globals["f"], user_ns)
    assert fresh.__globals__ is user_ns
    user_ns["X"] = 1
    assert fresh() == 1


def test_copy_into_refuses_numpy_scalars_and_narrower_dtypes():
    assert results.copy_into(np.float64(1.0), np.float64(2.0)) is False  # immutable: rebinding, not an update
    assert results.copy_into(np.zeros(2, dtype=np.float32), np.ones(2)) is False


def test_rebind_only_functions_of_the_jobs_main_module():
    fn = results.rebind  # any function from a named module, upper or lower case
    fake = type(fn)(fn.__code__, {}, "g")
    fake.__module__ = "Analysis"  # sorts before "__main__"
    assert results.rebind(fake, {}) is fake


def test_a_mutated_input_the_notebook_no_longer_has_comes_back_as_the_jobs_copy():
    ns = {"a": [1]}
    status, folder = _finished("a.append(2)", ns)
    assert status.phase == "Succeeded"
    loaded = results.load(folder, originals={})
    assert loaded.mutated["a"] == [1, 2] and ns["a"] == [1]


def test_has_value_is_a_plain_bool_even_for_an_array():
    assert results.Results(value=np.arange(3)).has_value is True
    assert results.Results().has_value is False


def test_apply_binds_mutated_inputs_too():
    state = [1, 2]
    ns = {"a": [1]}
    changed = results.apply(results.Results(mutated={"a": state}), ns)
    assert ns["a"] is state and changed == ["a"]
