"""Cell capture: which names a cell reads (inputs) when only some paths bind them."""
import pytest

from jupyter_kf.errors import CaptureError
from jupyter_kf.training.capture import analyse


def test_match_without_wildcard_binds_nothing_for_later_reads():
    """No case may match: a name bound in every case is still read from the notebook afterwards."""
    src = "match cmd:\n    case 1:\n        r = 1\n    case [x]:\n        r = x\nprint(r)"
    assert analyse(src).inputs == ["cmd", "print", "r"]


def test_match_with_wildcard_binds_what_every_case_binds():
    src = "match cmd:\n    case 1:\n        r = 1\n    case _:\n        r = 2\nprint(r)"
    assert analyse(src).inputs == ["cmd", "print"]
    partial = "match cmd:\n    case 1:\n        r = 1\n    case _:\n        pass\nprint(r)"
    assert analyse(partial).inputs == ["cmd", "print", "r"]


def test_capture_pattern_is_a_wildcard_too():
    src = "match cmd:\n    case 1:\n        r = 1\n    case other:\n        r = other\nprint(r)"
    assert analyse(src).inputs == ["cmd", "print"]


def test_a_builtin_the_cell_rebinds_is_not_an_input():
    assert analyse("len = measure\nlen(x)").inputs == ["measure", "x"]
    assert analyse("len(x)").inputs == ["len", "x"]  # the notebook may shadow it: shipped only if defined there


def test_definitions_read_defaults_and_annotations_at_definition_time():
    src = "def f(a: T = A, *rest: U, k: int = K, j, **kw: V) -> R:\n    return a + k + G\n"
    assert analyse(src).inputs == ["A", "K", "T", "int", "U", "V", "R", "G"]
    assert analyse("def g(*, k):\n    return k\n").inputs == []


def test_augmented_and_annotated_assignments():
    assert analyse("total += 1").inputs == ["total"]
    assert analyse("cfg.lr *= 2").inputs == ["cfg"]
    # (whether a module-level annotation counts as a read is not asserted here)
    assert [n for n in analyse("total: int = base\nprint(total)").inputs if n != "int"] == ["base", "print"]
    assert [n for n in analyse("total: int\nprint(total)").inputs if n != "int"] == ["print", "total"]  # nothing bound


def test_for_else_binds_what_the_else_binds():
    assert analyse("for i in items:\n    pass\nelse:\n    done = 1\nprint(done)").inputs == ["items", "print"]


def test_star_import_warns_and_later_imports_still_count():
    a = analyse("from m import *\nimport numpy as np\nnp.zeros(1)")
    assert a.imports == {"np": "numpy"} and a.inputs == []
    assert a.warnings == ["'from m import *' hides which names the cell defines: every public name comes back"]


def test_only_code_magics_are_parsed_as_code():
    assert analyse("%matplotlib inline\nx = 1").inputs == []
    assert analyse("%time y = x + 1").inputs == ["x"]


def test_only_get_ipython_calls_with_literal_arguments_are_magics():
    assert analyse("get_ipython().run_line_magic('time', code)").inputs == ["code"]
    assert analyse("fetch().system('echo {secret}')").inputs == ["fetch"]
    assert analyse("!echo {secret}").inputs == ["secret"]


def test_syntax_errors_quote_the_line():
    with pytest.raises(CaptureError) as err:
        analyse("x = 1 +")
    assert str(err.value) == "syntax error in the cell, line 1: invalid syntax: x = 1 +"


def test_keyword_arguments_and_tuple_targets():
    assert analyse("fit(X, epochs=E)").inputs == ["fit", "X", "E"]
    assert analyse("a, [b, *c] = pair\nprint(a, b, c)").inputs == ["pair", "print"]


def test_shell_expansions_and_timed_code():
    assert analyse("!echo $secret {other:>4}").inputs == ["secret", "other"]
    assert analyse("zap().system('echo {secret}')").inputs == ["zap"]  # not get_ipython(): a plain call
    assert analyse("%time t = 1\nprint(t)").inputs == ["print"]
    assert analyse("%timeit t = 1\nprint(t)").inputs == ["print", "t"]  # %timeit binds nothing in the notebook
    assert analyse("%time x = (").inputs == []  # code a magic cannot parse is left to the magic
