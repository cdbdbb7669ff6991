"""Experiments and trials as tables: HTML with a plain-text twin (no widget library needed)."""
from __future__ import annotations

import html

from jupyter_kf.display import badge, text_table
from jupyter_kf.experiments.spec import ExperimentSpec
from jupyter_kf.experiments.status import ExperimentStatus


def _html(columns, rows, phase_key="phase") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{badge(r[c]) if c == phase_key else html.escape(str(r[c]))}</td>"
                                    for c in columns) + "</tr>" for r in rows)
    return f"<table class='kf-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class ExperimentTable:
    """``%kf_experiments``: one row a search."""

    columns = ["name", "phase", "trials", "best", "algorithm", "backend"]

    def __init__(self, statuses: list[ExperimentStatus]):
        self.statuses = statuses

    def rows(self):
        for s in self.statuses:
            best = s.best
            yield {"name": s.name, "phase": s.phase, "trials": s.progress(), "algorithm": s.algorithm,
                   "best": "" if best is None else f"{s.objective}={best.objective:.5g} ({best.name})",
                   "backend": s.backend}

    def __repr__(self):
        rows = list(self.rows())
        return text_table(self.columns, rows) if rows else "no experiments"

    def _repr_html_(self):
        rows = list(self.rows())
        return _html(self.columns, rows) if rows else "<i>no experiments</i>"


class TrialTable:
    """``%kf_trials NAME``: one row a trial (parameters, status, objective, duration)."""

    def __init__(self, status: ExperimentStatus, spec: ExperimentSpec):
        from jupyter_kf.experiments.api import trial_row

        self.status = status
        self.columns = ["trial", *(p.name for p in spec.params), "status", "objective", "duration"]
        self.data = [{k: ("" if v is None else v) for k, v in trial_row(t, spec).items()} for t in status.trials]

    def __repr__(self):
        return text_table(self.columns, self.data) if self.data else f"{self.status.name}: no trials yet"

    def _repr_html_(self):
        return _html(self.columns, self.data, "status") if self.data else "<i>no trials yet</i>"
