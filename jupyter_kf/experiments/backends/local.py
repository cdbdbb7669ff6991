"""Searches on this machine: optuna asks, each trial is a local ``%%kf_train`` job, optuna is told.

One coordinator (``Search``) per running search, in the kernel that started or resumed it. Its state is
on disk under ``<state>/experiments/<name>/`` (0700; files 0600): the spec, the trial code, optuna's
journal and ``state.json`` (every trial, its parameters as text, status and metrics), so a search is
listed, stopped, deleted or resumed after a kernel restart. Stop is a file, so any process can ask.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

from jupyter_kf import config
from jupyter_kf.errors import AlreadyExists, KfError, NotFound
from jupyter_kf.experiments.spec import ExperimentSpec
from jupyter_kf.experiments.status import ExperimentStatus, Observation, TrialStatus, median_stop_rule, should_stop

_ACTIVE: dict[str, "Search"] = {}  # searches this process coordinates


class ExperimentNotFound(NotFound):
    pass


class LocalExperiments:
    """Searches coordinated in this kernel, each trial a job of ``trial_backend`` (this machine's processes)."""

    name = "local"
    trial_backend = "local"
    driven_by = "kernel"  # the search lives in a kernel: it stops when no kernel follows it (%kf_experiment_attach)
    state = "experiments"

    def __init__(self, root: Path | None = None):
        self.root = root or config.state_root() / self.state

    def jobs(self):
        from jupyter_kf.training.backends import get_backend as training_backend

        return training_backend(self.trial_backend)

    def trial_job(self, trial: str, experiment: str):
        """A trial's job, as %%kf_train's ``Job`` (logs, results)."""
        from jupyter_kf.training.api import Job

        return Job(trial, self.jobs())

    def cap(self, spec: ExperimentSpec) -> int:
        """Trials at once: ``--parallel``, within the local worker limit."""
        per_trial = max(1, int(spec.train.get("workers") or 1))
        return max(1, min(spec.parallel, config.get().max_local_workers() // per_trial))

    def folder(self, name: str) -> Path:
        return self.root / name

    def exists(self, name: str) -> bool:
        return (self.folder(name) / "state.json").exists()

    def create(self, spec: ExperimentSpec, source: str, user_ns: dict | None = None,
               replace: bool = False) -> ExperimentStatus:
        if self.exists(spec.name):
            if not replace:
                raise AlreadyExists(f"experiment {spec.name!r} exists: pick another --name, or "
                                    f"%kf_experiment_delete {spec.name} (or --replace) first")
            self.delete(spec.name)
        folder = config.private_dir(self.folder(spec.name))
        config.write_private(folder / "spec.json", json.dumps(spec.to_dict()))
        config.write_private(folder / "trial.py", source)
        status = ExperimentStatus(spec.name, "Running", self.name, spec.objective, spec.goal, spec.trials,
                                  spec.parallel, spec.algorithm, created=time.time())
        self.save(status)
        return status

    def save(self, status: ExperimentStatus) -> None:
        config.write_private(self.folder(status.name) / "state.json", json.dumps(status.to_dict()))

    def spec(self, name: str) -> ExperimentSpec:
        return ExperimentSpec.from_dict(json.loads((self._existing(name) / "spec.json").read_text()))

    def source(self, name: str) -> str:
        return (self._existing(name) / "trial.py").read_text()

    def _existing(self, name: str) -> Path:
        folder = self.folder(name)
        if not (folder / "state.json").exists():
            raise ExperimentNotFound(f"experiment {name!r} not found on the {self.name} backend "
                                     "(%kf_experiments lists them)")
        return folder

    def status(self, name: str) -> ExperimentStatus:
        return ExperimentStatus.from_dict(json.loads((self._existing(name) / "state.json").read_text()))

    def list(self) -> list[ExperimentStatus]:
        if not self.root.exists():
            return []
        found = []
        for entry in os.scandir(self.root):
            try:
                found.append(self.status(entry.name))
            except (KfError, OSError, ValueError):
                continue
        return sorted(found, key=lambda s: -(s.created or 0))

    def active(self, name: str) -> "Search | None":
        search = _ACTIVE.get(name)
        return search if search is not None and search.alive else None

    def start(self, name: str, user_ns: dict, on_update=None) -> "Search":
        """Coordinate ``name`` in this process; each trial is ``kf.train`` of the trial code."""
        from jupyter_kf.experiments.spec import ENV_PREFIX
        from jupyter_kf.training import api as training

        spec, source = self.spec(name), self.source(name)
        options = dict(spec.train)
        env = dict(options.pop("env", None) or {})
        if isinstance(env, (list, tuple)):
            from jupyter_kf.training.spec import parse_env

            env = parse_env(env)

        def submit(trial_name: str, params: dict) -> None:
            bound = {f"{ENV_PREFIX}{k}": v for k, v in params.items()}
            training.train(source, name=trial_name, user_ns=user_ns, env={**env, **bound}, backend=self.trial_backend,
                           namespace=spec.namespace, replace=True, **options)

        (self.folder(name) / "stop").unlink(missing_ok=True)
        return Search(self, name, user_ns, submit, on_update=on_update).start()

    def render(self, spec: ExperimentSpec, source: str, user_ns: dict) -> str:
        lines = [f"dry run: search {spec.name!r} on the {self.name} backend: {spec.trials} trials, at most "
                 f"{spec.parallel} at once, {spec.algorithm} ({spec.goal} {spec.objective})"]
        lines += [f"  {p.name} = {p.describe()}" for p in spec.params]
        lines += ["each trial runs:", source.rstrip(), "nothing was started"]
        return "\n".join(lines)

    def stop_requested(self, name: str) -> bool:
        return (self.folder(name) / "stop").exists()

    def cancel(self, name: str) -> ExperimentStatus:
        """Stop asking for trials and cancel the running ones; done trials and the best so far are kept."""
        folder = self._existing(name)
        config.write_private(folder / "stop", "stop")
        search = self.active(name)
        if search is not None:
            search.thread.join()
            return self.status(name)
        status = self.status(name)  # no coordinator: end it here
        if not status.done:
            jobs = self.jobs()
            for trial in status.trials:
                if not trial.done:
                    _cancel_job(jobs, trial.name)
                    trial.phase, trial.finished = "Cancelled", time.time()
            status.phase, status.message = "Cancelled", "stopped"
            self.save(status)
        return status

    def delete(self, name: str) -> None:
        """Cancel if running, remove every trial job with its logs and results, and the search's state."""
        status = self.cancel(name)
        jobs = self.jobs()
        for trial in status.trials:
            try:
                jobs.delete(trial.name)
            except KfError:
                pass
        shutil.rmtree(self.folder(name), ignore_errors=True)


def failure_message(job) -> str:
    """A failed trial job's cell error, its line counted in the cell (the binding line is not); "" if unknown."""
    try:
        error = job.load_results().error or {}
    except KfError:
        return ""
    if error.get("kind") != "cell":
        return error.get("message") or ""
    line = error.get("line")
    where = f" at cell line {line - 1}" if line and line > 1 else ""
    return f"{error.get('type', 'error')}: {error.get('message', '')}{where}"


def _cancel_job(jobs, name: str) -> None:
    try:
        jobs.cancel(name)
    except KfError:
        pass


class Search:
    """The coordinator: asks optuna, runs at most ``parallel`` trial jobs, tells optuna, saves the state."""

    def __init__(self, store: LocalExperiments, name: str, user_ns: dict, submit, on_update=None):
        import optuna

        from jupyter_kf.experiments import sampling

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.store, self.name, self.user_ns, self.submit = store, name, user_ns, submit
        self.spec, self.source = store.spec(name), store.source(name)
        self.status = store.status(name)
        self.jobs = store.jobs()
        self.on_update = on_update
        self.parallel = store.cap(self.spec)
        self.distributions = {p.name: sampling.distribution(p) for p in self.spec.params}
        journal = self.store.folder(name) / "study.log"
        config.open_private(journal).close()
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        self.study = optuna.create_study(
            storage=JournalStorage(JournalFileBackend(str(journal))), study_name=name, load_if_exists=True,
            direction=self.spec.goal, sampler=sampling.sampler(self.spec))
        self.observed: dict[str, Observation] = {}
        self.cursors: dict[str, dict | None] = {}
        self.queued: list = []  # optuna trials asked but not yet started (the local worker cap was full)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"kf-tune-{name}", daemon=True)
        self._wake = threading.Event()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def start(self) -> "Search":
        _ACTIVE[self.name] = self
        self._forget_lost()
        self.thread.start()
        return self

    def _forget_lost(self) -> None:
        """After a restart: optuna trials asked but never started as jobs are failed (their numbers skipped)."""
        from optuna.trial import TrialState

        known = {t.number for t in self.status.trials}
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial.number not in known:
                self.study.tell(trial.number, state=TrialState.FAIL)

    def wait(self, timeout: float | None = None) -> ExperimentStatus:
        self.thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.status

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as err:  # the search ends with the reason; the trials it started stop
            self.error = err
            for trial in self.status.trials:
                if not trial.done:
                    _cancel_job(self.jobs, trial.name)
                    trial.phase, trial.finished = "Cancelled", time.time()
            self.status.phase, self.status.message = "Failed", f"{type(err).__name__}: {err}"
            self._save()

    def _loop(self) -> None:
        delay = 0.01
        while True:
            changed = self._poll()
            if self.store.stop_requested(self.name):
                self._end("Cancelled", "stopped", cancel=True)
                return
            reason = self._ending()
            if reason is not None and not self._running():
                self._end(*reason)
                return
            if reason is None:
                changed |= self._fill()
            elif reason[1].startswith("goal"):
                self._cancel_running("the goal was reached")
            self._save()
            delay = 0.01 if changed else min(delay * 1.5, 0.25)
            self._wake.wait(delay)

    def _running(self) -> list[TrialStatus]:
        return [t for t in self.status.trials if not t.done]

    def _ending(self):
        """(phase, message) once no more trials should start: goal reached, too many failures, or all run."""
        best = self.status.best
        if best is not None and self.spec.reached(best.objective):
            return "Succeeded", f"goal reached: {self.spec.objective}={best.objective:g} by {best.name}"
        failed = self.status.count("Failed", "MetricsUnavailable")
        if self.spec.max_failed and failed >= self.spec.max_failed:
            return "Failed", f"{failed} trials failed (--max-failed {self.spec.max_failed})"
        if len(self.status.trials) >= self.spec.trials:
            return "Succeeded", f"{self.spec.trials} trials run"
        return None

    def _end(self, phase: str, message: str, cancel: bool = False) -> None:
        if cancel:
            self._cancel_running("the search was stopped")
            for trial in self._running():
                trial.phase, trial.finished = "Cancelled", time.time()
        if phase == "Succeeded" and self.status.best is None:
            failed = next((t for t in self.status.trials if t.phase in ("Failed", "MetricsUnavailable")), None)
            why = f"; {failed.name}: {failed.message}" if failed is not None else ""
            phase, message = "Failed", f"no trial reported {self.spec.objective}=<number> ({message}){why}"
        self.status.phase, self.status.message = phase, message
        self._save()

    def _cancel_running(self, why: str) -> None:
        for trial in self._running():
            if trial.message != why:
                trial.message = why
                _cancel_job(self.jobs, trial.name)

    def _save(self) -> None:
        self.store.save(self.status)
        if self.on_update is not None:
            self.on_update(self.status)

    def _fill(self) -> bool:
        """Start trials up to the parallel limit and the budget."""
        from jupyter_kf.training.backends.local import TooManyWorkers

        started = False
        while len(self._running()) < self.parallel and len(self.status.trials) < self.spec.trials:
            asked = self.queued.pop(0) if self.queued else self.study.ask(self.distributions)
            params = {p.name: p.text(asked.params[p.name]) for p in self.spec.params}
            trial = TrialStatus(asked.number, f"{self.name}-{len(self.status.trials):03d}", params)
            try:
                self.submit(trial.name, params)
            except TooManyWorkers:  # other jobs hold the local workers: try again when one ends
                self.queued.insert(0, asked)
                return started
            except KfError as err:
                self.study.tell(asked.number, state=_failed())
                raise KfError(f"trial {trial.name} could not start: {err}") from None
            trial.started, trial.phase = time.time(), "Running"
            self.status.trials.append(trial)
            self.cursors[trial.name], self.observed[trial.name] = None, Observation(self.spec.objective)
            started = True
        return started

    def _poll(self) -> bool:
        """Read the running trials' logs and status; end and tell the ones that ended."""
        changed = False
        rule = None
        if self.spec.early_stopping == "medianstop":
            rule = median_stop_rule(self.status.trials, self.spec.goal)
        for trial in self._running():
            status = self.jobs.status(trial.name)
            observed = self.observed.setdefault(trial.name, Observation(self.spec.objective))
            lines, self.cursors[trial.name] = self.jobs.read_logs(trial.name, self.cursors.get(trial.name))
            if status.done:
                more, self.cursors[trial.name] = self.jobs.read_logs(trial.name, self.cursors[trial.name])
                lines += more
            for rank, line in lines:
                if rank == 0 and observed.add_line(line):
                    changed = True
            trial.history = list(observed.values)
            trial.objective = observed.value("min" if self.spec.goal == "minimize" else "max")
            if status.done:
                self._ended(trial, status, observed)
                changed = True
            elif trial.message == "" and should_stop(trial, rule, self.spec.goal):
                trial.message = "early stopped (medianstop)"
                _cancel_job(self.jobs, trial.name)
        return changed

    def _ended(self, trial: TrialStatus, status, observed: Observation) -> None:
        from optuna.trial import TrialState

        trial.finished = time.time()
        if trial.message.startswith("early stopped") and trial.objective is not None:
            trial.phase = "EarlyStopped"
        elif status.phase == "Succeeded":
            trial.phase = "Succeeded" if trial.objective is not None else "MetricsUnavailable"
            if trial.objective is None:
                trial.message = f"{self.spec.objective} was never printed as {self.spec.objective}=<number>"
        elif status.phase == "Cancelled":
            trial.phase, trial.message = "Cancelled", trial.message or "cancelled"
        else:
            trial.phase, trial.message = "Failed", self._failure(trial.name) or status.message or "failed"
        try:
            if trial.phase in ("Succeeded", "EarlyStopped"):
                self.study.tell(trial.number, trial.objective)
            else:
                self.study.tell(trial.number, state=TrialState.FAIL)
        except RuntimeError:  # grid: the tell that completes the grid calls study.stop() (katib.md §12)
            pass

    def _failure(self, name: str) -> str:
        from jupyter_kf.training.api import Job

        return failure_message(Job(name, self.jobs))

    def stop(self) -> None:
        config.write_private(self.store.folder(self.name) / "stop", "stop")
        self._wake.set()


def _failed():
    from optuna.trial import TrialState

    return TrialState.FAIL
