"""How deployed models look in a notebook: the ``%kf_models`` table, HTML with a plain-text twin."""
from __future__ import annotations

import html

from jupyter_kf.display import badge, text_table
from jupyter_kf.serving.status import ModelStatus

_BADGE = {"Ready": "Succeeded", "Pending": "Pending", "Failed": "Failed"}


def model_badge(phase: str) -> str:
    return badge(_BADGE.get(phase, "Cancelled"), phase)


class ModelTable:
    """``%kf_models``: one row a model: name, ready, URL, traffic."""

    COLUMNS = ("name", "ready", "url", "traffic", "format", "where", "why")

    def __init__(self, statuses: list[ModelStatus], backend: str):
        self.statuses, self.backend = statuses, backend

    def _rows(self):
        for s in self.statuses:
            yield (
                s,
                {
                    "name": s.name,
                    "ready": "yes" if s.ready else s.phase.lower(),
                    "url": s.url,
                    "traffic": s.traffic,
                    "format": f"{s.format} {s.protocol}".strip(),
                    "where": s.namespace or s.backend,
                    "why": s.message,
                },
            )

    def __repr__(self):
        if not self.statuses:
            return f"no models on the {self.backend} backend yet: deploy one with %kf_deploy NAME --model VARIABLE"
        return text_table(self.COLUMNS, [r for _, r in self._rows()])

    def _repr_html_(self):
        if not self.statuses:
            return f"<i>{html.escape(repr(self))}</i>"
        head = "".join(
            f"<th style='text-align:left'>{c}</th>" for c in ("Name", "Ready", "URL", "Traffic", "Format", "Where", "")
        )
        body = "".join(
            f"<tr><td><b>{html.escape(r['name'])}</b></td><td>{model_badge(s.phase)}</td>"
            f"<td><code>{html.escape(r['url'])}</code></td><td>{html.escape(r['traffic'])}</td><td>{html.escape(r['format'])}</td>"
            f"<td>{html.escape(r['where'])}</td><td style='color:#c62828'>{html.escape(r['why'])}</td></tr>"
            for s, r in self._rows())
        return f"<table class='kf-models'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
