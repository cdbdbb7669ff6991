"""What a search is: its parameters, objective, budget and algorithm, checked once, at the edge.

``lr=loguniform(1e-4,1e-1)`` and the other forms become ``Param``; ``ExperimentSpec.create`` checks the
whole search against the rules Katib's webhook and suggestion services apply (katib.md §5, §7), so a
search that would fail on a cluster fails here first, with one line, on every backend.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from jupyter_kf.errors import InvalidSpec

ENV_PREFIX = "KF_PARAM_"  # a trial reads parameter NAME from $KF_PARAM_NAME, as text
NAME_MAX = 40  # Katib's limit on Experiment names
ALGORITHMS = ("random", "grid", "tpe", "multivariate-tpe", "cmaes", "sobol", "bayesianoptimization", "hyperband")
LOCAL_ALGORITHMS = ALGORITHMS[:-1]  # hyperband has no optuna twin (katib.md §12)
EARLY_STOPPING = ("medianstop",)
GOALS = ("minimize", "maximize")
FORMS = "uniform(a,b[,step]), loguniform(a,b), int(a,b[,step]), discrete(v1,v2,...), choice(a,b,...)"
_PARAM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([a-z]+)\s*\((.*)\)\s*$", re.S)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_METRIC_NAME = re.compile(r"^[\w|-]+$")  # what Katib's default filter captures as a name


@dataclass(frozen=True)
class Param:
    """One hyperparameter, in Katib's terms: ``kind`` int/double/categorical/discrete."""

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    values: tuple = ()

    @property
    def bounded(self) -> bool:
        """A finite set of values (what grid needs): ints, lists and stepped doubles."""
        return self.kind != "double" or (self.step is not None and not self.log)

    def cast(self, text: str):
        """A value as the trial sees it: values travel as text (Katib substitutes strings) and are cast back."""
        if self.kind == "double":
            return float(text)
        if self.kind == "int":
            return int(float(text))
        if self.kind == "discrete":
            number = float(text)
            return int(number) if all(float(v).is_integer() for v in self.values) else number
        return str(text)

    def text(self, value) -> str:
        return repr(float(value)) if self.kind == "double" else str(value)

    def grid(self) -> list:
        """Katib's grid for this parameter (numpy.arange for doubles, range for ints), as cast values."""
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.kind == "double":
            count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
            return [self.low + i * self.step for i in range(count)]
        return [self.cast(v) for v in self.values]

    def feasible_space(self) -> dict:
        """Katib's ``feasibleSpace``: every number a string."""
        if self.kind in ("int", "double"):
            space = {"min": _num(self.low), "max": _num(self.high),
                     "distribution": "logUniform" if self.log else "uniform"}
            if self.step is not None:
                space["step"] = _num(self.step)
            return space
        return {"list": [str(v) for v in self.values], "distribution": "uniform"}

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"choice({','.join(self.values)})"
        if self.kind == "discrete":
            return f"discrete({','.join(self.values)})"
        form = "int" if self.kind == "int" else ("loguniform" if self.log else "uniform")
        return f"{form}({_num(self.low)},{_num(self.high)}{'' if self.step is None else ',' + _num(self.step)})"


def _num(value) -> str:
    return str(int(value)) if isinstance(value, int) else repr(float(value))


def parse_param(text: str) -> Param:
    """``lr=loguniform(1e-4,1e-1)`` -> Param; the error names the accepted forms."""
    match = _PARAM.match(str(text))
    if not match:
        raise InvalidSpec(f"--param {text!r} is malformed: use NAME=FORM(...), one of {FORMS}, "
                          "e.g. --param lr=loguniform(1e-4,1e-1)")
    name, form, inner = match.group(1), match.group(2), match.group(3)
    args = [a.strip().strip("'\"") for a in inner.split(",")] if inner.strip() else []
    if form in ("uniform", "loguniform", "int"):
        return _range_param(text, name, form, args)
    if form in ("choice", "discrete"):
        if not args or any(a == "" for a in args):
            raise InvalidSpec(f"--param {text!r}: {form}() needs one or more comma-separated values, "
                              f"e.g. {name}={form}(1,2,4)")
        if len(set(args)) != len(args):
            raise InvalidSpec(f"--param {text!r}: {form}() lists a value twice")
        if form == "discrete":
            for a in args:
                _number(text, a, float)
        elif any(c in a for a in args for c in '"\\{}'):
            raise InvalidSpec(f"--param {text!r}: choice values may not contain quotes, backslashes or braces "
                              "(Katib substitutes them into the job's JSON unescaped)")
        return Param(name, "discrete" if form == "discrete" else "categorical", values=tuple(args))
    raise InvalidSpec(f"--param {text!r}: unknown form {form!r}: use one of {FORMS}")


