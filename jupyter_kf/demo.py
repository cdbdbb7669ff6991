"""``python -m jupyter_kf.demo NOTEBOOK``: execute a notebook in a real kernel and print what it computed."""
from __future__ import annotations

import sys
import time
from pathlib import Path


def run(path: str, timeout: int = 600) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb_path = Path(path).resolve()
    nb = nbformat.read(nb_path, as_version=4)
    start = time.perf_counter()
    from jupyter_kf.training.backends import resolve_name

    print(f"running {nb_path.name} on the {resolve_name(None)} backend ...", flush=True)
    try:
        NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(nb_path.parent)}}
        ).execute()
    except CellExecutionError as err:
        print(f"the notebook stopped with an error:\n{err}", file=sys.stderr)
        return 1
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and out.name == "stdout":
                print(out.text, end="")
            elif out.output_type == "execute_result" and "text/plain" in out.data:
                print(out.data["text/plain"])
    print(f"done in {time.perf_counter() - start:.1f} s: {sum(c.cell_type == 'code' for c in nb.cells)} cells ran")
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else "examples/quickstart.ipynb"))
