"""Where a notebook server stands, with a plain-text and an HTML face (no widget library needed)."""
from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field

from jupyter_kf.display import badge, text_table

PHASES = ("Starting", "Waiting", "Ready", "Stopped", "Terminating", "Error")
LINK_STYLE = "color:#1565c0;text-decoration:underline"
_BADGE = {"Starting": "Pending", "Waiting": "Pending", "Ready": "Succeeded", "Stopped": "Cancelled",
          "Terminating": "Cancelled", "Error": "Failed"}


@dataclass
class NotebookStatus:
    """``phase``: Starting (being created, pulling the image), Waiting (cannot be scheduled: ``reason``
    says why), Ready (``url`` opens it), Stopped (workspace kept), Terminating (being deleted) or Error
    (image, crash; ``message``)."""

    name: str
    phase: str
    backend: str
    kind: str = ""
    namespace: str = ""
    url: str = ""
    hint: str = ""
    message: str = ""
    reason: str = ""
    image: str = ""
    resources: dict = field(default_factory=dict)
    workspace: str = ""
    created: str = ""
    details: list = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.phase == "Ready"

    def to_dict(self) -> dict:
        return asdict(self)

    def where(self) -> str:
        return f"{self.kind} in {self.namespace}" if self.namespace else self.backend

    def what(self) -> str:
        res = self.resources or {}
        parts = [f"{res[k]} {k}" for k in ("cpu", "memory") if res.get(k)]
        if res.get("gpus") and res.get("gpu_vendor") == "google.com/tpu":
            parts.append(f"{res['gpus']} TPU chips" + (f" ({res['tpu']})" if res.get("tpu") else ""))
        elif res.get("gpus"):
            parts.append(
                f"{res['gpus']} GPU"
                + ("" if res.get("gpu_vendor", "nvidia.com/gpu") == "nvidia.com/gpu" else f" ({res['gpu_vendor']})")
            )
        return ", ".join(parts)

    def __repr__(self) -> str:
        line = f"notebook server {self.name}: {self.phase}"
        if self.message:
            line += f" ({self.message})"
        if self.url and self.phase == "Ready":
            line += f" {self.url}"
        if self.hint and self.phase == "Ready":
            line += f" [{self.hint}]"
        return line

    def _repr_html_(self) -> str:
        return f"<div class='kf-notebook'>{status_html(self)}</div>"


def status_html(s: NotebookStatus) -> str:
    link = (f" <a href='{html.escape(s.url)}' target='_blank' rel='noopener' style='{LINK_STYLE}'>open "
            f"{html.escape(s.name)}</a>" if s.url and s.phase == "Ready" else "")
    about = " · ".join(x for x in (s.what(), s.where()) if x)
    hint = (
        f"<div style='font-size:12px;color:#555'>{html.escape(s.hint)}</div>" if s.hint and s.phase == "Ready" else ""
    )
    message = (f"<div style='font-size:12px;color:{'#c62828' if s.phase in ('Error', 'Waiting') else '#555'}'>"
               f"{html.escape(s.message)}</div>") if s.message else ""
    return (f"<b>{html.escape(s.name)}</b> {badge(_BADGE.get(s.phase, s.phase), s.phase)} "
            f"<span style='color:#888'>{html.escape(about)}</span>{link}{message}{hint}")


class NotebookTable(list):
    """``%kf_notebook list``: one row a server."""

    def __init__(self, statuses, backend: str):
        super().__init__(statuses)
        self.backend = backend

    def _rows(self):
        for s in self:
            yield s, {"name": s.name, "status": s.phase, "resources": s.what(), "workspace": s.workspace,
                      "where": s.where(), "url": s.url if s.phase == "Ready" else "", "message": s.message}

    def __repr__(self) -> str:
        if not self:
            return f"no notebook servers on the {self.backend} backend: %kf_notebook create NAME starts one"
        cols = ["name", "status", "resources", "workspace", "where", "url", "message"]
        return text_table(cols, [r for _, r in self._rows()])

    def _repr_html_(self) -> str:
        if not self:
            return f"<i>{html.escape(repr(self))}</i>"
        head = "".join(
            f"<th style='text-align:left'>{c}</th>" for c in ("Name", "Status", "Resources", "Workspace", "Where", "")
        )
        body = "".join(
            f"<tr><td><b>{html.escape(r['name'])}</b></td><td>{badge(_BADGE.get(s.phase, s.phase), s.phase)}</td>"
            f"<td>{html.escape(r['resources'])}</td><td>{html.escape(r['workspace'])}</td><td>{html.escape(r['where'])}</td>"
            f"<td>{_link(s) or html.escape(r['message'])}</td></tr>" for s, r in self._rows())
        return f"<table class='kf-notebooks'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _link(s: NotebookStatus) -> str:
    if not (s.url and s.phase == "Ready"):
        return ""
    return f"<a href='{html.escape(s.url)}' target='_blank' rel='noopener' style='{LINK_STYLE}'>open</a>"


class NotebookLink(str):
    """``url(name)``: the address as a string, shown as a link with how to reach it when it needs a step."""

    hint: str = ""

    def __new__(cls, url: str, hint: str = ""):
        obj = super().__new__(cls, url)
        obj.hint = hint
        return obj

    def __repr__(self) -> str:
        return str(self) + (f"  ({self.hint})" if self.hint else "")

    def _repr_html_(self) -> str:
        hint = f"<div style='font-size:12px;color:#555'>{html.escape(self.hint)}</div>" if self.hint else ""
        link = html.escape(self)
        return f"<a href='{link}' target='_blank' rel='noopener' style='{LINK_STYLE}'>{link}</a>{hint}"
