"""The Kubeflow sidebar in a real JupyterLab and Chromium: jobs listed live, with badges, and cancelled."""
from __future__ import annotations

import os
import shutil

import pytest
from playwright.sync_api import expect

from jupyter_kf import api, errors

pytestmark = pytest.mark.ui

DOCS_IMAGE = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "images", "sidebar-jobs.png")


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


def open_panel(page, base, token):
    page.goto(f"{base}/lab?token={token}")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
    news = page.get_by_role("button", name="No")
    if news.count():
        news.first.click()
    page.click('.jp-SideBar.jp-mod-left li[data-id="jupyter-kf-panel"]')
    panel = page.locator("#jupyter-kf-panel")
    expect(panel).to_be_visible()
    return panel


def row(panel, name):
    return panel.locator(f'.jp-KFPanel-item[data-job="{name}"]')


def test_sidebar_lists_and_cancels_jobs(lab, page, jobs, screenshots):
    base, token = lab
    panel = open_panel(page, base, token)

    expect(panel.locator(".jp-KFPanel-item")).to_have_count(3)
    expect(row(panel, "ui-done").locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Succeeded")
    expect(row(panel, "ui-failed").locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Failed")
    long_badge = row(panel, "ui-long").locator(".jp-KFPanel-badge")
    expect(long_badge).to_have_attribute("data-phase", "Running", timeout=15_000)
    expect(row(panel, "ui-long")).to_contain_text("1 worker")
    expect(row(panel, "ui-long").locator(".jp-KFPanel-where")).to_have_text("local")
    expect(row(panel, "ui-done").get_by_role("button", name="Cancel job ui-done")).to_be_hidden()

    shot = screenshots / "sidebar-jobs.png"
    page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 760, "height": 420})
    if not os.path.exists(DOCS_IMAGE) or os.environ.get("KF_UPDATE_DOCS_IMAGES"):
        os.makedirs(os.path.dirname(DOCS_IMAGE), exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGE)

    row(panel, "ui-long").get_by_role("button", name="Cancel job ui-long").click()

    expect(long_badge).to_have_attribute("data-phase", "Cancelled", timeout=15_000)
    expect(long_badge).to_have_text("Cancelled")
    expect(row(panel, "ui-long").get_by_role("button", name="Cancel job ui-long")).to_be_hidden()
    assert api.job("ui-long").status().phase == "Cancelled"
    page.screenshot(path=str(screenshots / "sidebar-jobs-cancelled.png"))


def test_sidebar_empty_state_then_live_updates(lab, page, screenshots):
    base, token = lab
    panel = open_panel(page, base, token)

    expect(panel.locator(".jp-KFPanel-empty")).to_have_text(
        "No jobs yet. Run a cell with %%kf_train — no cluster configured: jobs run on this machine."
    )
    expect(panel.locator(".jp-KFPanel-item")).to_have_count(0)
    page.screenshot(path=str(screenshots / "sidebar-empty.png"))

    # No reload, no click: the poll brings the new job in and follows it to the end.
    api.train("import time\ntime.sleep(5)", name="ui-live")
    badge = row(panel, "ui-live").locator(".jp-KFPanel-badge")
    expect(badge).to_have_attribute("data-phase", "Running", timeout=10_000)
    expect(panel.locator(".jp-KFPanel-empty")).to_be_hidden()
    expect(badge).to_have_attribute("data-phase", "Succeeded", timeout=15_000)
