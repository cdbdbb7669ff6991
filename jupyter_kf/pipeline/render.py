"""How a converted pipeline looks: a text summary for terminals and an SVG of the DAG for notebooks."""
from __future__ import annotations

import html

from jupyter_kf.pipeline.model import Pipeline

_MODES = {"tags": "cell tags", "headings": "markdown headings", "single": "the whole notebook"}


def summary(pipeline: Pipeline) -> str:
    lines = [
        f"pipeline {pipeline.name!r}: {len(pipeline.steps)} step(s) from {_MODES.get(pipeline.mode, pipeline.mode)}"
    ]
    if pipeline.parameters:
        lines.append("parameters: " + ", ".join(f"{p.name}={p.value!r}" for p in pipeline.parameters.values()))
    width = max(len(s.name) for s in pipeline.steps)
    for step in pipeline.steps:
        cells = ",".join(str(c.number) for c in step.cells)
        parts = [f"  {step.name:<{width}}  cells {cells}"]
        if step.group:
            parts[0] += f" of {pipeline.groups[step.group]['notebook'].rsplit('/', 1)[-1]}"
        if step.after:
            parts.append("after " + ", ".join(step.after))
        ins = [f"{n} ({p})" for n, p in step.inputs.items()] + [f"{n} (param)" for n in step.params]
        if ins:
            parts.append("reads " + ", ".join(ins))
        if step.outputs:
            parts.append("passes " + ", ".join(step.outputs))
        if step.metrics:
            parts.append("metrics " + ", ".join(step.metrics))
        res = step.resources
        extra = [
            f"{k} {v}"
            for k, v in (("cpu", res.cpu_limit or res.cpu_request), ("memory", res.memory_limit or res.memory_request))
            if v
        ]
        if res.accelerator_count:
            extra.append(f"{res.accelerator_count} {res.accelerator}")
        if extra:
            parts.append(", ".join(extra))
        lines.append("; ".join(parts))
    lines += [f"warning: {w}" for w in pipeline.warnings]
    return "\n".join(lines)


def layers(pipeline: Pipeline) -> list[list[str]]:
    """Steps by depth (longest path from a root), each layer in notebook order."""
    depth: dict[str, int] = {}
    remaining = {s.name: set(s.after) for s in pipeline.steps}
    while remaining:
        ready = [n for n, ups in remaining.items() if ups <= set(depth)]
        if not ready:  # a cycle never gets here (checked in dataflow); guard anyway
            ready = list(remaining)
        for name in ready:
            depth[name] = 1 + max((depth[u] for u in remaining[name] if u in depth), default=-1)
            del remaining[name]
    out: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for step in pipeline.steps:
        out[depth[step.name]].append(step.name)
    return out


FILLS = {"Succeeded": "#e8f5e9", "Failed": "#ffebee", "Running": "#e3f2fd", "Skipped": "#f5f5f5", "Pending": "#fff8e1"}
STROKES = {"Succeeded": "#2e7d32", "Failed": "#c62828", "Running": "#1565c0", "Skipped": "#9e9e9e",
           "Pending": "#b26a00"}
BOX_W, BOX_H, GAP_X, GAP_Y, PAD, MARGIN = 190, 46, 36, 62, 16, 170


def svg(pipeline: Pipeline, run_phases: dict | None = None) -> str:
    """The DAG, top to bottom, edges labelled with the values they carry; ``run_phases`` colours the boxes."""
    rows = layers(pipeline)
    widest = max(len(r) for r in rows)
    width = PAD * 2 + widest * BOX_W + (widest - 1) * GAP_X + MARGIN
    height = PAD * 2 + len(rows) * BOX_H + (len(rows) - 1) * GAP_Y
    pos = {}
    for r, row in enumerate(rows):
        row_w = len(row) * BOX_W + (len(row) - 1) * GAP_X
        x0 = (width - MARGIN - row_w) / 2
        for c, name in enumerate(row):
            pos[name] = (x0 + c * (BOX_W + GAP_X), PAD + r * (BOX_H + GAP_Y))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="kf-pipeline" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" role="img" aria-label="pipeline '
        f'{html.escape(pipeline.name)}">',
        '<defs><marker id="kf-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#607d8b"/></marker></defs>',
    ]
    parts += _edges(pipeline, pos, {name: r for r, row in enumerate(rows) for name in row})
    parts += [_box(step, *pos[step.name], (run_phases or {}).get(step.name)) for step in pipeline.steps]
    parts.append("</svg>")
    return "".join(parts)


