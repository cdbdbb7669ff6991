"""The live view under a ``%%kf_tune`` cell in a real JupyterLab and Chromium: progress, best trial, objective
chart, parallel coordinates, trials table and Stop while the search runs; the best trial's variables after, and
``%kf_compare`` of its best trials."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import save_docs_image
from tests.ui.test_cell_view import open_notebook, run_all, write_notebook

pytestmark = pytest.mark.ui

DATA = """import numpy as np
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 3))
y = X @ np.array([1.5, -2.0, 0.5]) + rng.normal(scale=0.1, size=200)"""

TUNE = """%%kf_tune --name ui-search --param lr=loguniform(1e-3,0.5) --param epochs=int(5,30) --param optimizer=choice(sgd,momentum) --objective loss --trials 12 --parallel 2 --algorithm tpe --seed 1
import time
w, v = np.zeros(3), np.zeros(3)
for epoch in range(epochs):
    v = (0.9 if optimizer == "momentum" else 0.0) * v + X.T @ (X @ w - y) / len(y)
    w = w - lr * v
    print(f"epoch={epoch} loss={float(np.mean((X @ w - y) ** 2)):.5f}", flush=True)
    time.sleep(0.02)
print(f"loss={float(np.mean((X @ w - y) ** 2)):.5f}")"""


def test_experiment_view_under_the_cell(lab, page, tmp_path, screenshots):
    base, token = lab
    write_notebook(tmp_path / "notebooks", "tune.ipynb", [
        "%load_ext jupyter_kf", DATA, TUNE, "print('best:', optimizer, epochs, round(lr, 4), np.round(w, 1))",
        "%kf_compare ui-search",
    ])
    notebook = open_notebook(page, base, token, "tune.ipynb")
    cells = notebook.locator(".jp-Cell")
    expect(cells).to_have_count(5)
    run_all(page, notebook)

    tune = cells.nth(2)
    view = tune.locator(".kf-experiment-view")
    expect(view).to_be_visible(timeout=30_000)
    expect(view).to_contain_text("ui-search")
    expect(view).to_contain_text("tpe · minimize loss · local")
    # enough finished trials for the charts to say something, while the search still runs
    expect(view.locator(".kf-tune-progress")).to_have_text(re.compile(r"^([6-9]|1[01])/12, "), timeout=60_000)
    expect(view.locator("svg.kf-tune-parallel polyline.kf-pc-best")).to_have_count(1)
    for axis in ("lr", "epochs", "optimizer", "loss"):
        expect(view.locator("svg.kf-tune-parallel text", has_text=re.compile(f"^{axis}$"))).to_have_count(1)
    expect(view.locator("svg.kf-tune-parallel text", has_text=re.compile("^momentum$"))).to_have_count(1)
    expect(view.locator("svg.kf-tune-chart circle").first).to_be_attached()
    expect(view.locator(".kf-tune-best")).to_contain_text("best: loss=")
    expect(view.locator("table.kf-tune-trials")).to_contain_text("ui-search-000")

    page.add_style_tag(content=".Toastify { display: none !important; }")  # a toast a trial: not the subject
    shot = screenshots / "kf-tune-view.png"
    tune.screenshot(path=str(shot))
    save_docs_image(shot, "kf-tune-view.png")

    expect(view.locator(".kf-tune-progress")).to_have_text("12/12, 0 running", timeout=90_000)
    expect(view).to_contain_text(re.compile(r"ui-search succeeded \(12 trials run\); best ui-search-\d{3}: loss="),
                                 timeout=30_000)
    expect(view.get_by_role("button", name="Stop")).to_be_hidden()
    lines = view.locator("svg.kf-tune-parallel polyline")
    expect(lines).to_have_count(12)
    expect(cells.nth(3).locator(".jp-OutputArea-output")).to_contain_text("best: ", timeout=30_000)

    compared = cells.nth(4).locator(".kf-compare")  # the search's 8 best trials, a line each, best first
    expect(compared).to_be_visible(timeout=30_000)
    expect(compared.locator("svg.kf-compare-chart")).to_have_count(1)  # loss by epoch
    expect(compared.locator("svg.kf-compare-chart polyline")).to_have_count(8)
    expect(compared.locator("table.kf-compare-table tbody tr")).to_have_count(8)
    expect(compared.locator("table.kf-compare-table th", has_text=re.compile("^optimizer$"))).to_have_count(1)
    shot = screenshots / "kf-compare.png"
    cells.nth(4).screenshot(path=str(shot))
    save_docs_image(shot, "kf-compare.png")
