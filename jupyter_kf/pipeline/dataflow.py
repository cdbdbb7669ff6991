"""Which values each step needs, and from which step: the notebook's data flow, read statically.

A step receives exactly the names it reads from the step that last wrote them in notebook order
(what the notebook itself would have seen). Imports and ``def``/``class`` definitions travel as
code, so a function keeps using the consumer's globals; every other value is an artifact. A name
changed in place (``model.fit(X)``, ``df["c"] = 1``, ``x.append(1)``) counts as written by that
step. ``prev:`` tags add edges; missing ones the data needs are added with a warning, and one that
contradicts the data flow is an error.
"""
from __future__ import annotations

import ast
import bisect
import builtins
import sys
import textwrap
from dataclasses import dataclass, field

from jupyter_kf.pipeline.model import Cell, Pipeline, PipelineError, Step
from jupyter_kf.training import capture

_BUILTINS = frozenset(dir(builtins)) | {"display", "get_ipython"}
# methods that leave their object as it was: a call statement with one of these is not a mutation
_READ_ONLY = frozenset({
    "head", "tail", "info", "describe", "show", "plot", "hist", "summary", "print", "display", "count", "index",
    "keys", "values", "items", "get", "copy", "to_csv", "to_json", "to_parquet", "to_pickle", "save", "savefig",
    "write", "close", "flush", "join", "format", "startswith", "endswith", "predict", "score", "transform",
    "evaluate", "eval", "numpy", "tolist", "mean", "sum", "std", "min", "max", "any", "all", "render", "log",
})
_ARG_MUTATORS = frozenset({"shuffle"})
_UNPICKLABLE_CALLS = {
    "open": "an open file",
    "threading.Lock": "a lock",
    "threading.RLock": "a lock",
    "Lock": "a lock",
    "RLock": "a lock",
    "threading.Thread": "a thread",
    "threading.Event": "a threading event",
    "threading.Condition": "a lock",
    "socket.socket": "a socket",
    "sqlite3.connect": "a database connection",
    "subprocess.Popen": "a running process",
    "multiprocessing.Pool": "a process pool",
    "Pool": "a process pool",
    "ThreadPoolExecutor": "a thread pool",
    "ProcessPoolExecutor": "a process pool",
    "concurrent.futures.ThreadPoolExecutor": "a thread pool",
    "concurrent.futures.ProcessPoolExecutor": "a process pool",
    "create_engine": "a database engine",
    "psycopg2.connect": "a database connection",
    "pymysql.connect": "a database connection",
}


# constructors (as the module path they are imported from) whose values neither pickle nor have a serializer
_UNPICKLABLE_TYPES = {
    "tensorflow.data.Dataset.from_tensor_slices": "a tf.data.Dataset",
    "tensorflow.data.Dataset.from_tensors": "a tf.data.Dataset",
    "tensorflow.data.Dataset.from_generator": "a tf.data.Dataset",
    "tensorflow.data.TFRecordDataset": "a tf.data.Dataset",
    "tensorflow.Session": "a TensorFlow session",
    "tensorflow.compat.v1.Session": "a TensorFlow session",
    "boto3.client": "a boto3 client",
    "boto3.resource": "a boto3 resource",
    "boto3.session.Session": "a boto3 session",
    "pymongo.MongoClient": "a database connection",
    "sqlalchemy.create_engine": "a database engine",
}


# constructors whose values travel in their library's own format (step_runner): the reader needs that library
_NATIVE_TYPES = {
    "xgboost.DMatrix": "xgboost", "xgboost.core.DMatrix": "xgboost", "xgboost.train": "xgboost",
    "xgboost.Booster": "xgboost", "keras.Sequential": "keras", "keras.Model": "keras",
    "keras.models.Sequential": "keras", "keras.models.Model": "keras", "keras.models.load_model": "keras",
    "tensorflow.keras.Sequential": "tensorflow", "tensorflow.keras.Model": "tensorflow",
    "tensorflow.keras.models.Sequential": "tensorflow", "tensorflow.keras.models.load_model": "tensorflow",
}


