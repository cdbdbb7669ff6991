"""Notebook servers on a cluster: a Kubeflow ``Notebook`` where ``kubeflow.org/v1 notebooks`` is served,
else a StatefulSet + Service + PVC + token Secret. Stop/start keep the workspace volume.

Objects are found again by name and labels (nothing local to lose), so ``list`` works after a kernel
restart and from another machine; servers made in the Kubeflow UI show up too.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import time

from jupyter_kf.errors import AlreadyExists, KfError, NotFound
from jupyter_kf.kube.client import ClusterClient, Forbidden, MissingApi
from jupyter_kf.kube.objects import MANAGED_BY, owner_reference
from jupyter_kf.kube.tpu import TOPOLOGY_LABEL
from jupyter_kf.notebooks.backends import NotebookBackend
from jupyter_kf.notebooks.errors import NotebookExists, NotebookNotFound, QuotaExceeded
from jupyter_kf.notebooks.manifests import (
    LABEL_SERVER,
    STOP_ANNOTATION,
    TOKEN_KEY,
    build_notebook,
    build_statefulset,
    start_patch,
    stop_patch,
    url_path,
)
from jupyter_kf.notebooks.spec import WORKSPACE_MOUNT, NotebookSpec
from jupyter_kf.notebooks.status import NotebookLink, NotebookStatus

NOTEBOOK_API = ("kubeflow.org/v1", "notebooks")
DEFAULT_IMAGE = "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.11.0"
DEFAULT_GPU_IMAGE = "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-pytorch-cuda-full:v1.11.0"
KUBEFLOW_URL_ENV = "JUPYTER_KF_KUBEFLOW_URL"  # e.g. https://kubeflow.example.com: links then go through it
IMAGE_ERRORS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
FATAL = ("ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CrashLoopBackOff", "CreateContainerConfigError")
KIND_NAME = {"notebook": "Notebook", "statefulset": "StatefulSet"}


def _user() -> str:
    from jupyter_kf.training.backends.kubernetes import _user as user

    return user()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class KubernetesNotebooks(ClusterClient, NotebookBackend):
    name = "kubernetes"

    def choose_kind(self, requested: str = "auto") -> str:
        served = self.cluster.has(*NOTEBOOK_API)
        if requested in (None, "", "auto"):
            return "notebook" if served else "statefulset"
        if requested == "notebook" and not served:
            raise MissingApi("--kind notebook: the cluster has no Kubeflow Notebook API (kubeflow.org/v1 notebooks); "
                             "use --kind statefulset or leave --kind out")
        return requested

    # -- create ----------------------------------------------------------------------------------
    def create(self, spec: NotebookSpec) -> NotebookStatus:
        namespace = spec.namespace or self.namespace
        kind = self.choose_kind(spec.kind)
        image = spec.image or (DEFAULT_GPU_IMAGE if spec.gpus else DEFAULT_IMAGE)
        self._check_name_free(namespace, spec.name)
        self._check_claims(namespace, spec)
        user = _user()
        resolved, plan_secret, data, data_env = self._data(spec, namespace, user)
        if kind == "notebook":
            objects = build_notebook(spec, namespace, image, user, data, data_env)
        else:
            objects = build_statefulset(spec, namespace, image, user, secrets.token_hex(24), data, data_env)
        if plan_secret:
            self._data_past_istio(namespace, objects)
        objects = ([plan_secret] if plan_secret else []) + objects
        created: list[tuple[str, str]] = []
        try:
            for obj in objects:
                if obj["kind"] == "PersistentVolumeClaim":
                    if not self._create_workspace(namespace, obj):
                        continue  # kept from a server of the same name deleted with --keep-workspace: reuse it
                else:
                    self._create(namespace, obj)
                created.append((obj["kind"], obj["metadata"]["name"]))
            if kind == "statefulset":
                self._own(namespace, spec.name, [o for o in objects if o["kind"] in ("Secret", "Service")])
            if resolved:
                from jupyter_kf.datasets import api as data_api

                data_api.record_reads(spec.name, resolved, "kubernetes", reader="notebook")
        except AlreadyExists:
            self._undo(namespace, created)
            raise NotebookExists(f"a notebook server named {spec.name!r} already exists in namespace {namespace!r}: "
                                 "choose another name") from None
        except Forbidden as err:
            self._undo(namespace, created)
            raise _quota_or(err, namespace) from None
        except BaseException:
            self._undo(namespace, created)
            raise
        return self.get(spec.name, namespace)

    def _data(self, spec: NotebookSpec, namespace: str, user: str):
        """--data: the pinned versions, the Secret holding the init step's plan and script, the plan's
        entries and the store's credentials (Secret references) for the builders. Checked before anything
        is created."""
        if not spec.data:
            return None, None, (), []
        from jupyter_kf import config
        from jupyter_kf.datasets import api as data_api
        from jupyter_kf.datasets.manifests import store_env
        from jupyter_kf.notebooks.manifests import data_secret, server_labels

        resolved = data_api.resolve_mounts(spec.data, "kubernetes")
        plan = data_api.pod_plan(resolved)
        secret = config.get().store_secret
        env = store_env({k: (secret, k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}) if secret else []
        files = {"data.json": json.dumps(plan).encode(), "kf_fetch.py": data_api.fetch_script()}
        return resolved, data_secret(spec.name, namespace, server_labels(spec.name, user), files), tuple(
            plan["data"]), env

    def _data_past_istio(self, namespace: str, objects: list) -> None:
        """Kubeflow's namespaces inject an Istio sidecar, which leaves init containers without network: the
        --data step then runs as the proxy's uid (c.KfConfig.data_istio decides; labels unreadable: assumed)."""
        from jupyter_kf import config
        from jupyter_kf.datasets import manifests as data_manifests

        try:
            found = self.call_json(self._api("CoreV1Api").read_namespace, namespace,
                                   what=f"read namespace {namespace!r}")
            labels = found["metadata"].get("labels") or {}
        except KfError:
            labels = None
        if data_manifests.init_bypasses_istio(config.get().data_istio, labels):
            data_manifests.bypass_istio(objects)

    def _check_name_free(self, namespace: str, name: str) -> None:
        found = self._find(namespace, name, any_statefulset=True)
        if found:
            kind, obj = found
            phase = self._status(namespace, kind, obj, with_events=False).phase if kind else "not a notebook server"
            raise NotebookExists(
                f"a notebook server named {name!r} already exists in namespace {namespace!r} ({phase}): "
                f"choose another name, or %kf_notebook delete {name} first"
            )

    def _check_claims(self, namespace: str, spec: NotebookSpec) -> None:
        """Claims the server mounts must exist, or its pod would wait forever: say so before creating anything."""
        claims = [(c, f"--data-volume {c}:{p}") for c, p in spec.data_volumes]
        if spec.workspace.claim:
            claims.append((spec.workspace.claim, f"--workspace pvc:{spec.workspace.claim}"))
        for claim, flag in claims:
            try:
                self.call_json(self._api("CoreV1Api").read_namespaced_persistent_volume_claim, claim, namespace,
                           what=f"read persistentvolumeclaim {claim!r} in namespace {namespace!r}")
            except NotFound:
                raise NotebookNotFound(f"{flag}: no PersistentVolumeClaim named {claim!r} in namespace {namespace!r}: "
                                       "create it first, or mount another") from None

    def _create(self, namespace: str, obj: dict) -> dict:
        kind, name = obj["kind"], obj["metadata"]["name"]
        what = f"create {kind} {name!r} in namespace {namespace!r}"
        core = self._api("CoreV1Api")
        if kind == "Notebook":
            group, version = NOTEBOOK_API[0].split("/")
            return self.cluster.call(self._api("CustomObjectsApi").create_namespaced_custom_object, group, version,
                                     namespace, NOTEBOOK_API[1], obj, field_validation="Strict", what=what)
        fn = {"PersistentVolumeClaim": core.create_namespaced_persistent_volume_claim,
              "Secret": core.create_namespaced_secret, "Service": core.create_namespaced_service,
              "StatefulSet": self._api("AppsV1Api").create_namespaced_stateful_set}[kind]
        return self.call_json(fn, namespace, obj, field_validation="Strict", what=what)

    def _create_workspace(self, namespace: str, pvc: dict) -> bool:
        """True when created; False when a claim of that name is already ours for this server (kept)."""
        try:
            self._create(namespace, pvc)
            return True
        except AlreadyExists:
            name = pvc["metadata"]["name"]
            existing = self.call_json(self._api("CoreV1Api").read_namespaced_persistent_volume_claim, name, namespace,
                                  what=f"read persistentvolumeclaim {name!r}")
            server = pvc["metadata"]["labels"][LABEL_SERVER]
            if existing["metadata"].get("labels", {}).get(LABEL_SERVER) != server:
                raise NotebookExists(
                    f"a PersistentVolumeClaim named {name!r} exists in namespace {namespace!r} and is not "
                    f"{server}'s workspace: use --workspace pvc:{name} to mount it, or another name"
                ) from None
            return False

    def _own(self, namespace: str, name: str, objects: list[dict]) -> None:
        """Secret and Service go with the StatefulSet (garbage-collected); the workspace does not."""
        sts = self.call_json(self._api("AppsV1Api").read_namespaced_stateful_set, name, namespace,
                         what=f"read statefulset {name!r}")
        owner = {"metadata": {"ownerReferences": [owner_reference(sts)]}}
        core = self._api("CoreV1Api")
        for obj in objects:
            fn = core.patch_namespaced_secret if obj["kind"] == "Secret" else core.patch_namespaced_service
            self.cluster.call(fn, obj["metadata"]["name"], namespace, owner, what=f"set the owner of {obj['kind']} "
                              f"{obj['metadata']['name']!r}")

    def _delete_object(self, namespace: str, kind: str, name: str) -> None:
        what = f"delete {kind} {name!r} in namespace {namespace!r}"
        core = self._api("CoreV1Api")
        if kind == "Notebook":
            group, version = NOTEBOOK_API[0].split("/")
            self.cluster.call(self._api("CustomObjectsApi").delete_namespaced_custom_object, group, version, namespace,
                              NOTEBOOK_API[1], name, propagation_policy="Background", what=what)
            return
        fn = {"PersistentVolumeClaim": core.delete_namespaced_persistent_volume_claim,
              "Secret": core.delete_namespaced_secret, "Service": core.delete_namespaced_service,
              "StatefulSet": self._api("AppsV1Api").delete_namespaced_stateful_set}[kind]
        self.cluster.call(fn, name, namespace, propagation_policy="Background", what=what, _preload_content=False)

    # -- read ------------------------------------------------------------------------------------
    def _find(self, namespace: str, name: str, any_statefulset: bool = False) -> tuple[str | None, dict] | None:
        """(kind, object) of the server ``name``; a Notebook wins over the StatefulSet its controller made."""
        if self.cluster.has(*NOTEBOOK_API):
            group, version = NOTEBOOK_API[0].split("/")
            try:
                return "notebook", self.cluster.call(self._api("CustomObjectsApi").get_namespaced_custom_object, group,
                                                     version, namespace, NOTEBOOK_API[1], name,
                                                     what=f"get notebook {name!r} in namespace {namespace!r}")
            except NotFound:
                pass
        try:
            sts = self.call_json(self._api("AppsV1Api").read_namespaced_stateful_set, name, namespace,
                             what=f"get statefulset {name!r} in namespace {namespace!r}")
        except NotFound:
            return None
        if sts["metadata"].get("labels", {}).get(LABEL_SERVER) == name:
            return "statefulset", sts
        return (None, sts) if any_statefulset else None

    def _locate(self, name: str) -> tuple[str, str, dict]:
        namespace = self.namespace
        found = self._find(namespace, name)
        if not found:
            raise NotebookNotFound(f"no notebook server named {name!r} in namespace {namespace!r}: "
                                   "%kf_notebook list shows yours")
        return namespace, found[0], found[1]

    def get(self, name: str, namespace: str | None = None) -> NotebookStatus:
        if namespace and namespace != self.namespace:
            found = self._find(namespace, name)
            if not found:
                raise NotebookNotFound(f"no notebook server named {name!r} in namespace {namespace!r}")
            kind, obj = found
        else:
            namespace, kind, obj = self._locate(name)
        return self._status(namespace, kind, obj, with_events=True)

    def _pods(self, namespace: str, kind: str, name: str | None = None) -> list[dict]:
        key = "notebook-name" if kind == "notebook" else LABEL_SERVER
        selector = f"{key}={name}" if name else key
        return self.call_json(self._api("CoreV1Api").list_namespaced_pod, namespace, label_selector=selector,
                          what=f"list pods in namespace {namespace!r}")["items"]

    def _events(self, namespace: str, names: list[str]) -> list[dict]:
        events = []
        for involved in names:
            try:
                events += self.call_json(self._api("CoreV1Api").list_namespaced_event, namespace,
                                     field_selector=f"involvedObject.name={involved}",
                                     what=f"list events in namespace {namespace!r}")["items"]
            except KfError:  # not allowed to read events: the status stands on the pod alone
                return []
        return sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")

    def _status(
        self, namespace: str, kind: str, obj: dict, with_events: bool, pods: list | None = None
    ) -> NotebookStatus:
        name = obj["metadata"]["name"]
        pods = self._pods(namespace, kind, name) if pods is None else pods
        ready = any(_pod_ready(p) for p in pods)
        events = []
        if with_events and not ready:
            events = self._events(namespace, [name] + [p["metadata"]["name"] for p in pods])
        status = build_status(kind, obj, pods, events, namespace)
        if status.phase == "Ready":
            status.url, status.hint = self._link(namespace, kind, name, token=status.phase == "Ready")
        return status

    def list(self) -> list[NotebookStatus]:
        namespace = self.namespace
        found: list[tuple[str, dict]] = []
        if self.cluster.has(*NOTEBOOK_API):
            group, version = NOTEBOOK_API[0].split("/")
            items = self.cluster.call(
                self._api("CustomObjectsApi").list_namespaced_custom_object,
                group,
                version,
                namespace,
                NOTEBOOK_API[1],
                what=f"list notebooks in namespace {namespace!r}",
            )["items"]
            found += [("notebook", o) for o in items]
        selector = f"{next(iter(MANAGED_BY))}={next(iter(MANAGED_BY.values()))},{LABEL_SERVER}"
        items = self.call_json(self._api("AppsV1Api").list_namespaced_stateful_set, namespace, label_selector=selector,
                           what=f"list statefulsets in namespace {namespace!r}")["items"]
        found += [("statefulset", o) for o in items
                  if not any(r.get("kind") == "Notebook" for r in o["metadata"].get("ownerReferences") or [])]
        pods = {kind: self._pods(namespace, kind) for kind in {k for k, _ in found}}
        statuses = []
        for kind, obj in found:
            name = obj["metadata"]["name"]
            key = "notebook-name" if kind == "notebook" else LABEL_SERVER
            mine = [p for p in pods[kind] if p["metadata"].get("labels", {}).get(key) == name]
            statuses.append(self._status(namespace, kind, obj, with_events=False, pods=mine))
        return sorted(statuses, key=lambda s: s.created or "", reverse=True)

    # -- act -------------------------------------------------------------------------------------
    def stop(self, name: str) -> NotebookStatus:
        namespace, kind, obj = self._locate(name)
        patch = stop_patch(_now())
        self._patch(namespace, kind, name, patch if kind == "notebook" else {**patch, "spec": {"replicas": 0}}, "stop")
        return self.get(name, namespace)

    def start(self, name: str) -> NotebookStatus:
        namespace, kind, obj = self._locate(name)
        patch = start_patch()
        self._patch(namespace, kind, name, patch if kind == "notebook" else {**patch, "spec": {"replicas": 1}}, "start")
        return self.get(name, namespace)

    def _patch(self, namespace: str, kind: str, name: str, body: dict, verb: str) -> None:
        what = f"{verb} notebook server {name!r} in namespace {namespace!r} (patch {kind})"
        if kind == "notebook":
            group, version = NOTEBOOK_API[0].split("/")
            self.cluster.call(self._api("CustomObjectsApi").patch_namespaced_custom_object, group, version, namespace,
                              NOTEBOOK_API[1], name, body, what=what)
        else:
            self.call_json(self._api("AppsV1Api").patch_namespaced_stateful_set, name, namespace, body, what=what)

    def url(self, name: str) -> NotebookLink:
        namespace, kind, obj = self._locate(name)
        return NotebookLink(*self._link(namespace, kind, name, token=True))

    def _link(self, namespace: str, kind: str, name: str, token: bool) -> tuple[str, str]:
        """The address a browser can open, and the step needed first (port-forward) when there is one."""
        path = url_path(namespace, name)
        query = ""
        if kind == "statefulset" and token:
            secret_token = self._token(namespace, name)
            query = f"lab?token={secret_token}" if secret_token else ""
        base = os.environ.get(KUBEFLOW_URL_ENV, "").rstrip("/")
        if base and kind == "notebook":
            return f"{base}{path}", ""
        if os.environ.get("NB_PREFIX") and kind == "notebook":  # inside Kubeflow: same origin, same gateway
            return path, ""
        forward = f"kubectl port-forward -n {namespace} svc/{name} 8888:80"
        hint = f"run `{forward}` first, then open the link"
        if kind == "statefulset" and token and not query:
            hint += (
                f" (token: kubectl get secret -n {namespace} {name}-token -o jsonpath='{{.data.token}}' | base64 -d)"
            )
        return f"http://127.0.0.1:8888{path}{query}", hint

    def _token(self, namespace: str, name: str) -> str:
        try:
            secret = self.call_json(self._api("CoreV1Api").read_namespaced_secret, f"{name}-token", namespace,
                                what=f"read secret {name}-token")
            return base64.b64decode(secret["data"][TOKEN_KEY]).decode()
        except (KfError, KeyError, ValueError):
            return ""

    def workspace_of(self, name: str) -> str | None:
        """The workspace claim ``delete`` would remove: only one this server created, never a mounted existing one."""
        namespace, kind, obj = self._locate(name)
        return self._own_workspace(namespace, name, obj)

    def _own_workspace(self, namespace: str, name: str, obj: dict) -> str | None:
        claim = workspace_claim(obj["spec"]["template"]["spec"])
        if not claim:
            return None
        try:
            pvc = self.call_json(self._api("CoreV1Api").read_namespaced_persistent_volume_claim, claim, namespace,
                             what=f"read persistentvolumeclaim {claim!r}")
        except NotFound:
            return None
        return claim if pvc["metadata"].get("labels", {}).get(LABEL_SERVER) == name else None

    def delete(self, name: str, keep_workspace: bool) -> str | None:
        """Delete the server (and its workspace unless kept); returns the workspace claim that was kept, if any."""
        namespace, kind, obj = self._locate(name)
        claim = self._own_workspace(namespace, name, obj)
        from jupyter_kf.notebooks.manifests import data_secret_name

        try:
            self._delete_object(namespace, "Secret", data_secret_name(name))  # --data's plan, when there was one
        except NotFound:
            pass
        if kind == "notebook":
            self._delete_object(namespace, "Notebook", name)
        else:
            self._delete_object(namespace, "StatefulSet", name)
            for other, other_name in (("Service", name), ("Secret", f"{name}-token")):
                try:
                    self._delete_object(namespace, other, other_name)
                except NotFound:
                    pass
        if claim and not keep_workspace:
            try:
                self._delete_object(namespace, "PersistentVolumeClaim", claim)
            except NotFound:
                pass
            return None
        return claim


