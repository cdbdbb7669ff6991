"""The search API every face calls: ``kf.tune(...)``, ``kf.experiment(name)``, ``kf.experiments()``.

A trial is the cell run as a ``%%kf_train`` job (``jupyter_kf.training.api.train``) with the parameters
bound: the trial's code starts with one line that reads them from its environment (``KF_PARAM_<name>``)
and casts them (float, int, str), so values travel as text locally exactly as Katib substitutes them on
a cluster, and the parameter variables come back with the best trial's results.
"""
from __future__ import annotations

import inspect
import secrets
import string
import sys
from dataclasses import dataclass
from typing import Callable

from jupyter_kf.errors import KfError
from jupyter_kf.experiments.backends import get_backend
from jupyter_kf.experiments.spec import ENV_PREFIX, ExperimentSpec, Param
from jupyter_kf.experiments.status import ExperimentStatus, TrialStatus

__all__ = ["tune", "experiment", "experiments", "Experiment", "Best"]
_EXPERIMENT_OWNED = ("name", "backend", "namespace")  # a trial's are the experiment's


def train_option_names() -> tuple[str, ...]:
    """``kf.train``'s options a search passes on to every trial (jupyter_kf.training.spec.OPTIONS)."""
    from jupyter_kf.training.spec import OPTION_NAMES

    return tuple(n for n in OPTION_NAMES if n not in _EXPERIMENT_OWNED) + ("include", "exclude", "ship_all")


_CASTS = {"double": "float", "int": "int", "categorical": "str"}


@dataclass
class Best:
    """The best trial so far: its parameters (typed), objective value and trial name."""

    params: dict
    objective: float
    trial: str


def new_name() -> str:
    return "tune-" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))


def prelude(params: tuple[Param, ...]) -> str:
    """The trial code's first line: each parameter read from the environment as text and cast back."""
    parts = []
    for p in params:
        read = f'__import__("os").environ["{ENV_PREFIX}{p.name}"]'
        if p.kind == "discrete":
            whole = all(float(v).is_integer() for v in p.values)
            parts.append(f"{p.name} = {'int(float(' + read + '))' if whole else 'float(' + read + ')'}")
        elif p.kind == "int":
            parts.append(f"{p.name} = int(float({read}))")
        else:
            parts.append(f"{p.name} = {_CASTS[p.kind]}({read})")
    return "; ".join(parts) + "\n"


def trial_source(cell: str | Callable, spec: ExperimentSpec) -> tuple[str, dict]:
    """The code every trial runs, and the extra names it reads (the function, for a function)."""
    if callable(cell):
        call = ", ".join(f"{p.name}={p.name}" for p in spec.params)
        body = (f"_kf_value = _kf_function({call})\n"
                f"if isinstance(_kf_value, (int, float)):\n    print('{spec.objective}=%r' % float(_kf_value))\n")
        return prelude(spec.params) + body, {"_kf_function": cell}
    return prelude(spec.params) + cell, {}


def unread_params(cell: str | Callable, spec: ExperimentSpec) -> list[str]:
    """Parameters the code never reads (a warning: the search would vary nothing)."""
    if callable(cell):
        sig = inspect.signature(cell)
        if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
            return []
        return [p.name for p in spec.params if p.name not in sig.parameters]
    from jupyter_kf.training import capture

    inputs = set(capture.analyse(cell).inputs)
    return [p.name for p in spec.params if p.name not in inputs]


def tune(cell: str | Callable, *, params, objective: str, goal: str = "minimize", trials: int = 12,
         parallel: int = 3, algorithm: str = "tpe", target=None, early_stopping=None, max_failed=None, seed=None,
         name: str | None = None, backend: str | None = None, namespace: str | None = None,
         user_ns: dict | None = None, wait: bool = True, replace: bool = False, dry_run: bool = False,
         on_update: Callable | None = None, **train_options) -> "Experiment | str":
    """Search ``params`` for the best ``objective`` the code prints (``loss=0.1``) or a function returns.

    Each trial runs the code as a ``kf.train`` job with the parameters bound as ordinary variables.

    Args:
        cell: the code (text) or a function called with the parameters as keyword arguments (its numeric
            return value is the objective).
        params: ``{"lr": "loguniform(1e-4,1e-1)", "layers": "int(1,4)"}`` or ``["lr=loguniform(1e-4,1e-1)"]``.
        objective, goal: the metric's name and ``minimize``/``maximize``.
        trials, parallel, algorithm, target, early_stopping, max_failed, seed: the search (Katib's meanings).
        name, backend, namespace: where it runs (name: at most 40 characters; default tune-xxxxx).
        user_ns: where the code's inputs are read (default: the caller's globals).
        wait: return once the search has ended (local backend).
        replace: delete an experiment of the same name first.
        dry_run: return what would run (the Katib Experiment on a cluster) as text; start nothing.
        on_update: called with each new ``ExperimentStatus`` (the live view).
        **train_options: ``kf.train``'s options for every trial (workers, cpu, memory, env, image, data, ...).

    Returns:
        An ``Experiment`` handle, or the dry run's text.

    Raises:
        InvalidSpec: a bad parameter, flag or name (one line), before anything starts.
        AlreadyExists: an experiment of that name exists (without ``replace``).
    """
    unknown = set(train_options) - set(train_option_names())
    if unknown:
        raise TypeError(f"tune() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    spec = ExperimentSpec.create(
        name=name or new_name(), params=params, objective=objective, goal=goal, trials=trials, parallel=parallel,
        algorithm=algorithm, target=target, early_stopping=early_stopping, max_failed=max_failed, seed=seed,
        backend=backend, namespace=namespace,
        train={k: v for k, v in train_options.items() if v not in (None, (), [], "")})
    check_train_options(spec)
    if user_ns is None and not callable(cell):
        user_ns = inspect.currentframe().f_back.f_globals
    for missing in unread_params(cell, spec):
        print(f"warning: the code never reads parameter {missing!r}: every trial gets the same result for it",
              file=sys.stderr)
    source, extra = trial_source(cell, spec)
    namespace_ = {**(user_ns or {}), **extra}
    target_backend = get_backend(backend)
    if dry_run:
        return target_backend.render(spec, source, namespace_)
    target_backend.create(spec, source, user_ns=namespace_, replace=replace)
    handle = Experiment(spec.name, target_backend)
    handle.start(namespace_, on_update=on_update)
    if wait:
        handle.wait()
    return handle


