"""What every domain's views share, as HTML with a plain-text twin (no widget library needed): badges, sizes,
tables, charts, progress bars."""
from __future__ import annotations

import html

PHASE_STYLE = {  # colour, icon
    "Pending": ("#b26a00", "&#9203;"),
    "Running": ("#1565c0", "&#9654;"),
    "Succeeded": ("#2e7d32", "&#10004;"),
    "Failed": ("#c62828", "&#10008;"),
    "Cancelled": ("#616161", "&#9632;"),
}


def format_size(size: int) -> str:
    """Bytes as people read them: 512 B, 1.5 MiB, 2.0 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)  # pragma: no cover


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
    coords = " ".join(
        f"{pad + (x - x0) / xr * (width - 2 * pad):.1f},{height - pad - (y - y0) / yr * (height - 2 * pad):.1f}"
        for x, y in points
    )
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


WORKER_COLOURS = ("#1565c0", "#e65100", "#2e7d32", "#6a1b9a", "#00838f", "#ad1457", "#5d4037", "#455a64")


def worker_colour(rank: int) -> str:
    return WORKER_COLOURS[rank % len(WORKER_COLOURS)]


def line_chart(name: str, by_rank: dict[int, list[tuple[float, float]]], x_label: str = "",
               width: int = 360, height: int = 150, max_points: int = 300) -> str:
    """An SVG chart of one metric, a line per worker (colours as ``worker_colour``), axes labelled.

    Values sit in a left gutter and steps under the plot, clear of the lines; each point's ``<title>`` is
    what hovering shows (``worker 1 · epoch 3: loss = 0.42``).
    """
    points = [p for pts in by_rank.values() for p in pts]
    if not points:
        return ""
    left, right, top, bottom = 52, 8, 8, 30
    pw, ph = width - left - right, height - top - bottom
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    xr, yr = (x1 - x0) or 1.0, (y1 - y0) or 1.0

    def at(x: float, y: float) -> tuple[float, float]:
        return left + (x - x0) / xr * pw, top + ph - (y - y0) / yr * ph

    step = html.escape(x_label or "line")
    parts = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#ddd"/>']
    for value, y in ((y1, top), (y0, top + ph)):
        parts.append(
            f'<text x="{left - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end" fill="#666">{value:.4g}</text>'
        )
    for value, anchor, x in ((x0, "start", left), (x1, "end", left + pw)):
        parts.append(
            f'<text x="{x}" y="{top + ph + 12}" font-size="10" text-anchor="{anchor}" fill="#666">{value:g}</text>'
        )
    parts.append(
        f'<text class="kf-x-label" x="{left + pw / 2:.1f}" y="{height - 3}" font-size="10" text-anchor="middle" '
        f'fill="#444">{step}</text>'
    )
    several = len(by_rank) > 1
    for rank, pts in sorted(by_rank.items()):
        colour, who = worker_colour(rank), f"worker {rank} · " if several else ""
        shown = pts[:: max(1, len(pts) // max_points)][-max_points:]
        coords = " ".join("{:.1f},{:.1f}".format(*at(x, y)) for x, y in shown)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{coords}" data-rank="{rank}"/>'
        )
        for x, y in shown:
            cx, cy = at(x, y)
            parts.append(
                f'<circle class="kf-point" cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{colour}" fill-opacity="0.25">'
                f"<title>{who}{step} {x:g}: {html.escape(name)} = {y:.6g}</title></circle>"
            )
    return (f'<svg class="kf-chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{html.escape(name)} against {step}">{"".join(parts)}</svg>')


def progress_bar(label: str, percent: float, text: str, colour: str = "#1565c0") -> str:
    """A labelled bar (``worker 0``, 45%, ``45% · 450/1000 · ETA 0:12``), plain HTML."""
    pct = max(0.0, min(100.0, percent))
    return (f'<div class="kf-progress" data-percent="{pct:.0f}" style="display:flex;align-items:center;gap:8px;'
            f'font-size:12px;margin:2px 0"><span style="min-width:64px">{html.escape(label)}</span>'
            f'<span style="flex:0 0 220px;height:10px;background:#e0e0e0;border-radius:5px;overflow:hidden">'
            f'<span style="display:block;height:100%;width:{pct:.1f}%;background:{colour}"></span></span>'
            f'<span class="kf-progress-text">{html.escape(text)}</span></div>')
