"""The live view under a ``%%kf_train`` cell: phase badge, workers, metrics chart, logs, Cancel.

It only shows what it is given (``update(status, lines)``); the magic feeds it from ``Job.wait``.
"""
from __future__ import annotations

import html
import time
from collections import deque

import ipywidgets as w

from jupyter_kf.display import badge, sparkline
from jupyter_kf.training.metrics import MetricSeries
from jupyter_kf.training.status import JobStatus, elapsed

class JobView(w.VBox):
    """One job, live. ``on_cancel`` runs when the Cancel button is clicked."""

    def __init__(self, name: str, backend: str, workers: int = 1, log_lines: int = 200, on_cancel=None):
        self.job_name, self.backend_name, self.worker_count = name, backend, workers
        self.header_html = w.HTML()
        self.workers_html = w.HTML()
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
        self.metrics = MetricSeries()
        self.job_status: JobStatus | None = None
        self._last_render = 0.0
        super().__init__([w.HBox([self.header_html, self.cancel_button]), self.workers_html, self.chart_html, self.log_html, self.note_html])
        self.add_class("kf-job-view")
        self.update(JobStatus(name=name, phase="Pending", backend=backend), [])

    def update(self, status: JobStatus, lines, force: bool = False) -> None:
        """Take a new status and new (rank, line) log lines; redraw at most 5 times a second."""
        prefix = self.worker_count > 1
        for rank, line in lines:
            self.lines.append(f"[{rank}] {line}" if prefix else line)
            if rank == 0:
                self.metrics.add_line(line)
        self.job_status = status
        now = time.monotonic()
        if force or status.done or now - self._last_render > 0.2:
            self._last_render = now
            self.render()

    def render(self) -> None:
        status = self.job_status
        secs = elapsed(status)
        where = self.backend_name if not status.namespace else f"{self.backend_name} · {status.namespace}"
        self.header_html.value = (f"<b>{html.escape(self.job_name)}</b> {badge(status.phase)} "
                             f"<span style='color:#888'>{'' if secs is None else f'{secs:.0f}s · '}"
                             f"{self.worker_count} worker{'s' if self.worker_count != 1 else ''} · {html.escape(where)}</span>"
                             + (f"<div style='color:#c62828'>{html.escape(status.message)}</div>" if status.message else ""))
        self.workers_html.value = " ".join(badge(w_.phase, f"worker {w_.rank}: {w_.phase}") for w_ in status.workers) if self.worker_count > 1 else ""
        self.chart_html.value = "".join(
            f"<div style='display:inline-block;margin-right:12px'><div style='font-size:11px'>{html.escape(k)} = "
            f"<b>{pts[-1][1]:.4g}</b></div>{sparkline(pts)}</div>" for k, pts in self.metrics.series.items())
        text = html.escape("\n".join(self.lines))
        self.log_html.value = f"<pre style='margin:0;font-size:12px;line-height:1.3'>{text}</pre>" if text else ""
        self.cancel_button.layout.display = "none" if status.done else ""

    def finish(self, message: str) -> None:
        self.render()
        self.note_html.value = f"<div style='font-size:12px'>{html.escape(message)}</div>"