def _quota_or(err: Forbidden, namespace: str) -> KfError:
    text = str(err)
    if "exceeded quota" in text:
        reason = text.split(": ", 1)[-1].rsplit("; ask a cluster admin", 1)[0]
        return QuotaExceeded(
            f"the namespace {namespace!r} has no quota left for this notebook server: {reason}; stop or "
            "delete another server (%kf_notebook list), ask for less, or ask an admin for more quota"
        )
    return err


# -- status from what the cluster shows --------------------------------------------------------------
def _pod_ready(pod: dict) -> bool:
    return pod.get("status", {}).get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in pod["status"].get("conditions") or []
    )


def _describe(pod: dict, events: list[dict]) -> list[str]:
    """What ``kubectl describe`` would point at: conditions not met, waiting containers, recent events."""
    lines = []
    status = pod.get("status", {})
    for c in status.get("conditions") or []:
        if c.get("status") != "True":
            why = ": ".join(x for x in (c.get("reason"), c.get("message")) if x)
            lines.append(f"{c['type']}=False" + (f" ({why})" if why else ""))
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            lines.append(f"container {cs['name']} waiting: {waiting.get('reason', '')}"
                         + (f" ({waiting['message']})" if waiting.get("message") else ""))
    return lines + _event_lines(events)


def _event_lines(events: list[dict]) -> list[str]:
    seen, lines = set(), []
    for e in events[-6:]:
        line = f"event {e.get('reason', '')}: {e.get('message', '')}"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return lines


