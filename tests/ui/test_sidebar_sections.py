"""The sidebar's other sections in a real JupyterLab and Chromium, on the local backend: notebook servers
(create form, open, stop, start, delete with the workspace question), models (listed, deploy form, undeploy
confirmed), pipeline runs (live, steps and their logs), and the dark theme."""
from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect

from jupyter_kf.training import api
from tests.ui.conftest import open_panel, save_docs_image, section

pytestmark = pytest.mark.ui


def item(panel, kind, name):
    return panel.locator(f'.jp-KFPanel-item[data-{kind}="{name}"]')


def test_notebook_servers_create_open_stop_start_delete(lab, page, screenshots):
    base, token = lab
    panel = open_panel(page, base, token)
    servers = section(panel, "notebooks")
    expect(servers.locator(".jp-KFPanel-empty")).to_contain_text("No notebook servers on this machine")

    servers.get_by_role("button", name="New notebook server").click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_label("Name").fill("ui-nb")
    dialog.get_by_label("GPUs").fill("0")
    page.screenshot(path=str(screenshots / "sidebar-new-notebook.png"))
    dialog.get_by_role("button", name="Create").click()

    row = item(panel, "notebook", "ui-nb")
    try:
        badge = row.locator(".jp-KFPanel-badge")
        expect(badge).to_have_attribute("data-phase", "Ready", timeout=60_000)
        expect(row.locator(".jp-KFPanel-where")).to_have_text("local")
        shot = screenshots / "sidebar-notebooks.png"
        page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 760, "height": 520})
        save_docs_image(shot, "sidebar-notebooks.png")

        with page.expect_popup() as popup:
            row.get_by_role("button", name="Open notebook server ui-nb").click()
        assert popup.value.url.startswith("http://127.0.0.1:")
        popup.value.close()

        row.get_by_role("button", name="Stop notebook server ui-nb").click()
        expect(badge).to_have_attribute("data-phase", "Stopped", timeout=20_000)
        expect(row.get_by_role("button", name="Open notebook server ui-nb")).to_be_hidden()
        row.get_by_role("button", name="Start notebook server ui-nb").click()
        expect(badge).to_have_attribute("data-phase", "Ready", timeout=60_000)

        row.get_by_role("button", name="Delete notebook server ui-nb").click()
        dialog = page.locator(".jp-Dialog")
        expect(dialog).to_contain_text("Delete notebook server ui-nb?")
        expect(dialog).to_contain_text("workspace")
        page.screenshot(path=str(screenshots / "sidebar-notebook-delete.png"))
        dialog.get_by_role("button", name="Delete with workspace").click()
        expect(row).to_have_count(0, timeout=20_000)
    finally:
        from jupyter_kf import notebooks

        if any(s.name == "ui-nb" for s in notebooks.list(backend="local")):
            notebooks.delete("ui-nb", keep_workspace=False, backend="local")


def test_models_listed_deploy_form_and_undeploy(lab, page, screenshots):
    from sklearn.linear_model import LogisticRegression

    from jupyter_kf import serving

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    serving.deploy("ui-iris", model, backend="local", timeout=60)
    try:
        base, token = lab
        panel = open_panel(page, base, token)
        models = section(panel, "models")
        row = item(panel, "model", "ui-iris")
        expect(row.locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Ready", timeout=20_000)
        expect(row).to_contain_text("sklearn")
        expect(row.locator(".jp-KFPanel-message")).to_contain_text("http://127.0.0.1:")
        expect(row.get_by_role("button", name="Open the URL of model ui-iris")).to_be_visible()

        # A model from a URI is a cluster thing: on this machine the form's answer says so, in one line.
        models.get_by_role("button", name="Deploy a model from a URI").click()
        dialog = page.locator(".jp-Dialog")
        dialog.get_by_label("Name").fill("ui-remote")
        dialog.get_by_label("Model URI").fill("s3://models/iris")
        dialog.get_by_role("button", name="Deploy").click()
        expect(models.locator(".jp-KFPanel-noticeText")).to_contain_text("Could not deploy the model: the local backend serves models")
        shot = screenshots / "sidebar-models.png"
        page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 760, "height": 620})
        save_docs_image(shot, "sidebar-models.png")

        row.get_by_role("button", name="Undeploy model ui-iris").click()
        dialog = page.locator(".jp-Dialog")
        expect(dialog).to_contain_text("Its endpoint stops answering")
        dialog.get_by_role("button", name="Undeploy").click()
        expect(row).to_have_count(0, timeout=20_000)
        assert serving.models(backend="local") == []
    finally:
        if any(m.name == "ui-iris" for m in serving.models(backend="local")):
            serving.undeploy("ui-iris", backend="local")


