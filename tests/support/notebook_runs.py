"""Run notebooks in real kernels (nbclient) for the end-to-end tests."""
from __future__ import annotations

import nbformat
from nbclient import NotebookClient


def run_notebook(cells: list[str], path, timeout: int = 120, allow_errors: bool = True):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": str(path)}}).execute()
    return nb


def text(cell) -> str:
    """Everything a cell printed or returned, as plain text."""
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "".join(parts)


def errors(cell) -> list:
    return [out for out in cell.outputs if out.output_type == "error"]


def widget_states(nb) -> dict:
    return nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