class StepFlow(capture.CellFlow):
    """``capture``'s statement walk, plus what a pipeline needs: how each name was bound, in-place changes,
    and the globals a function reads only when called (deferred, not needed to define it)."""

    def __init__(self, modules: dict | None = None):
        super().__init__()
        # name -> dotted module for names bound by import before this code (imports cell, earlier steps)
        self.modules: dict[str, str] = dict(modules or {})
        self.kinds: dict[str, str] = {}  # name -> import | def | value (its last binding)
        self.import_lines: dict[str, tuple] = {}  # name -> (Cell, lineno, "import numpy as np")
        self.defs: dict[str, tuple] = {}  # name -> (Cell, node)
        self.deferred: dict[str, list[str]] = {}  # function -> globals its body reads
        self.values: dict[str, tuple] = {}  # name -> (Cell, lineno, why it cannot be pickled)
        self.loaders: dict[str, str] = {}  # name -> the library a reader needs to load it (xgboost DMatrix...)
        self.mutated: list[str] = []
        self.star_imports: list[tuple] = []  # (Cell, module)
        self.dynamic: list[str] = []
        self.cell: Cell | None = None
        self._kind = "value"

    def run(self, cell: Cell, tree: ast.Module) -> None:
        self.cell = cell
        self.block(tree.body)

    def write(self, name: str) -> None:
        super().write(name)
        self.kinds[name] = self._kind
        self.values.pop(name, None)
        self.loaders.pop(name, None)
        if self._kind != "import":
            self.modules.pop(name, None)

    def import_(self, node) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.star_imports.append((self.cell, node.module))
                continue
            if isinstance(node, ast.Import):
                local = alias.asname or alias.name.split(".")[0]
                text = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
            else:
                local = alias.asname or alias.name
                text = f"from {'.' * node.level}{node.module or ''} import {alias.name}" + (
                    f" as {alias.asname}" if alias.asname else ""
                )
            self._kind = "import" if not getattr(node, "level", 0) else "value"
            self.write(local)
            self._kind = "value"
            if self.kinds[local] == "import":
                self.modules[local] = alias.name if isinstance(node, ast.Import) and alias.asname else (
                    local if isinstance(node, ast.Import) else f"{node.module}.{alias.name}")
            self.import_lines[local] = (self.cell, node.lineno, text)

    def definition(self, node) -> None:
        if isinstance(node, ast.ClassDef):
            super().definition(node)
        else:
            for deco in node.decorator_list:
                self.expr(deco)
            self.arguments(node.args)
            for arg in capture.all_args(node.args):
                if arg.annotation is not None:
                    self.expr(arg.annotation)
            if node.returns is not None:
                self.expr(node.returns)
            reads, global_writes = capture.scope_names(node)
            self.deferred[node.name] = [n for n in reads if n != node.name]
            for name in global_writes:
                self.write(name)
            self._kind = "def"
            self.write(node.name)
            self._kind = "value"
        self.kinds[node.name] = "def"
        self.defs[node.name] = (self.cell, node)

    def call(self, node: ast.Call, local) -> None:
        before = len(self.warnings)
        super().call(node, local)
        if len(self.warnings) > before:  # capture's hint names %%kf_train flags; the pipeline words its own
            del self.warnings[before:]
            self.dynamic.append(node.func.id)

    def stmt(self, node) -> None:
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for part in _flatten(target):
                    if isinstance(part, (ast.Attribute, ast.Subscript)):
                        self._mutate(_root(part))
        elif (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
        ):
            call = node.value
            if call.func.attr not in _READ_ONLY:
                self._mutate(_root(call.func.value))
            if call.func.attr in _ARG_MUTATORS and call.args and isinstance(call.args[0], ast.Name):
                self._mutate(call.args[0].id)
        super().stmt(node)
        if isinstance(node, ast.Assign):
            why = _unpicklable(node.value, self.modules)
            loader = _NATIVE_TYPES.get(_resolved(_call_name(node.value), self.modules))
            for target in node.targets:
                if isinstance(target, ast.Name) and why:
                    self.values[target.id] = (self.cell, node.lineno, why)
                elif isinstance(target, ast.Name) and loader:
                    self.loaders[target.id] = loader
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if isinstance(item.optional_vars, ast.Name) and _call_name(item.context_expr) == "open":
                    self.values[item.optional_vars.id] = (
                        self.cell,
                        node.lineno,
                        "a file object (closed after its with block)",
                    )

    def _mutate(self, name: str | None) -> None:
        """A module is never data: ``os.makedirs(...)`` or ``plt.plot(...)`` changes no value a step passes on."""
        if name and name not in self.modules and self.kinds.get(name) != "import" and name not in _BUILTINS:
            self.mutated.append(name)
            self.kinds[name] = "value"