def _range_param(text: str, name: str, form: str, args: list[str]) -> Param:
    usage = f"{name}={form}(low,high)" + ("" if form == "loguniform" else f" or {name}={form}(low,high,step)")
    if len(args) not in ((2,) if form == "loguniform" else (2, 3)):
        step = "" if form == "loguniform" else " and an optional step"
        raise InvalidSpec(f"--param {text!r}: {form}() takes a low and a high bound{step}: use {usage}")
    kind = int if form == "int" else float
    low, high = _number(text, args[0], kind), _number(text, args[1], kind)
    step = _number(text, args[2], kind) if len(args) == 3 else None
    if not low < high:
        raise InvalidSpec(f"--param {text!r}: the low bound must be below the high bound (min < max)")
    if step is not None and step <= 0:
        raise InvalidSpec(f"--param {text!r}: the step must be positive")
    if form == "loguniform" and low <= 0:
        raise InvalidSpec(f"--param {text!r}: loguniform needs a positive low bound (log of {args[0]} is undefined)")
    return Param(name, "int" if form == "int" else "double", low, high, step, log=form == "loguniform")


def _number(text: str, arg: str, kind):
    try:
        value = kind(arg)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise InvalidSpec(f"--param {text!r}: {arg!r} is not {what}") from None
    if kind is float and not math.isfinite(value):
        raise InvalidSpec(f"--param {text!r}: {arg!r} is not a finite number")
    return value


def parse_params(items) -> tuple[Param, ...]:
    """``--param`` texts, a ``{name: "loguniform(1e-4,1e-1)"}`` dict, or Params; names unique."""
    if isinstance(items, dict):
        items = [v if isinstance(v, Param) else f"{k}={v}" for k, v in items.items()]
    params = tuple(p if isinstance(p, Param) else parse_param(p) for p in items or ())
    if not params:
        raise InvalidSpec("a search needs at least one parameter: --param NAME=FORM(...), "
                          "e.g. --param lr=loguniform(1e-4,1e-1)")
    names = [p.name for p in params]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise InvalidSpec(f"--param {dup} is given twice: each parameter once")
    return params


