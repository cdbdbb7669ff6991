import sys
import types

import pytest

from jupyter_kf.errors import CaptureError
from jupyter_kf.training import capture
from jupyter_kf.training.capture import analyse


def inputs(src):
    return [n for n in analyse(src).inputs if n not in ("print", "len", "range", "sum")]


def test_reads_before_assignment_are_inputs():
    a = analyse("model = fit(X, y, epochs=5)\nscore = evaluate(model)")
    assert a.inputs == ["fit", "X", "y", "evaluate"]
    assert a.outputs == ["model", "score"]


def test_later_assignment_hides_the_notebook_value():
    assert inputs("model = 41\ny = model + 1") == []
    assert inputs("x = x + 1") == ["x"]


def test_branches_bind_only_what_both_bind():
    assert inputs("if flag:\n    lr = 0.1\nprint(lr)") == ["flag", "lr"]
    assert inputs("if flag:\n    lr = 0.1\nelse:\n    lr = 1\nprint(lr)") == ["flag"]
    assert inputs("for i in items:\n    acc = i\nprint(acc)") == ["items", "acc"]
    assert inputs("try:\n    q = 1\nexcept E as e:\n    pass\nprint(q)") == ["E", "q"]
    assert inputs("with open(p) as f:\n    d = f.read()\nprint(d)") == ["open", "p"]


def test_comprehension_variables_are_local_on_every_python():
    assert inputs("out = [x * k for x in data]") == ["data", "k"]
    assert inputs("out = {a: b for a, b in pairs.items() if a > lim}") == ["pairs", "lim"]
    assert inputs("out = [y for x in rows for y in x]") == ["rows"]


def test_a_comprehensions_first_iterable_is_read_in_the_cell_even_under_its_own_target_name():
    assert inputs("out = [data * 2 for data in data]") == ["data"]
    assert inputs("out = [x for x in rows for rows in x]") == ["rows"]  # later iterables: the comprehension's own


def test_walrus_binds_in_the_cell():
    a = analyse("if (n := size(data)) > 3:\n    print(n)\nvals = [m := v for v in data]\nprint(m)")
    assert "n" not in a.inputs and "m" not in a.inputs
    assert {"n", "m", "vals"} <= set(a.outputs)


def test_global_in_a_function_is_read_and_written():
    a = analyse("def bump():\n    global counter\n    counter += 1\nbump()")
    assert "counter" in a.inputs and "counter" in a.outputs


def test_function_and_class_bodies_read_globals():
    assert inputs("def f(a, b=dflt):\n    return helper(a) + scale\n") == ["dflt", "helper", "scale"]
    assert inputs("class M(Base):\n    n = 1\n    def go(self):\n        return self.n + glob") == ["Base", "glob"]
    assert inputs("@register\ndef f():\n    return [i * k for i in range(3)]") == ["register", "k"]


def test_lambda_parameters_are_not_inputs():
    assert inputs("f = lambda a, b=off: a + b + c") == ["off", "c"]


def test_del_removes_and_reports():
    a = analyse("tmp2 = tmp * 2\ndel tmp")
    assert a.inputs == ["tmp"] and a.deleted == ["tmp"]


def test_imports_are_writes_and_mapped():
    a = analyse("import numpy as np\nimport os.path\nfrom math import sqrt\nv = np.array([sqrt(2)])")
    assert a.inputs == [] and a.imports == {"np": "numpy", "os": "os"}
    assert set(a.outputs) >= {"np", "os", "sqrt", "v"}


def test_star_import_and_eval_warn():
    a = analyse("from math import *\nr = eval('alpha + 1')")
    assert any("import *" in w for w in a.warnings)
    assert any("eval()" in w and "--include" in w for w in a.warnings)


def test_magics_and_get_ipython_inside_the_cell():
    a = analyse("%time r = f(a)\n!echo {val}\nout = get_ipython().getoutput('ls')\nprint(r)")
    assert inputs("%time r = f(a)\n!echo {val}\nprint(r)") == ["f", "a", "val"]
    assert "r" in a.outputs and "get_ipython" not in a.inputs


def test_a_shell_call_without_a_command_is_left_for_the_job_to_report():
    assert inputs("get_ipython().system()\nget_ipython().getoutput()") == []


def test_cell_magic_body_is_analysed():
    assert inputs("%%time\nz = w * 2\n") == ["w"]


def test_ipython_internals_are_never_inputs():
    assert inputs("print(In[1], Out, _, _3, _i2)") == []


def test_exception_variables():
    a = analyse("try:\n    risky()\nexcept ValueError as err:\n    msg = str(err)")
    assert a.inputs[:1] == ["risky"] and "err" not in a.inputs


def test_match_statement():
    assert inputs("match cmd:\n    case [x, y]:\n        r = x + y\n    case _:\n        r = 0\nprint(r)") == ["cmd"]


@pytest.mark.parametrize("src", ["", "   \n", "# just a comment\n"])
def test_empty_cell_is_refused(src):
    with pytest.raises(CaptureError, match="the cell is empty"):
        analyse(src)


def test_syntax_error_names_the_cell_line():
    with pytest.raises(CaptureError, match=r"syntax error in the cell, line 3"):
        analyse("a = 1\nb = 2\nc = (\n")


def test_comprehensions_inside_functions():
    """Python 3.12 inlined comprehensions out of symtable; the analysis must not miss ``k``."""
    assert sorted(inputs("def f():\n    return [x * k for x in data]")) == ["data", "k"]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="PEP 695 syntax parses on Python 3.12+ (the matrix runs it)")
def test_type_parameters_are_local_and_type_aliases_bind():
    a = analyse("def first[T: Base](xs: list[T]) -> T:\n    return pick(xs)\ny = first(items)")
    assert a.inputs == ["Base", "list", "pick", "items"] and a.outputs == ["first", "y"]
    a = analyse("class Box[T](Generic):\n    def get(self) -> T:\n        return helper\nb = Box()")
    assert a.inputs == ["Generic", "helper"] and a.outputs == ["Box", "b"]
    a = analyse("type Pair[T] = tuple[T, Other]\nz = Pair")
    assert [n for n in a.inputs if n != "tuple"] == ["Other"] and a.outputs == ["Pair", "z"]


def test_module_level_annotations_are_read():
    """A cell evaluates ``x: MyType = v`` at module level, so MyType must reach the job."""
    assert analyse("x: MyType = make()\ny: int").inputs == ["make", "MyType", "int"]


@pytest.mark.parametrize("version, reads_annotation", [((3, 13, 9, "final", 0), True), ((3, 14, 0, "final", 0), False),
                                                       ((3, 15, 0, "alpha", 1), False)])
def test_module_level_annotations_are_deferred_from_python_3_14(monkeypatch, version, reads_annotation):
    """PEP 649: from 3.14 a module's annotations are evaluated only when asked for, so the job does not need them."""
    monkeypatch.setattr(capture, "sys", types.SimpleNamespace(version_info=version))
    assert ("MyType" in analyse("x: MyType = make()").inputs) is reads_annotation


@pytest.mark.parametrize("cell, complete", [("y = x + 1", True), ("from math import *\ny = tau", False),
                                            ("exec('y = 1')", False), ("y = eval('x')", False),
                                            ("def exec(code):\n    pass\nexec('y = 1')", True)])
def test_the_analysis_says_when_it_cannot_see_every_name(cell, complete):
    assert analyse(cell).complete is complete