def _flatten(node):
    if isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            yield from _flatten(elt)
    elif isinstance(node, ast.Starred):
        yield from _flatten(node.value)
    else:
        yield node


def _root(node) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _call_name(node) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    parts, func = [], node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return None
    parts.append(func.id)
    return ".".join(reversed(parts))


def _resolved(name: str | None, modules: dict) -> str | None:
    """``xgb.DMatrix`` -> ``xgboost.DMatrix`` through the notebook's imports."""
    if not name:
        return name
    head, _, tail = name.partition(".")
    return f"{modules[head]}.{tail}".rstrip(".") if head in modules else name


def _unpicklable(value, modules: dict) -> str | None:
    if isinstance(value, ast.GeneratorExp):
        return "a generator"
    name = _call_name(value)
    if name is None:
        return None
    full = _resolved(name, modules)
    if full in _UNPICKLABLE_TYPES:
        return _UNPICKLABLE_TYPES[full]
    if name in _UNPICKLABLE_CALLS:
        return _UNPICKLABLE_CALLS[name]
    tail = name.rsplit(".", 1)[-1]
    if tail in ("connect",) and "." in name:
        return "a connection"
    return None


def parse_cell(cell: Cell, where: str) -> ast.Module:
    try:
        return ast.parse(cell.code, f"<cell {cell.number}>")
    except SyntaxError as err:
        line = (err.text or "").strip()
        raise PipelineError(f"syntax error in cell {cell.number} ({where}), line {err.lineno}: {err.msg}"
                            + (f": {line}" if line else "")) from None


def analyse_cells(cells: list, where: str, modules: dict | None = None) -> tuple[StepFlow, dict]:
    flow = StepFlow(modules)
    trees = {}
    for cell in cells:
        tree = trees[cell.number] = parse_cell(cell, where)
        flow.run(cell, tree)
    return flow, trees


def infer(pipeline: Pipeline) -> Pipeline:
    """Fill every step's inputs, parameters, outputs, metrics, shipped code and upstream steps."""
    shared, _ = analyse_cells(pipeline.shared, "imports/functions")
    steps = pipeline.steps
    analysed, modules = [], shared.modules
    for step in steps:  # in notebook order: what is a module when a step runs depends on the steps above it
        analysed.append(analyse_cells(step.cells, f"step {step.name!r}", modules))
        modules = analysed[-1][0].modules
    flows = [flow for flow, _ in analysed]
    writes = [set(flow.writes) | set(flow.mutated) for flow in flows]
    notebook = _Notebook(pipeline, shared, analysed, flows, writes)
    for i in range(len(steps)):
        _infer_step(notebook, i)
    _assign_metrics(pipeline, flows, writes)
    _link(pipeline, {step.name for step in steps}, {step.name: i for i, step in enumerate(steps)}, notebook.reasons,
          writes)
    return pipeline