@dataclass(frozen=True)
class ExperimentSpec:
    """A checked search; ``train`` holds the %%kf_train options every trial runs with."""

    name: str
    params: tuple[Param, ...]
    objective: str
    goal: str = "minimize"
    trials: int = 12
    parallel: int = 3
    algorithm: str = "tpe"
    target: float | None = None
    early_stopping: str | None = None
    max_failed: int | None = None
    seed: int | None = None
    backend: str | None = None
    namespace: str | None = None
    train: dict = field(default_factory=dict)

    @classmethod
    def create(cls, *, name, params, objective, goal="minimize", trials=12, parallel=3, algorithm="tpe",
               target=None, early_stopping=None, max_failed=None, seed=None, backend=None, namespace=None,
               train=None) -> "ExperimentSpec":
        spec = cls(check_name(name), parse_params(params), _objective(objective), _goal(goal),
                   _count(trials, "--trials", 1), _count(parallel, "--parallel", 1), _algorithm(algorithm),
                   _target(target), _early(early_stopping), None if max_failed in (None, "") else
                   _count(max_failed, "--max-failed", 0), None if seed in (None, "") else _count(seed, "--seed", 0),
                   backend, namespace, dict(train or {}))
        spec.check()
        return spec

    def check(self) -> None:
        """The rules that span several flags (Katib's webhook §5.1 and its suggestion services §5.2)."""
        if self.parallel > self.trials:
            raise InvalidSpec(f"--parallel {self.parallel} is more than --trials {self.trials}: "
                              "run at most as many trials at once as there are trials")
        if self.max_failed is not None and self.max_failed > self.trials:
            raise InvalidSpec(f"--max-failed {self.max_failed} is more than --trials {self.trials}")
        if self.algorithm == "grid":
            loose = [p.name for p in self.params if not p.bounded]
            if loose:
                raise InvalidSpec(f"--algorithm grid needs a finite space, but {', '.join(loose)} is continuous: "
                                  "give it a step (uniform(a,b,step)) or use discrete(...)")
            size = math.prod(len(p.grid()) for p in self.params)
            if self.trials > size:
                raise InvalidSpec(f"--algorithm grid: --trials {self.trials} is more than the {size} points "
                                  "of the grid")
        if self.algorithm == "cmaes" and sum(p.kind in ("int", "double") for p in self.params) < 2:
            raise InvalidSpec("--algorithm cmaes needs at least two int or uniform/loguniform parameters")
        if self.algorithm == "bayesianoptimization":
            low = [p.name for p in self.params if p.kind == "double" and p.low <= 0]
            if low:
                raise InvalidSpec(f"--algorithm bayesianoptimization gives every real parameter a log prior: "
                                  f"{', '.join(low)} needs a positive low bound")
        if self.algorithm == "hyperband":
            raise InvalidSpec("--algorithm hyperband needs its resource settings (r_l, resource_name), which "
                              "%%kf_tune does not take yet: use tpe, random, grid, multivariate-tpe, cmaes, sobol "
                              "or bayesianoptimization")

    @property
    def direction(self) -> str:
        return self.goal

    def better(self, a: float, b: float) -> bool:
        return a < b if self.goal == "minimize" else a > b

    def reached(self, value: float | None) -> bool:
        if self.target is None or value is None:
            return False
        return value <= self.target if self.goal == "minimize" else value >= self.target

    def to_dict(self) -> dict:
        return {"name": self.name, "params": [p.name + "=" + p.describe() for p in self.params],
                "objective": self.objective, "goal": self.goal, "trials": self.trials, "parallel": self.parallel,
                "algorithm": self.algorithm, "target": self.target, "early_stopping": self.early_stopping,
                "max_failed": self.max_failed, "seed": self.seed, "backend": self.backend,
                "namespace": self.namespace, "train": self.train}

    @classmethod
    def from_dict(cls, data: dict) -> "ExperimentSpec":
        return cls.create(**data)


def check_name(name) -> str:
    if not isinstance(name, str) or len(name) > NAME_MAX or not _NAME.match(name):
        raise InvalidSpec(f"experiment name {name!r} is invalid: use at most {NAME_MAX} lowercase letters, digits "
                          "and '-', starting with a letter and ending with a letter or digit (e.g. lr-search)")
    return name


def _objective(name) -> str:
    if not isinstance(name, str) or not _METRIC_NAME.match(name):
        raise InvalidSpec(f"--objective {name!r} is invalid: the name of a metric the cell prints as name=value "
                          "(letters, digits, '_', '-'), e.g. --objective loss")
    return name


def _goal(goal) -> str:
    if goal not in GOALS:
        raise InvalidSpec(f"--goal {goal!r} is invalid: use minimize or maximize")
    return goal


def _algorithm(name) -> str:
    if name not in ALGORITHMS:
        raise InvalidSpec(f"--algorithm {name!r} is unknown: use one of {', '.join(ALGORITHMS)}")
    return name


def _early(name):
    if name in (None, "", "none"):
        return None
    if name not in EARLY_STOPPING:
        raise InvalidSpec(f"--early-stopping {name!r} is unknown: use medianstop")
    return name


def _target(value):
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidSpec(f"--target {value!r} is not a number: the objective value that ends the search") from None
    if not math.isfinite(number):
        raise InvalidSpec(f"--target {value!r} is not a finite number")
    return number


def _count(value, flag: str, minimum: int) -> int:
    try:
        count = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidSpec(f"{flag} {value!r} is not a whole number: use an integer >= {minimum}") from None
    if count < minimum:
        raise InvalidSpec(f"{flag} {value!r} is too small: use an integer >= {minimum}")
    return count
