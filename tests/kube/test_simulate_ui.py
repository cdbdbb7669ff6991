"""``make cluster-demo`` as a newcomer sees it: JupyterLab on the kubernetes backend against the simulating
emulator, the quickstart run from the browser; its %%kf_train cell ends as a TrainJob on the simulated cluster and
the Kubeflow panel lists it. The screenshot goes to artifacts/screenshots and (first time) docs/images."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys

import pytest

from tests.kube.simulated_cluster import REPO, SimulatedCluster, eventually
from tests.ui.conftest import page  # noqa: F401 - headless Debian Chromium, the UI tests' fixture

pytestmark = pytest.mark.ui


@pytest.fixture
def cluster_lab(tmp_path, kf_state_dir):
    """The simulating emulator and a JupyterLab whose kernels use it; yields (base, token, cluster)."""
    import urllib.request

    from tests.ui.conftest import _free_port

    cluster = SimulatedCluster(tmp_path).wait_ready()
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copy(REPO / "examples" / "quickstart.ipynb", root)
    token, port = secrets.token_hex(16), _free_port()
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "JUPYTER_KF_BACKEND": "kubernetes",
           "JUPYTER_KF_STATE_DIR": str(kf_state_dir), "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = (tmp_path / "lab.log").open("wb")
    lab = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
                            f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                            "--LabApp.extension_manager=readonly", "--ServerApp.port_retries=0"],
                           stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"

    def answers():
        try:
            return urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5).status == 200
        except OSError:
            return lab.poll() is not None and pytest.fail((tmp_path / "lab.log").read_text())
    eventually(answers, timeout=90, interval=0.2, what="JupyterLab to answer")
    yield base, token, cluster
    lab.terminate()
    lab.wait(timeout=30)
    log.close()
    cluster.stop()


def test_the_quickstart_runs_on_the_simulated_cluster_from_jupyterlab(cluster_lab, page):  # noqa: F811 - the fixture
    from playwright.sync_api import expect

    from tests.ui.conftest import SCREENSHOTS, save_docs_image, section
    from tests.ui.test_cell_view import open_notebook, run_all

    base, token, cluster = cluster_lab
    notebook = open_notebook(page, base, token, "quickstart.ipynb")
    run_all(page, notebook)
    train = notebook.locator(".jp-CodeCell").nth(2)
    view = train.locator(".kf-job-view")
    expect(view).to_contain_text("fit-1", timeout=60_000)
    expect(view.locator(".kf-badge").first).to_have_attribute("data-phase", "Succeeded", timeout=180_000)
    expect(notebook.locator(".jp-CodeCell").nth(3)).to_contain_text("R^2 =", timeout=60_000)
    page.click('.jp-SideBar.jp-mod-left li[data-id="jupyter-kf-panel"]')  # the panel, outputs kept
    panel = page.locator("#jupyter-kf-panel")
    expect(section(panel, "jobs")).to_contain_text("fit-1", timeout=30_000)
    expect(section(panel, "jobs")).to_contain_text("TrainJob")
    expect(section(panel, "jobs")).to_contain_text("fit-short", timeout=120_000)  # the last cell's job
    for phase in ("Pending", "Running"):
        expect(section(panel, "jobs")).not_to_contain_text(phase, timeout=120_000)
    train.locator(".kf-job-view").scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "cluster-demo.png"
    page.screenshot(path=str(shot))
    save_docs_image(shot, "cluster-demo.png")
    from kubernetes import client

    api = cluster.client()
    trainjob = client.CustomObjectsApi(api).get_namespaced_custom_object("trainer.kubeflow.org", "v1alpha1", "default",
                                                                          "trainjobs", "fit-1")
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in trainjob["status"]["conditions"])
    api.close()
