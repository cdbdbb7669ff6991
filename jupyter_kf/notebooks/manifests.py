"""Notebook servers as plain dicts: a Kubeflow ``Notebook`` (+ workspace PVC), or, without Kubeflow, a
StatefulSet + Service + PVC + token Secret shaped the same way. Pure: no I/O, validated by the tests
against the CRD and the built-in schemas."""
from __future__ import annotations

import base64
import re
from decimal import Decimal

from jupyter_kf.datasets import manifests as data_manifests
from jupyter_kf.kube.objects import LABEL_USER, MANAGED_BY, label_value
from jupyter_kf.kube.tpu import TPU_RESOURCE

LABEL_SERVER = "jupyter-kf.io/notebook-server"
STOP_ANNOTATION = "kubeflow-resource-stopped"  # the Kubeflow controller scales to 0 while it is present
SERVER_TYPE = "notebooks.kubeflow.org/server-type"
CREATOR = "notebooks.kubeflow.org/creator"
PORT = 8888
TOKEN_KEY = "token"
LIMIT_FACTOR = Decimal("1.2")  # the Kubeflow spawner's limitFactor: limit = request x 1.2
SERVICE_ACCOUNT = "default-editor"  # what Kubeflow profiles give notebook servers
_QTY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([A-Za-z]*)$")


def server_labels(name: str, user: str) -> dict[str, str]:
    return {**MANAGED_BY, LABEL_SERVER: name, LABEL_USER: label_value(user)}


def url_path(namespace: str, name: str) -> str:
    """Where Kubeflow serves it (``NB_PREFIX`` + '/'); the StatefulSet kind uses the same base URL."""
    return f"/notebook/{namespace}/{name}/"


def workspace_claim(spec) -> str | None:
    if spec.workspace.claim:
        return spec.workspace.claim
    return f"{spec.name}-workspace" if spec.workspace.size else None


def scale_quantity(text: str, factor: Decimal) -> str:
    """``32Gi`` x 1.2 -> ``38.4Gi``; keeps the user's unit so the limit reads like the request."""
    match = _QTY.match(text)
    if not match or (match.group(2) and match.group(2)[0] in "eE"):
        return text
    number = (Decimal(match.group(1)) * factor).normalize()
    shown = format(number, "f").rstrip("0").rstrip(".") if "." in format(number, "f") else format(number, "f")
    return f"{shown}{match.group(2)}"


def container_resources(spec) -> dict:
    requests = {"cpu": spec.cpu, "memory": spec.memory}
    limits = {"cpu": scale_quantity(spec.cpu, LIMIT_FACTOR), "memory": scale_quantity(spec.memory, LIMIT_FACTOR)}
    if spec.gpus:
        limits[spec.gpu_vendor] = str(spec.gpus)  # extended resources: the request defaults to the limit
    if spec.tpu:
        limits[TPU_RESOURCE] = str(spec.tpu.chips_per_host)
    return {"requests": requests, "limits": limits}


def workspace_pvc(spec, namespace: str, labels: dict) -> dict | None:
    """A new workspace claim (ReadWriteOnce, like the spawner's), or None when none is wanted or it exists."""
    if not spec.workspace.size:
        return None
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": workspace_claim(spec), "namespace": namespace, "labels": dict(labels)},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": spec.workspace.size}}}}


DATA_PLAN_MOUNT = "/kf/bundle"  # the init step's plan and script, as in a job's pod


def data_secret_name(name: str) -> str:
    return f"{name}-kf-data"


def data_secret(name: str, namespace: str, labels: dict, files: dict[str, bytes]) -> dict:
    """The plan (``data.json``) and the script (``kf_fetch.py``) of a server's --data init step."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": data_secret_name(name), "namespace": namespace, "labels": dict(labels)},
            "data": {k: base64.b64encode(v).decode() for k, v in sorted(files.items())}}


def _data_parts(spec, pod: dict, mounts: list, image: str, data: tuple, data_env: list) -> None:
    """--data: the volumes, the server's read-only mounts, and the init step that fills them (none for a
    server whose datasets are all ``pvc://``)."""
    if not data:
        return
    volumes, fetch_mounts, job_mounts, folders = data_manifests.data_volumes(data, "/home/jovyan")
    pod.setdefault("volumes", []).extend(volumes)
    mounts.extend(job_mounts)
    if data_manifests.needs_fetch(data):
        pod["volumes"].append({"name": "kf-data-plan", "secret": {"secretName": data_secret_name(spec.name)}})
        pod["initContainers"] = [data_manifests.fetch_container(image, DATA_PLAN_MOUNT, "kf-data-plan", fetch_mounts,
                                                                folders, data_env)]


def _volumes(spec) -> tuple[list[dict], list[dict]]:
    volumes, mounts = [], []
    claim = workspace_claim(spec)
    if claim:
        volumes.append({"name": "workspace", "persistentVolumeClaim": {"claimName": claim}})
        mounts.append({"name": "workspace", "mountPath": "/home/jovyan"})
    if spec.shm:
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory"}})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    for i, (data_claim, path) in enumerate(spec.data_volumes):
        volumes.append({"name": f"data-{i}", "persistentVolumeClaim": {"claimName": data_claim}})
        mounts.append({"name": f"data-{i}", "mountPath": path})
    return volumes, mounts