def check_train_options(spec: ExperimentSpec) -> None:
    """The trials' %%kf_train options, checked once here rather than at every trial (env normalised to a dict)."""
    from jupyter_kf.training.spec import TrainSpec, parse_env

    if "env" in spec.train:
        spec.train["env"] = parse_env(spec.train["env"])
    options = {k: v for k, v in spec.train.items() if k not in ("include", "exclude", "ship_all")}
    TrainSpec.create(name="trial", backend=spec.backend, namespace=spec.namespace, **options)


def experiments(backend: str | None = None) -> list[ExperimentStatus]:
    """Every search the backend knows, newest first.

    Returns:
        A list of ``ExperimentStatus``.
    """
    return get_backend(backend).list()


def experiment(name: str, backend: str | None = None) -> "Experiment":
    """A handle on search ``name``, also after a kernel restart.

    Returns:
        An ``Experiment`` (``.best``, ``.trials()``, ``.stop()``, ``.delete()``, ``.resume()``).

    Raises:
        InvalidSpec: a malformed name. NotFound: no such experiment.
    """
    from jupyter_kf.experiments.spec import check_name

    check_name(name)
    target = get_backend(backend)
    target.status(name)  # raises the not-found line users see
    return Experiment(name, target)


class Experiment:
    """A handle on one search: status, trials, best, stop, delete, resume; cheap, also after a restart."""

    def __init__(self, name: str, backend):
        self.name, self.backend = name, backend

    def __repr__(self):
        status = self.status()
        return f"<Experiment {self.name} {status.phase} {status.progress()} ({self.backend.name})>"

    def status(self) -> ExperimentStatus:
        return self.backend.status(self.name)

    @property
    def best(self) -> Best | None:
        status = self.status()
        trial = status.best
        if trial is None:
            return None
        spec = self.backend.spec(self.name)
        return Best({p.name: p.cast(trial.params[p.name]) for p in spec.params}, trial.objective, trial.name)

    def trials(self):
        """One row a trial (parameters typed, status, objective, duration): a DataFrame with pandas, else dicts."""
        spec = self.backend.spec(self.name)
        rows = [trial_row(t, spec) for t in self.status().trials]
        try:
            import pandas
        except ImportError:
            return rows
        return pandas.DataFrame(rows)

    def start(self, user_ns: dict, on_update: Callable | None = None):
        """Coordinate the search in this process, or follow it where the cluster runs it (Katib)."""
        return self.backend.start(self.name, user_ns, on_update=on_update)

    def resume(self, user_ns: dict | None = None, on_update: Callable | None = None):
        """Take up a search that lost its coordinator (a kernel restart): running trials are followed again,
        the budget is completed with the notebook's current variables."""
        if user_ns is None:
            user_ns = inspect.currentframe().f_back.f_globals
        search = self.backend.active(self.name)
        if search is not None and on_update is not None:  # a newer view follows the running search
            search.on_update = on_update
        if not self.status().done and search is None:
            if "_kf_function(" in self.backend.source(self.name) and "_kf_function" not in user_ns:
                raise KfError(f"experiment {self.name!r} searched a function, which a restart lost: "
                              "kf.experiment(name).resume({'_kf_function': f}) with the same function")
            self.start(user_ns, on_update=on_update)
        return self

    def wait(self, timeout: float | None = None) -> ExperimentStatus:
        search = self.backend.active(self.name)
        if search is not None:
            search.wait(timeout)
        return self.status()

    def stop(self) -> ExperimentStatus:
        """Stop asking for trials; running trials are cancelled; the best so far stays."""
        return self.backend.cancel(self.name)

    cancel = stop

    def delete(self) -> None:
        self.backend.delete(self.name)

    def apply(self, user_ns: dict):
        """Bind the best trial's results (its variables, the parameters among them) into ``user_ns``."""
        best = self.status().best
        if best is None:
            raise KfError(f"experiment {self.name!r} has no successful trial yet: nothing to bring back")
        return best, self.backend.trial_job(best.name, self.name).apply(user_ns)


def trial_row(trial: TrialStatus, spec: ExperimentSpec) -> dict:
    row = {"trial": trial.name}
    for p in spec.params:
        row[p.name] = p.cast(trial.params[p.name]) if p.name in trial.params else None
    row.update(status=trial.phase, objective=trial.objective,
               duration=None if trial.started is None or trial.finished is None else
               round(trial.finished - trial.started, 3))
    return row
