"""The live view under a ``%%kf_tune`` cell: progress, best trial, objective chart, parallel coordinates of
the parameters against the objective, trials table, Stop.

It only shows what it is given (``update(status)``); the coordinator feeds it.
"""
from __future__ import annotations

import html
import time

import ipywidgets as w

from jupyter_kf.display import badge
from jupyter_kf.experiments.spec import Param
from jupyter_kf.experiments.status import ExperimentStatus

_TRIAL_PHASE = {"EarlyStopped": "Cancelled", "MetricsUnavailable": "Failed"}  # badge colours


def objective_chart(status: ExperimentStatus, width: int = 360, height: int = 90) -> str:
    """Each finished trial's objective as a dot, and the best-so-far as a step line."""
    points = [(i, t.objective) for i, t in enumerate(status.trials) if t.objective is not None and t.done]
    if not points:
        return ""
    ys = [y for _, y in points]
    y0, y1 = min(ys), max(ys)
    x1, yr, pad = max(len(status.trials) - 1, 1), (y1 - y0) or 1.0, 6

    def xy(x, y):
        return f"{pad + x / x1 * (width - 2 * pad):.1f},{height - pad - (y - y0) / yr * (height - 2 * pad):.1f}"

    best, line = None, []
    for x, y in points:
        if best is None or (y < best if status.goal == "minimize" else y > best):
            best = y
        line.append(xy(x, best))
    dots = "".join(f'<circle cx="{xy(x, y).split(",")[0]}" cy="{xy(x, y).split(",")[1]}" r="2.5" fill="#1565c0"/>'
                   for x, y in points)
    return (f'<svg class="kf-tune-chart" width="{width}" height="{height}" role="img" '
            f'aria-label="{html.escape(status.objective)} by trial"><rect width="100%" height="100%" fill="none" '
            f'stroke="#ccc"/>{dots}<polyline fill="none" stroke="#2e7d32" stroke-width="1.5" '
            f'points="{" ".join(line)}"/><text x="{pad}" y="10" font-size="9" fill="#888">{y1:.4g}</text>'
            f'<text x="{pad}" y="{height - 2}" font-size="9" fill="#888">{y0:.4g}</text></svg>')


def _numeric(text) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short(text: str) -> str:
    """A real parameter to 4 significant digits (the trial gets every digit; a table needs few)."""
    return f"{float(text):.4g}" if _numeric(text) and not str(text).lstrip("-").isdigit() else text


def _axis(param, values: list):
    """(position of a value in [0, 1], tick labels) for one parameter: log for loguniform, a slot a choice."""
    import math

    if param is None and not all(_numeric(v) for v in values):
        param = Param("", "categorical", values=tuple(dict.fromkeys(values)))
    if param is not None and param.kind in ("categorical", "discrete"):
        labels = list(param.values)
        slots = {v: i for i, v in enumerate(labels)}
        span = max(len(labels) - 1, 1)
        return (lambda v: slots.get(v, 0) / span if len(labels) > 1 else 0.5), labels
    numbers = [float(v) for v in values]
    log = param is not None and param.log
    low = float(param.low) if param is not None else min(numbers)
    high = float(param.high) if param is not None else max(numbers)
    if log:
        low, high = math.log10(low), math.log10(high)
    span = (high - low) or 1.0
    ends = [f"{10 ** low:.3g}", f"{10 ** high:.3g}"] if log else [f"{low:.4g}", f"{high:.4g}"]
    return (lambda v: ((math.log10(float(v)) if log else float(v)) - low) / span), ends


def parallel_coordinates(status: ExperimentStatus, params=(), width: int = 420, height: int = 170) -> str:
    """A line per finished trial through one vertical axis per parameter and one for the objective.

    Loguniform parameters get a log axis, choices one slot per value; colour runs from the best objective
    (dark) to the worst (light), and the best trial is drawn last, thick and green, so it is seen at once.
    ``params``: the search's ``Param``s (their bounds fix the axes); without them the values' range is used.
    """
    trials = [t for t in status.trials if t.objective is not None and t.done]
    if not trials:
        return ""
    given = {p.name: p for p in params}
    names = list(given) or list(trials[0].params)
    axes = [_axis(given.get(n), [t.params[n] for t in trials if n in t.params]) for n in names]
    objectives = [t.objective for t in trials]
    o0, o1 = min(objectives), max(objectives)
    top, bottom, left, right = 14, 28, 34, 34
    ph, gap = height - top - bottom, (width - left - right) / max(len(names), 1)
    xs = [left + i * gap for i in range(len(names) + 1)]
    best = status.best

    def y(fraction: float) -> float:
        return top + ph - max(0.0, min(1.0, fraction)) * ph

    def shade(value: float) -> float:
        rank = (value - o0) / ((o1 - o0) or 1.0)
        return rank if status.goal == "minimize" else 1 - rank

    parts = []
    for x, name, (_, ticks) in zip(xs, [*names, status.objective], [*axes, (None, [f"{o0:.4g}", f"{o1:.4g}"])]):
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" stroke="#999"/>'
                     f'<text x="{x:.1f}" y="{height - 4}" font-size="10" text-anchor="middle" fill="#444">'
                     f'{html.escape(name)}</text>')
        for i, tick in enumerate(ticks):
            ty = y(i / max(len(ticks) - 1, 1)) if len(ticks) > 1 else y(0.5)
            parts.append(f'<text x="{x + 3:.1f}" y="{ty + 3:.1f}" font-size="9" fill="#777">{html.escape(tick)}</text>')
    ordered = sorted(trials, key=lambda t: best is not None and t.name == best.name)
    for t in ordered:
        ys = [y(place(t.params[n])) if n in t.params else y(0) for n, (place, _) in zip(names, axes)]
        ys.append(y((t.objective - o0) / ((o1 - o0) or 1.0)) if o1 != o0 else y(0.5))
        coords = " ".join(f"{x:.1f},{v:.1f}" for x, v in zip(xs, ys))
        label = html.escape(f"{t.name}: " + ", ".join(f"{n}={t.params.get(n, '')}" for n in names)
                            + f" -> {status.objective}={t.objective:.6g}")
        if best is not None and t.name == best.name:
            style = 'stroke="#2e7d32" stroke-width="3" class="kf-pc-best"'
        else:
            light = 35 + 45 * shade(t.objective)
            style = f'stroke="hsl(212,70%,{light:.0f}%)" stroke-width="1.2" stroke-opacity="0.8"'
        parts.append(f'<polyline fill="none" {style} points="{coords}" data-trial="{html.escape(t.name)}">'
                     f'<title>{label}</title></polyline>')
    return (f'<svg class="kf-tune-parallel" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="parameters against {html.escape(status.objective)}">{"".join(parts)}</svg>')


