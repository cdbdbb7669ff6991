"""Data flow between steps: who reads what from whom, edges from data and prev: tags, and what is refused."""
import pytest

from jupyter_kf.pipeline import convert
from jupyter_kf.pipeline.model import PipelineError
from tests.support.pipeline_helpers import DATA, notebook, steps


def flow(*cells, meta=None):
    return convert(notebook(*cells, meta=meta), image="python:3.11")


def error(*cells, meta=None) -> str:
    with pytest.raises(PipelineError) as info:
        flow(*cells, meta=meta)
    return str(info.value)


def step(conversion, name):
    return conversion.pipeline.step(name)


def test_each_step_gets_exactly_what_it_reads_from_the_last_writer():
    c = flow(("x = 1\ny = 2\nunused = 3", ["step:a"]), ("x = 10\nz = x + y", ["step:b"]), ("print(x, z)\nw = 5\nprint(w)", ["step:c"]))
    assert steps(c) == {
        "a": ({}, [], ["y"], []),
        "b": ({"y": "a"}, [], ["x", "z"], ["a"]),  # x is assigned before it is read: not an input
        "c": ({"x": "b", "z": "b"}, [], [], ["b"]),  # the last writer of x is b, not a
    }


def test_imports_travel_as_code_not_values():
    c = flow(("import json\nfrom math import sqrt as root\ndata = [1, 4]", ["step:a"]),
             ("out = json.dumps([root(v) for v in data])", ["step:b"]))
    b = step(c, "b")
    assert b.inputs == {"data": "a"}
    assert [cell.code.strip() for cell in b.shipped] == ["import json", "from math import sqrt as root"]
    assert b.shipped[0].number == 1 and b.shipped[1].code.count("\n") == 1  # keeps its line in cell 1
    assert b.modules == ["json", "math"]


def test_functions_travel_as_code_with_what_they_read_when_called():
    c = flow(("k = 3\n\n@staticmethod\ndef helper(v):\n    return v\n\ndef scale(v, by=2):\n    return helper(v) * k * by", ["step:a"]),
             ("total = scale(2)", ["step:b"]))
    b = step(c, "b")
    assert b.inputs == {"k": "a"} and step(c, "a").outputs == ["k"]
    assert [cell.code.lstrip("\n").splitlines()[0] for cell in b.shipped] == ["@staticmethod", "def scale(v, by=2):"]
    code = b.shipped[1].code
    assert len(code) - len(code.lstrip("\n")) == 6  # starts on line 7 of cell 1, as in the notebook: errors point there


def test_changes_in_place_count_as_writes():
    c = flow(("model = {'w': 0}\nitems = []\nframe = {'a': 1}", ["step:make"]),
             ("model.update(w=1)\nitems.append(2)\nframe['b'] = 2", ["step:fit"]),
             ("print(model, items, frame)", ["step:use"]))
    assert step(c, "use").inputs == {"frame": "fit", "items": "fit", "model": "fit"}
    assert step(c, "fit").inputs == {"frame": "make", "items": "make", "model": "make"}


def test_read_only_method_calls_are_not_writes():
    c = flow(("data = [3, 1]", ["step:a"]), ("data.count(1)\ndata.copy()", ["step:b"]), ("print(data)", ["step:c"]))
    assert step(c, "c").inputs == {"data": "a"}


def test_parameters_go_only_to_the_steps_that_read_them():
    c = flow(("lr = 0.1\nepochs = 3", ["pipeline-parameters"]), ("w = lr * 2", ["step:a"]), ("lr = lr / 2\nprint(epochs)", ["step:b"]),
             ("print(lr, w)", ["step:c"]))
    assert steps(c) == {"a": ({}, ["lr"], ["w"], []), "b": ({}, ["epochs", "lr"], ["lr"], []),
                        "c": ({"lr": "b", "w": "a"}, [], [], ["a", "b"])}


def test_independent_steps_have_no_edge():
    c = flow(("md", "## Load"), "data = [1, 2, 3]", ("md", "## Left"), "a = sum(data)", ("md", "## Right"), "b = max(data)",
             ("md", "## Join"), "print(a, b)")
    assert [s.after for s in c.pipeline.steps] == [[], ["load"], ["load"], ["left", "right"]]
    assert c.warnings == []  # no prev: tags at all: the edges are simply inferred


def test_missing_prev_edge_is_added_with_a_warning():
    c = flow(("x = 1", ["step:a"]), ("y = 2", ["step:b", "prev:a"]), ("print(x, y)", ["step:c", "prev:b"]),
             ("print(y)", ["step:d"]))
    assert step(c, "c").after == ["a", "b"] and step(c, "d").after == ["b"]
    # c reaches a through prev:b -> prev:a, so only d misses one
    assert c.warnings == ["step 'd' reads 'y' from step 'b' but has no prev:b (or a chain of prev: tags to it): the edge was added"]


def test_prev_that_contradicts_the_data_flow():
    assert error(("model = 1", ["step:train", "prev:evaluate"]), ("score = model + 1", ["step:evaluate"])) == (
        "prev:evaluate on step 'train' (cell 1) contradicts the data flow: evaluate reads 'model' from train "
        "(cycle train -> evaluate -> train): drop the tag")


def test_prev_on_a_later_step_that_writes_what_this_one_reads():
    assert error(("x = 1", ["step:a"]), ("print(x)", ["step:b", "prev:c"]), ("x = 2", ["step:c"])) == (
        "prev:c on step 'b' (cell 2) contradicts the data flow: c comes after b in the notebook, so b reads 'x' from "
        "step 'a', not from c: move c's cells above b, or drop the tag")