def _container(spec, image: str, mounts: list[dict], env: list[dict]) -> dict:
    container = {"name": spec.name, "image": image, "imagePullPolicy": "IfNotPresent",
                 "resources": container_resources(spec),
                 "ports": [{"containerPort": PORT, "name": "notebook-port", "protocol": "TCP"}]}
    if mounts:
        container["volumeMounts"] = mounts
    if env:
        container["env"] = env
    return container


def _placement(spec) -> dict:
    """GPU and TPU nodes are tainted with their resource name, which the server tolerates; a TPU server also
    names its slice's node labels."""
    if spec.tpu:
        return {"nodeSelector": spec.tpu.node_selector(), "tolerations": [spec.tpu.toleration()]}
    if spec.gpus:
        return {"tolerations": [{"key": spec.gpu_vendor, "operator": "Exists", "effect": "NoSchedule"}]}
    return {}


def build_notebook(spec, namespace: str, image: str, user: str, data: tuple = (), data_env=()) -> list[dict]:
    """[workspace PVC,] Notebook: what the Kubeflow Jupyter web app would create for the same form.
    ``data``: the --data plan's entries (the backend creates the plan's Secret, ``data_secret``)."""
    labels = server_labels(spec.name, user)
    volumes, mounts = _volumes(spec)
    pod = {"serviceAccountName": SERVICE_ACCOUNT}
    if volumes:
        pod["volumes"] = volumes
    _data_parts(spec, pod, mounts, image, data, list(data_env))
    pod["containers"] = [_container(spec, image, mounts, [{"name": k, "value": v} for k, v in spec.env.items()])]
    pod.update(_placement(spec))
    notebook = {
        "apiVersion": "kubeflow.org/v1", "kind": "Notebook",
        "metadata": {"name": spec.name, "namespace": namespace,
                     # PodDefaults select pods by label; the controller copies these labels to the pod
                     "labels": {**labels, "app": spec.name, **{c: "true" for c in spec.configurations}},
                     "annotations": {SERVER_TYPE: "jupyter", CREATOR: user}},
        "spec": {"template": {"spec": pod}},
    }
    pvc = workspace_pvc(spec, namespace, labels)
    return ([pvc] if pvc else []) + [notebook]


def build_statefulset(spec, namespace: str, image: str, user: str, token: str, data: tuple = (),
                      data_env=()) -> list[dict]:
    """[workspace PVC,] token Secret, Service, StatefulSet: the Kubeflow shape without Kubeflow. Jupyter
    reads its token from ``JUPYTER_TOKEN`` (a Secret reference: never in the manifest or the command line)."""
    labels = server_labels(spec.name, user)
    prefix = url_path(namespace, spec.name)
    secret_name = f"{spec.name}-token"
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": secret_name, "namespace": namespace, "labels": dict(labels)},
              "data": {TOKEN_KEY: base64.b64encode(token.encode()).decode()}}
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": spec.name, "namespace": namespace, "labels": dict(labels)},
               "spec": {"selector": {LABEL_SERVER: spec.name},
                        "ports": [{"name": "http", "port": 80, "targetPort": PORT, "protocol": "TCP"}]}}
    env = [{"name": "JUPYTER_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret_name, "key": TOKEN_KEY}}},
           {"name": "NB_PREFIX", "value": prefix.rstrip("/")}]
    env += [{"name": k, "value": v} for k, v in spec.env.items()]
    volumes, mounts = _volumes(spec)
    pod = {"volumes": volumes} if volumes else {}
    _data_parts(spec, pod, mounts, image, data, list(data_env))
    container = _container(spec, image, mounts, env)
    container["command"] = ["jupyter", "lab"]
    container["args"] = ["--ip=0.0.0.0", f"--port={PORT}", "--no-browser", f"--ServerApp.base_url={prefix}",
                         "--ServerApp.root_dir=/home/jovyan"]
    # /api answers without a token: Ready means Jupyter is serving, not just that the process started
    container["readinessProbe"] = {"httpGet": {"path": f"{prefix}api", "port": PORT}, "periodSeconds": 5}
    pod.update({"containers": [container], "securityContext": {"fsGroup": 100}})
    pod.update(_placement(spec))
    statefulset = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": spec.name, "namespace": namespace, "labels": dict(labels)},
        "spec": {"replicas": 1, "serviceName": spec.name, "selector": {"matchLabels": {LABEL_SERVER: spec.name}},
                 "template": {"metadata": {"labels": {**labels, **{c: "true" for c in spec.configurations}}},
                              "spec": pod}},
    }
    pvc = workspace_pvc(spec, namespace, labels)
    return ([pvc] if pvc else []) + [secret, service, statefulset]


def stop_patch(now: str) -> dict:
    """Stop: the Kubeflow controller (and we, for a StatefulSet) scale to 0; volumes stay."""
    return {"metadata": {"annotations": {STOP_ANNOTATION: now}}}


def start_patch() -> dict:
    return {"metadata": {"annotations": {STOP_ANNOTATION: None}}}