@dataclass
class _Notebook:
    """What every step's inference reads: the analysed cells, and why each step depends on another."""

    pipeline: Pipeline
    shared: object
    analysed: list
    flows: list
    writes: list
    reasons: dict = field(default_factory=dict)  # (upstream, downstream) -> why
    _writers: dict | None = None  # name -> the steps writing it, in order (built at the first look-up)

    def last_writer(self, name: str, before: int) -> int | None:
        """The last step above step ``before`` that writes ``name``: a bisection, so that a notebook of
        thousands of steps is not searched step by step for every input."""
        if self._writers is None:
            self._writers = {}
            for j, names in enumerate(self.writes):
                for written in names:
                    self._writers.setdefault(written, []).append(j)
        steps = self._writers.get(name, ())
        at = bisect.bisect_left(steps, before)
        return steps[at - 1] if at else None


def _infer_step(nb: _Notebook, i: int) -> None:
    """One step's inputs (from earlier steps), parameters, shipped imports and functions, and modules."""
    step, shared = nb.pipeline.steps[i], nb.shared
    flow, trees = nb.analysed[i]
    _warn_unseen(nb.pipeline, step, flow)
    need: dict[str, bool] = {}  # name -> hard (read before bound at top level)
    for name in flow.inputs:
        if not capture.is_ipython_name(name):
            need.setdefault(name, True)
    for reads in flow.deferred.values():
        for name in reads:
            need.setdefault(name, False)
    queue = list(need)
    shipped: dict[str, Cell] = {}
    inputs: dict[str, str] = {}
    params: list[str] = []
    seen: set[str] = set()
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        hard = need.get(name, False)
        if not hard and name in nb.writes[i]:
            continue
        j = nb.last_writer(name, i)
        if j is not None:
            for more in _take_from(nb, j, i, name, shipped, inputs):
                need.setdefault(more, False)
                queue.append(more)
        elif name in nb.pipeline.parameters:
            params.append(name)
        elif name in set(shared.writes):
            for more in shared.deferred.get(name, []):
                need.setdefault(more, False)
                queue.append(more)
        elif not (name in _BUILTINS or not hard or name in nb.writes[i]):
            raise _unproduced(nb, i, name, trees)
    step.inputs, step.params = inputs, params
    step.shipped = sorted(
        shipped.values(), key=lambda c: (c.tags != ["import"], c.number, len(c.code) - len(c.code.lstrip("\n")))
    )
    loaders = {nb.flows[nb.last_writer(name, i)].loaders.get(name) for name in inputs}
    step.modules = sorted({line[2].split()[1].split(".")[0] for line in
                           list(flow.import_lines.values()) + list(shared.import_lines.values())
                           if not line[2].startswith("from .")}
                          | {c.code.split()[1].split(".")[0] for c in shipped.values() if c.tags == ["import"]}
                          | (loaders - {None}))


def _warn_unseen(pipeline: Pipeline, step, flow) -> None:
    for fn in dict.fromkeys(flow.dynamic):
        pipeline.warnings.append(f"step {step.name!r} calls {fn}(): the names it reads through it cannot be seen, "
                                 "so none is passed in for it")
    for cell, module in flow.star_imports:
        pipeline.warnings.append(f"cell {cell.number}: 'from {module} import *' hides the names it defines: later "
                                 "steps get them only by importing them by name")


