"""A cell as something a job can run: its inputs found by static analysis, then captured.

Inputs are the names a cell reads before it definitely assigns them. Module-level statements are
walked in order on the AST (``if`` binds what both branches bind; loop and ``try`` bodies bind
nothing for sure); def and class bodies go through ``symtable``; lambdas and comprehensions are
scoped on the AST (Python 3.12 inlined comprehensions out of symtable). See
the README's "%%kf_train: a cell as a job" for why each rule exists.
"""
from __future__ import annotations

import ast
import builtins
import re
import symtable
import sys
from dataclasses import dataclass, field

from jupyter_kf.errors import CaptureError

CELL_FILENAME = "<kf_train cell>"
IPYTHON_NAMES = frozenset(
    {"In", "Out", "get_ipython", "exit", "quit", "_", "__", "___", "_ih", "_oh", "_dh", "_ii", "_iii", "_i"}
)
_IPYTHON_NAME = re.compile(r"^_(i|\d+|i\d+)$")
_DYNAMIC_CALLS = frozenset({"exec", "eval", "globals", "locals", "vars", "__import__"})
_CODE_MAGICS = frozenset({"time", "timeit", "prun"})
_EXPANDED = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)")
BUILTINS = frozenset(dir(builtins))


@dataclass
class CellAnalysis:
    """What a cell reads from and writes to the notebook."""

    source: str
    code: str  # the source with IPython syntax turned into Python
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    imports: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    complete: bool = True  # False when a star import or exec/eval may define names the analysis cannot see


