"""kf.notebooks on a cluster: the official client over HTTP to the emulator, for both kinds (Kubeflow
Notebook and plain StatefulSet). The emulator runs no controllers: ``Controller`` plays the Notebook /
StatefulSet controllers, the scheduler and the kubelet."""
import threading
import time

import pytest

from jupyter_kf import notebooks
from jupyter_kf.errors import InvalidSpec
from jupyter_kf.kube.client import Forbidden
from jupyter_kf.notebooks import NotebookExists, NotebookNotFound, NotebookNotReady, QuotaExceeded

NS = "default"
IMAGE = "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-pytorch-cuda-full:v1.11.0"
QUOTA = ('persistentvolumeclaims "big-gpu-workspace" is forbidden: exceeded quota: storage, requested: '
         'requests.storage=50Gi, used: requests.storage=80Gi, limited: requests.storage=100Gi')


class Controller:
    """What the Kubeflow Notebook controller and the StatefulSet controller would do, step by step."""

    def __init__(self, emu):
        self.emu = emu

    def owner(self, name):
        notebook = self._notebook(name)
        return notebook or self.emu.get_object("apps", "v1", "statefulsets", NS, name)

    def _notebook(self, name):
        try:
            return self.emu.get_object("kubeflow.org", "v1", "notebooks", NS, name)
        except KeyError:  # CRD not installed
            return None

    def make_pod(self, name):
        owner = self.owner(name)
        if owner["kind"] == "Notebook":
            labels = {**owner["metadata"]["labels"], "statefulset": name, "notebook-name": name}
            template = owner["spec"]["template"]
        else:
            template = owner["spec"]["template"]
            labels = dict(template["metadata"]["labels"])
        image = template["spec"]["containers"][0]["image"]
        return self.emu.make_pod(NS, f"{name}-0", owner=owner, labels=labels, phase="Pending", containers=(name,), image=image)

    def ready(self, name):
        self.emu.set_pod_phase(NS, f"{name}-0", "Running")

    def scale_down(self, name):
        self.emu.delete_object("", "v1", "pods", NS, f"{name}-0")

    def later(self, action, *args, delay=0.3):
        thread = threading.Thread(target=lambda: (time.sleep(delay), action(*args)), daemon=True)
        thread.start()
        return thread


@pytest.fixture
def cluster(kf_cluster, monkeypatch):
    monkeypatch.delenv("NB_PREFIX", raising=False)
    monkeypatch.delenv("JUPYTER_KF_KUBEFLOW_URL", raising=False)
    kf_cluster.create_object({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "datasets"},
                              "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": "1Ti"}}}}, NS)
    return kf_cluster


@pytest.fixture
def plain(cluster):
    """A cluster without Kubeflow Notebooks."""
    cluster.uninstall_crd("notebooks.kubeflow.org")
    return cluster


def names(emu, group, version, plural):
    return sorted(o["metadata"]["name"] for o in emu.list_objects(group, version, plural, NS))


def everything(emu):
    return {plural: names(emu, g, v, plural) for g, v, plural in (
        ("", "v1", "persistentvolumeclaims"), ("", "v1", "secrets"), ("", "v1", "services"),
        ("apps", "v1", "statefulsets"))} | ({"notebooks": names(emu, "kubeflow.org", "v1", "notebooks")}
                                           if emu.registry.lookup("kubeflow.org", "v1", "notebooks") else {})


