"""The live readiness view under ``%kf_deploy``: state, URL from the status, traffic, why not Ready."""
from __future__ import annotations

import html

import ipywidgets as w

from jupyter_kf.serving.display import model_badge
from jupyter_kf.serving.status import ModelStatus


class ModelView(w.VBox):
    """One deployment, live; ``repr`` is its plain-text twin."""

    def __init__(self, name: str, backend: str):
        self.name, self.backend = name, backend
        self.header, self.details, self.note = w.HTML(), w.HTML(), w.HTML()
        super().__init__([self.header, self.details, self.note])
        self.add_class("kf-model-view")
        self.status: ModelStatus | None = None
        self.update(ModelStatus(name=name, backend=backend))

    def __repr__(self):
        s = self.status
        return (
            f"{self.name} {s.phase}"
            + (f" at {s.url}" if s.url else "")
            + (f", traffic {s.traffic}" if s.traffic else "")
            + (f": {s.message}" if s.message else "")
        )

    def update(self, status: ModelStatus) -> None:
        self.status = status
        where = self.backend + (f" · {status.namespace}" if status.namespace else "")
        self.header.value = (
            f"<b>{html.escape(self.name)}</b> {model_badge(status.phase)} "
            f"<span style='color:#888'>{html.escape(where)}"
            + (f" · {html.escape(status.format)} {html.escape(status.protocol)}" if status.format else "")
            + "</span>"
        )
        lines = []
        if status.url:
            lines.append(f"URL <code>{html.escape(status.url)}</code>")
        if status.traffic:
            lines.append(f"traffic {html.escape(status.traffic)}")
        why = "".join(f"<li>{html.escape(r)}</li>" for r in status.reasons)
        self.details.value = (" · ".join(lines) + (f"<ul style='color:#c62828;margin:2px 0'>{why}</ul>" if why else ""))

    def finish(self, message: str) -> None:
        self.note.value = f"<div style='font-size:12px'>{html.escape(message)}</div>"
