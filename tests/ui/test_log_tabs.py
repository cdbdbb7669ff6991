"""Log tabs and panel rows tell one truth (the log stream drives both), and log tabs come back after a
reload, still following; in a real JupyterLab and Chromium."""
from __future__ import annotations

import time
import urllib.request

import pytest
from playwright.sync_api import expect

from jupyter_kf.training import api
from tests.ui.conftest import open_panel, save_docs_image

pytestmark = pytest.mark.ui


def saved_layout(base, token, key, timeout=30.0):
    """Wait until JupyterLab has saved its workspace with ``key`` in it (the layout is saved a moment later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/lab/api/workspaces?token={token}", timeout=10) as reply:
            text = reply.read().decode()
        if key in text:
            return
        time.sleep(0.2)  # polling the server's state, not waiting for time
    pytest.fail(f"the workspace never held {key!r}: {text[:500]}")


def row(panel, name):
    return panel.locator(f'.jp-KFPanel-item[data-job="{name}"]')


def test_log_tab_and_row_change_together_and_the_tab_survives_a_reload(start_lab, page, tmp_path):
    # The panel polls once an hour: only the log's event stream can move the row along.
    base, token = start_lab(user_settings={"jupyter-kf:plugin": {"refreshInterval": 3600}})
    gate = tmp_path / "go"
    job = api.train(f"import os, time\nprint('waiting', flush=True)\nwhile not os.path.exists({str(gate)!r}):\n"
                    "    time.sleep(0.05)\nprint('released', flush=True)", name="ui-truth")
    panel = open_panel(page, base, token)
    badge = row(panel, "ui-truth").locator(".jp-KFPanel-badge")
    expect(badge).to_have_attribute("data-phase", "Running", timeout=15_000)
    row(panel, "ui-truth").get_by_role("button", name="Show logs of job ui-truth").click()
    viewer = page.locator("#jupyter-kf-logs-ui-truth")
    expect(viewer.get_by_role("log")).to_contain_text("waiting", timeout=15_000)

    saved_layout(base, token, "jupyter-kf-logs:ui-truth")
    page.reload()  # the layout restorer reopens the tab, which follows the log again
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
    viewer = page.locator("#jupyter-kf-logs-ui-truth")
    expect(page.locator(".lm-TabBar-tab", has_text="Log: ui-truth")).to_be_visible(timeout=15_000)
    expect(viewer.get_by_role("log")).to_contain_text("waiting", timeout=15_000)
    expect(viewer.locator(".jp-KFLog-state")).to_have_text("Running")
    page.click('.jp-SideBar.jp-mod-left li[data-id="jupyter-kf-panel"]')
    panel = page.locator("#jupyter-kf-panel")
    badge = row(panel, "ui-truth").locator(".jp-KFPanel-badge")
    expect(badge).to_have_attribute("data-phase", "Running", timeout=15_000)

    gate.write_text("")
    assert job.wait(timeout=30).phase == "Succeeded"
    expect(viewer.locator(".jp-KFLog-state")).to_have_text("Succeeded · end of log", timeout=15_000)
    expect(viewer.get_by_role("log")).to_contain_text("released")
    expect(badge).to_have_attribute("data-phase", "Succeeded", timeout=2_000)  # with the tab, not an hour later


def test_progress_bars_in_the_log_tab_and_the_row(lab, page, tmp_path, screenshots):
    base, token = lab
    gate = tmp_path / "go"
    job = api.train(
        "import os, sys, time, tqdm\n"
        "for i in tqdm.tqdm(range(40), desc='fit', file=sys.stdout, mininterval=0, miniters=1):\n"
        f"    if i == 20:\n        while not os.path.exists({str(gate)!r}):\n            time.sleep(0.05)\n"
        "    time.sleep(0.02)\n"
        "print('\\x1b[32mdone\\x1b[0m')",
        name="ui-tqdm", workers=2)
    panel = open_panel(page, base, token)
    row(panel, "ui-tqdm").get_by_role("button", name="Show logs of job ui-tqdm").click()
    viewer = page.locator("#jupyter-kf-logs-ui-tqdm")
    bars = viewer.locator(".jp-KFLog-progress .jp-KFProgress")
    expect(bars).to_have_count(2, timeout=20_000)  # a bar a worker, held at 50% by the gate
    for rank in (0, 1):
        expect(bars.nth(rank)).to_have_attribute("data-percent", "50", timeout=15_000)
        expect(bars.nth(rank)).to_contain_text(f"worker {rank}")
    expect(bars.first).to_contain_text("fit: 50% · 20/40 · ETA")
    expect(viewer.locator(".jp-KFLog-pendingLine").first).to_contain_text("[0] fit:  50%|")
    row_bars = row(panel, "ui-tqdm").locator(".jp-KFPanel-progress .jp-KFProgress")
    expect(row_bars).to_have_count(2)  # the row shows what the tab's stream says, at the same time
    expect(row_bars.first).to_have_attribute("data-percent", "50")
    shot = screenshots / "sidebar-progress.png"
    page.screenshot(path=str(shot))
    save_docs_image(shot, "sidebar-progress.png")

    gate.write_text("")
    assert job.wait(timeout=30).phase == "Succeeded"
    expect(viewer.locator(".jp-KFLog-state")).to_have_text("Succeeded · end of log", timeout=15_000)
    lines = viewer.locator(".jp-KFLog-line")
    expect(lines.filter(has_text="fit: 100%|")).to_have_count(2)  # one line a worker, its last state
    expect(lines.filter(has_text="20/40")).to_have_count(0)
    expect(lines.filter(has_text="done")).to_have_text(["[0] done", "[1] done"])  # colours dropped
    expect(viewer.locator(".jp-KFLog-pendingLine")).to_have_count(0)
    expect(row_bars).to_have_count(0)
