"""A real JupyterLab server in a subprocess and headless Debian Chromium driven by pip Playwright.

Browsers cannot be downloaded here: Playwright uses ``/usr/bin/chromium`` (``make test`` apt-installs it).
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"


# pytest-jupyter's autouse loop fixtures would close Playwright's running sync-API loop at teardown
# ("Cannot close a running event loop"); these tests start their own server, so they need neither.
@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield


@pytest.fixture
def start_lab(tmp_path, kf_state_dir):
    """Start JupyterLab (once per call, stopped at teardown); returns (base_url, token).

    ``env`` adds environment variables (a kubeconfig, a backend), ``args`` server flags
    (``--KfServer.namespaces=...``), ``theme`` a JupyterLab theme name (e.g. "JupyterLab Dark"),
    ``user_settings`` the user's JupyterLab settings by plugin id (``{"jupyter-kf:plugin": {...}}``).
    """
    procs = []

    def start(env: dict | None = None, args: list[str] | None = None, theme: str | None = None,
              user_settings: dict[str, dict] | None = None):
        token = secrets.token_hex(16)
        port = _free_port()
        home = tmp_path / f"lab-home-{len(procs)}"
        settings = home / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        # No "get notified about Jupyter news?" toast over the sidebar.
        (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
        if theme:
            (settings / "themes.jupyterlab-settings").write_text(json.dumps({"theme": theme}))
        for plugin_id, values in (user_settings or {}).items():
            package, plugin = plugin_id.split(":")
            path = home / "settings" / package / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        root = tmp_path / "notebooks"
        root.mkdir(exist_ok=True)
        full_env = {
            **os.environ,
            "JUPYTER_KF_STATE_DIR": str(kf_state_dir),
            "JUPYTER_KF_BACKEND": "local",
            "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            **(env or {}),
        }
        log_path = tmp_path / f"jupyterlab-{len(procs)}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                    "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
                    f"--ServerApp.root_dir={root}", "--LabApp.extension_manager=readonly",
                    "--ServerApp.port_retries=0", *(args or []),
                ],
                stdout=log, stderr=subprocess.STDOUT, env=full_env,
            )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(proc, base, token, log_path)
        page_html = _get(f"{base}/lab?token={token}")
        if '"jupyter-kf"' not in page_html:
            pytest.fail(
                "JupyterLab does not list the jupyter-kf labextension: build and install it with "
                "`pip install -e .` (or `make test`)."
            )
        return base, token

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def lab(start_lab):
    """JupyterLab on a free loopback port, seeing the test's job registry; yields (base_url, token)."""
    return start_lab()


@pytest.fixture
def page():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(`make test` installs it; or `apt-get install -y chromium`)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def open_panel(page, base, token, path="lab"):
    """Open JupyterLab (``path``: "lab" or "lab/tree/<notebook>") and the Kubeflow panel; returns the panel."""
    from playwright.sync_api import expect

    page.goto(f"{base}/{path}?token={token}")
    page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=30_000)
    news = page.get_by_role("button", name="No")
    if news.count():
        news.first.click()
    page.click('.jp-SideBar.jp-mod-left li[data-id="jupyter-kf-panel"]')
    panel = page.locator("#jupyter-kf-panel")
    expect(panel).to_be_visible()
    return panel


def section(panel, name):
    """One section of the panel: jobs, notebooks, models or pipelines."""
    return panel.locator(f'section[data-section="{name}"]')


def save_docs_image(shot: Path, name: str) -> None:
    """Copy a screenshot into docs/images for the README (first time, or with KF_UPDATE_DOCS_IMAGES=1)."""
    import shutil

    target = REPO / "docs" / "images" / name
    if not target.exists() or os.environ.get("KF_UPDATE_DOCS_IMAGES"):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


@pytest.fixture
def screenshots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def _wait_for_server(proc, base: str, token: str, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            _get(f"{base}/api/status?token={token}")
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"JupyterLab did not answer within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")
