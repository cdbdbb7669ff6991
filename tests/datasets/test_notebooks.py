"""%kf_notebook create --data: locally a read-only view in the workspace (a real Jupyter server), on a cluster
the jobs' init step (manifests created strictly on the emulator; the step run from what the Secret holds)."""
import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

import jupyter_kf as kf
from jupyter_kf import notebooks
from jupyter_kf.datasets.errors import DatasetInUse, DatasetNotFound
from jupyter_kf.errors import InvalidSpec
from jupyter_kf.notebooks.backends.local import LocalNotebooks
from jupyter_kf.notebooks.spec import NotebookSpec
from tests.support.helpers import two_versions


def put_two_versions(tmp_path):
    two_versions(tmp_path)


@pytest.fixture
def local_servers(kf_state_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    put_two_versions(tmp_path)
    yield LocalNotebooks()
    for status in LocalNotebooks().list():
        LocalNotebooks().delete(status.name, keep_workspace=False)


def test_a_local_server_sees_the_version_read_only_in_its_workspace(local_servers, kf_state_dir):
    ready = notebooks.create("lab", data=["mnist@1:/home/jovyan/data", "mnist:latest"], timeout="90")
    assert ready.phase == "Ready"
    workspace = kf_state_dir / "notebook-workspaces" / "lab"
    assert (workspace / "data" / "labels.csv").read_text() == "v1\n"
    assert (workspace / "latest" / "labels.csv").read_text() == "v2\n"
    assert os.path.islink(workspace / "data" / "labels.csv")  # a view: nothing copied
    assert oct(os.stat(workspace / "data" / "labels.csv").st_mode & 0o777) == "0o400"
    shown = repr(kf.data.show("mnist"))
    assert "mnist@1 -> read by notebook server lab at data" in shown
    with pytest.raises(DatasetInUse, match="mnist@1 is seen by notebook server lab: %kf_notebook delete lab first"):
        kf.data.delete("mnist@1")
    notebooks.delete("lab", keep_workspace=False)
    assert "(notebook server deleted since)" in repr(kf.data.show("mnist"))
    assert kf.data.delete("mnist@1").startswith("deleted mnist@1")


@pytest.mark.parametrize("data, error, expected", [
    (["mnist:/mnt/data"], InvalidSpec, "a local notebook server sees datasets in its workspace only"),
    (["mnist@9:data"], DatasetNotFound, "dataset 'mnist' has no version 9: its versions are 1, 2"),
    (["mnist:/home/jovyan"], InvalidSpec, "/home/jovyan is taken"),
    (["mnist:/dev/shm/x"], InvalidSpec, "/dev/shm/x is taken"),
    (["mnist:a", "mnist:a/b"], InvalidSpec, "overlap"),
])
def test_bad_data_makes_no_local_server(local_servers, kf_state_dir, data, error, expected):
    with pytest.raises(error, match=expected):
        notebooks.create("bad", data=data, timeout="90")
    assert not (kf_state_dir / "notebooks" / "bad").exists()
    assert not (kf_state_dir / "notebook-workspaces" / "bad").exists()


def test_a_data_volume_path_is_not_a_data_mount():
    with pytest.raises(InvalidSpec, match="--data mnist:/data/mnist: /data/mnist is taken .*/data is mounted"):
        NotebookSpec.create("nb", data_volumes=["datasets:/data"], data=["mnist:/data/mnist"])
    spec = NotebookSpec.create("nb", data=["mnist@2:data"])
    assert NotebookSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("kind", ["notebook", "statefulset"])
def test_a_cluster_server_gets_the_init_step_and_it_fetches_the_version(kf_cluster, store, tmp_path, kind):
    import kubernetes_validate

    put_two_versions(tmp_path)
    if kind == "statefulset":
        kf_cluster.uninstall_crd("notebooks.kubeflow.org")
    notebooks.create("lab", data=["mnist@1:data"], kind=kind, wait=False)  # every object created strictly
    if kind == "notebook":
        obj = kf_cluster.get_object("kubeflow.org", "v1", "notebooks", "default", "lab")
    else:
        obj = kf_cluster.get_object("apps", "v1", "statefulsets", "default", "lab")
        kubernetes_validate.validate(obj, "1.37", strict=True)
    pod = obj["spec"]["template"]["spec"]
    init, = pod["initContainers"]
    assert init["image"] == pod["containers"][0]["image"]
    assert {"name": "kf-data-0", "mountPath": "/home/jovyan/data", "readOnly": True} in \
        pod["containers"][0]["volumeMounts"]
    secret = kf_cluster.get_object("", "v1", "secrets", "default", "lab-kf-data")
    assert "kf-data-secret" not in str(obj) + str(secret)  # the store's credentials: references only
    # the kubelet's part: lay the Secret out as its volume, run the init container's command
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for key, value in secret["data"].items():
        (bundle / key).write_bytes(base64.b64decode(value))
    command = [sys.executable if part == "python" else part.replace("/kf/bundle", str(bundle))
               .replace("/kf/data", str(tmp_path / "data")) for part in init["command"]]
    env = {"PATH": os.environ["PATH"], "AWS_ACCESS_KEY_ID": "kf-data-key", "AWS_SECRET_ACCESS_KEY": "kf-data-secret"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert Path(tmp_path / "data" / "0" / "labels.csv").read_text() == "v1\n"
    assert "mnist@1 -> read by notebook server lab at data" in repr(kf.data.show("mnist"))
    notebooks.delete("lab", keep_workspace=False)
    assert kf_cluster.get_object("", "v1", "secrets", "default", "lab-kf-data") is None


def test_a_cluster_server_with_a_missing_dataset_makes_nothing(kf_cluster, store):
    with pytest.raises(DatasetNotFound, match="no dataset named 'nope'"):
        notebooks.create("lab", data=["nope:data"], wait=False)
    assert [s["metadata"]["name"] for s in kf_cluster.list_objects("", "v1", "secrets", "default")] == ["kf-store"]
    assert kf_cluster.list_objects("", "v1", "persistentvolumeclaims", "default") == []
