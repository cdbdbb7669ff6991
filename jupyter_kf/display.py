"""How jobs look in a notebook, as HTML with a plain-text twin (no widget library needed)."""
from __future__ import annotations

import html

from jupyter_kf.training.status import JobStatus, elapsed

PHASE_STYLE = {  # colour, icon
    "Pending": ("#b26a00", "&#9203;"),
    "Running": ("#1565c0", "&#9654;"),
    "Succeeded": ("#2e7d32", "&#10004;"),
    "Failed": ("#c62828", "&#10008;"),
    "Cancelled": ("#616161", "&#9632;"),
}


def badge(phase: str, label: str | None = None) -> str:
    colour, icon = PHASE_STYLE.get(phase, ("#616161", "?"))
    return (f'<span class="kf-badge" data-phase="{phase}" style="background:{colour};color:#fff;border-radius:9px;'
            f'padding:1px 8px;font-size:12px;white-space:nowrap">{icon} {html.escape(label or phase)}</span>')


def sparkline(points: list[tuple[float, float]], width: int = 260, height: int = 48) -> str:
    """An SVG polyline of (step, value) points, scaled to fit, with min and max marked."""
    if not points:
        return ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    xr, yr = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    pad = 4
    coords = " ".join(f"{pad + (x - x0) / xr * (width - 2 * pad):.1f},{height - pad - (y - y0) / yr * (height - 2 * pad):.1f}"
                      for x, y in points)
    return (f'<svg class="kf-chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="metric chart"><rect width="100%" height="100%" fill="none" stroke="#ccc"/>'
            f'<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="{coords}"/>'
            f'<text x="{pad + 1}" y="10" font-size="9" fill="#888">{y1:.4g}</text>'
            f'<text x="{pad + 1}" y="{height - 2}" font-size="9" fill="#888">{y0:.4g}</text></svg>')


def text_table(columns: list[str], rows: list[dict]) -> str:
    """Rows as aligned plain-text columns under upper-case headers (the text twin of an HTML table)."""
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


class JobTable:
    """``%kf_jobs``: one row a job, a coloured badge per phase."""

    def __init__(self, statuses: list[JobStatus], backend: str):
        self.statuses, self.backend = statuses, backend

    def _rows(self):
        for s in self.statuses:
            secs = elapsed(s)
            res = s.resources or {}
            what = f"{res.get('workers', 1)}w" + (f" {res['gpus']}gpu" if res.get("gpus") else "")
            what += "".join(f" {res[k]}" for k in ("cpu", "memory") if res.get(k))
            yield s, {"name": s.name, "phase": s.phase, "created": (s.created or "").replace("T", " ").rstrip("Z"),
                      "duration": "" if secs is None else f"{secs:.0f}s", "resources": what,
                      "where": s.namespace or s.backend, "message": s.message}

    def __repr__(self):
        if not self.statuses:
            return f"no jobs on the {self.backend} backend yet: run a cell with %%kf_train"
        cols = ["name", "phase", "created", "duration", "resources", "where", "message"]
        return text_table(cols, [r for _, r in self._rows()])

    def _repr_html_(self):
        if not self.statuses:
            return f"<i>{html.escape(repr(self))}</i>"
        head = "".join(f"<th style='text-align:left'>{c}</th>" for c in ("Name", "Status", "Created", "Duration", "Resources", "Where", ""))
        body = "".join(
            f"<tr><td><b>{html.escape(r['name'])}</b></td><td>{badge(s.phase)}</td><td>{r['created']}</td>"
            f"<td>{r['duration']}</td><td>{html.escape(r['resources'])}</td><td>{html.escape(r['where'])}</td>"
            f"<td>{html.escape(r['message'])}</td></tr>" for s, r in self._rows())
        return f"<table class='kf-jobs'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