def test_pipeline_runs_live_with_their_steps(lab, page, tmp_path, screenshots):
    from jupyter_kf.pipeline import run
    from tests.support.pipeline_helpers import write

    path = write(tmp_path, "flow.ipynb", ("import time\ntime.sleep(4)\nx = 21", ["step:prepare"]),
                 ("y = x * 2\nprint('y is', y)", ["step:train"]))
    base, token = lab
    panel = open_panel(page, base, token)
    runs = section(panel, "pipelines")
    expect(runs.locator(".jp-KFPanel-empty")).to_contain_text("No pipeline runs on this machine")

    done = threading.Event()
    thread = threading.Thread(target=lambda: (run(str(path), on_line=None), done.set()), daemon=True)
    thread.start()
    row = runs.locator(".jp-KFPanel-item")
    expect(row.locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Running", timeout=15_000)
    expect(row.locator('.jp-KFPanel-step[data-step="prepare"]')).to_be_visible(timeout=10_000)
    expect(row.get_by_role("button", name="Cancel pipeline run", exact=False)).to_be_visible()
    # Its steps are jobs: they show in the Jobs section, saying which run they belong to.
    expect(section(panel, "jobs").locator(".jp-KFPanel-item").first).to_contain_text("step prepare of pipeline run")

    expect(row.locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Succeeded", timeout=40_000)
    assert done.wait(10)
    expect(row.locator(".jp-KFPanel-step")).to_have_count(2)
    expect(row).to_contain_text("2/2 steps")
    shot = screenshots / "sidebar-pipelines.png"
    page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 760, "height": 800})
    save_docs_image(shot, "sidebar-pipelines.png")

    row.locator('.jp-KFPanel-step[data-step="train"]').click()
    viewer = page.locator(".jp-KFLog:visible")
    expect(viewer.get_by_role("log")).to_contain_text("y is 42", timeout=15_000)


def test_dark_theme_uses_jupyterlab_colours(start_lab, page, screenshots):
    api.train("x = 1", name="ui-dark-done", wait=True)
    api.train("raise SystemExit(2)", name="ui-dark-failed")
    base, token = start_lab(theme="JupyterLab Dark")
    panel = open_panel(page, base, token)
    expect(page.locator("body[data-jp-theme-light='false']")).to_be_attached(timeout=15_000)
    expect(item(panel, "job", "ui-dark-failed").locator(".jp-KFPanel-badge")).to_have_attribute(
        "data-phase", "Failed", timeout=20_000)
    background = panel.evaluate("n => getComputedStyle(n).backgroundColor")
    text = panel.evaluate("n => getComputedStyle(n).color")

    def luminance(rgb: str) -> float:
        r, g, b = [int(v) for v in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3]]
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255

    assert luminance(background) < 0.3 < 0.6 < luminance(text), (background, text)
    shot = screenshots / "sidebar-dark.png"
    page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 760, "height": 420})
    save_docs_image(shot, "sidebar-dark.png")


def test_keyboard_moves_between_rows_and_reaches_the_actions(lab, page):
    api.train("x = 1", name="ui-key-a", wait=True)
    api.train("x = 2", name="ui-key-b", wait=True)
    base, token = lab
    panel = open_panel(page, base, token)
    rows = section(panel, "jobs").locator(".jp-KFPanel-item")
    expect(rows).to_have_count(2)
    rows.first.focus()
    page.keyboard.press("ArrowDown")
    expect(rows.nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(rows.nth(0)).to_be_focused()
    page.keyboard.press("Tab")
    expect(rows.nth(0).get_by_role("button", name="Show logs of job", exact=False)).to_be_focused()
    # Every control has a name a screen reader can say.
    for control in panel.locator("button, select").all():
        if control.is_visible():
            assert control.get_attribute("aria-label") or control.inner_text().strip(), control.evaluate("n => n.outerHTML")
