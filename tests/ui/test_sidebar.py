"""The Kubeflow sidebar's Jobs section in a real JupyterLab and Chromium: listed live with badges,
cancelled, deleted (confirmed), logs in a tab (search, follow), results attached to a notebook, and a job
made from the active cell."""
from __future__ import annotations

import re

import nbformat
import pytest
from playwright.sync_api import expect

from jupyter_kf import errors
from jupyter_kf.training import api
from tests.ui.conftest import open_panel, save_docs_image, section
from tests.ui.test_cell_view import run_cell, wait_for_kernel

pytestmark = pytest.mark.ui


@pytest.fixture
def jobs():
    """One finished job, one failed, one running (cancelled by the test or at teardown)."""
    api.train("x = 1", name="ui-done", wait=True)
    failed = api.train("raise ValueError('learning rate must be positive')", name="ui-failed")
    try:
        failed.wait(timeout=60)
    except errors.KfError:
        pass  # a failed job may raise on wait: what matters is its phase in the panel
    running = api.train("import time\ntime.sleep(30)", name="ui-long")
    yield
    try:
        running.cancel()
    except errors.KfError:
        pass


def row(panel, name):
    return panel.locator(f'.jp-KFPanel-item[data-job="{name}"]')


def write_notebook(root, name, cells):
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
    )
    nbformat.write(nb, str(root / name))


def test_sidebar_lists_and_cancels_jobs(lab, page, jobs, screenshots):
    base, token = lab
    panel = open_panel(page, base, token)
    jobs_section = section(panel, "jobs")

    expect(jobs_section.locator(".jp-KFPanel-item")).to_have_count(3)
    expect(jobs_section.locator(".jp-KFPanel-sectionTitle")).to_have_text("Jobs (3)")
    expect(row(panel, "ui-done").locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Succeeded")
    expect(row(panel, "ui-failed").locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Failed")
    expect(row(panel, "ui-failed").locator(".jp-KFPanel-badge")).to_have_attribute("data-tone", "error")
    long_badge = row(panel, "ui-long").locator(".jp-KFPanel-badge")
    expect(long_badge).to_have_attribute("data-phase", "Running", timeout=15_000)
    expect(row(panel, "ui-long")).to_contain_text("1 worker")
    expect(row(panel, "ui-long").locator(".jp-KFPanel-where")).to_have_text("local")
    expect(row(panel, "ui-done").get_by_role("button", name="Cancel job ui-done")).to_be_hidden()
    expect(row(panel, "ui-long").get_by_role("button", name="Delete job ui-long")).to_be_hidden()
    expect(panel.locator(".jp-KFPanel-note")).to_have_text("No cluster configured: jobs run on this machine.")
    # Empty sections say so, each in its own words.
    expect(section(panel, "notebooks").locator(".jp-KFPanel-empty")).to_contain_text("No notebook servers on this machine")
    expect(section(panel, "pipelines").locator(".jp-KFPanel-empty")).to_contain_text("No pipeline runs")

    shot = screenshots / "sidebar-jobs.png"
    page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 760, "height": 620})
    save_docs_image(shot, "sidebar-jobs.png")

    row(panel, "ui-long").get_by_role("button", name="Cancel job ui-long").click()

    expect(long_badge).to_have_attribute("data-phase", "Cancelled", timeout=15_000)
    expect(long_badge).to_have_text("Cancelled")
    expect(row(panel, "ui-long").get_by_role("button", name="Cancel job ui-long")).to_be_hidden()
    assert api.job("ui-long").status().phase == "Cancelled"
    page.screenshot(path=str(screenshots / "sidebar-jobs-cancelled.png"))


def test_delete_asks_first_because_results_are_lost(lab, page, screenshots):
    api.train("x = 1", name="ui-old", wait=True)
    base, token = lab
    panel = open_panel(page, base, token)
    delete = row(panel, "ui-old").get_by_role("button", name="Delete job ui-old")

    delete.click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Delete job ui-old?")
    expect(dialog).to_contain_text("results not attached to a notebook are lost")
    page.screenshot(path=str(screenshots / "sidebar-delete-confirm.png"))
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert api.job("ui-old").status().phase == "Succeeded"

    delete.click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    expect(row(panel, "ui-old")).to_have_count(0, timeout=10_000)
    with pytest.raises(errors.JobNotFound):
        api.job("ui-old")


