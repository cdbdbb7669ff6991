"""``kf.compare(*names)`` and ``%kf_compare``: several jobs or trials side by side, after a search.

Each name is a training job (a trial is one: ``lr-search-003``) or an experiment (its trials with an objective,
best first). The metrics every job printed (``name=value`` lines, read as ``%%kf_train``'s live view reads them)
are overlaid, one chart a metric with one line a job; the table holds each job's final metrics and, for trials,
the parameters it ran with.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_kf.display import badge, text_table, worker_colour
from jupyter_kf.errors import InvalidSpec, NotFound
from jupyter_kf.magic_args import BACKEND_HELP, parse

__all__ = ["compare", "Comparison", "CompareMagics"]
EXPERIMENT_TRIALS = 8  # an experiment's name brings its best trials, at most this many


class CompareNotFound(NotFound):
    pass


@dataclass
class Compared:
    """One job in a comparison: its metric series (rank 0's), final values and the parameters of a trial."""

    name: str
    phase: str
    series: dict[str, list[tuple[float, float]]]
    step_key: str = ""
    params: dict = field(default_factory=dict)
    experiment: str = ""

    @property
    def final(self) -> dict[str, float]:
        return {metric: points[-1][1] for metric, points in self.series.items() if points}


def compare(*names: str, backend: str | None = None) -> "Comparison":
    """Overlay the metrics of several jobs or trials and tabulate their final metrics and parameters.

    Args:
        *names: job names (a trial is a job: ``lr-search-003``) or experiment names (their best trials).
        backend: where they ran (default as for ``kf.jobs()``).

    Returns:
        A ``Comparison``: charts and a table in a notebook, ``.table()`` a DataFrame with pandas, else dicts.

    Raises:
        InvalidSpec: no names. NotFound: a name that is neither a job nor an experiment (the line lists those
        that exist).
    """
    from jupyter_kf.experiments.backends import get_backend as experiments_backend
    from jupyter_kf.training.backends import get_backend as jobs_backend

    if not names:
        raise InvalidSpec("compare needs at least one job, trial or experiment name, e.g. %kf_compare fit-1 fit-2")
    jobs, searches = jobs_backend(backend), experiments_backend(backend)
    statuses = searches.list()
    known = {s.name for s in jobs.list()}
    wanted: list[tuple[str, str]] = []  # (job, experiment it is a trial of, or "")
    for name in dict.fromkeys(names):
        search = next((s for s in statuses if s.name == name), None)
        if search is not None:
            wanted += [(t.name, name) for t in _best_trials(search)]
        elif name in known:
            wanted.append((name, next((s.name for s in statuses for t in s.trials if t.name == name), "")))
        else:
            raise CompareNotFound(_unknown(name, sorted(known), [s.name for s in statuses], jobs.name))
    specs = {e: searches.spec(e) for e in {e for _, e in wanted if e}}
    return Comparison([_read(jobs, job, experiment, statuses, specs) for job, experiment in dict.fromkeys(wanted)])


def _best_trials(search) -> list:
    scored = [t for t in search.trials if t.objective is not None and t.done]
    scored.sort(key=lambda t: t.objective, reverse=search.goal == "maximize")
    return scored[:EXPERIMENT_TRIALS]


def _unknown(name: str, jobs: list[str], experiments: list[str], backend: str) -> str:
    def some(items):
        return ", ".join(items[:12]) + (f" and {len(items) - 12} more" if len(items) > 12 else "") or "none"

    return (f"no job, trial or experiment named {name!r} on the {backend} backend; jobs and trials: {some(jobs)}; "
            f"experiments: {some(experiments)}")


def _read(jobs, name: str, experiment: str, statuses, specs) -> Compared:
    """A job's metrics from its logs (every line so far; rank 0's) and, for a trial, its typed parameters."""
    from jupyter_kf.training.metrics import MetricSeries

    metrics = MetricSeries()
    cursor = None
    while True:
        lines, cursor = jobs.read_logs(name, cursor)
        for rank, line in lines:
            metrics.add_line(line, rank)
        if not lines:
            break
    params = {}
    if experiment:
        trial = next(t for s in statuses if s.name == experiment for t in s.trials if t.name == name)
        params = {p.name: p.cast(trial.params[p.name]) for p in specs[experiment].params if p.name in trial.params}
    return Compared(name, jobs.status(name).phase, metrics.series, metrics.step_key, params, experiment)


def overlay_chart(metric: str, jobs: list[Compared], width: int = 360, height: int = 150) -> str:
    """One metric of several jobs in one SVG chart: a line a job (colour as in the table), axes labelled."""
    lines = [(i, job, job.series[metric]) for i, job in enumerate(jobs) if job.series.get(metric)]
    points = [p for _, _, pts in lines for p in pts]
    if not points:
        return ""
    left, right, top, bottom = 52, 8, 8, 30
    pw, ph = width - left - right, height - top - bottom
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    xr, yr = (x1 - x0) or 1.0, (y1 - y0) or 1.0

    def at(x, y):
        return f"{left + (x - x0) / xr * pw:.1f},{top + ph - (y - y0) / yr * ph:.1f}"

    step = html.escape(next((j.step_key for _, j, _ in lines if j.step_key), "") or "line")
    parts = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#ddd"/>',
             f'<text x="{left - 4}" y="{top + 3}" font-size="10" text-anchor="end" fill="#666">{y1:.4g}</text>',
             f'<text x="{left - 4}" y="{top + ph + 3}" font-size="10" text-anchor="end" fill="#666">{y0:.4g}</text>',
             f'<text x="{left}" y="{top + ph + 12}" font-size="10" fill="#666">{x0:g}</text>',
             f'<text x="{left + pw}" y="{top + ph + 12}" font-size="10" text-anchor="end" fill="#666">{x1:g}</text>',
             f'<text x="{left + pw / 2:.1f}" y="{height - 3}" font-size="10" text-anchor="middle" fill="#444">'
             f'{html.escape(metric)} by {step}</text>']
    for i, job, pts in lines:
        colour, who = worker_colour(i), html.escape(job.name)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" data-job="{who}" '
                     f'points="{" ".join(at(x, y) for x, y in pts)}"><title>{who}</title></polyline>')
        parts += [f'<circle class="kf-point" cx="{at(x, y).split(",")[0]}" cy="{at(x, y).split(",")[1]}" r="2.5" '
                  f'fill="{colour}" fill-opacity="0.3"><title>{who} · {step} {x:g}: {html.escape(metric)} = '
                  f'{y:.6g}</title></circle>' for x, y in pts[-100:]]
    return (f'<svg class="kf-compare-chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{html.escape(metric)} of {len(lines)} jobs">{"".join(parts)}</svg>')


