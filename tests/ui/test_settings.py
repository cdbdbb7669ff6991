"""The panel's preferences (plugin ``jupyter-kf:plugin``) in a real JupyterLab and Chromium: listed in
the Settings Editor, read at start (user settings file) and applied live when edited there: the poll
follows a new refresh interval, a new default backend is selected, a log tab keeps as many lines as set."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from jupyter_kf.training import api
from tests.ui.conftest import open_panel, save_docs_image, section

pytestmark = pytest.mark.ui

PLUGIN_ID = "jupyter-kf:plugin"


class JobsRequests:
    """The panel's listings of jobs (GET /jupyter-kf/api/jobs) as the browser sends them."""

    def __init__(self, page):
        self.page = page
        self.seen: list[dict[str, list[str]]] = []
        page.on("request", self._on_request)

    def _on_request(self, request):
        if self._is_listing(request):
            self.seen.append(parse_qs(urlparse(request.url).query))

    @staticmethod
    def _is_listing(request) -> bool:
        return request.method == "GET" and urlparse(request.url).path.endswith("/jupyter-kf/api/jobs")

    def wait(self, count: int, timeout: float) -> None:
        """Wait for ``count`` more listings, each within ``timeout`` seconds."""
        for _ in range(count):
            with self.page.expect_request(self._is_listing, timeout=timeout * 1000):
                pass

    def during(self, seconds: float) -> int:
        """How many listings the panel sends in the next ``seconds`` (the page keeps running)."""
        before = len(self.seen)
        self.page.wait_for_timeout(seconds * 1000)
        return len(self.seen) - before


def open_settings(page):
    """Settings → Settings Editor → Kubeflow; returns the plugin's form."""
    page.get_by_role("menuitem", name="Settings").click()
    page.get_by_role("menuitem", name="Settings Editor").click()
    page.locator(".jp-PluginList").get_by_role("tab", name="Kubeflow").click()
    form = page.locator(f'fieldset[id="jp-SettingsEditor-{PLUGIN_ID}"]')
    expect(form.locator("legend")).to_have_text("Kubeflow", timeout=15_000)
    return form


def field(form, name: str):
    """A preference's input (the editor's fields are titled by headings, not labels)."""
    return form.locator(f'[id="jp-SettingsEditor-{PLUGIN_ID}_{name}"]')


def set_field(form, name: str, value: str) -> None:
    field(form, name).fill(value)  # the editor saves the change by itself


def test_settings_editor_and_live_refresh_interval(start_lab, page, screenshots):
    api.train("for i in range(300):\n    print(f'line {i}')", name="ui-chatty", wait=True)
    base, token = start_lab(user_settings={PLUGIN_ID: {"refreshInterval": 3600, "logLines": 200}})
    jobs = JobsRequests(page)
    panel = open_panel(page, base, token)
    refresh = panel.get_by_role("button", name="Refresh jobs")
    expect(refresh).to_have_attribute("title", "Refresh (every 3600 s)")
    expect(panel.locator('.jp-KFPanel-item[data-job="ui-chatty"]')).to_be_visible(timeout=15_000)

    # The log tab keeps the last 200 lines, as the user settings file says.
    panel.get_by_role("button", name="Show logs of job ui-chatty").click()
    viewer = page.locator("#jupyter-kf-logs-ui-chatty")
    expect(viewer.locator(".jp-KFLog-state")).to_contain_text("end of log", timeout=20_000)
    expect(viewer.locator(".jp-KFLog-line")).to_have_count(200)
    expect(viewer.locator(".jp-KFLog-line").first).to_have_text("line 100")

    # Polled once an hour: the panel sends no listing of its own while the user works.
    assert jobs.during(4) == 0

    form = open_settings(page)
    expect(field(form, "refreshInterval")).to_have_value("3600")
    shot = screenshots / "settings-editor.png"
    page.screenshot(path=str(shot))
    save_docs_image(shot, "settings-editor.png")

    # Every second, from the moment it is saved: listings follow one another without a reload.
    set_field(form, "refreshInterval", "1")
    expect(refresh).to_have_attribute("title", "Refresh (every 1 s)", timeout=15_000)
    jobs.wait(3, timeout=5)

    # Back to once an hour: the listings stop (one already on its way may still land).
    set_field(form, "refreshInterval", "3600")
    expect(refresh).to_have_attribute("title", "Refresh (every 3600 s)", timeout=15_000)
    assert jobs.during(4) <= 1

    # The open log tab follows a lower limit at once: the oldest lines go.
    set_field(form, "logLines", "100")
    expect(viewer.locator(".jp-KFLog-line")).to_have_count(100, timeout=15_000)
    expect(viewer.locator(".jp-KFLog-line").first).to_have_text("line 200")


@pytest.fixture
def cluster(kf_cluster):
    kf_cluster.create_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    return kf_cluster


def test_default_namespace_and_backend(cluster, kubeconfig_path, start_lab, page):
    base, token = start_lab(
        env={"KUBECONFIG": str(kubeconfig_path), "JUPYTER_KF_BACKEND": "kubernetes"},
        args=["--KfServer.namespaces=default", "--KfServer.namespaces=team-a"],
        user_settings={PLUGIN_ID: {"defaultNamespace": "team-a"}},
    )
    jobs = JobsRequests(page)
    panel = open_panel(page, base, token)
    backend = panel.get_by_label("Backend")
    namespace = panel.get_by_label("Namespace")
    expect(backend).to_have_value("kubernetes")
    expect(namespace).to_have_value("team-a")  # the server's default is "default"
    expect(section(panel, "jobs").locator(".jp-KFPanel-empty")).to_contain_text("No jobs in namespace team-a")
    # The preference applied before the first listing: none went to the server's default namespace.
    assert jobs.seen and all(q.get("namespace") == ["team-a"] for q in jobs.seen)

    form = open_settings(page)
    field(form, "defaultBackend").select_option(label="local (this machine)")
    expect(backend).to_have_value("local", timeout=15_000)
    expect(namespace).to_be_hidden()
    expect(section(panel, "jobs").locator(".jp-KFPanel-empty")).to_contain_text("No jobs on this machine")