def trials_table(status: ExperimentStatus, limit: int = 50) -> str:
    trials = status.trials[-limit:]
    if not trials:
        return ""
    names = list(trials[0].params)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in ["trial", *names, "status", status.objective, "s"])
    best = status.best
    rows = []
    for t in trials:
        secs = "" if t.started is None else f"{(t.finished or time.time()) - t.started:.1f}"
        objective = "" if t.objective is None else f"{t.objective:.5g}"
        style = " style='font-weight:bold'" if best is not None and t.name == best.name else ""
        cells = [t.name, *(_short(t.params.get(n, "")) for n in names)]
        rows.append(f"<tr{style}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
                    + f"<td>{badge(_TRIAL_PHASE.get(t.phase, t.phase), t.phase)}</td><td>{objective}</td>"
                    f"<td>{secs}</td></tr>")
    return (f"<table class='kf-tune-trials' style='font-size:12px'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


class ExperimentView(w.VBox):
    """One search, live. ``on_stop`` runs when Stop is clicked."""

    def __init__(self, name: str, backend: str, on_stop=None, params=None):
        self.experiment_name, self.backend_name = name, backend
        self.header_html, self.best_html, self.chart_html, self.note_html = w.HTML(), w.HTML(), w.HTML(), w.HTML()
        self.parallel_html = w.HTML()
        self.params = params  # the search's Params (axes' bounds and scales); read from its spec when first needed
        self.table_html = w.HTML(layout=w.Layout(max_height="260px", overflow="auto"))
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger",
                                    tooltip=f"Stop experiment {name}", layout=w.Layout(width="auto"),
                                    _dom_classes=("jp-kf-stop-experiment", f"kf-experiment-{name}"))
        self.stop_button.on_click(lambda _: on_stop and on_stop())
        self.status: ExperimentStatus | None = None
        self._last_render = 0.0
        super().__init__([w.HBox([self.header_html, self.stop_button]), self.best_html,
                          w.HBox([self.chart_html, self.parallel_html]), self.table_html, self.note_html])
        self.add_class("kf-experiment-view")

    def update(self, status: ExperimentStatus, force: bool = False) -> None:
        """Take a new status; redraw at most 5 times a second (and always at the end)."""
        self.status = status
        now = time.monotonic()
        if force or status.done or now - self._last_render > 0.2:
            self._last_render = now
            self.render()

    def render(self) -> None:
        s = self.status
        if s is None:
            return
        self.header_html.value = (
            f"<b>{html.escape(s.name)}</b> {badge(s.phase)} <span class='kf-tune-progress'>{s.progress()}</span>"
            f" <span style='color:#888'>· {html.escape(s.algorithm)} · {s.goal} {html.escape(s.objective)} · "
            f"{html.escape(self.backend_name)}</span>")
        best = s.best
        self.best_html.value = "" if best is None else (
            f"<div class='kf-tune-best'>best: <b>{html.escape(s.objective)}={best.objective:.6g}</b> "
            f"({html.escape(best.name)}: " + ", ".join(f"{html.escape(k)}={html.escape(_short(v))}"
                                                      for k, v in best.params.items()) + ")</div>")
        self.chart_html.value = objective_chart(s)
        self.parallel_html.value = parallel_coordinates(s, self._params()) if s.completed else ""
        self.table_html.value = trials_table(s)
        self.stop_button.layout.display = "none" if s.done else ""

    def _params(self) -> tuple:
        """The search's parameters, read once from its spec; without them axes follow the values seen."""
        if self.params is None:
            from jupyter_kf.errors import KfError
            from jupyter_kf.experiments.backends import get_backend

            try:
                self.params = get_backend(self.backend_name).spec(self.experiment_name).params
            except (KfError, OSError, ValueError):
                self.params = ()
        return self.params

    def finish(self, message: str) -> None:
        self.render()
        self.note_html.value = f"<div style='font-size:12px'>{html.escape(message)}</div>"
