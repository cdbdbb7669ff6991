"""The sidebar's Experiments and Data sections in a real JupyterLab and Chromium: a search's progress, best value,
badge, trials table, Stop and Delete, the notification when it ends; datasets with versions and lineage, a
version a job reads deleted only when asked twice; volumes on the emulated cluster with size and mounts."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

import jupyter_kf as kf
from jupyter_kf.experiments import api as experiments
from tests.support.helpers import read_by_job, two_versions, volumes_on
from tests.ui.conftest import open_panel, save_docs_image, section
from tests.ui.test_progress_and_notifications import wait_for_looks

pytestmark = pytest.mark.ui
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="module")
def built_bundle():
    """These tests drive the labextension JupyterLab serves: refuse one built before its sources last changed."""
    built = REPO / "jupyter_kf" / "labextension" / "package.json"
    sources = [p for folder in ("src", "style", "schema") for p in (REPO / "labextension" / folder).rglob("*")
               if p.is_file()]
    newest = max(sources, key=lambda p: p.stat().st_mtime)
    if not built.exists() or built.stat().st_mtime < newest.stat().st_mtime:
        pytest.fail(f"the labextension bundle is older than {newest.relative_to(REPO)}: run `jlpm build` "
                    "(or `pip install -e .`) first")


def item(panel, kind, name):
    return panel.locator(f'.jp-KFPanel-item[data-{kind}="{name}"]')


def gated(gate) -> str:
    """A trial that waits for ``gate`` (a file) and then prints its loss: the test decides when trials end."""
    return (f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\n"
            "print(f'loss={(x - 2) ** 2}')")


@pytest.fixture
def searches(tmp_path):
    """ui-grid (5 trials, ends when its gate opens) and ui-stuck (2 trials that never end), both running."""
    gate = tmp_path / "go"
    grid = experiments.tune(gated(gate), params=["x=int(0,4)"], objective="loss", trials=5, parallel=5,
                            algorithm="grid", name="ui-grid", backend="local", user_ns={}, wait=False)
    stuck = experiments.tune(gated(tmp_path / "never"), params=["x=int(0,9)"], objective="loss", trials=2,
                             parallel=2, algorithm="random", name="ui-stuck", backend="local", user_ns={},
                             wait=False)
    yield gate, grid, stuck
    for search in experiments.experiments("local"):
        if not search.done:
            experiments.experiment(search.name, "local").stop()


def test_experiments_progress_best_value_trials_stop_delete_and_notification(lab, page, searches, screenshots):
    gate, grid, stuck = searches
    base, token = lab
    panel = open_panel(page, base, token)
    wait_for_looks(page, 1)  # the notifier has looked: a search ending from now on is announced
    row = item(panel, "experiment", "ui-grid")
    badge = row.locator(".jp-KFPanel-badge")
    expect(badge).to_have_attribute("data-phase", "Running", timeout=20_000)
    expect(row.locator(".jp-KFProgress")).to_contain_text("0/5 trials · 5 running", timeout=20_000)
    expect(row.locator(".jp-KFProgress")).to_have_attribute("data-percent", "0")
    expect(row.locator(".jp-KFPanel-resources")).to_have_text("minimize loss · grid")
    expect(row.locator(".jp-KFPanel-message")).to_have_text("no result yet")
    expect(row.get_by_role("button", name="Stop experiment ui-grid")).to_be_visible()
    expect(row.get_by_role("button", name="Attach", exact=False)).to_be_hidden()  # nothing to bring back yet

    gate.write_text("")
    expect(badge).to_have_attribute("data-phase", "Succeeded", timeout=60_000)
    expect(row.locator(".jp-KFProgress")).to_have_attribute("data-percent", "100")
    expect(row.locator(".jp-KFPanel-message")).to_have_text("best loss = 0 · x=2")
    expect(row.locator(".jp-KFProgress")).to_have_text(re.compile(r"5/5 trials$"))
    expect(row.get_by_role("button", name="Stop experiment ui-grid")).to_be_hidden()
    toast = page.locator(".Toastify__toast", has_text="Search ui-grid")
    expect(toast).to_contain_text("Search ui-grid succeeded: 5/5 trials, best loss = 0 (x=2)", timeout=15_000)
    expect(page.locator(".Toastify__toast", has_text="Job ui-grid-")).to_have_count(0)  # its trials: no toast each
    # Its trials are jobs too: the Jobs section says whose.
    expect(item(panel, "job", "ui-grid-000").locator(".jp-KFPanel-message")).to_have_text("trial of experiment ui-grid")
    experiments_section = section(panel, "experiments")
    experiments_section.scroll_into_view_if_needed()
    shot = screenshots / "sidebar-experiments.png"
    experiments_section.screenshot(path=str(shot))
    save_docs_image(shot, "sidebar-experiments.png")

    toast.locator(".jp-toast-button", has_text="Show trials").click()
    dialog = page.locator(".jp-Dialog")
    table = dialog.get_by_role("table", name="Trials of ui-grid")
    expect(table.locator("tbody tr")).to_have_count(5)
    expect(table.locator("th")).to_have_text(["#", "x", "status", "loss", "seconds"])
    best = table.locator("tr.jp-mod-best")
    expect(best).to_have_count(1)
    expect(best.locator("td").nth(1)).to_have_text("2")
    expect(best.locator(".jp-KFTrials-objective")).to_have_text("0")
    expect(dialog.locator(".jp-KFTrials-summary")).to_contain_text("Succeeded · 5/5 trials · 0 running")
    shot = screenshots / "sidebar-experiment-trials.png"
    page.screenshot(path=str(shot))
    save_docs_image(shot, "sidebar-experiment-trials.png")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)

    # Attach brings the best trial's results into a notebook: with none open, the section says so.
    row.get_by_role("button", name="Attach the best results of experiment ui-grid to the notebook").click()
    expect(section(panel, "experiments").locator(".jp-KFPanel-noticeText")).to_have_text(
        "Open a notebook to attach the best results of ui-grid: no notebook is active.")

    stuck_row = item(panel, "experiment", "ui-stuck")
    expect(stuck_row.locator(".jp-KFProgress")).to_contain_text("0/2 trials · 2 running")
    stuck_row.get_by_role("button", name="Stop experiment ui-stuck").click()
    expect(stuck_row.locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Cancelled", timeout=20_000)
    expect(stuck_row.locator(".jp-KFProgress")).not_to_contain_text("running")
    assert stuck.status().phase == "Cancelled"
    assert {kf.job(t.name).status().phase for t in stuck.status().trials} == {"Cancelled"}

    row.get_by_role("button", name="Delete experiment ui-grid").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Its 5 trials are deleted with their logs and results")
    dialog.get_by_role("button", name="Cancel").click()
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Delete experiment ui-grid").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete", exact=True).click()
    expect(row).to_have_count(0, timeout=20_000)
    assert [s.name for s in experiments.experiments("local")] == ["ui-stuck"]


@pytest.fixture
def mnist(tmp_path):
    """mnist@1 and mnist@2; job ui-reader read version 1."""
    two_versions(tmp_path, "v2, longer\n")
    kf.data.put("clean", {"rows": [1, 2, 3]})
    read_by_job("ui-reader")


def test_datasets_with_versions_lineage_and_deletes_confirmed(lab, page, mnist, screenshots):
    base, token = lab
    panel = open_panel(page, base, token)
    data = section(panel, "data")
    row = item(panel, "item", "dataset/mnist")
    expect(row.locator(".jp-KFPanel-name")).to_have_text("mnist", timeout=20_000)
    expect(row.locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "v2")
    expect(row.locator(".jp-KFPanel-resources")).to_have_text("2 versions · 1 file · 11 B")
    versions = row.locator('.jp-KFPanel-subitem[data-kind="version"]')
    expect(versions).to_have_text([re.compile(r"^v1 · 1 file · 3 B"), re.compile(r"^v2 · 1 file · 11 B")])
    expect(row.locator('.jp-KFPanel-subitem[data-kind="lineage"]')).to_have_text(
        ["v1 → read by job ui-reader at data"])
    expect(item(panel, "item", "dataset/clean").locator(".jp-KFPanel-message")).to_have_text(
        "no job has read or written it yet")
    data.scroll_into_view_if_needed()
    shot = screenshots / "sidebar-data.png"
    data.screenshot(path=str(shot))
    save_docs_image(shot, "sidebar-data.png")

    # Version 1 is read by a job: the first answer asks again, and only "Delete anyway" deletes it.
    row.get_by_role("button", name="Delete version mnist@1").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Delete mnist@1?")
    dialog.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.locator(".jp-Dialog", has_text="mnist@1 is in use")
    expect(dialog).to_contain_text("mnist@1 is read by job ui-reader, which is still there. Delete it anyway?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    assert [v.version for v in kf.data.show("mnist").versions] == [1, 2]

    row.get_by_role("button", name="Delete version mnist@1").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete", exact=True).click()
    page.locator(".jp-Dialog", has_text="mnist@1 is in use").get_by_role("button", name="Delete anyway").click()
    expect(versions).to_have_count(1, timeout=20_000)
    expect(row.locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "v2")
    assert [v.version for v in kf.data.show("mnist").versions] == [2]

    row.get_by_role("button", name="Delete dataset mnist").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Every version is deleted")
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(row).to_have_count(0, timeout=20_000)
    assert [r["name"] for r in kf.data.list().rows] == ["clean"]
    expect(data.locator(".jp-KFPanel-noticeText")).to_be_hidden()


def test_volumes_on_a_cluster_with_size_mounts_and_delete(kf_cluster, kubeconfig_path, start_lab, page, screenshots):
    volumes_on(kf_cluster, size="5Gi", access_mode="ReadWriteMany")
    base, token = start_lab(env={"KUBECONFIG": str(kubeconfig_path), "JUPYTER_KF_BACKEND": "kubernetes"})
    panel = open_panel(page, base, token)
    expect(panel.get_by_label("Backend")).to_have_value("kubernetes")
    scratch = item(panel, "item", "volume/scratch")
    expect(scratch.locator(".jp-KFPanel-resources")).to_have_text("5Gi · ReadWriteMany", timeout=20_000)
    expect(scratch.locator(".jp-KFPanel-where")).to_have_text("PersistentVolumeClaim · default")
    expect(scratch.locator('.jp-KFPanel-subitem[data-kind="mount"]')).to_have_text(
        ["mounted by pod lab-0 (StatefulSet lab)"])
    theirs = item(panel, "item", "volume/theirs")
    expect(theirs.locator(".jp-KFPanel-message")).to_have_text("not made by jupyter_kf")
    expect(theirs.locator('.jp-KFPanel-subitem[data-kind="mount"]')).to_have_text(["not mounted by any pod"])
    data = section(panel, "data")
    data.scroll_into_view_if_needed()
    shot = screenshots / "sidebar-volumes.png"
    data.screenshot(path=str(shot))
    save_docs_image(shot, "sidebar-volumes.png")

    scratch.get_by_role("button", name="Delete volume scratch").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Kubernetes keeps it until the pod that mounts it ends.")
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(scratch).to_have_count(0, timeout=20_000)
    theirs.get_by_role("button", name="Delete volume theirs").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("jupyter_kf did not make it")
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(theirs).to_have_count(0, timeout=20_000)
    assert kf_cluster.list_objects("", "v1", "persistentvolumeclaims", "default") == []


def test_the_notifications_setting_also_silences_searches(start_lab, page, tmp_path):
    from tests.ui.test_progress_and_notifications import looks

    base, token = start_lab(user_settings={"jupyter-kf:plugin": {"notifications": False}})
    panel = open_panel(page, base, token)
    wait_for_looks(page, 1)
    open_gate = tmp_path  # exists: the trials end at once
    search = experiments.tune(gated(open_gate), params=["x=int(1,2)"], objective="loss", trials=2, parallel=2,
                              algorithm="grid", name="ui-quiet", backend="local", user_ns={})
    assert search.status().phase == "Succeeded"
    expect(item(panel, "experiment", "ui-quiet").locator(".jp-KFPanel-badge")).to_have_attribute(
        "data-phase", "Succeeded", timeout=40_000)
    seen = looks(page)
    wait_for_looks(page, seen + 2)  # two looks after the search had ended: either would have announced it
    expect(page.locator(".Toastify__toast", has_text="ui-quiet")).to_have_count(0)


def test_a_failed_search_says_why_and_opens_the_failed_trials_log(lab, page, tmp_path):
    base, token = lab
    panel = open_panel(page, base, token)
    wait_for_looks(page, 1)
    gate = tmp_path / "go"
    cell = (f"import os, time\nwhile not os.path.exists({str(gate)!r}):\n    time.sleep(0.05)\n"
            "raise ValueError(f'lr {x} is too big')")
    search = experiments.tune(cell, params=["x=int(1,2)"], objective="loss", trials=2, parallel=2, algorithm="grid",
                              name="ui-bad", backend="local", user_ns={}, wait=False)
    row = item(panel, "experiment", "ui-bad")
    expect(row.locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Running", timeout=20_000)
    gate.write_text("")
    expect(row.locator(".jp-KFPanel-badge")).to_have_attribute("data-phase", "Failed", timeout=60_000)
    assert search.status().phase == "Failed"
    expect(row.locator(".jp-KFPanel-message")).to_contain_text("no trial reported loss=<number>")
    toast = page.locator(".Toastify__toast", has_text="Search ui-bad failed")
    expect(toast).to_contain_text("is too big", timeout=15_000)
    toast.locator(".jp-toast-button", has_text="Failed trial log").click()
    expect(page.locator(".jp-MainAreaWidget:not(.lm-mod-hidden)", has_text="is too big")).to_be_visible(
        timeout=15_000)