def workspace_claim(pod_spec: dict) -> str | None:
    """The claim mounted at /home/jovyan: ours names its volume ``workspace``, the Kubeflow web app after the claim."""
    mounts = (pod_spec.get("containers") or [{}])[0].get("volumeMounts") or []
    name = next((m.get("name") for m in mounts if m.get("mountPath", "").rstrip("/") == WORKSPACE_MOUNT), None)
    return next((v["persistentVolumeClaim"]["claimName"] for v in pod_spec.get("volumes") or []
                 if v.get("name") == name and "persistentVolumeClaim" in v), None)


def build_status(kind: str, obj: dict, pods: list[dict], events: list[dict], namespace: str) -> NotebookStatus:
    meta = obj["metadata"]
    name = meta["name"]
    pod_spec = obj["spec"]["template"]["spec"]
    container = (pod_spec.get("containers") or [{}])[0]
    res = container.get("resources") or {}
    requests, limits = res.get("requests") or {}, res.get("limits") or {}
    gpu = next(((k, v) for k, v in limits.items() if k not in ("cpu", "memory", "ephemeral-storage")), None)
    resources = {"cpu": requests.get("cpu", ""), "memory": requests.get("memory", ""),
                 "gpus": int(gpu[1]) if gpu else 0, "gpu_vendor": gpu[0] if gpu else ""}
    topology = (pod_spec.get("nodeSelector") or {}).get(TOPOLOGY_LABEL)
    if topology:
        resources["tpu"] = topology
    workspace = workspace_claim(pod_spec) or ""
    status = NotebookStatus(
        name=name,
        phase="Starting",
        backend="kubernetes",
        kind=KIND_NAME[kind],
        namespace=namespace,
        image=container.get("image", ""),
        resources=resources,
        workspace=workspace,
        created=meta.get("creationTimestamp", ""),
    )
    if meta.get("deletionTimestamp"):
        # deleted with dependents still going (the Kubeflow web app deletes in the foreground): its pod may
        # still answer, but the server is on its way out; the controller no longer reconciles it
        status.phase, status.message = "Terminating", "being deleted"
        return status
    stopped = STOP_ANNOTATION in (meta.get("annotations") or {}) or (
        kind == "statefulset" and obj["spec"].get("replicas") == 0
    )
    if stopped:
        status.phase, status.message = "Stopped", "stopping" if pods else "its workspace is kept"
        return status
    pod = next((p for p in pods if not p["metadata"].get("deletionTimestamp")), None)
    if pod is None:
        failed = [e for e in events if e.get("reason") == "FailedCreate"]
        status.details = _event_lines(events)
        if failed:
            message = failed[-1].get("message", "")
            status.phase = "Waiting"
            status.reason = "quota" if "exceeded quota" in message else "forbidden"
            status.message = (
                "quota exceeded: " if status.reason == "quota" else "the pod cannot be created: "
            ) + message
        else:
            status.message = "waiting for its pod to be created"
        return status
    status.details = _describe(pod, events)
    return _from_pod(status, pod, events)

