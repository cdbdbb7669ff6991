"""The live view under a ``%%kf_train`` cell: phase badge, workers, progress bars, metrics charts, logs, Cancel.

It only shows what it is given (``update(status, lines, pending=...)``); the magic feeds it from ``Job.wait``.
"""
from __future__ import annotations

import html
import time
from collections import deque

import ipywidgets as w

from jupyter_kf.display import badge, line_chart, progress_bar, worker_colour
from jupyter_kf.terminal import Progress, parse_progress, render_line
from jupyter_kf.training.metrics import MetricSeries
from jupyter_kf.training.status import JobStatus, elapsed, format_duration


class JobView(w.VBox):
    """One job, live. ``on_cancel`` runs when the Cancel button is clicked."""

    def __init__(self, name: str, backend: str, workers: int = 1, log_lines: int = 200, on_cancel=None):
        self.job_name, self.backend_name, self.worker_count = name, backend, workers
        self.header_html = w.HTML()
        self.workers_html = w.HTML()
        self.progress_html = w.HTML()
        self.chart_html = w.HTML()
        self.log_html = w.HTML(layout=w.Layout(max_height="260px", overflow="auto"))
        self.note_html = w.HTML()
        # JupyterLab's jupyter-kf extension finds these classes and cancels through the REST API, so the
        # button works even while the kernel is busy waiting for this very job.
        self.cancel_button = w.Button(description="Cancel", icon="stop", button_style="danger",
                                      tooltip=f"Cancel job {name}", layout=w.Layout(width="auto"),
                                      _dom_classes=("jp-kf-cancel", f"kf-job-{name}"))
        self.cancel_button.on_click(lambda _: on_cancel and on_cancel())
        self.lines: deque[str] = deque(maxlen=log_lines)
        self.pending: dict[int, str] = {}  # each worker's line still being redrawn (no newline yet)
        self.progress: dict[int, Progress] = {}
        self.metrics = MetricSeries()
        self.pending_source = None  # () -> [(rank, unfinished line)], asked before each redraw
        self.job_status: JobStatus | None = None
        self._last_render = 0.0
        super().__init__([w.HBox([self.header_html, self.cancel_button]), self.workers_html, self.progress_html,
                          self.chart_html, self.log_html, self.note_html])
        self.add_class("kf-job-view")
        self.update(JobStatus(name=name, phase="Pending", backend=backend), [])

    def update(self, status: JobStatus, lines, force: bool = False, pending=None) -> None:
        """Take a new status, new (rank, line) log lines and each worker's unfinished line (``pending``,
        (rank, text) pairs: a progress bar being redrawn); redraw at most 5 times a second."""
        prefix = self.worker_count > 1
        for rank, line in lines:
            line = render_line(line)
            self.lines.append(f"[{rank}] {line}" if prefix else line)
            self.pending.pop(rank, None)
            self.metrics.add_line(line, rank)
            found = parse_progress(line)
            if found:
                self.progress[rank] = found
        self._take_pending(pending or ())
        self.job_status = status
        now = time.monotonic()
        if force or status.done or now - self._last_render > 0.2:
            self._last_render = now
            if self.pending_source is not None:
                self._take_pending(self.pending_source())
            self.render()

    def _take_pending(self, pending) -> None:
        for rank, text in pending:
            text = render_line(text)
            self.pending[rank] = text
            found = parse_progress(text)
            if found:
                self.progress[rank] = found

    def render(self) -> None:
        status = self.job_status
        took = format_duration(elapsed(status))
        where = self.backend_name if not status.namespace else f"{self.backend_name} · {status.namespace}"
        count = f"{self.worker_count} worker{'s' if self.worker_count != 1 else ''}"
        self.header_html.value = (
            f"<b>{html.escape(self.job_name)}</b> {badge(status.phase)} <span style='color:#888'>"
            f"{took + ' · ' if took else ''}{count} · {html.escape(where)}</span>"
            + (f"<div style='color:#c62828'>{html.escape(status.message)}</div>" if status.message else ""))
        self.workers_html.value = " ".join(badge(w_.phase, f"worker {w_.rank}: {w_.phase}")
                                           for w_ in status.workers) if self.worker_count > 1 else ""
        self.progress_html.value = self._progress_html()
        self.chart_html.value = self._charts_html()
        prefix = self.worker_count > 1
        shown = list(self.lines) + [f"[{r}] {t}" if prefix else t for r, t in sorted(self.pending.items()) if t]
        text = html.escape("\n".join(shown))
        self.log_html.value = f"<pre style='margin:0;font-size:12px;line-height:1.3'>{text}</pre>" if text else ""
        self.cancel_button.layout.display = "none" if status.done else ""

    def _progress_html(self) -> str:
        bars = []
        for rank, found in sorted(self.progress.items()):
            several = self.worker_count > 1
            label = f"worker {rank}" if several else (found.label or "progress")
            text = f"{found.label}: {found.text()}" if several and found.label else found.text()
            bars.append(progress_bar(label, found.percent, text, worker_colour(rank)))
        return "".join(bars)

    def _charts_html(self) -> str:
        values, charts = [], []
        several = len(self.metrics.by_rank) > 1
        for name in self.metrics.names():
            constant = self.metrics.constant(name)
            if constant is not None:
                shown = {f"{v:.6g}" for v in constant.values()}
                what = (shown.pop() if len(shown) == 1 else
                        ", ".join(f"{v:.6g} (worker {r})" for r, v in constant.items()))
                values.append(f"<span class='kf-metric-value' style='margin-right:14px'>{html.escape(name)} = "
                              f"<b>{html.escape(what)}</b></span>")
                continue
            by_rank = {r: s[name] for r, s in self.metrics.by_rank.items() if name in s}
            last = by_rank[min(by_rank)][-1][1]
            charts.append(f"<div class='kf-metric' style='display:inline-block;margin:0 16px 8px 0'>"
                          f"<div style='font-size:12px'>{html.escape(name)} = <b>{last:.4g}</b></div>"
                          f"{line_chart(name, by_rank, self.metrics.step_key)}</div>")
        legend = ""
        if several and charts:
            legend = "<div class='kf-legend' style='font-size:11px;margin:2px 0'>" + " ".join(
                f"<span style='color:{worker_colour(r)}'>&#9632; worker {r}</span>"
                for r in sorted(self.metrics.by_rank)) + "</div>"
        head = f"<div style='font-size:12px;margin:4px 0'>{''.join(values)}</div>" if values else ""
        return head + legend + "".join(charts)

    def finish(self, message: str) -> None:
        self.render()
        self.note_html.value = f"<div style='font-size:12px'>{html.escape(message)}</div>"
