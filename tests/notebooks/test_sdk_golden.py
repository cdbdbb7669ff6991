"""Our Kubeflow Notebooks against what the Kubeflow Notebooks v1.11.0 Jupyter web app creates, field by field.

The golden objects (tests/data/sdk_golden/notebook_*.json, made by generate_serving_notebook.py running the
web app backend's own code on the form's request body) are compared with what ``kf.notebook.create`` sends
(the emulator's recorded requests) for the same server. Volumes and mounts are compared by mount path
(their order and names are the pod's own business); every other difference must be listed below with its
reason, and every listed difference must still occur. A server made in the Kubeflow UI reads right in ours."""
import json
import re
from pathlib import Path

import pytest

from jupyter_kf import notebooks
from tests.support.golden import differences as field_differences

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "sdk_golden"
CASES = sorted(p.stem.removeprefix("notebook_") for p in GOLDEN.glob("notebook_*.json"))
NS = "team-a"
CREATOR = "ana@example.com"
POD = r"spec\.template\.spec"

INTENDED = {  # (kind, path pattern) -> why ours differs from the web app's
    ("Notebook", r"apiVersion"): "ours sends kubeflow.org/v1, the storage version; the web app v1beta1 (same schema, "
                                 "converted trivially by the CRD)",
    ("Notebook", r"metadata\.labels\.(app\.kubernetes\.io/managed-by|jupyter-kf\.io/.*)"):
        "ours labels what jupyter_kf made (managed-by, server, user) to find it again",
    ("Notebook", POD + r"\.containers\[0\]\.env"): "the web app's template carries an empty env list; ours sends none",
    ("Notebook", POD + r"\.tolerations"): "the web app's template carries an empty list",
    ("Notebook", POD + r"\.tolerations\[0\]\..*"):
        "ours lets a GPU server onto GPU nodes tainted with the GPU resource name; the web app tolerates only what an "
        "admin configured as a toleration group (none by default)",
    ("Notebook", POD + r"\.containers\[0\]\.ports\[0\]\..*"):
        "ours names Jupyter's port 8888; the controller's Service targets the first port or 8888 either way",
    ("Notebook", POD + r"\.volumeNames\..*"):
        "volume names are the pod's own: ours by role (workspace, dshm, data-N), the web app by claim name; our status "
        "finds the workspace by its mount path, so servers made either way read the same",
    ("PersistentVolumeClaim", r"apiVersion|kind"): "ours states them; the web app's typed client leaves them to the URL",
    ("PersistentVolumeClaim", r"metadata\.namespace"): "ours states it; the web app leaves it to the URL",
    ("PersistentVolumeClaim", r"metadata\.labels\..*"): "ours labels the workspace with its server, so delete removes "
                                                        "only a claim it made",
}


def by_mount_path(notebook: dict) -> dict:
    """Volumes and mounts as {mount path: volume source} plus {mount path: volume name}."""
    out = json.loads(json.dumps(notebook))
    pod = out["spec"]["template"]["spec"]
    container = pod["containers"][0]
    volumes = {v["name"]: {k: x for k, x in v.items() if k != "name"} for v in pod.pop("volumes", [])}
    mounts = container.pop("volumeMounts", [])
    pod["volumeSources"] = {m["mountPath"]: volumes.get(m["name"]) for m in mounts}
    pod["volumeNames"] = {m["mountPath"]: m["name"] for m in mounts}
    return out


def differences(kind: str, web: dict, ours: dict) -> dict:
    if kind == "Notebook":
        web, ours = by_mount_path(web), by_mount_path(ours)
    return field_differences(web, ours)


def reason(kind: str, path: str) -> str | None:
    return next((why for (k, pattern), why in INTENDED.items() if k == kind and re.fullmatch(pattern, path)), None)


def load(case: str) -> dict:
    return json.loads((GOLDEN / f"notebook_{case}.json").read_text())


@pytest.fixture
def cluster(kf_cluster, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", CREATOR)
    monkeypatch.delenv("NB_PREFIX", raising=False)
    return kf_cluster


def setup_namespace(emu):
    emu.create_namespace(NS)
    for claim in ("datasets", "shared-home"):
        emu.create_object({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim, "namespace": NS},
                           "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Ti"}}}})


def ours_for(emu, request: dict) -> dict[str, dict]:
    """What ``kf.notebook.create`` sends for the request, by kind."""
    setup_namespace(emu)
    emu.clear_requests()
    notebooks.create(**request, namespace=NS, backend="kubernetes", wait=False)
    sent = {}
    for r in emu.requests:
        if r.verb == "create" and r.resource in ("notebooks", "persistentvolumeclaims"):
            body = json.loads(r.body) if isinstance(r.body, (str, bytes)) else r.body
            sent[body.get("kind") or "PersistentVolumeClaim"] = body
    return sent


@pytest.mark.parametrize("case", CASES)
def test_our_notebook_matches_the_web_apps_but_for_intended_differences(cluster, case):
    golden = load(case)
    ours = ours_for(cluster, golden["request"])
    assert sorted(ours) == sorted(c["kind"] for c in golden["created"])
    unexplained = {}
    for made in golden["created"]:
        found = differences(made["kind"], made["body"], ours[made["kind"]])
        unexplained.update({f"{made['kind']}: {p}": v for p, v in found.items() if reason(made["kind"], p) is None})
    assert unexplained == {}


def test_every_listed_difference_is_still_real(kf_cluster, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", CREATOR)
    used = set()
    for case in CASES:
        kf_cluster.reset(crds="all")
        golden = load(case)
        ours = ours_for(kf_cluster, golden["request"])
        for made in golden["created"]:
            for path in differences(made["kind"], made["body"], ours[made["kind"]]):
                used |= {key for key in INTENDED if key[0] == made["kind"] and re.fullmatch(key[1], path)}
    assert sorted(set(INTENDED) - used) == []


def test_a_server_made_in_the_kubeflow_ui_reads_right(cluster):
    """The web app's own objects, created as it creates them: our status finds the workspace, resources and GPU."""
    setup_namespace(cluster)
    for made in load("gpu-data-volume")["created"]:
        cluster.create_object({"apiVersion": "v1", "kind": "PersistentVolumeClaim", **made["body"]}
                              if made["kind"] == "PersistentVolumeClaim" else made["body"], NS)
    status = notebooks.get("big-gpu", namespace=NS)
    assert (status.kind, status.workspace) == ("Notebook", "big-gpu-workspace")
    assert status.resources == {"cpu": "8", "memory": "32Gi", "gpus": 1, "gpu_vendor": "nvidia.com/gpu"}


def test_the_golden_files_say_what_made_them():
    assert len(CASES) >= 3
    assert {load(case)["sdk"] for case in CASES} == {"kubeflow/notebooks v1.11.0 (3454bb75) jupyter web app backend"}
