"""``%%kf_tune`` and the experiment magics: argument parsing, one API call, and a view. No logic of their own."""
from __future__ import annotations

import sys

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_kf.magic_args import BACKEND_HELP, Detached, parse, where
from jupyter_kf.training.magics import KfMagics  # imported first: a magics class collects the magics defined before it

_OWN = {"--name", "--backend", "--namespace", "--no-wait", "--dry-run", "--replace"}


def train_flags(func):
    """Every ``%%kf_train`` flag, the same words with the same help (each trial is a %%kf_train job)."""
    for flag in reversed(KfMagics.kf_train.decorators):
        if getattr(flag, "args", None) and flag.args[0] not in _OWN:
            func = flag(func)
    return func


def _train_options(args) -> dict:
    """The %%kf_train options every trial runs with (name, backend and namespace are the experiment's)."""
    from jupyter_kf.training.spec import OPTIONS

    names = lambda text: [n.strip() for n in (text or "").split(",") if n.strip()]  # noqa: E731
    options = {o.name: getattr(args, o.name) for o in OPTIONS if o.name not in ("name", "backend", "namespace")}
    return dict(options, include=names(args.include), exclude=names(args.exclude), ship_all=args.ship_all)


@magics_class
class ExperimentMagics(Magics):
    """``%%kf_tune`` (a hyperparameter search over a cell) and the experiment magics."""

    @magic_arguments()
    @argument("--name", help="experiment name (at most 40 lowercase letters, digits, '-'); default: tune-xxxxx")
    @argument("--param", action="append", default=[], metavar="NAME=FORM(...)",
              help="a parameter the cell reads: uniform(a,b[,step]), loguniform(a,b), int(a,b[,step]), "
                   "discrete(1,2,4), choice(a,b,c) (repeatable)")
    @argument("--objective", help="the metric to optimise: the cell prints it as NAME=VALUE (e.g. loss=0.12)")
    @argument("--goal", default="minimize", help="minimize or maximize")
    @argument("--trials", default="12", help="trials in all")
    @argument("--parallel", default="3", help="trials at once (locally capped by c.KfConfig.local_max_workers)")
    @argument("--algorithm", default="tpe", help="random, grid, tpe, multivariate-tpe, cmaes, sobol, "
                                                 "bayesianoptimization (Katib's names)")
    @argument("--target", help="end the search once the objective reaches this value")
    @argument("--early-stopping", help="medianstop: end trials whose intermediate metrics fall behind")
    @argument("--max-failed", help="end the search after this many failed trials")
    @argument("--seed", help="the sampler's random seed (reproducible searches)")
    @where
    @train_flags
    @argument("--replace", action="store_true", help="delete an experiment of the same name first")
    @argument("--no-wait", action="store_true", help="return at once; the view stays live; "
                                                     "%%kf_experiment_attach NAME brings the best results")
    @argument("--dry-run", action="store_true", help="show what would run (the Katib Experiment on a cluster)")
    @cell_magic
    def kf_tune(self, line, cell):
        """Search hyperparameters: each trial runs this cell as a %%kf_train job with the parameters bound."""
        from jupyter_kf.errors import InvalidSpec
        from jupyter_kf.experiments import api

        args = parse(self.kf_tune, line)
        if not args.objective:
            raise InvalidSpec("%%kf_tune needs --objective NAME: the metric the cell prints as NAME=VALUE")
        views = []  # the view appears once the search has started (a bad flag shows its line alone)
        experiment = api.tune(
            cell, params=args.param, objective=args.objective, goal=args.goal, trials=args.trials,
            parallel=args.parallel, algorithm=args.algorithm, target=args.target,
            early_stopping=args.early_stopping, max_failed=args.max_failed, seed=args.seed, name=args.name,
            backend=args.backend, namespace=args.namespace, user_ns=self.shell.user_ns, wait=False,
            replace=args.replace, dry_run=args.dry_run, on_update=lambda status: views and views[0].update(status),
            **_train_options(args))
        if args.dry_run:
            print(experiment)
            return None
        view = self._view(experiment.name, experiment.backend.name)
        view.stop_button.on_click(lambda _: experiment.stop())
        view.update(experiment.status(), force=True)
        views.append(view)
        if args.no_wait:
            runs = ("Katib runs its trials" if experiment.backend.driven_by == "katib"
                    else "this kernel runs the search")
            print(f"experiment {experiment.name} started on the {experiment.backend.name} backend ({runs}): "
                  f"%kf_experiment_attach {experiment.name} brings the best trial's results")
            return None
        return self._watch(experiment, view)

    @staticmethod
    def _view(name, backend):
        from IPython.display import display

        from jupyter_kf.experiments.widgets import ExperimentView

        view = ExperimentView(name, backend)
        display(view)
        return view

    def _watch(self, experiment, view):
        """Wait for the search (its coordinator runs in a thread); interrupting detaches, the search goes on."""
        try:
            status = experiment.wait()
        except KeyboardInterrupt:
            where = "on the cluster (Katib)" if experiment.backend.driven_by == "katib" else "in this kernel"
            view.finish(f"detached: the search goes on {where} (Stop still stops it)")
            raise Detached(f"detached from experiment {experiment.name}, which goes on: %kf_experiment_attach "
                           f"{experiment.name} to watch it again, %kf_experiment_cancel {experiment.name} "
                           "to stop it") from None
        view.update(status, force=True)
        return self._finish(experiment, status, view)

    def _finish(self, experiment, status, view):
        from jupyter_kf.errors import JobFailed

        best = status.best
        if best is None:
            message = f"experiment {experiment.name} {status.phase.lower()}: {status.message}"
            view.finish(message)
            raise JobFailed(message)
        _, (loaded, changed) = experiment.apply(self.shell.user_ns)
        names = ", ".join(n for n in changed if n not in loaded.imports) or "nothing"
        params = ", ".join(f"{k}={v}" for k, v in best.params.items())
        message = (f"{experiment.name} {status.phase.lower()} ({status.message}); best {best.name}: "
                   f"{status.objective}={best.objective:.6g} with {params}; in the notebook now: {names}")
        view.finish(message)
        print(message)
        return None

    @magic_arguments()
    @argument("--backend", help=BACKEND_HELP)
    @line_magic
    def kf_experiments(self, line):
        """A table of experiments, newest first."""
        from jupyter_kf.experiments import api
        from jupyter_kf.experiments.display import ExperimentTable

        args = parse(self.kf_experiments, line)
        return ExperimentTable(api.experiments(backend=args.backend))

    @magic_arguments()
    @argument("name")
    @argument("--backend", help=BACKEND_HELP)
    @line_magic
    def kf_trials(self, line):
        """One experiment's trials: parameters, status, objective, duration."""
        from jupyter_kf.experiments import api
        from jupyter_kf.experiments.display import TrialTable

        args = parse(self.kf_trials, line)
        experiment = api.experiment(args.name, backend=args.backend)
        return TrialTable(experiment.status(), experiment.backend.spec(args.name))

    @magic_arguments()
    @argument("name")
    @argument("--backend", help=BACKEND_HELP)
    @line_magic
    def kf_experiment_attach(self, line):
        """Watch a search again (resuming it after a kernel restart) and bring its best trial's results in."""
        from jupyter_kf.experiments import api

        args = parse(self.kf_experiment_attach, line)
        experiment = api.experiment(args.name, backend=args.backend)
        view = self._view(args.name, experiment.backend.name)
        view.stop_button.on_click(lambda _: experiment.stop())
        view.update(experiment.status(), force=True)
        experiment.resume(self.shell.user_ns, on_update=view.update)
        return self._watch(experiment, view)

    @magic_arguments()
    @argument("name")
    @argument("--backend", help=BACKEND_HELP)
    @line_magic
    def kf_experiment_cancel(self, line):
        """Stop a search: no new trials, running ones cancelled; the best so far is kept."""
        from jupyter_kf.experiments import api

        args = parse(self.kf_experiment_cancel, line)
        status = api.experiment(args.name, backend=args.backend).stop()
        print(f"experiment {args.name}: {status.phase} ({status.progress()})")

    @magic_arguments()
    @argument("name")
    @argument("--backend", help=BACKEND_HELP)
    @line_magic
    def kf_experiment_delete(self, line):
        """Remove a search with its trials' jobs, logs and results (stops it first)."""
        from jupyter_kf.experiments import api

        args = parse(self.kf_experiment_delete, line)
        api.experiment(args.name, backend=args.backend).delete()
        print(f"experiment {args.name} deleted", file=sys.stdout)
