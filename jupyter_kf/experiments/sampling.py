"""Katib's algorithms as optuna samplers and its feasible spaces as optuna distributions (katib.md §12)."""
from __future__ import annotations

import warnings

from jupyter_kf.experiments.spec import ExperimentSpec, Param


def distribution(param: Param):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if param.kind == "double":
        return FloatDistribution(param.low, param.high, log=param.log, step=None if param.log else param.step)
    if param.kind == "int":
        with warnings.catch_warnings():  # a step that does not divide the range is shrunk, as Katib's optuna does
            warnings.simplefilter("ignore")
            return IntDistribution(int(param.low), int(param.high), step=int(param.step or 1))
    return CategoricalDistribution(list(param.values))


def sampler(spec: ExperimentSpec):
    import optuna.samplers as s

    seed, name = spec.seed, spec.algorithm
    if name == "random":
        return s.RandomSampler(seed=seed)
    if name in ("tpe", "multivariate-tpe"):
        startup = min(10, max(spec.parallel, spec.trials // 4))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # multivariate and constant_liar are "experimental"
            return s.TPESampler(seed=seed, n_startup_trials=startup, constant_liar=True,
                                multivariate=name == "multivariate-tpe")
    if name == "grid":
        space = {p.name: [v if p.kind in ("int", "double") else str(v) for v in p.grid()] for p in spec.params}
        return s.GridSampler(space, seed=seed)
    if name == "cmaes":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return s.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "sobol":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return s.QMCSampler(qmc_type="sobol", seed=seed, warn_independent_sampling=False)
    if name == "bayesianoptimization":
        try:
            import torch  # noqa: F401  (optuna's Gaussian-process sampler needs it)
        except ImportError:
            return s.TPESampler(seed=seed, constant_liar=True)
        return s.GPSampler(seed=seed)
    raise ValueError(name)  # pragma: no cover - ExperimentSpec checked it