def test_kubeflow_notebook_create_list_stop_start_delete(cluster, monkeypatch):
    ctl = Controller(cluster)
    created = notebooks.create("big-gpu", gpus=1, cpu=8, memory="32Gi", image=IMAGE, workspace="50Gi",
                               data_volumes=["datasets:/data"], wait=False)
    assert (created.phase, created.kind, created.namespace) == ("Starting", "Notebook", NS)
    assert created.resources == {"cpu": "8", "memory": "32Gi", "gpus": 1, "gpu_vendor": "nvidia.com/gpu"}
    creates = cluster.requests_matching(verb="create")
    assert [r.resource for r in creates] == ["persistentvolumeclaims", "notebooks"]
    assert all(r.query.get("fieldValidation") in ("Strict", ["Strict"]) for r in creates)
    assert cluster.get_object("kubeflow.org", "v1", "notebooks", NS, "big-gpu")["spec"]["template"]["spec"]["containers"][0][
        "resources"]["limits"]["nvidia.com/gpu"] == "1"

    pod = ctl.make_pod("big-gpu")
    cluster.emit_event(NS, pod, "Pulling", f'Pulling image "{IMAGE}"', source="kubelet")
    status = notebooks.get("big-gpu")
    assert status.phase == "Starting" and status.message == f"pulling image {IMAGE}"

    seen = []
    ctl.later(ctl.ready, "big-gpu")
    ready = notebooks.wait("big-gpu", timeout=20, on_update=seen.append)
    assert ready.phase == "Ready" and seen[-1].phase == "Ready"
    assert ready.url == "http://127.0.0.1:8888/notebook/default/big-gpu/"
    assert ready.hint.startswith("run `kubectl port-forward -n default svc/big-gpu 8888:80` first")
    monkeypatch.setenv("JUPYTER_KF_KUBEFLOW_URL", "https://kubeflow.example.com/")
    assert notebooks.url("big-gpu") == "https://kubeflow.example.com/notebook/default/big-gpu/"
    monkeypatch.delenv("JUPYTER_KF_KUBEFLOW_URL")
    monkeypatch.setenv("NB_PREFIX", "/notebook/default/mine")  # inside Kubeflow: same origin
    assert notebooks.url("big-gpu") == "/notebook/default/big-gpu/"

    table = notebooks.list()
    assert [(s.name, s.phase, s.workspace) for s in table] == [("big-gpu", "Ready", "big-gpu-workspace")]
    assert "big-gpu" in repr(table) and "8 cpu, 32Gi memory, 1 GPU" in repr(table) and "open" in table._repr_html_()

    stopped = notebooks.stop("big-gpu")
    annotations = cluster.get_object("kubeflow.org", "v1", "notebooks", NS, "big-gpu")["metadata"]["annotations"]
    assert "kubeflow-resource-stopped" in annotations and stopped.phase == "Stopped"
    ctl.scale_down("big-gpu")
    assert notebooks.get("big-gpu").message == "its workspace is kept"

    ctl.later(lambda: (ctl.make_pod("big-gpu"), ctl.ready("big-gpu")))
    started = notebooks.start("big-gpu", timeout=20)
    assert started.phase == "Ready"
    assert "kubeflow-resource-stopped" not in cluster.get_object("kubeflow.org", "v1", "notebooks", NS, "big-gpu")["metadata"].get(
        "annotations", {})

    assert notebooks.delete("big-gpu", keep_workspace=False) is None
    assert everything(cluster)["notebooks"] == [] and everything(cluster)["persistentvolumeclaims"] == ["datasets"]


def test_statefulset_kind_without_kubeflow(plain):
    ctl = Controller(plain)
    notebooks.create("nb", cpu="1", memory="2Gi", wait=False)
    objects = everything(plain)
    assert objects == {"persistentvolumeclaims": ["datasets", "nb-workspace"], "secrets": ["nb-token"], "services": ["nb"],
                       "statefulsets": ["nb"]}
    sts = plain.get_object("apps", "v1", "statefulsets", NS, "nb")
    for plural, name in (("secrets", "nb-token"), ("services", "nb")):
        assert plain.get_object("", "v1", plural, NS, name)["metadata"]["ownerReferences"][0]["uid"] == sts["metadata"]["uid"]
    assert all(r.query.get("fieldValidation") in ("Strict", ["Strict"]) for r in plain.requests_matching(verb="create"))

    ctl.make_pod("nb")
    ctl.later(ctl.ready, "nb")
    ready = notebooks.wait("nb", timeout=20)
    token = __import__("base64").b64decode(plain.get_object("", "v1", "secrets", NS, "nb-token")["data"]["token"]).decode()
    assert ready.kind == "StatefulSet" and ready.url == f"http://127.0.0.1:8888/notebook/default/nb/lab?token={token}"
    assert "kubectl port-forward -n default svc/nb 8888:80" in ready.hint
    assert [s.name for s in notebooks.list()] == ["nb"]

    notebooks.stop("nb")
    sts = plain.get_object("apps", "v1", "statefulsets", NS, "nb")
    assert sts["spec"]["replicas"] == 0 and "kubeflow-resource-stopped" in sts["metadata"]["annotations"]
    ctl.scale_down("nb")
    assert notebooks.get("nb").phase == "Stopped"
    notebooks.start("nb", wait=False)
    assert plain.get_object("apps", "v1", "statefulsets", NS, "nb")["spec"]["replicas"] == 1
    assert notebooks.get("nb").phase == "Starting"

    kept = notebooks.delete("nb", keep_workspace=True)
    assert kept == "nb-workspace"
    assert everything(plain) == {"persistentvolumeclaims": ["datasets", "nb-workspace"], "secrets": [], "services": [],
                                 "statefulsets": []}
    again = notebooks.create("nb", wait=False)  # picks the kept workspace up again
    assert again.workspace == "nb-workspace"
    asked = []
    notebooks.delete("nb", confirm=lambda question, name, workspace: asked.append(workspace) or True)
    assert asked == ["nb-workspace"] and everything(plain)["persistentvolumeclaims"] == ["datasets"]


@pytest.mark.parametrize("crd", [True, False])
def test_a_taken_name_is_one_line_and_creates_nothing_more(cluster, crd):
    if not crd:
        cluster.uninstall_crd("notebooks.kubeflow.org")
    notebooks.create("nb", wait=False)
    before = everything(cluster)
    with pytest.raises(NotebookExists) as err:
        notebooks.create("nb", gpus=1, wait=False)
    assert str(err.value) == ("a notebook server named 'nb' already exists in namespace 'default' (Starting): choose another "
                              "name, or %kf_notebook delete nb first")
    assert everything(cluster) == before


