import numpy as np

from jupyter_kf.training.results import Results, apply, copy_into, rebind


class Box:
    def __init__(self, v):
        self.v = v


def test_copy_into_updates_in_place():
    lst, dct, st, ba, arr, box = [1], {"a": 1}, {1}, bytearray(b"a"), np.zeros(3), Box(1)
    for target, state in [(lst, [1, 2]), (dct, {"b": 2}), (st, {2}), (ba, bytearray(b"bc")), (arr, np.ones(3)), (box, Box(5))]:
        assert copy_into(target, state)
    assert (lst, dct, st, bytes(ba), list(arr), box.v) == ([1, 2], {"b": 2}, {2}, b"bc", [1.0, 1.0, 1.0], 5)


def test_copy_into_refuses_what_it_cannot_update():
    assert not copy_into(np.zeros(3), np.zeros(4))
    assert not copy_into((1,), (2,))
    assert not copy_into([1], (1,))


def test_apply_binds_imports_and_deletes():
    ns = {"gone": 1}
    results = Results(values={"x": 1}, imports={"j": "json", "nope": "no_such_module_anywhere"}, deleted=["gone"])
    changed = apply(results, ns)
    assert ns["x"] == 1 and ns["j"].__name__ == "json" and "gone" not in ns and "nope" not in ns
    assert changed == ["x", "j", "gone"]


def test_rebind_gives_cell_functions_the_notebook_globals():
    remote_globals = {"k": 1}
    exec("def f():\n    return k", remote_globals)
    f = remote_globals["f"]
    f.__module__ = "__main__"
    ns = {"k": 41}
    assert rebind(f, ns)() == 41
    assert rebind(len, ns) is len
