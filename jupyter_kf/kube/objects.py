"""Pieces every workload shares: labels that find our objects again, the bundle Secret, a pod."""
from __future__ import annotations

import base64
import re

from jupyter_kf.kube.tpu import TPU_RESOURCE

MANAGED_BY = {"app.kubernetes.io/managed-by": "jupyter-kf"}
LABEL_JOB = "jupyter-kf.io/job"
LABEL_USER = "jupyter-kf.io/user"
LABEL_NOTEBOOK = "jupyter-kf.io/notebook"
LABEL_QUEUE = "kueue.x-k8s.io/queue-name"
BUNDLE_MOUNT = "/kf/bundle"
OUTPUT_MOUNT = "/kf/out"
RESULT_KEY_FIELD = "kf-result-key"  # the bundle Secret's key holding the job's result HMAC key
# Kubeflow profile namespaces inject Istio sidecars; a sidecar keeps a finished training pod Running.
NO_ISTIO_SIDECAR = {"sidecar.istio.io/inject": "false"}


def label_value(text: str) -> str:
    """Any text as a valid label value (<= 63 chars of [A-Za-z0-9._-], alphanumeric at both ends)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text or "")[:63].strip("-._")
    return cleaned or "unknown"


def job_labels(name: str, user: str = "", notebook: str = "", queue: str | None = None) -> dict[str, str]:
    labels = {**MANAGED_BY, LABEL_JOB: name, LABEL_USER: label_value(user), LABEL_NOTEBOOK: label_value(notebook)}
    if queue:
        labels[LABEL_QUEUE] = queue
    return labels


def bundle_key(path: str) -> str:
    """A bundle path (``src/pkg/mod.py``) as a Secret/ConfigMap key (``[-._a-zA-Z0-9]+``)."""
    return re.sub(r"[^-._a-zA-Z0-9]", "_", path.replace("/", "__"))


def bundle_secret(
    name: str, namespace: str, files: dict[str, bytes], labels: dict, result_key: str
) -> tuple[dict, list[dict]]:
    """The job's bundle (runner, meta, payload, shipped sources) and its result key as a Secret, and the
    volume items that lay the files out again under the mount (the key is not one of them: it reaches
    the runner as an env var).

    A Secret rather than a ConfigMap: Kubernetes' ``view`` role reads ConfigMaps, not Secrets, and the
    bundle holds the notebook's data."""
    data, items = {}, []
    for path, content in sorted(files.items()):
        key = bundle_key(path)
        data[key] = base64.b64encode(content).decode("ascii")
        items.append({"key": key, "path": path})
    data[RESULT_KEY_FIELD] = base64.b64encode(result_key.encode("ascii")).decode("ascii")
    body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)}, "data": data}
    return body, items


def owner_reference(obj: dict) -> dict:
    """Makes ``obj`` the owner of another object, so deleting it garbage-collects the other."""
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": False}


def resources(cpu: str | None, memory: str | None, gpus: int, gpu_vendor: str, tpu=None) -> dict:
    """A container's requests and limits; ``tpu`` (a ``TpuSlice``) asks for all the chips of its host."""
    requests, limits = {}, {}
    if cpu:
        requests["cpu"] = cpu
    if memory:
        requests["memory"] = limits["memory"] = memory
    if gpus:
        requests[gpu_vendor] = limits[gpu_vendor] = str(gpus)
    if tpu is not None:
        requests[TPU_RESOURCE] = limits[TPU_RESOURCE] = str(tpu.chips_per_host)
    out = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def env_list(env: dict[str, str], secret_env: dict[str, tuple[str, str]], extra: list[dict] = ()) -> list[dict]:
    """Plain values, then Secret references (the secret's value never enters the manifest)."""
    items = [{"name": k, "value": v} for k, v in env.items()]
    items += [{"name": k, "valueFrom": {"secretKeyRef": {"name": s, "key": key}}} for k, (s, key) in secret_env.items()]
    return items + list(extra)


def volumes_and_mounts(bundle: str, items: list[dict], claims: tuple) -> tuple[list[dict], list[dict]]:
    volumes = [
        {"name": "kf-bundle", "secret": {"secretName": bundle, "items": items}},
        {"name": "kf-out", "emptyDir": {}},
        {"name": "dshm", "emptyDir": {"medium": "Memory"}},
    ]
    mounts = [
        {"name": "kf-bundle", "mountPath": BUNDLE_MOUNT, "readOnly": True},
        {"name": "kf-out", "mountPath": OUTPUT_MOUNT},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]
    for i, (claim, path) in enumerate(claims):
        volumes.append({"name": f"data-{i}", "persistentVolumeClaim": {"claimName": claim}})
        mounts.append({"name": f"data-{i}", "mountPath": path})
    return volumes, mounts