def test_forbidden_says_what_and_where_and_undoes_the_workspace(cluster):
    cluster.deny("create", "notebooks", group="kubeflow.org", namespace=NS)
    with pytest.raises(Forbidden) as err:
        notebooks.create("nb", wait=False)
    line = str(err.value)
    assert line.startswith("not allowed to create Notebook 'nb' in namespace 'default': ") and "cannot create resource" in line
    assert "\n" not in line
    assert everything(cluster) == {"persistentvolumeclaims": ["datasets"], "secrets": [], "services": [], "statefulsets": [],
                                   "notebooks": []}


def test_quota_exceeded_gives_the_servers_reason_and_creates_nothing(plain):
    plain.fail_next("create", path="persistentvolumeclaims", status=403, message=QUOTA)
    with pytest.raises(QuotaExceeded) as err:
        notebooks.create("big-gpu", workspace="50Gi", wait=False)
    assert str(err.value).startswith("the namespace 'default' has no quota left for this notebook server: " + QUOTA)
    assert everything(plain) == {"persistentvolumeclaims": ["datasets"], "secrets": [], "services": [], "statefulsets": []}


def test_quota_refusing_the_pod_shows_as_waiting_with_the_reason(plain):
    notebooks.create("big-gpu", gpus=1, wait=False)
    sts = plain.get_object("apps", "v1", "statefulsets", NS, "big-gpu")
    plain.emit_event(NS, sts, "FailedCreate", 'create Pod big-gpu-0 in StatefulSet big-gpu failed error: pods "big-gpu-0" is '
                     'forbidden: exceeded quota: gpu, requested: requests.nvidia.com/gpu=1, used: requests.nvidia.com/gpu=4, '
                     'limited: requests.nvidia.com/gpu=4', type="Warning", source="statefulset-controller")
    status = notebooks.get("big-gpu")
    assert (status.phase, status.reason) == ("Waiting", "quota")
    assert status.message.startswith("quota exceeded: create Pod big-gpu-0") and "requests.nvidia.com/gpu=4" in status.message


def test_never_ready_shows_the_pods_conditions_and_events_and_keeps_it(cluster):
    ctl = Controller(cluster)
    notebooks.create("big-gpu", gpus=1, wait=False)
    ctl.make_pod("big-gpu")
    cluster.mark_unschedulable(NS, "big-gpu-0")
    views = []
    with pytest.raises(NotebookNotReady) as err:
        notebooks.wait("big-gpu", timeout=1, on_update=views.append)
    line = str(err.value)
    assert line.startswith("notebook server 'big-gpu' is not ready after 1s: no free GPU: 0/1 nodes are available: "
                           "1 Insufficient nvidia.com/gpu.")
    assert "PodScheduled=False (Unschedulable: 0/1 nodes are available" in line
    assert "event FailedScheduling: 0/1 nodes are available" in line
    assert "%kf_notebook delete big-gpu" in line and "\n" not in line
    assert views[-1].phase == "Waiting" and views[-1].reason == "unschedulable"
    assert names(cluster, "kubeflow.org", "v1", "notebooks") == ["big-gpu"]


def test_an_image_that_cannot_be_pulled_fails_fast(cluster):
    ctl = Controller(cluster)
    notebooks.create("nb", image="registry.example.com/no/such-image:1", wait=False)
    ctl.make_pod("nb")
    cluster.fail_image_pull(NS, "nb-0")
    started = time.monotonic()
    with pytest.raises(NotebookNotReady) as err:
        notebooks.wait("nb", timeout=60)
    assert time.monotonic() - started < 10
    assert "cannot start (Error): cannot pull image registry.example.com/no/such-image:1: ImagePullBackOff" in str(err.value)
    assert "event Failed: Error: ErrImagePull" in str(err.value)


def test_missing_ones_are_one_line(cluster):
    with pytest.raises(NotebookNotFound) as err:
        notebooks.delete("ghost", keep_workspace=False)
    assert str(err.value) == "no notebook server named 'ghost' in namespace 'default': %kf_notebook list shows yours"
    for call in (notebooks.stop, notebooks.start, notebooks.get, notebooks.url):
        with pytest.raises(NotebookNotFound):
            call("ghost")
    with pytest.raises(NotebookNotFound) as err:
        notebooks.create("nb", data_volumes=["nothere:/data"], wait=False)
    assert str(err.value).startswith("--data-volume nothere:/data: no PersistentVolumeClaim named 'nothere'")
    assert everything(cluster)["notebooks"] == [] and everything(cluster)["persistentvolumeclaims"] == ["datasets"]


def test_delete_asks_before_the_workspace_and_a_kernel_that_cannot_ask_deletes_nothing(cluster, monkeypatch):
    notebooks.create("nb", wait=False)

    def no_stdin(prompt):
        raise EOFError

    monkeypatch.setattr("builtins.input", no_stdin)
    with pytest.raises(InvalidSpec) as err:
        notebooks.delete("nb")
    assert "add --keep-workspace or --delete-workspace" in str(err.value)
    assert names(cluster, "kubeflow.org", "v1", "notebooks") == ["nb"]
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert notebooks.delete("nb") == "nb-workspace"
    assert everything(cluster)["persistentvolumeclaims"] == ["datasets", "nb-workspace"]
