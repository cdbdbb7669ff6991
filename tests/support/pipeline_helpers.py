"""Small notebooks for the pipeline tests, built in memory or written to a temporary folder."""
from __future__ import annotations

from pathlib import Path

import nbformat

DATA = Path(__file__).resolve().parents[1] / "data" / "pipeline"


def notebook(*cells, meta: dict | None = None):
    """Cells as ``"code"``, ``("code", ["tag", ...])`` or ``("md", "text")``."""
    nb = nbformat.v4.new_notebook()
    for cell in cells:
        if isinstance(cell, tuple) and cell[0] == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(cell[1]))
            continue
        source, tags = cell if isinstance(cell, tuple) else (cell, [])
        code = nbformat.v4.new_code_cell(source)
        if tags:
            code.metadata["tags"] = list(tags)
        nb.cells.append(code)
    if meta is not None:
        nb.metadata["kubeflow_notebook"] = meta
    return nb


def write(folder: Path, name: str, *cells, meta: dict | None = None) -> Path:
    path = Path(folder) / name
    nbformat.write(notebook(*cells, meta=meta), path)
    return path


def steps(conversion) -> dict:
    """{step: (sorted inputs with producers, params, outputs, upstream)} for compact assertions."""
    return {s.name: (dict(sorted(s.inputs.items())), sorted(s.params), sorted(s.outputs), s.after)
            for s in conversion.pipeline.steps}