def transform_magics(source: str) -> str:
    """IPython syntax (``%time``, ``!ls``) as plain Python calls on ``get_ipython()``."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython is a dependency
        return source
    return TransformerManager().transform_cell(source)


def analyse(source: str) -> CellAnalysis:
    if not source.strip() or all(not line.strip() or line.lstrip().startswith("#") for line in source.splitlines()):
        raise CaptureError("the cell is empty: write the code to run below the %%kf_train line")
    code = transform_magics(source)
    try:
        tree = ast.parse(code, CELL_FILENAME)
    except SyntaxError as err:
        line = (err.text or "").strip()
        raise CaptureError(
            f"syntax error in the cell, line {err.lineno}: {err.msg}" + (f": {line}" if line else "")
        ) from None
    flow = CellFlow()
    flow.block(tree.body)
    analysis = CellAnalysis(source=source, code=code, warnings=flow.warnings, complete=flow.complete)
    analysis.inputs = [n for n in dict.fromkeys(flow.inputs) if not is_ipython_name(n)]
    analysis.outputs = [n for n in dict.fromkeys(flow.writes) if not n.startswith("__")]
    analysis.deleted = [n for n in dict.fromkeys(flow.deleted) if n not in flow.bound]
    analysis.imports = flow.imports
    return analysis


def is_ipython_name(name: str) -> bool:
    return name in IPYTHON_NAMES or bool(_IPYTHON_NAME.match(name)) or name.startswith("__")


class CellFlow:
    """Walks module-level statements in execution order, tracking definitely bound names."""

    def __init__(self):
        self.bound: set[str] = set()
        self.inputs: list[str] = []
        self.writes: list[str] = []
        self.deleted: list[str] = []
        self.imports: dict[str, str] = {}
        self.warnings: list[str] = []
        self.complete = True  # no star import or exec/eval that may define names unseen

    # -- names -------------------------------------------------------------------------------
    def read(self, name: str) -> None:
        if name not in self.bound and name not in BUILTINS:
            self.inputs.append(name)
        elif name in BUILTINS and name not in self.bound:
            self.inputs.append(name)  # a notebook may shadow a builtin; capture keeps it only if defined there

    def write(self, name: str) -> None:
        self.bound.add(name)
        self.writes.append(name)

    # -- statements --------------------------------------------------------------------------
    def block(self, stmts) -> None:
        for stmt in stmts:
            self.stmt(stmt)

    def branch(self, stmts) -> set[str]:
        """Run ``stmts`` on a copy of the bound set; return what it bound, then restore."""
        saved = set(self.bound)
        self.block(stmts)
        result, self.bound = self.bound, saved
        return result

    def stmt(self, node) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.definition(node)
        elif isinstance(node, getattr(ast, "TypeAlias", ())):  # type X[T] = ... (3.12+)
            self.expr(node.value, self.type_params(node))
            self.write(node.name.id)
        elif isinstance(node, ast.If):
            self.expr(node.test)
            self.bound = self.branch(node.body) & self.branch(node.orelse)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.expr(node.iter)
            saved = set(self.bound)
            self.target(node.target)
            self.block(node.body)
            self.bound = saved
            self.bound = self.branch(node.orelse) if node.orelse else saved
        elif isinstance(node, ast.While):
            self.expr(node.test)
            self.branch(node.body)
            self.branch(node.orelse)
        elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            self.try_(node)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self.expr(item.context_expr)
                if item.optional_vars is not None:
                    self.target(item.optional_vars)
            self.block(node.body)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            self.import_(node)
        elif isinstance(node, ast.Delete):
            self.delete(node)
        elif isinstance(node, ast.Assign):
            self.expr(node.value)
            for target in node.targets:
                self.target(target)
        elif isinstance(node, ast.AugAssign):
            self.expr(node.value)
            if isinstance(node.target, ast.Name):
                self.read(node.target.id)
            self.target(node.target)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.expr(node.value)
            if sys.version_info < (3, 14):  # a cell evaluates its annotations (3.14 defers them)
                self.expr(node.annotation)
            if node.value is not None:
                self.target(node.target)
        elif isinstance(node, ast.Match):
            self.match(node)
        elif isinstance(node, (ast.Global, ast.Nonlocal, ast.Pass, ast.Break, ast.Continue)):
            return
        else:  # Expr, Return, Raise, Assert and anything newer: reads in field order
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr(child)

    def try_(self, node) -> None:
        """Nothing in a try body is bound for sure; a handler binds only inside itself."""
        self.branch(node.body)
        for handler in node.handlers:
            if handler.type:
                self.expr(handler.type)
            saved = set(self.bound)
            if handler.name:
                self.write(handler.name)
            self.block(handler.body)
            self.bound = saved
        self.branch(node.orelse)
        self.block(node.finalbody)

    def delete(self, node) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.read(target.id)
                self.bound.discard(target.id)
                self.deleted.append(target.id)
            else:
                self.expr(target)

    def match(self, node) -> None:
        """Cases bind what every case binds, and only when a wildcard case makes the match exhaustive."""
        self.expr(node.subject)
        bound_sets = []
        for case in node.cases:
            saved = set(self.bound)
            for name in _pattern_names(case.pattern):
                self.write(name)
            if case.guard is not None:
                self.expr(case.guard)
            self.block(case.body)
            bound_sets.append(self.bound)
            self.bound = saved
        if bound_sets and any(isinstance(c.pattern, ast.MatchAs) and c.pattern.pattern is None for c in node.cases):
            self.bound = set.intersection(*bound_sets)

    def import_(self, node) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.complete = False
                self.warnings.append(
                    f"'from {node.module} import *' hides which names the cell defines: every public name comes back"
                )
                continue
            if isinstance(node, ast.Import):
                local = alias.asname or alias.name.split(".")[0]
                self.imports[local] = alias.name if alias.asname else alias.name.split(".")[0]
            else:
                local = alias.asname or alias.name
            self.write(local)

    def definition(self, node) -> None:
        for deco in node.decorator_list:
            self.expr(deco)
        params = self.type_params(node)
        if isinstance(node, ast.ClassDef):
            for base in node.bases + [k.value for k in node.keywords]:
                self.expr(base, params)
        else:
            self.arguments(node.args)
            for arg in all_args(node.args):
                if arg.annotation is not None:
                    self.expr(arg.annotation, params)
            if node.returns is not None:
                self.expr(node.returns, params)
        reads, global_writes = scope_names(node)
        for name in reads:
            self.read(name)
        for name in global_writes:
            self.read(name)
            self.write(name)
        self.write(node.name)

    def type_params(self, node) -> frozenset:
        """PEP 695 type parameters (3.12+): local to the definition; their bounds and defaults are read."""
        names = frozenset(p.name for p in getattr(node, "type_params", ()))
        for param in getattr(node, "type_params", ()):
            for part in (getattr(param, "bound", None), getattr(param, "default_value", None)):
                if part is not None:
                    self.expr(part, names)
        return names

    def arguments(self, args: ast.arguments) -> None:
        for default in list(args.defaults) + [d for d in args.kw_defaults if d is not None]:
            self.expr(default)

    def target(self, node) -> None:
        if isinstance(node, ast.Name):
            self.write(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                self.target(elt)
        elif isinstance(node, ast.Starred):
            self.target(node.value)
        else:  # attribute or subscript: the object is read (and mutated in place)
            self.expr(node)

    # -- expressions -------------------------------------------------------------------------
    def expr(self, node, local: frozenset = frozenset()) -> None:
        """Reads in evaluation order; ``local`` holds names bound by an enclosing lambda/comprehension."""
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load) and node.id not in local:
                self.read(node.id)
        elif isinstance(node, ast.NamedExpr):
            self.expr(node.value, local)
            self.write(node.target.id)
        elif isinstance(node, ast.Lambda):
            self.arguments(node.args)
            self.expr(node.body, local | {a.arg for a in all_args(node.args)})
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = local
            for i, gen in enumerate(node.generators):
                self.expr(gen.iter, local if i == 0 else inner)
                inner = inner | set(_target_names(gen.target))
                for cond in gen.ifs:
                    self.expr(cond, inner)
            for part in (node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,):
                self.expr(part, inner)
        elif isinstance(node, ast.Call):
            self.call(node, local)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.expr, ast.comprehension, ast.keyword, ast.arg)):
                    self.expr(child, local)

    def call(self, node: ast.Call, local) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in _DYNAMIC_CALLS and func.id not in self.bound:
            self.complete = False
            self.warnings.append(
                f"the cell calls {func.id}(): names it uses cannot be seen; add them with --include NAME or use "
                "--ship-all"
            )
        magic = _ipython_call(node)
        if magic is not None:
            method, args = magic
            self._ipython_call(method, args)
        self.expr(func, local)
        for arg in node.args:
            self.expr(arg, local)
        for kw in node.keywords:
            self.expr(kw.value, local)

    def _ipython_call(self, method: str, args: list[str]) -> None:
        """The code inside ``%time``/``%%time`` and the ``{name}`` expansions of ``!cmd`` count too."""
        if method in ("run_line_magic", "run_cell_magic") and args and args[0] in _CODE_MAGICS:
            code = args[-1]
            try:
                inner = ast.parse(code)
            except SyntaxError:
                return
            if args[0] == "timeit":
                self.branch(inner.body)
            else:
                self.block(inner.body)
        elif method in ("system", "getoutput") and args:
            for match in _EXPANDED.finditer(args[0]):
                self.read(match.group(1) or match.group(2))


def _ipython_call(node: ast.Call):
    """``get_ipython().method('const', ...)`` as (method, [const args]), else None."""
    func = node.func
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "get_ipython"
        and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
    ):
        return func.attr, [a.value for a in node.args]
    return None


def all_args(args: ast.arguments):
    return args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]


def _target_names(node):
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            yield from _target_names(elt)
    elif isinstance(node, ast.Starred):
        yield from _target_names(node.value)


def _pattern_names(pattern):
    for node in ast.walk(pattern):
        if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            yield node.name
        elif isinstance(node, ast.MatchMapping) and node.rest:
            yield node.rest


def scope_names(node) -> tuple[list[str], list[str]]:
    """Module-level names a def/class body reads, and those it assigns through ``global``."""
    definition = ast.Module(body=[_without_outer_parts(node)], type_ignores=[])
    table = symtable.symtable(ast.unparse(definition), "<def>", "exec").get_children()[0]
    reads, writes = [], []

    def visit(tab):
        for sym in tab.get_symbols():
            if sym.is_global() and sym.is_referenced():
                reads.append(sym.get_name())
            if sym.is_declared_global() and sym.is_assigned():
                writes.append(sym.get_name())
        for child in tab.get_children():
            visit(child)

    visit(table)
    return list(dict.fromkeys(reads)), list(dict.fromkeys(writes))


def _without_outer_parts(node):
    """The definition without decorators, defaults and annotations: those run in the cell's scope."""
    clone = ast.parse(ast.unparse(node)).body[0]
    clone.decorator_list = []
    if isinstance(clone, ast.ClassDef):
        clone.bases, clone.keywords = [], []
    else:
        clone.args.defaults = [ast.Constant(None) for _ in clone.args.defaults]
        clone.args.kw_defaults = [ast.Constant(None) if d is not None else None for d in clone.args.kw_defaults]
        for arg in all_args(clone.args):
            arg.annotation = None
        clone.returns = None
    return clone
