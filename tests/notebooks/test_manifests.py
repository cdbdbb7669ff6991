"""Notebook manifests, validated strictly: the Notebook against the patched Kubeflow CRD, built-in kinds
against the API server's schemas (the emulator's admission with fieldValidation=Strict, and kubernetes-validate)."""
import base64
import copy

import pytest

from jupyter_kf.notebooks.manifests import build_notebook, build_statefulset, scale_quantity, start_patch, stop_patch
from jupyter_kf.notebooks.spec import NotebookSpec
from tests.support.k8s_emulator.emulator import K8sEmulator
from tests.support.k8s_emulator.errors import ApiError

GPU = dict(gpus=1, cpu=8, memory="32Gi", image="ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-pytorch-cuda-full:v1.11.0",
           workspace="50Gi", data_volumes=["datasets:/data"], configurations=["access-ml-pipeline"], env=["MODE=dev"])


@pytest.fixture(scope="module")
def admission():
    """The emulator's admission path, offline: CRD schemas (with the kustomize validation patch) and built-ins."""
    emu = K8sEmulator(crds="notebooks")
    emu.create_namespace("team-a")
    return emu


def admit(emu, obj):
    created = emu.create_object(copy.deepcopy(obj), field_validation="Strict")
    emu.delete_object(*_gvr(obj), obj["metadata"]["namespace"], obj["metadata"]["name"])
    return created


def _gvr(obj):
    group, _, version = obj["apiVersion"].rpartition("/")
    return group, version, {"Notebook": "notebooks", "StatefulSet": "statefulsets", "Service": "services", "Secret": "secrets",
                            "PersistentVolumeClaim": "persistentvolumeclaims"}[obj["kind"]]


@pytest.mark.parametrize("kwargs", [GPU, {}, {"workspace": "none", "shm": False}, {"workspace": "pvc:home", "gpus": 2,
                                                                                   "gpu_vendor": "amd.com/gpu"}])
def test_kubeflow_notebook_is_valid_against_the_crd(admission, kwargs):
    objects = build_notebook(NotebookSpec.create("big-gpu", **kwargs), "team-a", "img:1", "alice")
    for obj in objects:
        admit(admission, obj)
    notebook = objects[-1]
    assert notebook["apiVersion"] == "kubeflow.org/v1" and notebook["kind"] == "Notebook"
    assert notebook["metadata"]["annotations"]["notebooks.kubeflow.org/server-type"] == "jupyter"
    assert [o["kind"] for o in objects] == (["PersistentVolumeClaim", "Notebook"] if kwargs.get("workspace", "5Gi")[0].isdigit()
                                            else ["Notebook"])


def test_gpu_notebook_has_the_shape_of_the_reference(admission):
    pvc, notebook = build_notebook(NotebookSpec.create("big-gpu", **GPU), "team-a", GPU["image"], "alice")
    pod = notebook["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "8", "memory": "32Gi"},
                                      "limits": {"cpu": "9.6", "memory": "38.4Gi", "nvidia.com/gpu": "1"}}
    assert {m["mountPath"]: m["name"] for m in container["volumeMounts"]} == {"/home/jovyan": "workspace", "/dev/shm": "dshm",
                                                                              "/data": "data-0"}
    assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in pod["volumes"]
    assert {"name": "workspace", "persistentVolumeClaim": {"claimName": "big-gpu-workspace"}} in pod["volumes"]
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["serviceAccountName"] == "default-editor"
    assert notebook["metadata"]["labels"]["access-ml-pipeline"] == "true"  # the PodDefault's selector
    assert container["env"] == [{"name": "MODE", "value": "dev"}]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "50Gi"


def test_the_validation_is_strict(admission):
    """The same path rejects what the patched CRD rejects, so passing it means something."""
    notebook = build_notebook(NotebookSpec.create("nb", workspace="none"), "team-a", "img:1", "alice")[-1]
    no_image = copy.deepcopy(notebook)
    del no_image["spec"]["template"]["spec"]["containers"][0]["image"]
    unknown = copy.deepcopy(notebook)
    unknown["spec"]["template"]["spec"]["containers"][0]["gpus"] = 1
    for bad, words in ((no_image, "image"), (unknown, "gpus")):
        with pytest.raises(ApiError) as err:
            admission.create_object(bad, field_validation="Strict")
        assert words in err.value.message


def test_statefulset_kind_is_valid_and_keeps_the_token_out_of_the_manifest(admission):
    import kubernetes_validate

    objects = build_statefulset(NotebookSpec.create("big-gpu", **GPU), "team-a", "img:1", "alice", "s3cret-token")
    assert [o["kind"] for o in objects] == ["PersistentVolumeClaim", "Secret", "Service", "StatefulSet"]
    for obj in objects:
        kubernetes_validate.validate(obj, "1.37", strict=True)
        admit(admission, obj)
    secret, service, sts = objects[1:]
    assert base64.b64decode(secret["data"]["token"]).decode() == "s3cret-token"
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert "s3cret-token" not in str(sts) and "s3cret-token" not in str(service)
    assert {"name": "JUPYTER_TOKEN", "valueFrom": {"secretKeyRef": {"name": "big-gpu-token", "key": "token"}}} in container["env"]
    assert "--ServerApp.base_url=/notebook/team-a/big-gpu/" in container["args"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/notebook/team-a/big-gpu/api"
    assert service["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"] == {"jupyter-kf.io/notebook-server": "big-gpu"}
    assert sts["spec"]["template"]["metadata"]["labels"]["jupyter-kf.io/notebook-server"] == "big-gpu"
    assert service["spec"]["ports"][0]["port"] == 80 and service["spec"]["ports"][0]["targetPort"] == 8888


def test_limits_keep_the_users_unit_and_patches_set_and_clear_the_stop_annotation():
    assert [scale_quantity(q, __import__("decimal").Decimal("1.2")) for q in ("2", "500m", "8Gi", "1.5", "512Mi")] == \
        ["2.4", "600m", "9.6Gi", "1.8", "614.4Mi"]
    assert stop_patch("2026-01-01T00:00:00Z") == {"metadata": {"annotations": {"kubeflow-resource-stopped": "2026-01-01T00:00:00Z"}}}
    assert start_patch() == {"metadata": {"annotations": {"kubeflow-resource-stopped": None}}}
