"""The one Python API every face calls: ``import jupyter_kf as kf``.

``kf.train(...)`` turns code into a job; ``kf.jobs()`` lists them; ``kf.job(name)`` gets a handle
for status, logs, cancel and results, also after a kernel restart.
"""
from __future__ import annotations

import inspect
import secrets
import string
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from jupyter_kf import config
from jupyter_kf.datasets import api as data_api
from jupyter_kf.display import format_size
from jupyter_kf.errors import InvalidSpec, JobFailed
from jupyter_kf.training import capture, payload
from jupyter_kf.training import results as _results
from jupyter_kf.training.backends import Backend, get_backend
from jupyter_kf.training.spec import JOBS_SHOWN, TrainSpec, check_options
from jupyter_kf.training.status import JobStatus

__all__ = ["train", "jobs", "job", "Job", "DryRun", "JOBS_SHOWN"]


@dataclass
class DryRun:
    """What ``train`` would do, without doing it."""

    spec: TrainSpec
    analysis: capture.CellAnalysis
    captured: payload.Captured
    backend: str
    manifests: str = ""

    def summary(self) -> str:
        sizes = self.captured.sizes()
        lines = [f"dry run: job {self.spec.name!r} on the {self.backend} backend, {self.spec.workers} worker(s)"
                 + "".join(f", {k} {v}" for k, v in (("cpu", self.spec.cpu), ("memory", self.spec.memory)) if v)
                 + (f", {self.spec.gpus} GPU(s)" if self.spec.gpus else "")
                 + (f", TPU {tpu} ({tpu.chips_per_host} chips per worker)" if (tpu := self.spec.tpu) else "")]
        if self.spec.data:
            lines.append("data: " + ", ".join(str(m) for m in self.spec.data))
        if self.spec.env:
            lines.append("env: " + " ".join(f"{k}={v}" for k, v in self.spec.env.items()))
        lines.append(f"inputs ({len(sizes)}, {format_size(sum(max(s, 0) for s in sizes.values()))}):")
        for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {name:<20} {type(self.captured.values[name]).__name__:<14} "
                         + (format_size(size) if size >= 0 else "cannot be pickled"))
        for name, module in self.captured.modules.items():
            lines.append(f"  {name:<20} module         import {module}")
        if self.captured.local_files:
            lines.append("local modules shipped as source: " + ", ".join(sorted(self.captured.local_files)))
        if self.analysis.outputs:
            lines.append("assigns: " + ", ".join(self.analysis.outputs))
        if self.captured.missing:
            lines.append("not defined in the notebook (NameError expected): " + ", ".join(self.captured.missing))
        lines += [f"warning: {w}" for w in self.analysis.warnings]
        if self.manifests:
            lines += ["manifests:", self.manifests.rstrip()]
        lines.append("nothing was started")
        return "\n".join(lines)


def spec_from(options: dict) -> TrainSpec:
    """A ``TrainSpec`` from ``kf.train``'s keywords (or REST's keys), ``c.KfConfig``'s defaults filling the rest."""
    cfg = config.get()
    given = check_options(options)
    defaults = {"name": new_job_name(), "cpu": cfg.cpu, "memory": cfg.memory, "gpus": cfg.gpus, "image": cfg.image}
    if given.get("tpu"):
        defaults.pop("gpus")  # a TPU worker has no GPUs: c.KfConfig.gpus is the default for GPU jobs
    return TrainSpec.create(**{**{k: v for k, v in defaults.items() if v not in (None, "")}, **given})


def new_job_name(prefix: str = "train") -> str:
    alphabet = string.ascii_lowercase + string.digits
    return f"{prefix}-{''.join(secrets.choice(alphabet) for _ in range(5))}"


