"""``python -m jupyter_kf.demo NOTEBOOK`` (the README's ``make demo``): runs a notebook in a real kernel, says where
jobs run, prints what the cells printed, and exits 1 with the cell's error when one fails."""
import re
import subprocess
import sys

import nbformat
import pytest


def notebook(path, *cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("backend", ["local", "kubernetes"])
def test_the_demo_says_which_backend_runs_it_and_prints_the_cells_output(tmp_path, monkeypatch, backend):
    monkeypatch.setenv("JUPYTER_KF_BACKEND", backend)
    path = notebook(tmp_path / "hello.ipynb", "print('sum is', 1 + 2)")
    out = subprocess.run([sys.executable, "-m", "jupyter_kf.demo", str(path)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == f"running hello.ipynb on the {backend} backend ..."
    assert "sum is 3" in out.stdout and "1 cells ran" in out.stdout


def test_a_failing_cell_is_reported_and_exits_1(tmp_path):
    path = notebook(tmp_path / "bad.ipynb", "raise ValueError('no data here')")
    out = subprocess.run([sys.executable, "-m", "jupyter_kf.demo", str(path)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 1 and "ValueError: no data here" in re.sub(r"\x1b\[[0-9;]*m", "", out.stderr)
