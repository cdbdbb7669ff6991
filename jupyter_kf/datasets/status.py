"""How datasets look in a notebook: a version, the table of ``%kf_data list``, the page of ``%kf_data show``.

Each has a plain-text form (``repr``) and an HTML twin, built from the store's manifests; no logic here.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

from jupyter_kf.display import format_size, text_table

FORMAT_NOTES = {"parquet": "DataFrame as Parquet", "pickle": "as pickle", "npy": "ndarray as .npy",
                "json": "plain data as JSON"}


@dataclass
class DataVersion:
    """One version of a dataset, as ``kf.data.put`` returns it and ``kf.data.show`` lists it."""

    name: str
    version: int
    digest: str
    files: int
    size: int
    created: str
    kind: str = "files"
    format: str | None = None
    source: str = ""
    producer: dict | None = None
    unchanged: bool = False  # put found the same content as the latest version: nothing new was made
    new_objects: int = 0
    note: str = ""  # why this format (e.g. pyarrow missing: pickle)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def summary(self) -> str:
        if self.unchanged:
            return f"unchanged: still version {self.version} of {self.name} ({self.ref}, sha256:{self.digest[:12]})"
        what = f"{self.files} file(s), {format_size(self.size)}"
        if self.kind == "object":
            what = f"{FORMAT_NOTES.get(self.format, self.format)}, {format_size(self.size)}"
        if self.kind == "pvc":
            what = f"{self.source}, mounted as it is by cluster jobs"
        stored = f"{self.new_objects} new object(s) stored" if self.new_objects else "no new content stored"
        note = f" ({self.note})" if self.note else ""
        return f"{self.ref}: {what}{note}, sha256:{self.digest[:12]}; {stored}"

    def __repr__(self):
        return f"<DataVersion {self.summary()}>"


@dataclass
class DatasetTable:
    """``%kf_data list``: one row a dataset, its latest version's size and files."""

    rows: list = field(default_factory=list)
    where: str = "local"

    COLUMNS = ["name", "versions", "latest", "size", "files", "created", "where"]

    def __repr__(self):
        if not self.rows:
            return f"no datasets on the {self.where} store yet: %kf_data put NAME PATH makes one"
        return text_table(self.COLUMNS, self.rows)

    def _repr_html_(self):
        if not self.rows:
            return f"<p>{html.escape(repr(self))}</p>"
        head = "".join(f"<th>{c.upper()}</th>" for c in self.COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in self.COLUMNS) + "</tr>"
                       for r in self.rows)
        return f'<table class="kf-data-table"><tr>{head}</tr>{body}</table>'

    def __len__(self):
        return len(self.rows)


@dataclass
class DatasetDetail:
    """``%kf_data show NAME``: the versions, one version's files, and who read or wrote each version."""

    name: str
    versions: list  # DataVersion
    files: dict  # of the version shown: path -> (sha256, size)
    shown: int
    lineage: list  # (version, arrow, text): "<-" written by, "->" read by

    def lines(self) -> list[str]:
        out = [f"dataset {self.name}: {len(self.versions)} version(s)"]
        rows = [{"version": v.ref, "sha256": v.digest[:12], "files": v.files, "size": format_size(v.size),
                 "created": v.created, "format": v.format or "files",
                 "written by": _producer(v.producer)} for v in self.versions]
        out += ["  " + line for line in text_table(list(rows[0]), rows).splitlines()] if rows else []
        out.append(f"files of {self.name}@{self.shown}:")
        listed = sorted(self.files.items())
        out += [f"  {path}  {format_size(size)}  sha256:{digest[:12]}" for path, (digest, size) in listed[:50]]
        if len(listed) > 50:
            out.append(f"  ... and {len(listed) - 50} more")
        out.append("lineage:" if self.lineage else "lineage: no job has read or written it yet")
        out += [f"  {self.name}@{version} {arrow} {text}" for version, arrow, text in self.lineage]
        return out

    def __repr__(self):
        return "\n".join(self.lines())

    def _repr_html_(self):
        return f'<pre class="kf-data-show">{html.escape(repr(self))}</pre>'


def _producer(producer: dict | None) -> str:
    if not producer:
        return "notebook"
    rank = producer.get("rank")
    return f"job {producer.get('job')}" + (f" (rank {rank})" if rank not in (None, "0") else "")