def test_sidebar_empty_state_then_live_updates(lab, page, screenshots):
    base, token = lab
    panel = open_panel(page, base, token)
    empty = section(panel, "jobs").locator(".jp-KFPanel-empty")

    expect(empty).to_have_text(
        "No jobs yet. Run a cell with %%kf_train — no cluster configured: jobs run on this machine."
    )
    expect(panel.locator(".jp-KFPanel-item")).to_have_count(0)
    page.screenshot(path=str(screenshots / "sidebar-empty.png"))

    # No reload, no click: the poll brings the new job in and follows it to the end.
    api.train("import time\ntime.sleep(5)", name="ui-live")
    badge = row(panel, "ui-live").locator(".jp-KFPanel-badge")
    expect(badge).to_have_attribute("data-phase", "Running", timeout=10_000)
    expect(empty).to_be_hidden()
    expect(badge).to_have_attribute("data-phase", "Succeeded", timeout=15_000)


def test_logs_stream_into_a_tab_with_search_and_follow(lab, page, screenshots):
    api.train(
        "import time\nfor i in range(40):\n    print(f'step={i} loss={1 / (i + 1):.4f}', flush=True)\n    time.sleep(0.1)\n",
        name="ui-logs",
    )
    base, token = lab
    panel = open_panel(page, base, token)
    row(panel, "ui-logs").get_by_role("button", name="Show logs of job ui-logs").click()

    viewer = page.locator("#jupyter-kf-logs-ui-logs")
    expect(viewer).to_be_visible()
    expect(page.locator(".lm-TabBar-tab", has_text="Log: ui-logs")).to_be_visible()
    body = viewer.get_by_role("log")
    expect(body).to_contain_text("step=0 loss=1.0000", timeout=15_000)
    expect(viewer.locator(".jp-KFLog-state")).to_have_text("Succeeded · end of log", timeout=20_000)
    expect(viewer.locator(".jp-KFLog-line")).to_have_count(40)  # every line once, across polls
    follow = viewer.get_by_label("Follow")
    expect(follow).to_be_checked()
    # Followed: the view was kept scrolled to the last line.
    assert body.evaluate("n => n.scrollHeight - n.scrollTop - n.clientHeight") < 8

    search = viewer.get_by_label("Search the log")
    search.fill("step=3")
    expect(viewer.locator(".jp-KFLog-matches")).to_have_text("11 matches")  # 3, 30..39
    search.press("Enter")
    expect(viewer.locator(".jp-KFLog-current")).to_have_text("step=3 loss=0.2500")
    expect(follow).not_to_be_checked()  # jumping to a match stops following
    shot = screenshots / "sidebar-logs.png"
    page.screenshot(path=str(shot))
    save_docs_image(shot, "sidebar-logs.png")


def test_attach_and_new_job_from_the_active_cell(lab, page, tmp_path, screenshots):
    api.train("answer = 42", name="ui-result", wait=True)
    write_notebook(tmp_path / "notebooks", "work.ipynb", ["SCALE = 3", "total = SCALE * 14\nprint('total', total)"])
    base, token = lab
    panel = open_panel(page, base, token, "lab/tree/work.ipynb")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_attached(timeout=30_000)
    wait_for_kernel(base, token, "work.ipynb")
    cells = notebook.locator(".jp-Cell")
    expect(cells).to_have_count(2)

    # Attach: a new cell with %kf_attach under the active one.
    cells.nth(0).locator(".jp-InputPrompt").click()
    row(panel, "ui-result").get_by_role("button", name="Attach results of job ui-result to the notebook").click()
    expect(cells).to_have_count(3)
    expect(cells.nth(1)).to_contain_text("%kf_attach ui-result")

    # Run the first cell in the kernel so the job's cell has its input, then make a job of the last cell.
    run_cell(page, cells.nth(0))
    expect(cells.nth(0).locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[1\]"), timeout=30_000)
    cells.nth(2).locator(".jp-InputPrompt").click()
    panel.get_by_role("button", name="New training job from the active cell").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Run the active cell as a job")
    dialog.get_by_label("Name").fill("ui-from-cell")
    dialog.get_by_label("GPUs per worker").fill("0")
    shot = screenshots / "sidebar-new-job.png"
    page.screenshot(path=str(shot))
    save_docs_image(shot, "sidebar-new-job.png")
    dialog.get_by_role("button", name="Run").click()

    badge = row(panel, "ui-from-cell").locator(".jp-KFPanel-badge")
    expect(badge).to_have_attribute("data-phase", "Succeeded", timeout=30_000)
    job = api.job("ui-from-cell")
    assert list(job.logs()) == ["total 42"]  # SCALE came from the kernel
    assert job.results() == {"total": 42}


def test_new_job_without_a_notebook_says_what_is_missing(lab, page):
    base, token = lab
    panel = open_panel(page, base, token)
    panel.get_by_role("button", name="New training job from the active cell").click()
    expect(section(panel, "jobs").locator(".jp-KFPanel-noticeText")).to_have_text(
        "Open a notebook and select the cell to run as a job: no notebook is active.")
