"""The live view under a ``%%kf_train`` cell in a real JupyterLab and Chromium, and its Cancel button
while the kernel is busy waiting for the job (the labextension cancels through the REST API)."""
from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.request

import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.ui

DOCS_IMAGE = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "images", "kf-train-cell.png")

TRAIN = """%%kf_train --name ui-cell --workers 2
import time
for epoch in range(EPOCHS):
    print(f"epoch={epoch} loss={loss_at(epoch)}", flush=True)
    time.sleep(0.45)
result = f"final loss {loss_at(EPOCHS - 1)}\""""

STUCK = """%%kf_train --name ui-stuck
import time
print("started", flush=True)
time.sleep(120)"""


def write_notebook(root, name, cells):
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
    )
    nbformat.write(nb, str(root / name))


def open_notebook(page, base, token, name):
    page.goto(f"{base}/lab/tree/{name}?token={token}")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
    news = page.get_by_role("button", name="No")
    if news.count():
        news.first.click()
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_attached(timeout=30_000)
    wait_for_kernel(base, token, name)
    return notebook


def wait_for_kernel(base, token, name, timeout=90):
    """Until the server reports this notebook's kernel idle: the page's indicator can say idle before then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as reply:
            sessions = json.load(reply)
        if any(s.get("path", "").endswith(name) and (s.get("kernel") or {}).get("execution_state") == "idle"
               for s in sessions):
            return
        time.sleep(0.2)
    pytest.fail(f"the kernel of {name} never became idle: {sessions}")


def run_all(page, notebook):
    """Run > Run All Cells, once the notebook is the current widget (the item is disabled until then).

    On a loaded 2-core machine the page can still be connecting to the kernel when the menu item is
    clicked; JupyterLab then runs nothing (the prompt stays ``[ ]:``), so the command is given again.
    Re-running is safe: nothing ran."""
    prompt = notebook.locator(".jp-Cell .jp-InputPrompt").first
    for attempt in range(3):
        _click_run_all(page, notebook)
        try:
            expect(prompt).not_to_have_text("[ ]:", timeout=30_000)
            return
        except AssertionError:
            if notebook.locator(".jp-OutputArea-output").count():
                raise
    pytest.fail("Run > Run All Cells ran nothing, three times")


def run_cell(page, cell):
    """Shift+Enter in ``cell``, given again when the page, still connecting to its kernel, ran nothing."""
    for _ in range(3):
        cell.locator(".jp-InputPrompt").click()
        page.keyboard.press("Shift+Enter")
        try:
            expect(cell.locator(".jp-InputPrompt")).not_to_have_text("[ ]:", timeout=30_000)
            return
        except AssertionError:
            if cell.locator(".jp-OutputArea-output").count():
                raise
    pytest.fail("Shift+Enter ran nothing, three times")


def _click_run_all(page, notebook):
    notebook.locator(".jp-Cell .jp-InputPrompt").first.click()
    item = page.locator(".lm-Menu-item[data-command='runmenu:run-all']")
    for _ in range(20):
        page.locator(".lm-MenuBar-item", has_text="Run").click()
        expect(item).to_be_visible()
        if "lm-mod-disabled" not in (item.get_attribute("class") or ""):
            item.click()
            return
        page.keyboard.press("Escape")
        page.wait_for_timeout(250)
    pytest.fail("Run > Run All Cells stayed disabled")


def api_job(base, token, name):
    with urllib.request.urlopen(f"{base}/jupyter-kf/api/jobs/{name}?token={token}", timeout=10) as reply:
        return json.load(reply)


def header_badge(view):
    """The phase badge next to the job's name (the workers' badges are in the next row)."""
    return view.locator(".widget-hbox", has=view.page.locator(".jp-kf-cancel")).locator(".kf-badge")


def test_live_view_under_the_cell(lab, page, tmp_path, screenshots):
    base, token = lab
    write_notebook(tmp_path / "notebooks", "train.ipynb", [
        "%load_ext jupyter_kf",
        "EPOCHS = 8\ndef loss_at(epoch):\n    return round(1 / (epoch + 1), 4)",
        TRAIN,
        "print(result)",
    ])
    notebook = open_notebook(page, base, token, "train.ipynb")
    cells = notebook.locator(".jp-Cell")
    expect(cells).to_have_count(4)
    run_all(page, notebook)

    train = cells.nth(2)
    view = train.locator(".kf-job-view")  # rendered by the ipywidgets frontend (jupyterlab_widgets)
    expect(view).to_be_visible(timeout=30_000)
    expect(view).to_contain_text("ui-cell")
    expect(view).to_contain_text("2 workers · local")
    expect(header_badge(view)).to_have_attribute("data-phase", "Running", timeout=15_000)
    for rank in (0, 1):
        expect(view.locator(".kf-badge", has_text=f"worker {rank}: Running")).to_be_visible(timeout=10_000)
    expect(view.get_by_role("button", name="Cancel")).to_be_visible()
    expect(view.locator("pre")).to_contain_text("[1] epoch=2 loss=0.3333", timeout=10_000)
    expect(view.locator("pre")).to_contain_text("[0] epoch=0 loss=1.0")
    chart = view.locator("svg.kf-chart polyline")
    expect(chart).to_have_count(2)  # a line a worker
    # rank 0's third point may trail rank 1's log line by a render
    expect(chart.first).to_have_attribute("points", re.compile(r"^\S+( \S+){2,}$"), timeout=10_000)
    expect(view).to_contain_text("loss =")
    # still running while the screenshot is taken: the kernel waits in the cell
    expect(header_badge(view)).to_have_attribute("data-phase", "Running")
    expect(train.locator(".jp-InputPrompt")).to_contain_text("[*]")

    shot = screenshots / "kf-train-cell.png"
    train.screenshot(path=str(shot))
    if not os.path.exists(DOCS_IMAGE) or os.environ.get("KF_UPDATE_DOCS_IMAGES"):
        os.makedirs(os.path.dirname(DOCS_IMAGE), exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGE)

    expect(header_badge(view)).to_have_attribute("data-phase", "Succeeded", timeout=20_000)
    expect(view).to_contain_text(re.compile(r"ui-cell succeeded in \d+(\.\d)?s; in the notebook now: [\w, ]*\bresult\b"))
    expect(view.locator("pre")).to_contain_text("[0] epoch=7 loss=0.125")
    expect(view.get_by_role("button", name="Cancel")).to_be_hidden()
    expect(cells.nth(3).locator(".jp-OutputArea-output")).to_have_text("final loss 0.125", timeout=15_000)
    assert api_job(base, token, "ui-cell")["phase"] == "Succeeded"
    train.screenshot(path=str(screenshots / "kf-train-cell-succeeded.png"))


def test_cancel_button_works_while_the_kernel_waits(lab, page, tmp_path, screenshots):
    base, token = lab
    write_notebook(tmp_path / "notebooks", "stuck.ipynb", ["%load_ext jupyter_kf", STUCK])
    # The widget's own click still travels to the kernel (a comm message on the kernel websocket).
    sent: list[bytes] = []
    page.on("websocket", lambda ws: ws.on(
        "framesent", lambda payload: sent.append(payload if isinstance(payload, bytes) else payload.encode())))
    notebook = open_notebook(page, base, token, "stuck.ipynb")
    run_all(page, notebook)

    cell = notebook.locator(".jp-Cell").nth(1)
    view = cell.locator(".kf-job-view")
    expect(header_badge(view)).to_have_attribute("data-phase", "Running", timeout=30_000)
    expect(view.locator("pre")).to_contain_text("started", timeout=10_000)
    expect(cell.locator(".jp-InputPrompt")).to_contain_text("[*]")  # the kernel is busy in this cell
    expect(notebook.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "busy")

    button = view.locator("button.jp-kf-cancel.kf-job-ui-stuck")
    clicked = time.monotonic()
    with page.expect_response(lambda r: r.url.split("?")[0].endswith("/jupyter-kf/api/jobs/ui-stuck/cancel")
                              and r.request.method == "POST") as reply:
        button.click()
        expect(button).to_be_disabled()
    assert reply.value.status == 200 and reply.value.json()["phase"] == "Cancelled"
    expect(button).to_have_attribute("data-kf-cancel", "done")
    expect(button).to_have_text("Cancelled")

    expect(header_badge(view)).to_have_attribute("data-phase", "Cancelled", timeout=15_000)
    error = cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    expect(error).to_contain_text(re.compile(r"^JobFailed: job '?ui-stuck'? cancelled"), timeout=15_000)
    assert len(error.inner_text().strip().splitlines()) == 1, error.inner_text()
    took = time.monotonic() - clicked
    assert took < 15, f"cancelled only after {took:.0f} s"
    assert api_job(base, token, "ui-stuck")["phase"] == "Cancelled"
    expect(notebook.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "idle")
    assert any(b"comm_msg" in frame and b"click" in frame for frame in sent), "the widget's click never reached the kernel"
    cell.screenshot(path=str(screenshots / "kf-train-cell-cancelled.png"))
