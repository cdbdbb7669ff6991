"""Progress bars and charts under a ``%%kf_train`` cell, and JupyterLab notifications when jobs end,
in a real JupyterLab and Chromium."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from jupyter_kf.training import api
from tests.ui.conftest import open_panel, save_docs_image, section
from tests.ui.test_cell_view import header_badge, open_notebook, run_all, write_notebook

pytestmark = pytest.mark.ui

TRAIN = """%%kf_train --name ui-bars --workers 2 --env SEED=3
import os, sys, time, tqdm
rank = int(os.environ["RANK"])
print(f"worker {rank} of 2, SEED={os.environ['SEED']}", flush=True)
for epoch in range(3):
    for _ in tqdm.tqdm(range(12), desc=f"epoch {epoch}", file=sys.stdout, mininterval=0, miniters=1):
        time.sleep(0.06)
    print(f"epoch={epoch} loss={round(1 / (epoch + 1) + rank / 10, 4)}", flush=True)"""


def test_progress_bars_and_charts_under_the_cell(lab, page, tmp_path, screenshots):
    base, token = lab
    write_notebook(tmp_path / "notebooks", "bars.ipynb", ["%load_ext jupyter_kf", TRAIN])
    notebook = open_notebook(page, base, token, "bars.ipynb")
    run_all(page, notebook)
    train = notebook.locator(".jp-Cell").nth(1)
    view = train.locator(".kf-job-view")
    expect(header_badge(view)).to_have_attribute("data-phase", "Running", timeout=30_000)

    bars = view.locator(".kf-progress")
    expect(bars).to_have_count(2, timeout=15_000)  # a bar a worker, while tqdm redraws its line
    expect(bars.first).to_have_attribute("data-percent", re.compile(r"^[1-9]\d?$"), timeout=15_000)
    expect(bars.first).to_contain_text(re.compile(r"^worker 0\s*epoch \d: \d+% · \d+/12 · ETA"))
    log = view.locator("pre")
    expect(log).to_contain_text(re.compile(r"\[0\] epoch 0: 100%\|\S+\| 12/12"), timeout=15_000)
    expect(view.locator(".kf-metric-value")).to_have_text("SEED = 3")  # never changes: a value, not a chart
    chart = view.locator('svg.kf-chart[aria-label="loss against epoch"]')
    expect(chart.locator("polyline")).to_have_count(2, timeout=15_000)  # a line a worker
    expect(chart.locator("text.kf-x-label")).to_have_text("epoch")
    expect(view.locator(".kf-legend")).to_contain_text("worker 1")
    expect(view.locator('svg[aria-label^="SEED"]')).to_have_count(0)
    shot = screenshots / "kf-train-progress.png"
    train.screenshot(path=str(shot))
    save_docs_image(shot, "kf-train-progress.png")

    expect(header_badge(view)).to_have_attribute("data-phase", "Succeeded", timeout=30_000)
    expect(bars).to_have_count(2)
    for rank in (0, 1):
        expect(bars.nth(rank)).to_have_attribute("data-percent", "100")
    point = chart.locator("circle.kf-point").last
    point.hover()
    expect(point.locator("title")).to_have_text(re.compile(r"^worker \d · epoch 2: loss = [\d.]+$"))
    assert log.inner_text().count("epoch 1: ") == 2  # one line a worker, its last state
    expect(view).to_contain_text(re.compile(r"ui-bars succeeded in \d+(\.\d)?s"))
    train.screenshot(path=str(screenshots / "kf-train-progress-succeeded.png"))


def looks(page) -> int:
    return int(page.evaluate("document.body.dataset.kfNotifierLooks || '0'"))


def wait_for_looks(page, count: int) -> None:
    page.wait_for_function(f"Number(document.body.dataset.kfNotifierLooks || 0) >= {count}", timeout=30_000)


def test_a_job_that_ends_raises_a_notification(lab, page, tmp_path, screenshots):
    base, token = lab
    panel = open_panel(page, base, token)
    wait_for_looks(page, 1)  # the notifier has taken its first look: what ends from now on is announced
    gate = tmp_path / "go"
    job = api.train(f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\n"
                    "raise ValueError('learning rate 10.0 is too large')", name="ui-note-bad")
    rows = section(panel, "jobs").locator(".jp-KFPanel-item")
    expect(rows.filter(has_text="ui-note-bad")).to_have_count(1, timeout=15_000)
    gate.write_text("")
    assert job.wait(timeout=30).phase == "Failed"
    toast = page.locator(".Toastify__toast", has_text="ui-note-bad")
    expect(toast).to_contain_text("Job ui-note-bad failed: ValueError: learning rate 10.0 is too large",
                                  timeout=15_000)
    expect(toast).to_be_in_viewport(ratio=1)  # slid in whole: the screenshot shows it
    shot = screenshots / "kf-notification.png"
    page.screenshot(path=str(shot))
    save_docs_image(shot, "kf-notification.png")
    toast.locator(".jp-toast-button", has_text="Show log").click()
    expect(page.locator(".jp-MainAreaWidget:not(.lm-mod-hidden)", has_text="learning rate 10.0")).to_be_visible(
        timeout=15_000)

    api.train("print('done')", name="ui-note-ok").wait(timeout=30)
    expect(page.locator(".Toastify__toast", has_text="ui-note-ok")).to_contain_text(
        re.compile(r"Job ui-note-ok succeeded in \d+\.\d s"), timeout=15_000)


def test_the_setting_turns_notifications_off(start_lab, page):
    base, token = start_lab(user_settings={"jupyter-kf:plugin": {"notifications": False}})
    open_panel(page, base, token)
    wait_for_looks(page, 1)
    api.train("print('quiet')", name="ui-note-quiet").wait(timeout=30)
    seen = looks(page)
    wait_for_looks(page, seen + 2)  # two looks after the job had ended: either would have announced it
    expect(page.locator(".Toastify__toast", has_text="ui-note-quiet")).to_have_count(0)


def test_a_job_that_ends_while_the_panel_is_hidden_is_announced(lab, page):
    base, token = lab
    open_panel(page, base, token)
    page.click('.jp-SideBar.jp-mod-left li[data-id="filebrowser"]')  # the user goes elsewhere
    expect(page.locator("#jupyter-kf-panel")).to_be_hidden()
    seen = looks(page)
    wait_for_looks(page, seen + 1)  # the notifier looks by itself now that the panel does not list
    api.train("print('elsewhere')", name="ui-note-away").wait(timeout=30)
    expect(page.locator(".Toastify__toast", has_text="ui-note-away")).to_contain_text(
        re.compile(r"Job ui-note-away succeeded in \d+\.\d s"), timeout=15_000)
