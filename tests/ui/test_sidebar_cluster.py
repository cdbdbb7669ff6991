"""The sidebar against a cluster (the Kubernetes API emulator as the user's kubeconfig): cluster jobs with
their kind, namespace and GPUs, the backend and namespace selectors, a namespace without permission (what
and where), and Cancel on the cluster."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from jupyter_kf.training import api
from tests.support.helpers import wait_for_phase, waits_for
from tests.ui.conftest import open_panel, save_docs_image, section

pytestmark = pytest.mark.ui



@pytest.fixture
def cluster(simulated_cluster):
    kf_cluster = simulated_cluster
    kf_cluster.create_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    return kf_cluster


def row(panel, name):
    return panel.locator(f'.jp-KFPanel-item[data-job="{name}"]')


@pytest.mark.simulated(gpus=2)
def test_cluster_jobs_selectors_permission_and_cancel(cluster, kubeconfig_path, start_lab, page, screenshots, tmp_path):
    assert api.train("print('done')", name="ui-k8s-done", user_ns={}, workers=2).wait(timeout=60).phase == "Succeeded"
    gpu_job = api.train(waits_for(tmp_path / "never", "print('done')"), name="ui-k8s-gpu", user_ns={}, gpus=2)
    wait_for_phase(gpu_job, "Running", timeout=60)  # Running until cancelled
    cluster.deny("list", "pods", namespace="team-a")

    base, token = start_lab(
        env={"KUBECONFIG": str(kubeconfig_path), "JUPYTER_KF_BACKEND": "kubernetes"},
        args=["--KfServer.namespaces=default", "--KfServer.namespaces=team-a"],
    )
    panel = open_panel(page, base, token)
    backend = panel.get_by_label("Backend")
    namespace = panel.get_by_label("Namespace")
    expect(backend).to_have_value("kubernetes")
    expect(namespace).to_have_value("default")
    expect(namespace.locator("option")).to_have_text(["default", "team-a"])

    gpu = row(panel, "ui-k8s-gpu")
    expect(gpu.locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Running", timeout=20_000)
    expect(gpu).to_contain_text("1 worker · 2 GPUs")
    expect(gpu.locator(".jp-KFPanel-where")).to_have_text("TrainJob · default")
    done = row(panel, "ui-k8s-done")
    expect(done.locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Succeeded", timeout=20_000)
    expect(done).to_contain_text("2 workers")
    shot = screenshots / "sidebar-cluster.png"
    page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 760, "height": 520})
    save_docs_image(shot, "sidebar-cluster.png")

    # No permission in team-a: the panel says what was refused and where.
    namespace.select_option("team-a")
    error = section(panel, "jobs").locator(".jp-KFPanel-error")
    expect(error).to_contain_text("not allowed to list pods in namespace 'team-a'", timeout=20_000)
    expect(error).to_contain_text("ask a cluster admin to grant it")
    expect(section(panel, "jobs").locator(".jp-KFPanel-item")).to_have_count(0)
    shot = screenshots / "sidebar-forbidden.png"
    page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 760, "height": 420})
    save_docs_image(shot, "sidebar-forbidden.png")

    # The local backend, next to the cluster.
    backend.select_option("local")
    expect(namespace).to_be_hidden()
    expect(section(panel, "jobs").locator(".jp-KFPanel-empty")).to_contain_text("No jobs on this machine")

    backend.select_option("kubernetes")
    namespace.select_option("default")
    gpu.get_by_role("button", name="Cancel job ui-k8s-gpu").click()
    expect(gpu.locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Cancelled", timeout=20_000)
    assert cluster.list_objects("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default", ) and all(
        o["metadata"]["name"] != "ui-k8s-gpu"
        for o in cluster.list_objects("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default"))


def test_cluster_notebook_server_and_model_forms(cluster, kubeconfig_path, start_lab, page, screenshots):
    base, token = start_lab(env={"KUBECONFIG": str(kubeconfig_path), "JUPYTER_KF_BACKEND": "kubernetes"})
    panel = open_panel(page, base, token)
    expect(panel.get_by_label("Namespace")).to_have_value("default")

    servers = section(panel, "notebooks")
    servers.get_by_role("button", name="New notebook server").click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_label("Name").fill("gpu-lab")
    dialog.get_by_label("CPU").fill("2")
    dialog.get_by_label("Memory").fill("8Gi")
    dialog.get_by_label("GPUs").fill("1")
    dialog.get_by_label("Workspace").fill("10Gi")
    dialog.get_by_role("button", name="Create").click()
    server = panel.locator('.jp-KFPanel-item[data-notebook="gpu-lab"]')
    expect(server).to_be_visible(timeout=20_000)
    expect(server).to_contain_text("2 CPU · 8Gi · 1 GPU")
    expect(server.locator(".jp-KFPanel-where")).to_contain_text("default")
    expect(server.locator(".jp-KFPanel-badge")).to_have_attribute("data-tone", "pending")

    models = section(panel, "models")
    models.get_by_role("button", name="Deploy a model from a URI").click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_label("Name").fill("iris")
    dialog.get_by_label("Model URI").fill("s3://models/iris")
    dialog.get_by_label("Format").fill("sklearn")
    dialog.get_by_role("button", name="Deploy").click()
    model = panel.locator('.jp-KFPanel-item[data-model="iris"]')
    expect(model).to_be_visible(timeout=20_000)
    expect(model.locator(".jp-KFPanel-where")).to_have_text("InferenceService · default")
    expect(model).to_contain_text("sklearn")
    assert cluster.list_objects("serving.kserve.io", "v1beta1", "inferenceservices", "default")
    shot = screenshots / "sidebar-cluster-forms.png"
    page.screenshot(path=str(shot), clip={"x": 0, "y": 0, "width": 760, "height": 700})
    save_docs_image(shot, "sidebar-cluster-forms.png")

    server.get_by_role("button", name="Delete notebook server gpu-lab").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete, keep workspace").click()
    expect(server).to_have_count(0, timeout=20_000)
    model.get_by_role("button", name="Undeploy model iris").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Undeploy").click()
    expect(model).to_have_count(0, timeout=20_000)
    assert cluster.list_objects("serving.kserve.io", "v1beta1", "inferenceservices", "default") == []