def test_prev_only_cycle():
    assert error(("a = 1", ["step:one", "prev:two"]), ("b = 1", ["step:two", "prev:one"])) == (
        "the prev: tags form a cycle: one -> two -> one: remove one of them")


def test_cycle_fixture_notebook():
    with pytest.raises(PipelineError, match=r"prev:second on step 'first' \(cell 1\) contradicts the data flow: second reads 'a' from first"):
        convert(DATA / "bad_cycle.ipynb")


def test_prev_naming_an_unknown_step():
    assert error(("x = 1", ["step:first"]), ("y = x", ["step:second", "prev:missing"])) == (
        "prev:missing on step 'second' (cell 2) names no step: the steps are first, second")
    assert error(("x = 1", ["step:a", "prev:a"])) == "step 'a' has prev:a (cell 1): a step cannot follow itself"


def test_a_read_no_earlier_step_produces():
    assert error(("x = 1", ["step:a"]), ("print(x)\ny = x + undefined_thing", ["step:b"])) == (
        "step 'b' reads 'undefined_thing' (cell 2, line 2), which no earlier step produces: assign it in an earlier "
        "step or in 'b'")
    assert error(("print(later)", ["step:a"]), ("later = 1", ["step:b"])) == (
        "step 'a' reads 'later' (cell 1, line 1), which only the later step 'b' produces: a step takes values from the "
        "steps above it in the notebook; move 'b' above 'a'")


def test_lenient_where_the_step_may_bind_the_name_itself():
    c = flow(("try:\n    import tomllib as toml\nexcept ImportError:\n    toml = None\nprint(toml)", ["step:a"]),
             ("def later():\n    return not_yet_defined\nprint(len([1]))", ["step:b"]))
    assert [s.inputs for s in c.pipeline.steps] == [{}, {}]


@pytest.mark.parametrize("source, why", [
    ("f = open('data.txt', 'w')", "an open file (cell 1, line 1)"),
    ("gen = (i for i in range(3))", "a generator (cell 1, line 1)"),
    ("import threading\nlock = threading.Lock()", "a lock (cell 1, line 2)"),
    ("import sqlite3\ndb = sqlite3.connect(':memory:')", "a database connection (cell 1, line 2)"),
    ("with open('data.txt') as fh:\n    text = 1", "a file object (closed after its with block) (cell 1, line 1)"),
])
def test_values_that_cannot_be_passed(source, why):
    name = source.split("=")[0].split()[-1] if "with" not in source else "fh"
    name = {"import threading\nlock": "lock", "import sqlite3\ndb": "db"}.get(source.split(" =")[0], name)
    message = error((source, ["step:a"]), (f"print({name})", ["step:b"]))
    assert message == (f"value {name!r} cannot be passed from step 'a' to step 'b': it is {why}, which cannot be "
                       "pickled; create it again in 'b'")


def test_unpicklable_value_used_only_in_its_step_is_fine():
    c = flow(("f = open('/dev/null')\nf.close()\nn = 1", ["step:a"]), ("print(n)", ["step:b"]))
    assert step(c, "b").inputs == {"n": "a"}


def test_metrics_go_to_the_step_that_last_wrote_them():
    c = flow(("acc = 0.5", ["step:a"]), ("acc = 0.9\nloss = 0.1", ["step:b"]), ("print(acc)\nloss", ["pipeline-metrics"]))
    assert [(s.name, s.metrics) for s in c.pipeline.steps] == [("a", []), ("b", ["acc", "loss"])]
    assert error(("acc = 0.5", ["step:a"]), ("print(f1)", ["pipeline-metrics"])) == (
        "the pipeline-metrics cell (cell 2) reports 'f1', which no step assigns: print(name) only variables a step computes")


def test_kale_functions_cell_free_variables_propagate():
    c = flow(("def above(v):\n    return v > threshold", ["functions"]), ("threshold = 3", ["step:a"]),
             ("flags = [above(v) for v in range(5)]", ["step:b", "prev:a"]))
    assert step(c, "b").inputs == {"threshold": "a"}


def test_exec_and_star_imports_are_warned():
    c = flow(("from math import *\nexec('q = 1')\nr = 2", ["step:a"]), ("print(r)", ["step:b"]))
    assert c.warnings == ["step 'a' calls exec(): the names it reads through it cannot be seen, so none is passed in for it",
                          "cell 1: 'from math import *' hides the names it defines: later steps get them only by importing them by name"]


def test_kale_fixture_flow():
    c = convert(DATA / "kale_tags.ipynb")
    assert steps(c) == {
        "load_data": ({}, ["size"], ["raw"], []),
        "transform": ({"raw": "load_data"}, ["factor"], ["scaled"], ["load_data"]),
        "train_model": ({"scaled": "transform"}, [], ["total"], ["transform"]),
        "evaluate": ({"total": "train_model"}, ["label_text"], [], ["train_model"]),
    }
    assert [(s.name, s.metrics) for s in c.pipeline.steps if s.metrics] == [("load_data", ["size"]), ("train_model", ["total"])]
    assert c.warnings == []


def test_a_syntax_error_names_cell_step_and_line():
    assert error(("x = 1", ["step:a"]), ("y = (x +", ["step:b"])) == (
        "syntax error in cell 2 (step 'b'), line 1: '(' was never closed: y = (x +")
