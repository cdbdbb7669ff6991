"""Functions a job's cell defined come back callable as the notebook would define them."""
from jupyter_kf.training.results import rebind


def _defined_in_a_job(source):
    job_globals = {"__name__": "__main__"}
    exec(source, job_globals)
    return job_globals


def test_rebind_keeps_positional_and_keyword_only_defaults():
    fn = _defined_in_a_job("def f(a=1, *, k=2):\n    return a, k, SCALE")["f"]
    user_ns = {"SCALE": 10}
    fresh = rebind(fn, user_ns)
    assert fresh is not fn and fresh.__globals__ is user_ns
    assert fresh() == (1, 2, 10)
    assert fresh(3, k=4) == (3, 4, 10)
    user_ns["SCALE"] = 20  # the notebook's live globals, not a copy
    assert fresh() == (1, 2, 20)


def test_rebind_keeps_name_doc_and_attributes():
    fn = _defined_in_a_job("def g(*, k):\n    '''doc'''\n    return k")["g"]
    fn.tag = "t"
    fresh = rebind(fn, {})
    assert (fresh.__name__, fresh.__qualname__, fresh.__doc__, fresh.tag) == ("g", "g", "doc", "t")
    assert fresh(k=5) == 5


def test_rebind_leaves_other_values_alone():
    ns = {}
    assert rebind(len, ns) is len
    imported = _defined_in_a_job("def h():\n    return 1")["h"]
    imported.__module__ = "some_module"
    assert rebind(imported, ns) is imported
