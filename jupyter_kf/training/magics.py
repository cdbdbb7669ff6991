"""``%%kf_train`` and the job magics: argument parsing, one API call, and a view. No logic of their own."""
from __future__ import annotations

import sys
import threading

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_kf.magic_args import BACKEND_HELP, Detached, parse
from jupyter_kf.training.spec import JOBS_SHOWN, OPTIONS


def spec_flags(func):
    """``%%kf_train``'s flags, one per ``TrainSpec`` option (``jupyter_kf.training.spec.OPTIONS``)."""
    for option in reversed(OPTIONS):
        extra = {"action": "append", "default": []} if option.repeat else {}
        func = argument(option.cli, dest=option.name, metavar=option.metavar, help=option.help, **extra)(func)
    return func


@magics_class
class KfMagics(Magics):
    """``%%kf_train`` and the job magics; settings live in ``c.KfConfig`` (see ``jupyter_kf.config``)."""

    @magic_arguments()
    @spec_flags
    @argument("--include", default="", help="comma-separated names to ship even if the analysis misses them")
    @argument("--exclude", default="", help="comma-separated names never to ship")
    @argument("--ship-all", action="store_true", help="ship every notebook variable (for exec/eval cells)")
    @argument("--replace", action="store_true", help="delete a finished job of the same name first")
    @argument("--no-wait", action="store_true", help="return at once; %%kf_attach NAME brings the results later")
    @argument("--dry-run", action="store_true", help="show what would run and the captured inputs; run nothing")
    @cell_magic
    def kf_train(self, line, cell):
        """Run this cell as a training job; its results come back as notebook variables."""
        from jupyter_kf import config
        from jupyter_kf.training import api

        args = parse(self.kf_train, line)
        job = api.train(cell, user_ns=self.shell.user_ns, include=_names(args.include), exclude=_names(args.exclude),
                        ship_all=args.ship_all, replace=args.replace, dry_run=args.dry_run,
                        **{o.name: getattr(args, o.name) for o in OPTIONS})
        if args.dry_run:
            print(job.summary())
            return None
        if args.no_wait:
            print(f"job {job.name} submitted to the {job.backend.name} backend: %kf_attach {job.name} brings its "
                  f"results, %kf_logs {job.name} its output")
            self._follow_in_background(job, config.get().log_lines)
            return None
        return self._watch(job, config.get().log_lines)

    @magic_arguments()
    @argument("name")
    @argument("--backend", help=BACKEND_HELP)
    @line_magic
    def kf_attach(self, line):
        """Watch a job again (also after a kernel restart) and bring its results into the notebook."""
        from jupyter_kf import config
        from jupyter_kf.training import api

        args = parse(self.kf_attach, line)
        job = self._job_or_search(args, line, "kf_experiment_attach")
        return job if not isinstance(job, api.Job) else self._watch(job, config.get().log_lines)

    def _job_or_search(self, args, line: str, search_magic: str):
        """The job named; or, when there is none but a search (``%%kf_tune``) has that name, what the search's
        own magic returns: %kf_attach, %kf_cancel and %kf_delete work for searches too."""
        from jupyter_kf.errors import JobNotFound, KfError
        from jupyter_kf.training import api

        try:
            return api.job(args.name, backend=args.backend)
        except JobNotFound as missing:
            from jupyter_kf.experiments import api as experiments

            try:
                experiments.experiment(args.name, backend=args.backend)
            except KfError:
                raise missing from None
        return self.shell.run_line_magic(search_magic, line)

    @staticmethod
    def _view(job, log_lines: int):
        from IPython.display import display

        from jupyter_kf.training.widgets import JobView

        status = job.status()
        view = JobView(job.name, job.backend.name, workers=status.resources.get("workers", 1), log_lines=log_lines,
                       on_cancel=job.cancel)
        view.pending_source = job.pending_lines  # a progress bar being redrawn shows before its line ends
        display(view)
        return view

    def _watch(self, job, log_lines: int):
        """Block until the job ends, then bring its results in. Interrupting detaches; the job goes on."""
        view = self._view(job, log_lines)
        try:
            status = job.wait(on_update=view.update)
        except KeyboardInterrupt:
            view.finish("detached: the job goes on (Cancel still stops it)")
            raise Detached(f"detached from job {job.name}, which goes on: %kf_attach {job.name} to watch it again, "
                           f"%kf_cancel {job.name} to stop it") from None
        return self._finish(job, status, view)

    def _follow_in_background(self, job, log_lines: int):
        """``--no-wait``: the view stays live (and Cancel works, the kernel being free); results wait for attach."""
        view = self._view(job, log_lines)

        def follow():
            """Never a thread's traceback in the notebook: whatever ends the following is one line in the view."""
            try:
                status = job.wait(on_update=view.update)
            except Exception as err:
                view.finish(f"stopped following {job.name}: {err}")
                return
            view.finish(
                f"{job.name} {status.phase.lower()}: %kf_attach {job.name} brings its results into the notebook"
            )

        threading.Thread(target=follow, name=f"kf-follow-{job.name}", daemon=True).start()

    def _finish(self, job, status, view):
        from jupyter_kf.errors import JobFailed

        took = "" if status.started is None else f" in {_took(status)}"
        try:
            loaded, changed = job.apply(self.shell.user_ns)
        except JobFailed as err:
            view.finish(str(err))
            raise
        for name, reason in loaded.unpicklable.items():
            print(f"result {name!r} could not come back ({reason}): it stays in the job; the other results came back",
                  file=sys.stderr)
        names = ", ".join(n for n in changed if n not in loaded.imports) or "nothing"
        if status.phase == "Succeeded":
            view.finish(f"{job.name} succeeded{took}; in the notebook now: {names}")
            return loaded.value if loaded.has_value else None
        error = loaded.error or {}
        if error.get("traceback"):
            print(error["traceback"], file=sys.stderr, end="")
        where = f" at cell line {error['line']}" if error.get("line") else ""
        what = (
            f"{error.get('type', 'error')}: {error.get('message', '')}"
            if error.get("kind") == "cell"
            else (error.get("message") or status.message)
        )
        kept = f"; partial results in the notebook: {names}" if names != "nothing" else ""
        message = f"job {job.name} {status.phase.lower()}{where}: {what}{kept}"
        view.finish(message)
        raise JobFailed(message)

    @magic_arguments()
    @argument("--limit", type=int, default=JOBS_SHOWN, help=f"the newest N jobs (default {JOBS_SHOWN})")
    @argument("--all", action="store_true", help="every job")
    @argument("--backend", help=BACKEND_HELP)
    @line_magic
    def kf_jobs(self, line):
        """A table of jobs, newest first: the newest 20 unless ``--limit N`` or ``--all``."""
        from jupyter_kf.training import api
        from jupyter_kf.training.backends import resolve_name
        from jupyter_kf.training.display import JobTable

        args = parse(self.kf_jobs, line)
        total, statuses = api.newest_jobs(None if args.all else max(args.limit, 0), backend=args.backend)
        return JobTable(statuses, resolve_name(args.backend), hidden=total - len(statuses),
                        more="%kf_jobs --all shows every job, --limit N the newest N")

    @magic_arguments()
    @argument("name")
    @argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    @argument("--tail", type=int, default=None, help="only the last N lines")
    @argument("--backend", help=BACKEND_HELP)
    @line_magic
    def kf_logs(self, line):
        """A job's output, every worker's (prefixed [rank] when there are several)."""
        from collections import deque

        from jupyter_kf.training import api

        args = parse(self.kf_logs, line)
        job = api.job(args.name, backend=args.backend)
        lines = job.logs(follow=args.follow)
        if args.tail is not None and not args.follow:
            lines = deque(lines, maxlen=args.tail)
        try:
            for text in lines:
                print(text, flush=args.follow)
        except KeyboardInterrupt:
            print(f"(stopped following {args.name}; the job goes on)")

    @magic_arguments()
    @argument("name")
    @argument("--backend", help=BACKEND_HELP)
    @line_magic
    def kf_cancel(self, line):
        """Stop a job; what it wrote so far (logs, partial results) is kept."""
        from jupyter_kf.training import api

        args = parse(self.kf_cancel, line)
        job = self._job_or_search(args, line, "kf_experiment_cancel")
        if isinstance(job, api.Job):
            print(f"job {args.name}: {job.cancel().phase}")

    @magic_arguments()
    @argument("name")
    @argument("--backend", help=BACKEND_HELP)
    @line_magic
    def kf_delete(self, line):
        """Remove a job with its logs and results (cancels it first if it still runs)."""
        from jupyter_kf.training import api

        args = parse(self.kf_delete, line)
        job = self._job_or_search(args, line, "kf_experiment_delete")
        if isinstance(job, api.Job):
            job.delete()
            print(f"job {args.name} deleted")

    @magic_arguments()
    @argument("name")
    @argument("--no-apply", action="store_true", help="return the results as a dict instead of binding them")
    @argument("--backend", help=BACKEND_HELP)
    @line_magic
    def kf_results(self, line):
        """Bring a finished job's results into the notebook (``--no-apply``: just return them)."""
        from jupyter_kf.training import api

        args = parse(self.kf_results, line)
        job = api.job(args.name, backend=args.backend)
        if args.no_apply:
            return job.results()
        loaded, changed = job.apply(self.shell.user_ns)
        print(
            f"{args.name}: {', '.join(changed) or 'no results'}"
            + (" (partial: the job failed)" if loaded.error else "")
        )
        return None


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _took(status) -> str:
    from jupyter_kf.training.status import elapsed, format_duration

    return format_duration(elapsed(status)) or "?"