def _edges(pipeline: Pipeline, pos: dict, level_of: dict) -> list[str]:
    """One curve per dependency (around the boxes in between when it skips a layer), labelled with its values."""
    parts = []
    edges = [(up, step) for step in pipeline.steps for up in step.after]
    direct = [e for e in edges if level_of[e[1].name] - level_of[e[0]] == 1]
    outgoing = {n: [e for e in direct if e[0] == n] for n in pos}
    incoming = {n: [e for e in direct if e[1].name == n] for n in pos}
    skips: dict[str, int] = {}
    for up, step in edges:
        (x1, y1), (x2, y2) = pos[up], pos[step.name]
        span = level_of[step.name] - level_of[up]
        if span > 1:  # around the boxes in between, on the right side
            skips[up] = skips.get(up, 0) + 1
            sx, sy = x1 + BOX_W, y1 + BOX_H / 2 + 6 * (skips[up] - 1)
            ex, ey = x2 + BOX_W, y2 + BOX_H / 2
            side = max(x1, x2) + BOX_W + 30 + 18 * (span - 2) + 10 * (skips[up] - 1)
            d = f"M{sx:.0f},{sy:.0f} C{side:.0f},{sy:.0f} {side:.0f},{ey:.0f} {ex + 2:.0f},{ey:.0f}"
            lx, ly = side - 4, (sy + ey) / 2 + 4
        else:
            out_i, out_n = outgoing[up].index((up, step)), len(outgoing[up])
            in_i, in_n = incoming[step.name].index((up, step)), len(incoming[step.name])
            sx, sy = x1 + BOX_W * (out_i + 1) / (out_n + 1), y1 + BOX_H
            ex, ey = x2 + BOX_W * (in_i + 1) / (in_n + 1), y2
            mid = (sy + ey) / 2
            d = f"M{sx:.0f},{sy:.0f} C{sx:.0f},{mid:.0f} {ex:.0f},{mid:.0f} {ex:.0f},{ey - 2:.0f}"
            lx, ly = (sx + ex) / 2 + 5, mid + 4
        parts.append(f'<path d="{d}" fill="none" stroke="#607d8b" stroke-width="1.4" marker-end="url(#kf-arrow)"/>')
        carried = [n for n, p in step.inputs.items() if p == up]
        if carried:
            label = ", ".join(carried)
            label = label if len(label) <= 28 else label[:27] + "…"
            parts.append(f'<text x="{lx:.0f}" y="{ly:.0f}" font-size="10" fill="#455a64">{html.escape(label)}</text>')
    return parts


def _box(step, x: float, y: float, phase: str | None) -> str:
    fill, stroke = FILLS.get(phase, "#eceff1"), STROKES.get(phase, "#546e7a")
    cells = (f"cells {step.cells[0].number}-{step.cells[-1].number}" if len(step.cells) > 1
             else f"cell {step.first_cell}")
    gpus = f"{step.resources.accelerator_count} GPU" if step.resources.accelerator_count else ""
    detail = ", ".join(filter(None, [cells, gpus, phase or ""]))
    return (
        f'<g class="kf-step" data-step="{html.escape(step.name)}"><rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" '
        f'height="{BOX_H}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
        f'<text x="{x + BOX_W / 2:.0f}" y="{y + 20:.0f}" font-size="13" font-weight="bold" text-anchor="middle" '
        f'fill="#263238">{html.escape(step.name)}</text><text x="{x + BOX_W / 2:.0f}" y="{y + 36:.0f}" '
        f'font-size="10" text-anchor="middle" fill="#607d8b">{html.escape(detail)}</text></g>'
    )