def _take_from(nb: _Notebook, j: int, i: int, name: str, shipped: dict, inputs: dict) -> list[str]:
    """``name`` as step ``i`` gets it from step ``j``: an import or a def shipped as code (the names that
    code needs are returned), else a value passed on."""
    steps, pflow = nb.pipeline.steps, nb.flows[j]
    kind = pflow.kinds.get(name)
    if kind == "import" and name in pflow.import_lines:
        shipped[name] = _import_cell(*pflow.import_lines[name])
        return []
    if kind == "def" and name in pflow.defs:
        cell, node = pflow.defs[name]
        shipped[name] = _definition_cell(cell, node)
        return list(_definition_needs(cell, node))
    if name in pflow.values:
        cell, line, why = pflow.values[name]
        raise PipelineError(f"value {name!r} cannot be passed from step {steps[j].name!r} to step "
                            f"{steps[i].name!r}: it is {why} (cell {cell.number}, line {line}), which cannot "
                            f"be pickled; create it again in {steps[i].name!r}")
    inputs[name] = steps[j].name
    if name not in steps[j].outputs:
        steps[j].outputs.append(name)
    nb.reasons.setdefault((steps[j].name, steps[i].name), f"{steps[i].name} reads {name!r} from {steps[j].name}")
    return []


def _unproduced(nb: _Notebook, i: int, name: str, trees) -> PipelineError:
    """The line for a name step ``i`` reads that no earlier step produces."""
    steps, step = nb.pipeline.steps, nb.pipeline.steps[i]
    cell, line = _locate(step, trees, name)
    later = next((s.name for s, w in zip(steps[i + 1:], nb.writes[i + 1:]) if name in w), None)
    if later:
        return PipelineError(f"step {step.name!r} reads {name!r} (cell {cell}, line {line}), which only the later "
                             f"step {later!r} produces: a step takes values from the steps above it in the "
                             f"notebook; move {later!r} above {step.name!r}")
    for dropped in nb.pipeline.dropped:
        if name in analyse_cells([dropped], "dropped")[0].writes:
            return PipelineError(f"step {step.name!r} reads {name!r} (cell {cell}, line {line}), which only cell "
                                 f"{dropped.number} assigns; cell {dropped.number} is untagged above the first "
                                 "tagged cell, so no step runs it: tag it imports, functions or step:<name>")
    star = next((f" (if it comes from 'from {m} import *' in cell {c.number}, import it by name)"
                 for f in nb.flows[:i + 1] + [nb.shared] for c, m in f.star_imports), "")
    return PipelineError(f"step {step.name!r} reads {name!r} (cell {cell}, line {line}), which no earlier step "
                         f"produces: assign it in an earlier step or in {step.name!r}{star}")


def _import_cell(cell: Cell, lineno: int, text: str) -> Cell:
    padded = "\n" * (lineno - 1) + text
    return Cell(number=cell.number, source=padded, code=padded, tags=["import"])


def _definition_cell(cell: Cell, node) -> Cell:
    lines = cell.code.split("\n")
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    body = textwrap.dedent("\n".join(lines[start - 1:node.end_lineno]))
    padded = "\n" * (start - 1) + body
    return Cell(number=cell.number, source=padded, code=padded, tags=["definition"])


def _definition_needs(cell: Cell, node) -> list[str]:
    """Names a shipped definition reads: to define it (decorators, defaults, class body) and when called."""
    flow = StepFlow()
    flow.cell = cell
    flow.stmt(ast.parse(textwrap.dedent(ast.unparse(node))).body[0])
    reads = [n for n in flow.inputs if not capture.is_ipython_name(n)]
    for deferred in flow.deferred.values():
        reads += deferred
    return [n for n in dict.fromkeys(reads) if n != node.name]


def _locate(step: Step, trees: dict, name: str) -> tuple[int, int]:
    for cell in step.cells:
        for node in ast.walk(trees[cell.number]):
            if isinstance(node, ast.Name) and node.id == name:
                return cell.number, node.lineno
    return step.first_cell, 1


def _assign_metrics(pipeline: Pipeline, flows, writes) -> None:
    steps = pipeline.steps
    for name in pipeline.metrics:
        j = next((j for j in range(len(steps) - 1, -1, -1) if name in writes[j]), None)
        if j is not None:
            steps[j].metrics.append(name)
            continue
        if name in pipeline.parameters:
            step = next((s for s in steps if name in s.params), steps[0])
            if name not in step.params:
                step.params.append(name)
            step.metrics.append(name)
            continue
        raise PipelineError(f"the pipeline-metrics cell (cell {pipeline.metrics_cell}) reports {name!r}, which no step "
                            "assigns: print(name) only variables a step computes")


