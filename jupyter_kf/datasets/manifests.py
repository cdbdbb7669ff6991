"""Volumes as Kubernetes objects: the checked spec and the PersistentVolumeClaim built from it (pure, no I/O)."""
from __future__ import annotations

from dataclasses import dataclass

from jupyter_kf.errors import InvalidSpec

ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod")
MANAGED_BY = {"app.kubernetes.io/managed-by": "jupyter-kf", "app.kubernetes.io/component": "volume"}


@dataclass(frozen=True)
class VolumeSpec:
    name: str
    size: str
    access_mode: str = "ReadWriteOnce"
    storage_class: str | None = None
    namespace: str | None = None

    @classmethod
    def create(cls, name, size="10Gi", access_mode=None, storage_class=None, namespace=None) -> "VolumeSpec":
        from jupyter_kf.training.spec import check_name, parse_quantity

        if parse_quantity(size, "--size") < 2**20:
            raise InvalidSpec(f"--size {size!r} is below 1Mi: did you mean {size}Gi?")
        mode = access_mode or "ReadWriteOnce"
        if mode not in ACCESS_MODES:
            raise InvalidSpec(f"--access-mode {mode!r} is unknown: use one of {', '.join(ACCESS_MODES)}")
        return cls(name=check_name(name, "volume name"), size=str(size), access_mode=mode,
                   storage_class=check_name(storage_class, "storage class name") if storage_class else None,
                   namespace=check_name(namespace, "namespace") if namespace else None)


def build_pvc(spec: VolumeSpec, namespace: str) -> dict:
    """The claim, as a plain dict (pure: no I/O)."""
    body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": spec.name, "namespace": namespace, "labels": dict(MANAGED_BY)},
            "spec": {"accessModes": [spec.access_mode], "resources": {"requests": {"storage": spec.size}}}}
    if spec.storage_class:
        body["spec"]["storageClassName"] = spec.storage_class
    return body


# -- datasets in cluster pods (pure: the training and notebook builders call these) -------------------
DATA_ROOT = "/kf/data"  # where the init container writes entry i (``/kf/data/i``), an emptyDir each
FETCH_SCRIPT = "kf_fetch.py"  # jupyter_kf/datasets/fetch.py, shipped in the bundle
DATA_PLAN = "data.json"
CACHE_VOLUME, CACHE_MOUNT = "kf-data-cache", "/kf/cache"  # the --data-cache claim: fetched files by content hash
STORE_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def data_mount_path(mount: str, workdir: str) -> str:
    """Where a job sees a dataset: an absolute mount point as is, a relative one under its working folder."""
    return mount if mount.startswith("/") else f"{workdir.rstrip('/')}/{mount}"


def data_volumes(entries, workdir: str, in_place: bool = False) -> tuple[list, list, list, list]:
    """(volumes, the init step's mounts, the job's mounts, the folder the step fills per entry) for the
    plan's ``entries`` (``{"mount", "pvc": {"claim", "path"} | None}``). A store version gets an emptyDir
    the step fills at ``/kf/data/<i>``, which the job mounts read-only; ``in_place`` (a TrainJob, whose
    patch mounts a volume once per container) fills it at the job's own mount point instead, and the
    files are made read-only. A ``pvc://`` dataset is its claim, mounted read-only at its path."""
    volumes, fetch_mounts, job_mounts, folders = [], [], [], []
    for i, entry in enumerate(entries):
        name, at = f"kf-data-{i}", data_mount_path(entry["mount"], workdir)
        pvc = entry.get("pvc")
        if pvc:
            volumes.append({"name": name, "persistentVolumeClaim": {"claimName": pvc["claim"], "readOnly": True}})
            mount = {"name": name, "mountPath": at, "readOnly": True}
            if pvc.get("path"):
                mount["subPath"] = pvc["path"]
            job_mounts.append(mount)
            folders.append("-")
            continue
        volumes.append({"name": name, "emptyDir": {}})
        if in_place:
            job_mounts.append({"name": name, "mountPath": at})
            folders.append(at)
        else:
            fetch_mounts.append({"name": name, "mountPath": f"{DATA_ROOT}/{i}"})
            job_mounts.append({"name": name, "mountPath": at, "readOnly": True})
            folders.append(f"{DATA_ROOT}/{i}")
    _cache_parts(entries, volumes, job_mounts if in_place else fetch_mounts, folders)
    return volumes, fetch_mounts, job_mounts, folders