class Comparison:
    """What ``kf.compare`` returns: charts and a table in a notebook, plain text elsewhere."""

    def __init__(self, jobs: list[Compared]):
        self.jobs = jobs

    def metrics(self) -> list[str]:
        """Every metric any of the jobs printed, in the order first seen."""
        return list(dict.fromkeys(m for job in self.jobs for m in job.series))

    def params(self) -> list[str]:
        return list(dict.fromkeys(p for job in self.jobs for p in job.params))

    def rows(self) -> list[dict]:
        """One row a job: name, phase, experiment, parameters, final metrics (None where a job has none)."""
        return [{"job": j.name, "phase": j.phase, "experiment": j.experiment or None,
                 **{p: j.params.get(p) for p in self.params()}, **{m: j.final.get(m) for m in self.metrics()}}
                for j in self.jobs]

    def table(self):
        """The rows as a DataFrame indexed by job (with pandas), else the list of dicts."""
        try:
            import pandas
        except ImportError:
            return self.rows()
        return pandas.DataFrame(self.rows()).set_index("job")

    def __repr__(self):
        rows = [{k: "" if v is None else (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()}
                for r in self.rows()]
        return text_table(list(rows[0]), rows) if rows else "nothing to compare"

    def _repr_html_(self):
        legend = " ".join(f'<span style="color:{worker_colour(i)}">&#9644;</span> {html.escape(j.name)}'
                          for i, j in enumerate(self.jobs))
        charts = "".join(f'<div style="display:inline-block;margin:0 8px 4px 0">{overlay_chart(m, self.jobs)}</div>'
                         for m in self.metrics())
        columns = ["job", "phase", *self.params(), *self.metrics()]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = ""
        for i, row in enumerate(self.rows()):
            cells = [f'<td style="color:{worker_colour(i)}"><b>{html.escape(row["job"])}</b></td>',
                     f"<td>{badge(row['phase'])}</td>"]
            cells += [f"<td>{_cell(row[c])}</td>" for c in columns[2:]]
            body += f"<tr>{''.join(cells)}</tr>"
        charts = charts or "<i>none of them printed a metric (name=value lines)</i>"
        return (f"<div class='kf-compare'><div style='font-size:12px'>{legend}</div><div>{charts}</div>"
                f"<table class='kf-table kf-compare-table'><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table></div>")


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else html.escape(str(value))


@magics_class
class CompareMagics(Magics):
    """``%kf_compare``: its own class so that the experiment magics stay argument parsing for searches."""

    @magic_arguments()
    @argument("names", nargs="+", help="jobs, trials (lr-search-003) or experiments (their best trials)")
    @argument("--backend", help=BACKEND_HELP)
    @line_magic
    def kf_compare(self, line):
        """The metrics of several jobs or trials in one chart a metric, and their final metrics and parameters."""
        args = parse(self.kf_compare, line)
        return compare(*args.names, backend=args.backend)