def _link(pipeline: Pipeline, names: set, index: dict, reasons: dict, writes) -> None:
    """Upstream steps from data and prev: tags; unknown, contradicting and cyclic prev: tags are errors."""
    steps = pipeline.steps
    any_prev = any(step.prev for step in steps)
    for step in steps:
        for prev in step.prev:
            where = f"cell {step.prev_cells.get(prev, step.first_cell)}"
            if prev not in names:
                known = ", ".join(s.name for s in steps)
                raise PipelineError(f"prev:{prev} on step {step.name!r} ({where}) names no step: the steps are {known}")
            if prev == step.name:
                raise PipelineError(f"step {step.name!r} has prev:{prev} ({where}): a step cannot follow itself")
            reasons.setdefault((prev, step.name), f"prev:{prev} on step {step.name!r} ({where})")
            if index[prev] > index[step.name]:
                clash = sorted(set(step.inputs) & writes[index[prev]])
                if clash:
                    name = clash[0]
                    source = step.inputs.get(name)
                    got = f"from step {source!r}" if source else "from no step"
                    raise PipelineError(
                        f"prev:{prev} on step {step.name!r} ({where}) contradicts the data flow: {prev} comes "
                        f"after {step.name} in the notebook, so {step.name} reads {name!r} {got}, not from "
                        f"{prev}: move {prev}'s cells above {step.name}, or drop the tag"
                    )
        ups = list(dict.fromkeys(list(step.inputs.values()) + step.prev))
        step.after = sorted(ups, key=lambda n: index[n])
    if any_prev:
        declared = {step.name: set(step.prev) for step in steps}
        for step in steps:
            ancestors = None  # a prev: tag straight to the producer is the common case: no walk up the chain
            for up in dict.fromkeys(step.inputs.values()):
                if up in declared[step.name]:
                    continue
                if ancestors is None:
                    ancestors = _ancestors(step.name, declared)
                if up not in ancestors:
                    what = [n for n, s in step.inputs.items() if s == up]
                    pipeline.warnings.append(
                        f"step {step.name!r} reads {', '.join(map(repr, what))} from step {up!r} but has no "
                        f"prev:{up} (or a chain of prev: tags to it): the edge was added"
                    )
    cycle = _find_cycle(steps)
    if cycle:
        path = " -> ".join(cycle)
        edges = list(zip(cycle, cycle[1:]))
        why = [reasons.get(e, f"{e[1]} follows {e[0]}") for e in edges]
        prev_edges = [w for w in why if w.startswith("prev:")]
        data_edges = [w for w in why if not w.startswith("prev:")]
        if prev_edges and data_edges:
            raise PipelineError(
                f"{prev_edges[0]} contradicts the data flow: {data_edges[0]} (cycle {path}): drop the tag"
            )
        raise PipelineError(f"the prev: tags form a cycle: {path}: remove one of them")


def _ancestors(name: str, declared: dict) -> set:
    seen, stack = set(), list(declared.get(name, ()))
    while stack:
        up = stack.pop()
        if up not in seen:
            seen.add(up)
            stack.extend(declared.get(up, ()))
    return seen


def _find_cycle(steps) -> list[str] | None:
    after = {step.name: step.after for step in steps}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name):
        state[name] = 1
        path.append(name)
        for up in after.get(name, ()):
            if state.get(up) == 1:
                cycle = path[path.index(up):] + [up]
                return list(reversed(cycle))
            if up not in state:
                found = visit(up)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for step in steps:
        if step.name not in state:
            found = visit(step.name)
            if found:
                return found
    return None


def stdlib(module: str) -> bool:
    return module in sys.stdlib_module_names