def _from_pod(status: NotebookStatus, pod: dict, events: list[dict]) -> NotebookStatus:
    """Ready, or what its pod is waiting for: a node, a GPU, an image, the container."""
    pod_status = pod.get("status", {})
    if _pod_ready(pod):
        status.phase = "Ready"
        return status
    if pod_status.get("phase") in ("Failed", "Succeeded"):
        status.phase, status.reason = "Error", "exited"
        status.message = f"the server's pod {pod_status['phase'].lower()}" + (
            f": {pod_status['message']}" if pod_status.get("message") else ""
        )
        return status
    scheduled = next((c for c in pod_status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
    if scheduled and scheduled.get("status") == "False":
        message = scheduled.get("message") or scheduled.get("reason") or "no node fits"
        status.phase, status.reason = "Waiting", "unschedulable"
        vendor = status.resources.get("gpu_vendor")
        gpu_short = vendor and f"Insufficient {vendor}" in message
        status.message = ("no free GPU: " if gpu_short else "cannot be scheduled: ") + message
        return status
    for cs in pod_status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if _container_waiting(status, cs, waiting, events):
            return status
    status.message = "Jupyter is starting" if pod_status.get("phase") == "Running" else "waiting for the pod to start"
    return status


def _container_waiting(status: NotebookStatus, cs: dict, waiting: dict, events: list[dict]) -> bool:
    """Set the status from a container that waits for a known reason; False when it does not."""
    reason = waiting.get("reason", "")
    detail = f" ({waiting['message']})" if waiting.get("message") else ""
    if reason in IMAGE_ERRORS:
        status.phase, status.reason = ("Error" if reason in FATAL else "Starting"), "image"
        status.message = f"cannot pull image {cs.get('image') or status.image}: {reason}{detail}"
        return True
    if reason in FATAL or reason == "CreateContainerError":
        status.phase, status.reason = "Error", reason
        status.message = f"{reason}" + (f": {waiting['message']}" if waiting.get("message") else "")
        return True
    if reason in ("ContainerCreating", "PodInitializing"):
        pulling = [e for e in events if e.get("reason") in ("Pulling", "Pulled")]
        if pulling and pulling[-1]["reason"] == "Pulling":
            status.message = f"pulling image {status.image}"
        else:
            new = "" if events else " (pulling the image if it is new to the node)"
            status.message = f"creating the container{new}"
        status.reason = "pulling"
        return True
    return False
