"""The notebook-server form (``%kf_notebook`` alone) in a real JupyterLab and Chromium: a bad field is one
red line, Launch starts a local server and the live view under the form turns Ready with its link."""
from __future__ import annotations

import os
import shutil

import pytest
from playwright.sync_api import expect

from tests.ui.test_cell_view import open_notebook, run_all, write_notebook

pytestmark = pytest.mark.ui

DOCS_IMAGE = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "images", "notebook-form.png")


@pytest.fixture
def no_servers_left(kf_state_dir):
    """The kernel in JupyterLab starts a real local server: it goes when the test ends."""
    yield
    from jupyter_kf.notebooks.backends.local import LocalNotebooks

    local = LocalNotebooks()
    for status in local.list():
        local.delete(status.name, keep_workspace=False)


def field(form, css, label):
    return form.locator(css, has=form.page.locator("label", has_text=label)).locator("input, textarea").first


def test_form_launches_a_server_and_shows_it_live(lab, page, tmp_path, screenshots, no_servers_left):
    base, token = lab
    write_notebook(tmp_path / "notebooks", "servers.ipynb", ["%load_ext jupyter_kf", "%kf_notebook"])
    notebook = open_notebook(page, base, token, "servers.ipynb")
    run_all(page, notebook)

    form = notebook.locator(".jp-Cell").nth(1).locator(".kf-notebook-form")
    expect(form).to_be_visible(timeout=30_000)
    expect(form).to_contain_text("New notebook server")
    expect(form).to_contain_text("on the local backend")
    field(form, ".widget-text", "Name").fill("scratch")
    field(form, ".widget-text", "Memory").fill("lots")
    field(form, ".widget-textarea", "Data volumes").fill("datasets:/data")
    launch = form.get_by_role("button", name="Launch")
    launch.click()
    expect(form).to_contain_text("--memory 'lots' is not a Kubernetes quantity", timeout=15_000)
    expect(form.locator(".kf-notebook-view")).to_have_count(0)

    field(form, ".widget-text", "Memory").fill("2Gi")
    launch.click()
    view = form.locator(".kf-notebook-view")
    expect(view).to_be_visible(timeout=15_000)
    expect(view.locator(".kf-badge")).to_contain_text("Ready", timeout=90_000)
    link = view.get_by_role("link", name="open scratch")
    expect(link).to_be_visible()
    assert "/lab?token=" in (link.get_attribute("href") or "")
    expect(form).not_to_contain_text("is not a Kubernetes quantity")

    shot = screenshots / "notebook-form.png"
    form.screenshot(path=str(shot))
    if not os.path.exists(DOCS_IMAGE) or os.environ.get("KF_UPDATE_DOCS_IMAGES"):
        os.makedirs(os.path.dirname(DOCS_IMAGE), exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGE)


def test_sidebar_form_gives_a_server_dataset_versions(lab, page, tmp_path, screenshots, no_servers_left):
    """The sidebar's New notebook server form has a Datasets field: an unknown dataset is one line and makes
    nothing; a pinned version becomes a read-only view in the server's workspace, traced to the server."""
    import jupyter_kf as kf
    from jupyter_kf import notebooks
    from tests.support.helpers import two_versions
    from tests.ui.conftest import open_panel, section

    two_versions(tmp_path)
    base, token = lab
    panel = open_panel(page, base, token)
    servers = section(panel, "notebooks")
    servers.get_by_role("button", name="New notebook server").click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_label("Name").fill("ui-data")
    dialog.get_by_label("Datasets").fill("nope:data")
    dialog.get_by_role("button", name="Create").click()
    expect(servers.locator(".jp-KFPanel-noticeText")).to_contain_text("no dataset named 'nope'", timeout=20_000)
    assert notebooks.list(backend="local") == []

    servers.get_by_role("button", name="New notebook server").click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_label("Name").fill("ui-data")
    dialog.get_by_label("Datasets").fill("mnist@1:data")
    page.screenshot(path=str(screenshots / "sidebar-notebook-datasets.png"))
    dialog.get_by_role("button", name="Create").click()
    row = panel.locator('.jp-KFPanel-item[data-notebook="ui-data"]')
    expect(row.locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Ready", timeout=90_000)
    assert "mnist@1 -> read by notebook server ui-data at" in repr(kf.data.show("mnist"))
    spec = next(s for s in notebooks.list(backend="local") if s.name == "ui-data")
    assert spec.phase == "Ready"