def train(cell: str | Callable, spec: TrainSpec | None = None, *, user_ns: dict | None = None, include=(),
          exclude=(), ship_all: bool = False, wait: bool = False, replace: bool = False, dry_run: bool = False,
          **options) -> "Job | DryRun":
    """Run ``cell`` as a job: ``kf.train("model = fit(X, y)", workers=2, gpus=1)``.

    Args:
        cell: the code (what a ``%%kf_train`` cell holds), or a function called with no arguments.
        spec: a ``TrainSpec``, instead of ``options``.
        user_ns: where the names the code reads come from (default: the caller's globals).
        include, exclude: names to ship although the analysis misses them, and names never to ship.
        ship_all: ship every variable of ``user_ns`` (cells that use exec/eval).
        wait: block until the job ends. replace: delete a finished job of the same name first.
        dry_run: build everything, start nothing; returns what would run.
        **options: the ``TrainSpec`` options (``jupyter_kf.training.spec.OPTIONS``: name, workers, cpu, memory,
            gpus, env, timeout, backend, namespace, image, kind, runtime, pip, ... data); unset ones take
            ``c.KfConfig``'s defaults.

    Returns:
        A ``Job`` handle (``.wait()``, ``.logs()``, ``.results()``, ``.cancel()``), or a ``DryRun``.

    Raises:
        InvalidSpec: an option is unknown or malformed. CaptureError: the cell cannot be shipped.
        JobExists: the name is taken (``replace=True`` removes a finished one).
    """
    if spec is None:
        spec = spec_from(options)
    elif options:
        raise InvalidSpec(f"pass a TrainSpec or options, not both: {', '.join(sorted(options))} given with the spec")
    if callable(cell):
        user_ns = {"_kf_function": cell}
        source = "_kf_function()"
    else:
        source = cell
        if user_ns is None:
            user_ns = inspect.currentframe().f_back.f_globals
    analysis = capture.analyse(source)
    captured = payload.capture_inputs(analysis, user_ns, include=include, exclude=exclude, ship_all=ship_all)
    target = get_backend(spec.backend)
    if spec.tpu and target.name == "local":
        raise InvalidSpec(f"--tpu {spec.tpu} needs a GKE cluster with TPU nodes: the local backend has no TPUs "
                          "(use --backend kubernetes, or leave --tpu out to run here)")
    mounts = data_api.resolve_mounts(spec.data, target.name, cache=spec.data_cache) if spec.data else []
    if dry_run:
        return DryRun(spec, analysis, captured, target.name,
                      manifests=_render(target, spec, analysis, captured, mounts))
    payload.check_defined(analysis, captured)
    if replace:
        target.remove_finished(spec.name)
    bundle = target.prepare(spec)
    try:
        payload.write_bundle(bundle, spec, analysis, captured)
        if mounts:
            data_api.mount_into(bundle / "work", mounts, record=bundle / "data.json")  # work/: the cell's folder
        target.submit(spec, bundle)
    except BaseException:
        target.discard(spec, bundle)
        raise
    if mounts:
        data_api.record_reads(spec.name, mounts, target.name)
    originals = dict(captured.values)
    job_handle = Job(spec.name, target, originals=originals)
    if wait:
        job_handle.wait()
    return job_handle


def _render(target: Backend, spec: TrainSpec, analysis, captured, mounts) -> str:
    """What the backend would create, as YAML (empty for backends that create nothing to show), with the
    ``--data`` init step the job would get."""
    if not hasattr(target, "render"):
        return ""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="kf-dry-") as tmp:
        payload.write_bundle(Path(tmp), spec, analysis, captured)
        if mounts:
            data_api.mount_into(Path(tmp) / "work", mounts, record=Path(tmp) / "data.json")
        return target.render(spec, Path(tmp))


def jobs(backend: str | None = None) -> list[JobStatus]:
    """Every job the backend knows, newest first: ``kf.jobs()``.

    Args:
        backend: local or kubernetes (default: ``c.KfConfig.backend``, else kubernetes when a cluster is set up).

    Returns:
        ``JobStatus`` for each job (name, phase, workers, created, message).

    Raises:
        InvalidSpec: an unknown backend. ClusterError/Forbidden: the cluster refused the listing.
    """
    return get_backend(backend).list()


def newest_jobs(limit: int | None, backend: str | None = None) -> tuple[int, list[JobStatus]]:
    """How many jobs there are and the newest ``limit`` of them (None: all), for tables that show a page."""
    target = get_backend(backend)
    if hasattr(target, "count_and_list"):  # local: only the rows shown are built
        return target.count_and_list(limit)
    statuses = target.list()
    return len(statuses), statuses[:limit]


