"""``%kf_jobs``'s table: a job a row, as HTML with a plain-text twin."""
from __future__ import annotations

import html

from jupyter_kf.display import badge, text_table
from jupyter_kf.training.status import JobStatus, elapsed, format_duration


class JobTable:
    """``%kf_jobs``: one row a job, a coloured badge per phase."""

    def __init__(self, statuses: list[JobStatus], backend: str, hidden: int = 0, more: str = ""):
        self.statuses, self.backend = statuses, backend
        self.hidden, self.more = hidden, more  # older jobs left out, and how to see them

    def _footer(self) -> str:
        plural = "s" if self.hidden != 1 else ""
        return f"{self.hidden:,} older job{plural} not shown: {self.more}" if self.hidden else ""

    def _rows(self):
        for s in self.statuses:
            secs = elapsed(s)
            res = s.resources or {}
            what = f"{res.get('workers', 1)}w" + (f" {res['gpus']}gpu" if res.get("gpus") else "")
            what += f" tpu {res['tpu']}" if res.get("tpu") else ""
            what += "".join(f" {res[k]}" for k in ("cpu", "memory") if res.get(k))
            yield s, {"name": s.name, "phase": s.phase, "created": (s.created or "").replace("T", " ").rstrip("Z"),
                      "duration": format_duration(secs), "resources": what,
                      "where": s.namespace or s.backend, "message": s.message}

    def __repr__(self):
        if not self.statuses:
            return f"no jobs on the {self.backend} backend yet: run a cell with %%kf_train"
        cols = ["name", "phase", "created", "duration", "resources", "where", "message"]
        table = text_table(cols, [r for _, r in self._rows()])
        return f"{table}\n{self._footer()}" if self.hidden else table

    def _repr_html_(self):
        if not self.statuses:
            return f"<i>{html.escape(repr(self))}</i>"
        head = "".join(
            f"<th style='text-align:left'>{c}</th>"
            for c in ("Name", "Status", "Created", "Duration", "Resources", "Where", "")
        )
        body = "".join(
            f"<tr><td><b>{html.escape(r['name'])}</b></td><td>{badge(s.phase)}</td><td>{r['created']}</td>"
            f"<td>{r['duration']}</td><td>{html.escape(r['resources'])}</td><td>{html.escape(r['where'])}</td>"
            f"<td>{html.escape(r['message'])}</td></tr>" for s, r in self._rows())
        footer = f"<p><i>{html.escape(self._footer())}</i></p>" if self.hidden else ""
        return f"<table class='kf-jobs'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{footer}"