def _cache_parts(entries, volumes: list, mounts: list, folders: list) -> None:
    """A cache claim (``c.KfConfig.data_cache``, in the plan's entries): mounted where the step runs, and
    ``--cache DIR`` after the folders, so files already fetched by content hash are not downloaded again."""
    claim = next((e["cache"] for e in entries if e.get("cache") and not e.get("pvc")), None)
    if not claim:
        return
    volumes.append({"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": claim}})
    mounts.append({"name": CACHE_VOLUME, "mountPath": CACHE_MOUNT})
    folders += ["--cache", CACHE_MOUNT]


def check_cache_claim(claim: str) -> str:
    """``c.KfConfig.data_cache``: a PersistentVolumeClaim name, or empty for none."""
    from jupyter_kf.training.spec import check_name

    return check_name(claim, "c.KfConfig.data_cache (a PersistentVolumeClaim name)") if claim else ""


def needs_fetch(entries) -> bool:
    return any(not entry.get("pvc") for entry in entries)


def fetch_command(bundle_mount: str, folders: list) -> list[str]:
    return ["python", "-u", f"{bundle_mount}/{FETCH_SCRIPT}", f"{bundle_mount}/{DATA_PLAN}", *folders]


def fetch_container(image: str, bundle_mount: str, bundle_volume: str, fetch_mounts: list, folders: list,
                    env: list) -> dict:
    """The init container: the job's own image runs the shipped fetch step; its failure line becomes the
    container's termination message (FallbackToLogsOnError), which the job's status shows."""
    return {"name": "kf-data", "image": image, "command": fetch_command(bundle_mount, folders), "env": list(env),
            "volumeMounts": [{"name": bundle_volume, "mountPath": bundle_mount, "readOnly": True}, *fetch_mounts],
            "terminationMessagePolicy": "FallbackToLogsOnError"}


def store_env(secret_env: dict) -> list[dict]:
    """The store's credentials as Secret references (the values never enter a manifest)."""
    return [{"name": k, "valueFrom": {"secretKeyRef": {"name": secret_env[k][0], "key": secret_env[k][1]}}}
            for k in STORE_KEYS if k in secret_env]


# -- Istio: an init container has no network until the sidecar starts ---------------------------------
ISTIO_PROXY_UID = 1337  # Istio's iptables rules let this uid's traffic out unproxied (Istio's advice for init steps)
ISTIO_SETTINGS = ("auto", "uid", "off")


def init_bypasses_istio(setting: str, namespace_labels: dict | None) -> bool:
    """Whether the --data init step must run as Istio's proxy uid: ``uid`` always, ``off`` never, ``auto``
    when the namespace injects sidecars (or its labels could not be read: Kubeflow's profiles inject)."""
    if setting not in ISTIO_SETTINGS:
        raise InvalidSpec(f"c.KfConfig.data_istio = {setting!r} is not accepted: use {', '.join(ISTIO_SETTINGS)}")
    if setting != "auto":
        return setting == "uid"
    if namespace_labels is None:
        return True
    return namespace_labels.get("istio-injection") == "enabled" or "istio.io/rev" in namespace_labels


def bypass_istio(objects: list) -> None:
    """Run every --data init step in ``objects`` as Istio's proxy uid: its fetch is not redirected to a
    sidecar that has not started (files stay readable by all: 0444, folders 0555)."""
    def visit(node):
        if isinstance(node, dict):
            for init in node.get("initContainers") or []:
                if init.get("name") == "kf-data":
                    init["securityContext"] = {"runAsUser": ISTIO_PROXY_UID, "runAsNonRoot": True,
                                               "allowPrivilegeEscalation": False}
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)
    visit(objects)