def job(name: str, backend: str | None = None) -> "Job":
    """A handle on an existing job, also after a kernel restart: ``kf.job("fit-1").results()``.

    Args:
        name: the job's name. backend: where it ran (as for ``jobs``).

    Returns:
        A ``Job`` (``status()``, ``wait()``, ``logs()``, ``results()``, ``apply()``, ``cancel()``, ``delete()``).

    Raises:
        InvalidSpec: the name is not a DNS-1123 label. JobNotFound: no such job.
    """
    from jupyter_kf.training.spec import check_name

    check_name(name)  # before any backend builds a path or a request from it
    target = get_backend(backend)
    target.status(name)  # raises JobNotFound with the message users see
    return Job(name, target)


class Job:
    """A handle on one job; cheap to make, holds no connection."""

    def __init__(self, name: str, backend: Backend, originals: dict | None = None):
        self.name = name
        self.backend = backend
        self._originals = originals  # the notebook objects that were shipped (None after a restart)
        self._cursor: dict | None = None

    def __repr__(self):
        return f"<Job {self.name} {self.status().phase} ({self.backend.name})>"

    def status(self) -> JobStatus:
        return self.backend.status(self.name)

    def wait(self, timeout: float | None = None, on_update: Callable | None = None) -> JobStatus:
        """Block until the job ends (decided from its status, not its logs); ``on_update(status, lines)``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        cursor = None
        pause = getattr(self.backend, "pause", lambda name, seconds: time.sleep(seconds))
        while True:
            status = self.status()
            lines, cursor = self.backend.read_logs(self.name, cursor)
            if status.done:
                more, cursor = self.backend.read_logs(self.name, cursor)
                lines += more
            if on_update is not None:
                on_update(status, lines)
            if status.done:
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {self.name!r} is still {status.phase} after {timeout:g} s")
            pause(self.name, delay)
            delay = 0.005 if lines else min(delay * 1.5, 0.25)  # a backend's pause may end early on a change

    def logs(self, follow: bool = False, prefix: bool | None = None) -> Iterator[str]:
        """Log lines of every worker (prefixed ``[rank]`` when there are several); ``follow`` until the end."""
        workers = self.status().resources.get("workers", 1)
        prefix = workers > 1 if prefix is None else prefix
        cursor = None
        while True:
            done = self.status().done
            lines, cursor = self.backend.read_logs(self.name, cursor)
            for rank, line in lines:
                yield f"[{rank}] {line}" if prefix else line
            if not follow or done:
                if done and hasattr(self.backend, "read_tail"):
                    for rank, line in self.backend.read_tail(self.name):
                        yield f"[{rank}] {line}" if prefix else line
                return
            if not lines:
                time.sleep(0.1)

    def pending_lines(self) -> list[tuple[int, str]]:
        """Each worker's line not ended yet (a progress bar being redrawn); [] where the backend cannot tell."""
        read_tail = getattr(self.backend, "read_tail", None)
        return read_tail(self.name) if read_tail else []

    def cancel(self) -> JobStatus:
        return self.backend.cancel(self.name)

    def delete(self) -> None:
        self.backend.delete(self.name)

    def load_results(self) -> _results.Results:
        status = self.status()
        folder = self.backend.result_dir(self.name)
        summary = _results.read_summary(folder)
        if summary is None:
            if status.done:
                raise JobFailed(
                    f"job {self.name!r} {status.phase.lower()} without results: "
                    f"{status.message or 'no result was written'}"
                    f" (%kf_logs {self.name} shows its output)"
                )
            raise _results.ResultsNotReady(f"job {self.name!r} is still {status.phase}: its results come when it ends "
                                           f"(%kf_attach {self.name} waits for them)")
        if summary.get("data_written"):
            data_api.record_writes(self.name, summary["data_written"], self.backend.name)
        return _results.load(folder, self._originals)

    def results(self) -> dict:
        """The names the job assigned or changed, with their values.

        Inputs the job mutated are updated in place, as if the cell had run here.
        """
        loaded = self.load_results()
        return {**loaded.mutated, **loaded.values}

    def value(self):
        """The value of the cell's last expression (a function's return value), or None."""
        loaded = self.load_results()
        return loaded.value if loaded.has_value else None

    def apply(self, user_ns: dict) -> tuple[_results.Results, list[str]]:
        """Bind the results into a namespace (the notebook's), aliases intact."""
        loaded = self.load_results()
        return loaded, _results.apply(loaded, user_ns)
