"""The live view under a ``%%kf_tune`` cell: progress, best trial, objective chart, trials table, Stop.

It only shows what it is given (``update(status)``); the coordinator feeds it.
"""
from __future__ import annotations

import html
import time

import ipywidgets as w

from jupyter_kf.display import badge
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
        cells = [t.name, *(t.params.get(n, "") for n in names)]
        rows.append(f"<tr{style}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
                    + f"<td>{badge(_TRIAL_PHASE.get(t.phase, t.phase), t.phase)}</td><td>{objective}</td>"
                    f"<td>{secs}</td></tr>")
    return (f"<table class='kf-tune-trials' style='font-size:12px'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


class ExperimentView(w.VBox):
    """One search, live. ``on_stop`` runs when Stop is clicked."""

    def __init__(self, name: str, backend: str, on_stop=None):
        self.experiment_name, self.backend_name = name, backend
        self.header_html, self.best_html, self.chart_html, self.note_html = w.HTML(), w.HTML(), w.HTML(), w.HTML()
        self.table_html = w.HTML(layout=w.Layout(max_height="260px", overflow="auto"))
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger",
                                    tooltip=f"Stop experiment {name}", layout=w.Layout(width="auto"),
                                    _dom_classes=("jp-kf-stop-experiment", f"kf-experiment-{name}"))
        self.stop_button.on_click(lambda _: on_stop and on_stop())
        self.status: ExperimentStatus | None = None
        self._last_render = 0.0
        super().__init__([w.HBox([self.header_html, self.stop_button]), self.best_html, self.chart_html,
                          self.table_html, self.note_html])
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
            f"({html.escape(best.name)}: " + ", ".join(f"{html.escape(k)}={html.escape(v)}"
                                                      for k, v in best.params.items()) + ")</div>")
        self.chart_html.value = objective_chart(s)
        self.table_html.value = trials_table(s)
        self.stop_button.layout.display = "none" if s.done else ""

    def finish(self, message: str) -> None:
        self.render()
        self.note_html.value = f"<div style='font-size:12px'>{html.escape(message)}</div>"
