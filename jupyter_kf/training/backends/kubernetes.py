"""Jobs on a cluster: Kubeflow Trainer v2 TrainJob > Training Operator v1 PyTorchJob > batch/v1 Job.

The bundle travels in a Secret owned by the workload (garbage-collected with it); results come back
through rank 0's log (small) and are kept in a local record, with the logs, so that nothing is lost
when the pods go. Jobs are found again by labels naming the user, after a kernel restart too.

Pods count as the job's only when their owner chain leads to the workload's UID (pod -> Job ->
JobSet -> TrainJob, pod -> PyTorchJob, pod -> Job): a replaced run's pods that linger while they
terminate, or anyone's pod that carries the job's labels, are left out. Results are authenticated
before anything is unpickled: the runner signs them with a per-job key the pod reads from the
bundle Secret (HMAC-SHA256), and the key never leaves this machine and that Secret.
"""
from __future__ import annotations

import base64
import functools
import getpass
import hmac
import json
import os
import secrets
import shutil
import threading
import time
from pathlib import Path

from jupyter_kf import config
from jupyter_kf.errors import AlreadyExists, CaptureError, InvalidSpec, JobExists, JobNotFound, KfError, NotFound
from jupyter_kf.kube.client import ClusterClient, ClusterError, Forbidden, MissingApi
from jupyter_kf.kube.objects import (
    LABEL_JOB,
    LABEL_USER,
    MANAGED_BY,
    RESULT_KEY_FIELD,
    bundle_secret,
    job_labels,
    label_value,
    owner_reference,
)
from jupyter_kf.kube.watch import epoch
from jupyter_kf.terminal import render_line
from jupyter_kf.training import runner
from jupyter_kf.training.backends import Backend
from jupyter_kf.training.backends.kubernetes_status import (
    ANNOTATION_SPEC,
    build_status,
    controlled_by,
    controller_of,
    pod_rank,
)
from jupyter_kf.training.manifests import TrainPlan, build_workload
from jupyter_kf.training.runner import RESULT_MARK
from jupyter_kf.training.spec import TrainSpec
from jupyter_kf.training.status import JobStatus

MANAGED_KEY = next(iter(MANAGED_BY))
STRICT = "Strict"  # unknown fields are an error, never silently pruned
BUNDLE_LIMIT = 900_000  # bytes of the bundle's files; the API server refuses Secrets over 1 MiB
RESULT_KEY_FILE = "result.key"  # the job's result HMAC key, in the local record (0600); never shipped in the bundle
RESULT_REFUSED = "result.refused"  # why the results were not taken (failed authentication)
JOBSET = ("jobset.x-k8s.io", "v1alpha2", "jobsets")
UNREADABLE = object()  # a JobSet this user may not read (Kubeflow's edit role has no jobsets)
KINDS = {  # kind -> (group/version, plural, display name)
    "trainjob": ("trainer.kubeflow.org/v1alpha1", "trainjobs", "TrainJob"),
    "pytorchjob": ("kubeflow.org/v1", "pytorchjobs", "PyTorchJob"),
    "job": ("batch/v1", "jobs", "Job"),
}
MISSING = {
    "trainjob": "Kubeflow Trainer v2 is not installed",
    "pytorchjob": "the Kubeflow Training Operator v1 is not installed",
}


class ResultsRefused(ClusterError):
    """A job's results failed authentication, so they were never unpickled."""

    http_status = 409


def _user() -> str:
    try:
        return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry
        return "unknown"


class NamespaceCache:
    """Watch-fed views of our workloads and pods in one namespace, shared by every job of the kernel."""

    def __init__(self, backend: "KubernetesBackend", namespace: str):
        from jupyter_kf.kube.watch import Informer

        self.changed = threading.Condition()
        selector = f"{MANAGED_KEY}={MANAGED_BY[MANAGED_KEY]}"
        core, batch, custom = backend._api("CoreV1Api"), backend._api("BatchV1Api"), backend._api("CustomObjectsApi")
        self.pods = Informer(backend.cluster, core.list_namespaced_pod, (namespace,), selector, self.changed)
        self.workloads = {
            "job": Informer(backend.cluster, batch.list_namespaced_job, (namespace,), selector, self.changed)
        }
        for kind in ("trainjob", "pytorchjob"):
            if backend.cluster.has(*KINDS[kind][:2]):
                group, version = KINDS[kind][0].split("/")
                self.workloads[kind] = Informer(backend.cluster, custom.list_namespaced_custom_object,
                                                (group, version, namespace, KINDS[kind][1]), selector, self.changed)
        self.followers: dict[str, object] = {}
        self.owners: dict[tuple, bool] = {}  # (pod uid, workload uid) -> made by it (cached answers)

    def synced(self, kind: str, timeout: float = 5.0) -> bool:
        return self.pods.synced.wait(timeout) and kind in self.workloads and self.workloads[kind].synced.wait(timeout)

    def trouble(self, kind: str) -> str | None:
        """The last failure a watch retried past, so a stale status says why it may be stale."""
        for informer in (self.workloads.get(kind), self.pods):
            if informer is not None and informer.last_error:
                return f"status may be stale ({informer.last_error}; retrying)"
        return None

    def job_pods(self, name: str) -> list[dict]:
        with self.changed:
            return [p for p in self.pods.objects.values() if p["metadata"].get("labels", {}).get(LABEL_JOB) == name]


_caches: dict[tuple, NamespaceCache] = {}
_caches_lock = threading.Lock()


def reset() -> None:
    """Forget connections and stop the watches (a new kubeconfig, or between tests)."""
    from jupyter_kf.kube.client import reset_connections

    with _caches_lock:
        for cache in _caches.values():
            for informer in [cache.pods, *cache.workloads.values()]:
                informer.stopped = True
        _caches.clear()
    reset_connections()


class KubernetesBackend(ClusterClient, Backend):
    name = "kubernetes"

    def cache(self, namespace: str) -> NamespaceCache:
        key = (self.cluster.host, self.cluster.context, namespace)
        with _caches_lock:
            if key not in _caches:
                _caches[key] = NamespaceCache(self, namespace)
            return _caches[key]

    def pause(self, name: str, seconds: float) -> None:
        """Sleep until something about our jobs changes (a watch event, a log line), at most ~2 s."""
        cache = self.cache(self.meta(name)["namespace"])
        with cache.changed:
            cache.changed.wait(max(seconds, 2.0))

    # -- the local record: what we keep on this machine about a cluster job ----------------------
    @property
    def records(self) -> Path:
        return Path(config.get().state_dir).expanduser() / "kubernetes"

    def record(self, name: str, namespace: str | None = None) -> Path:
        return self.records / (namespace or self.cluster.namespace) / name

    def _find_record(self, name: str) -> Path:
        own = self.record(name)
        if (own / "meta.json").is_file():
            return own
        for folder in self.records.glob(f"*/{name}"):
            if (folder / "meta.json").is_file():
                return folder
        return own

    def meta(self, name: str) -> dict:
        folder = self._find_record(name)
        try:
            return json.loads((folder / "meta.json").read_text())
        except FileNotFoundError:
            return self._adopt(name)

    def _adopt(self, name: str) -> dict:
        """A job this machine has no record of (another machine, a wiped state folder): find it by label."""
        for status in self.list():
            if status.name == name:
                meta = {
                    "spec": {"name": name, "workers": status.resources.get("workers", 1)},
                    "namespace": status.namespace,
                    "kind": next(k for k, v in KINDS.items() if v[2] == status.kind),
                    "adopted": True,
                }
                folder = self.record(name, status.namespace)
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "meta.json").write_text(json.dumps(meta))
                return meta
        raise JobNotFound(f"no job named {name!r} in namespace {self.cluster.namespace!r}: %kf_jobs lists yours")

    # -- submit ------------------------------------------------------------------------------
    def prepare(self, spec: TrainSpec) -> Path:
        folder = self.record(spec.name, spec.namespace)
        if folder.exists():
            meta_file = folder / "meta.json"
            if meta_file.is_file() and not json.loads(meta_file.read_text()).get("deleted"):
                try:
                    phase = self.status(spec.name).phase
                except NotFound:
                    phase = None
                if phase is not None:
                    raise JobExists(
                        f"a job named {spec.name!r} already exists ({phase}) in namespace "
                        f"{spec.namespace or self.cluster.namespace!r}: choose another --name, or add --replace"
                    )
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        return folder

    def discard(self, spec: TrainSpec, bundle: Path) -> None:
        shutil.rmtree(bundle, ignore_errors=True)

    def choose_kind(self, requested: str) -> str:
        available = [k for k in ("trainjob", "pytorchjob") if self.cluster.has(KINDS[k][0], KINDS[k][1])] + ["job"]
        if requested in (None, "", "auto"):
            return available[0]
        if requested not in available:
            found = ", ".join(KINDS[k][2] for k in available)
            raise MissingApi(
                f"--kind {requested}: the cluster has no {KINDS[requested][2]} API ({MISSING[requested]}); "
                f"it offers {found}: use --kind {available[0]} or leave --kind out"
            )
        return requested

    def _runtime_kind(self, runtime: str, namespace: str) -> str:
        """Which kind of training runtime ``runtime`` is: a TrainingRuntime in the namespace wins over a
        ClusterTrainingRuntime of the same name, as in the Kubeflow SDK. Say which exist when neither does."""
        api = self._api("CustomObjectsApi")
        group, version = KINDS["trainjob"][0].split("/")
        found, looked = [], 0
        for kind, call, args in (
            ("TrainingRuntime", api.list_namespaced_custom_object, (group, version, namespace, "trainingruntimes")),
            ("ClusterTrainingRuntime", api.list_cluster_custom_object, (group, version, "clustertrainingruntimes")),
        ):
            try:
                items = self.cluster.call(call, *args, what=f"list {kind}s")["items"]
            except KfError:
                continue  # cannot look there: the Trainer's webhook will tell
            looked += 1
            names = [item["metadata"]["name"] for item in items]
            if runtime in names:
                return kind
            found += names
        if looked == 2:
            raise InvalidSpec(
                f"training runtime {runtime!r} not found: the cluster has {', '.join(sorted(set(found))) or 'none'}; "
                "pick one with --runtime"
            )
        return "ClusterTrainingRuntime"

    def submit(self, spec: TrainSpec, bundle: Path) -> None:
        key = secrets.token_hex(32)  # signs this run's results; a replaced run's are refused
        namespace, kind, secret, objects, meta = self.plan(spec, bundle, key)
        fd = os.open(bundle / RESULT_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        if meta.get("store"):  # the payload goes first: a job must never start without its inputs
            store = store_location(namespace, spec.name, for_pods=False)
            runner.s3_request("PUT", store, store["prefix"] + "payload.bin", (bundle / "payload.bin").read_bytes())
        self._create_all(namespace, kind, secret, objects)
        (bundle / "meta.json").write_text(json.dumps(meta))

    def render(self, spec: TrainSpec, bundle: Path) -> str:
        """The exact objects ``submit`` would create, as YAML (the bundle's file contents elided)."""
        import yaml

        from jupyter_kf.kube.client import OfflineCluster

        try:
            _, _, secret, objects, _ = self.plan(spec, bundle, "")
            assumed = ""
        except ClusterError as err:  # no cluster to ask: what kubectl --dry-run=client would show
            offline = OfflineCluster(api_client=None, namespace=config.get().namespace or "default", reason=str(err))
            _, _, secret, objects, _ = KubernetesBackend(cluster=offline).plan(spec, bundle, "")
            assumed = offline.assumed()
        shown = json.loads(json.dumps(secret))
        for key, value in shown["data"].items():
            shown["data"][key] = (
                "<made at submit>" if key == RESULT_KEY_FIELD else f"<{len(base64.b64decode(value))} bytes>"
            )
        return assumed + yaml.safe_dump_all([shown, *objects], sort_keys=False)

    def plan(self, spec: TrainSpec, bundle: Path, result_key: str):
        """Namespace, kind, bundle Secret, objects to create (workload last) and the record's metadata."""
        cluster = self.cluster
        namespace = spec.namespace or cluster.namespace
        kind = self.choose_kind(spec.kind)
        runtime = spec.runtime or "torch-distributed"
        runtime_kind, minor = "ClusterTrainingRuntime", 3
        if kind == "trainjob":
            minor = cluster.trainer_minor()
            if minor < 1:
                raise MissingApi(
                    "--kind trainjob: this cluster runs Kubeflow Trainer v2.0, whose TrainJob API jupyter_kf "
                    "does not speak (v2.1+ it does): use --kind pytorchjob or --kind job"
                )
            runtime_kind = self._runtime_kind(runtime, namespace)
        meta = json.loads((bundle / "meta.json").read_text())
        if store_location(namespace, spec.name, for_pods=True) and not (bundle / "payload.bin").exists():
            runner.write_frames(str(bundle / "payload.bin"), {})  # no inputs: with a store, the runner looks for them
        files = {str(p.relative_to(bundle)): p.read_bytes() for p in sorted(bundle.rglob("*"))
                 if p.is_file() and p.name not in (RESULT_KEY_FILE, RESULT_REFUSED)}
        files.update(_cloudpickle_sources())
        from jupyter_kf.datasets import api as data_api  # kf.data.put / load in the cell: the store, for pods

        data_env = data_api.pod_store_env()
        if data_env:
            files.update(data_api.pod_files())
        labels = job_labels(spec.name, _user(), meta.get("notebook", ""), spec.queue)
        name = bundle_name(spec.name)
        size = sum(len(v) for v in files.values())
        store = store_location(namespace, spec.name, for_pods=True)
        if store:  # the pods reach the store for large results, and for the payload when it is large
            meta["store"] = store
            spec = _with_store_credentials(spec)
            if size > BUNDLE_LIMIT:
                files.pop("payload.bin")
            files["meta.json"] = json.dumps(meta).encode()
        elif size > BUNDLE_LIMIT:
            raise CaptureError(
                f"the job's code and inputs take {size / 2**10:.0f} KiB, more than a Secret carries "
                f"(~{BUNDLE_LIMIT // 1024} KiB), and no store is configured: set c.KfConfig.store "
                "(s3://bucket/prefix), or load large data inside the cell (from a volume, --volume pvc:CLAIM:/data)"
            )
        secret, items = bundle_secret(name, namespace, files, labels, result_key)
        image = spec.image or config.get().image or f"python:{meta['python']}-slim"
        data_plan = bundle / "data.json"  # --data: what the init step fetches (datasets.api.mount_into wrote it)
        data = tuple(json.loads(data_plan.read_text())["data"]) if data_plan.is_file() else ()
        plan = TrainPlan(spec=spec, namespace=namespace, image=image, bundle=name, bundle_items=items, labels=labels,
                         runtime=runtime, runtime_kind=runtime_kind, trainer_minor=minor, data=data)
        objects = build_workload(plan, kind)
        workload = objects[-1]
        workload["metadata"].setdefault("annotations", {})[ANNOTATION_SPEC] = json.dumps(
            {k: v for k, v in spec.to_dict().items() if k in ("workers", "cpu", "memory", "gpus") or k == "tpu" and v})
        _add_env(workload, {"KF_RESULT_VIA_LOG": "1", **data_env})
        meta.update(namespace=namespace, kind=kind, context=cluster.context, image=image)
        return namespace, kind, secret, objects, meta

    def _create_all(self, namespace: str, kind: str, secret: dict, objects: list[dict]) -> None:
        """Secret, then Service(s), then the workload; ownership patched last. Any failure undoes it all."""
        core = self._api("CoreV1Api")
        created: list[tuple[str, str]] = []
        name = objects[-1]["metadata"]["name"]
        try:
            self.cluster.call(core.create_namespaced_secret, namespace, secret, field_validation=STRICT,
                              what=f"create secrets in namespace {namespace!r}")
            created.append(("secret", secret["metadata"]["name"]))
            for obj in objects[:-1]:
                self.cluster.call(core.create_namespaced_service, namespace, obj, field_validation=STRICT,
                                  what=f"create services in namespace {namespace!r}")
                created.append(("service", obj["metadata"]["name"]))
            workload = self._create_workload(namespace, kind, objects[-1])
            created.append((kind, name))
        except AlreadyExists as e:
            self._undo(namespace, created)
            if "object is being deleted" in str(e):  # the API server's 409 for a name whose deletion is under way
                raise JobExists(f"a job named {name!r} is still being deleted in namespace {namespace!r}: "
                                "run it again in a moment, or choose another --name") from None
            raise JobExists(f"a job named {name!r} already exists in namespace {namespace!r}: choose another --name, "
                            "or add --replace") from None
        except BaseException:
            self._undo(namespace, created)
            raise
        # The job runs already; making it the owner of its Secret/Service (so they go with it) needn't
        # hold up the notebook.
        threading.Thread(target=self._set_owner, args=(namespace, workload, created[:-1]), daemon=True).start()

    def _set_owner(self, namespace: str, workload: dict, parts: list[tuple[str, str]]) -> None:
        core = self._api("CoreV1Api")
        owner = {"metadata": {"ownerReferences": [owner_reference(workload)]}}
        patch = {"secret": core.patch_namespaced_secret, "service": core.patch_namespaced_service}
        for kind, name in parts:
            try:
                self.cluster.call(patch[kind], name, namespace, owner, what=f"set the owner of {kind} {name!r}")
            except KfError:
                pass  # left without owner: deleted with the job's record by %kf_delete

    def _create_workload(self, namespace: str, kind: str, body: dict) -> dict:
        what = f"create {KINDS[kind][1]} in namespace {namespace!r}"
        if kind == "job":
            created = self.cluster.call(self._api("BatchV1Api").create_namespaced_job, namespace, body, what=what,
                                        field_validation=STRICT,
                                        _preload_content=False)
            return json.loads(created.data)
        group, version = KINDS[kind][0].split("/")
        return self.cluster.call(
            self._api("CustomObjectsApi").create_namespaced_custom_object,
            group,
            version,
            namespace,
            KINDS[kind][1],
            body,
            field_validation=STRICT,
            what=what,
        )

    def _delete_object(self, namespace: str, kind: str, name: str) -> None:
        what = f"delete {kind} {name!r} in namespace {namespace!r}"
        if kind == "secret":
            self.cluster.call(self._api("CoreV1Api").delete_namespaced_secret, name, namespace, what=what)
        elif kind == "service":
            self.cluster.call(self._api("CoreV1Api").delete_namespaced_service, name, namespace, what=what)
        elif kind == "job":
            self.cluster.call(self._api("BatchV1Api").delete_namespaced_job, name, namespace,
                              propagation_policy="Background", what=what)
        else:
            group, version = KINDS[kind][0].split("/")
            self.cluster.call(self._api("CustomObjectsApi").delete_namespaced_custom_object, group, version, namespace,
                              KINDS[kind][1], name, propagation_policy="Background", what=what)

    # -- reading -----------------------------------------------------------------------------
    def _get(self, namespace: str, kind: str, name: str) -> dict:
        what = f"get {KINDS[kind][1]} {name!r} in namespace {namespace!r}"
        if kind == "job":
            resp = self.cluster.call(
                self._api("BatchV1Api").read_namespaced_job, name, namespace, what=what, _preload_content=False
            )
            return json.loads(resp.data)
        group, version = KINDS[kind][0].split("/")
        return self.cluster.call(self._api("CustomObjectsApi").get_namespaced_custom_object, group, version, namespace,
                                 KINDS[kind][1], name, what=what)

    def _pods(self, namespace: str, selector: str) -> list[dict]:
        resp = self.cluster.call(self._api("CoreV1Api").list_namespaced_pod, namespace, label_selector=selector,
                                 what=f"list pods in namespace {namespace!r}", _preload_content=False)
        return json.loads(resp.data)["items"]

    def _workload(self, namespace: str, kind: str, name: str) -> dict:
        """The workload object, from the watch when it has it."""
        cache = self.cache(namespace)
        obj = cache.workloads[kind].objects.get(name) if cache.synced(kind) else None
        return obj if obj is not None else self._get(namespace, kind, name)

    def _job_pods(self, namespace: str, kind: str, workload: dict, watched: bool = True) -> list[dict]:
        """The pods this very workload made (by UID), oldest first; see the module's docstring."""
        cache = self.cache(namespace)
        name = workload["metadata"]["name"]
        pods = cache.job_pods(name) if watched and cache.synced(kind) else self._pods(namespace, f"{LABEL_JOB}={name}")
        return self._owned(namespace, kind, workload, pods)

    def _owned(self, namespace: str, kind: str, workload: dict, pods: list[dict]) -> list[dict]:
        """Of ``pods``, those ``workload`` made, oldest first (answers cached per pod and workload UID)."""
        owners = self.cache(namespace).owners
        uid = workload["metadata"]["uid"]
        owned = []
        for pod in pods:
            key = (pod["metadata"]["uid"], uid)
            made = owners.get(key)
            if made is None:
                made = self._made_by(namespace, kind, workload, pod)
                if made is not None:
                    owners[key] = made
            if made:
                owned.append(pod)
        return sorted(owned, key=lambda p: p["metadata"].get("creationTimestamp", ""))

    def _made_by(self, namespace: str, kind: str, workload: dict, pod: dict) -> bool | None:
        """Whether ``workload`` made ``pod``; None when that cannot be told yet (the API failed)."""
        if kind != "trainjob":  # the Training Operator and the Job controller own their pods directly
            return controlled_by(pod, workload)
        ref = controller_of(pod)  # pod -> Job -> JobSet -> TrainJob
        if not ref or ref.get("kind") != "Job":
            return False
        try:
            job = self._get(namespace, "job", ref["name"])
            parent = controller_of(job)
            if (job["metadata"].get("uid") != ref.get("uid") or job["metadata"].get("deletionTimestamp") or not parent
                    or parent.get("kind") != "JobSet" or parent.get("name") != workload["metadata"]["name"]):
                return False
            jobset = self._jobset(namespace, parent["name"])
        except NotFound:
            return False
        except KfError:
            return None
        if jobset is UNREADABLE:  # a Job made before this TrainJob was made for a replaced one
            return epoch(job["metadata"]["creationTimestamp"]) >= epoch(workload["metadata"]["creationTimestamp"])
        return jobset["metadata"].get("uid") == parent.get("uid") and controlled_by(jobset, workload, "TrainJob")

    def _jobset(self, namespace: str, name: str):
        """A JobSet, or UNREADABLE when this user may not read JobSets or the API is not served."""
        group, version, plural = JOBSET
        if not self.cluster.has(f"{group}/{version}", plural):
            return UNREADABLE
        try:
            return self.cluster.call(
                self._api("CustomObjectsApi").get_namespaced_custom_object,
                group,
                version,
                namespace,
                plural,
                name,
                what=f"get jobsets {name!r} in namespace {namespace!r}",
            )
        except Forbidden:
            return UNREADABLE

    def status(self, name: str) -> JobStatus:
        meta = self.meta(name)
        namespace, kind = meta["namespace"], meta["kind"]
        folder = self.record(name, namespace)
        saved = folder / "status.json"
        if saved.is_file():  # ended and recorded (cancelled, or finished and its logs kept)
            return _status_from_dict(json.loads(saved.read_text()))
        cache = self.cache(namespace)
        obj = cache.workloads[kind].objects.get(name) if cache.synced(kind) else None
        watched = obj is not None
        if obj is None:  # not seen by the watch yet (just created), or gone
            try:
                obj = self._get(namespace, kind, name)
            except NotFound:
                raise JobNotFound(
                    f"job {name!r} is gone from namespace {namespace!r}: it was deleted outside jupyter_kf "
                    "(kubectl, another user, or a TTL); its logs and results are lost unless they were fetched"
                ) from None
        status = build_status(kind, obj, self._job_pods(namespace, kind, obj, watched))
        if status.done:
            self._keep(name, status, kind, obj)
        elif trouble := cache.trouble(kind):
            status.message = f"{status.message}; {trouble}" if status.message else trouble
        return status

    def _keep(self, name: str, status: JobStatus, kind: str, obj: dict) -> None:
        """A finished job's logs and results are copied here before anything can delete the pods."""
        folder = self.record(name, status.namespace)
        try:
            self._save_logs(name, status.namespace, kind, obj)
            self._extract_results(folder)
        except KfError:
            return  # try again next time
        if any(worker.phase in ("Pending", "Running") for worker in status.workers):
            return  # copied again until every worker has ended: a PyTorchJob succeeds with its master alone
        tmp = folder / "status.json.tmp"
        tmp.write_text(json.dumps(status.to_dict()))
        os.replace(tmp, folder / "status.json")

    def list(self) -> list[JobStatus]:
        cluster = self.cluster
        namespace = cluster.namespace
        selector = f"{MANAGED_KEY}={MANAGED_BY[MANAGED_KEY]},{LABEL_USER}={label_value(_user())}"
        pods = self._pods(namespace, selector)
        by_job: dict[str, list] = {}
        for pod in pods:
            by_job.setdefault(pod["metadata"].get("labels", {}).get(LABEL_JOB, ""), []).append(pod)
        statuses = {}
        for kind in [k for k in ("trainjob", "pytorchjob") if cluster.has(*KINDS[k][:2])] + ["job"]:
            for obj in self._list_kind(namespace, kind, selector):
                job_name = obj["metadata"]["name"]
                statuses[job_name] = build_status(
                    kind, obj, self._owned(namespace, kind, obj, by_job.get(job_name, []))
                )
        for folder in (self.records / namespace).glob("*/status.json"):  # cancelled or deleted, but recorded
            saved = _status_from_dict(json.loads(folder.read_text()))
            statuses.setdefault(saved.name, saved)
        return sorted(statuses.values(), key=lambda s: s.created or "", reverse=True)

    def check_access(self, namespace: str) -> None:
        """One checked call: the watches retry quietly forever, so a 403 must show before they start."""
        self.cluster.call(self._api("CoreV1Api").list_namespaced_pod, namespace, limit=1,
                          label_selector=f"{MANAGED_KEY}={MANAGED_BY[MANAGED_KEY]}", _preload_content=False,
                          what=f"list pods in namespace {namespace!r}")

    def watched(self, namespace: str) -> list[JobStatus]:
        """This user's jobs in ``namespace`` from the watch-fed cache (no request per call), newest first;
        pods count only when the workload made them, and a recorded (ended, cancelled) status wins."""
        cache = self.cache(namespace)
        for informer in [cache.pods, *cache.workloads.values()]:
            informer.synced.wait(5.0)
        user = label_value(_user())
        with cache.changed:
            pods: dict[str, list] = {}
            for pod in cache.pods.objects.values():
                pods.setdefault(pod["metadata"].get("labels", {}).get(LABEL_JOB, ""), []).append(pod)
            workloads = [(kind, obj) for kind, informer in cache.workloads.items() for obj in informer.objects.values()
                         if obj["metadata"].get("labels", {}).get(LABEL_USER) == user]
        statuses = {}
        for kind, obj in workloads:
            mine = self._owned(namespace, kind, obj, pods.get(obj["metadata"]["name"], []))
            statuses[obj["metadata"]["name"]] = build_status(kind, obj, mine)
        for saved in (self.records / namespace).glob("*/status.json"):
            try:
                status = _status_from_dict(json.loads(saved.read_text()))
            except (OSError, ValueError, TypeError):
                continue
            statuses[status.name] = status
        return sorted(statuses.values(), key=lambda s: s.created or "", reverse=True)

    def _list_kind(self, namespace: str, kind: str, selector: str) -> list[dict]:
        what = f"list {KINDS[kind][1]} in namespace {namespace!r}"
        if kind == "job":
            resp = self.cluster.call(self._api("BatchV1Api").list_namespaced_job, namespace, label_selector=selector,
                                     what=what, _preload_content=False)
            return json.loads(resp.data)["items"]
        group, version = KINDS[kind][0].split("/")
        return self.cluster.call(self._api("CustomObjectsApi").list_namespaced_custom_object, group, version, namespace,
                                 KINDS[kind][1], label_selector=selector, what=what)["items"]

    # -- logs ----------------------------------------------------------------------------------
    def read_logs(self, name: str, cursor: dict | None = None):
        """New lines of every worker since ``cursor``: timestamps make reconnects exact (no loss, no repeats)."""
        meta = self.meta(name)
        namespace = meta["namespace"]
        cursor = dict(cursor or {})
        saved = self.record(name, namespace) / "logs"
        lines = []
        if saved.is_dir():  # the job ended: read the copy
            for path in sorted(saved.glob("worker-*.log")):
                rank = int(path.stem.split("-")[1])
                done = cursor.get(f"saved-{rank}", 0)
                all_lines = path.read_text().splitlines()
                lines += [(rank, line) for line in all_lines[done:]]
                cursor[f"saved-{rank}"] = len(all_lines)
            return lines, cursor
        cache = self.cache(namespace)
        try:
            workload = self._workload(namespace, meta["kind"], name)
        except NotFound:
            return lines, cursor
        for pod in self._job_pods(namespace, meta["kind"], workload):
            rank, uid = pod_rank(pod), pod["metadata"]["uid"]
            if pod.get("status", {}).get("phase", "Pending") == "Pending":
                continue
            follower = self._follower(cache, namespace, pod)
            new, cursor[uid] = follower.since(cursor.get(uid, 0))
            lines += [(rank, line) for line in new if not line.startswith(RESULT_MARK)]
        return lines, cursor

    def _follower(self, cache: NamespaceCache, namespace: str, pod: dict):
        from jupyter_kf.kube.watch import LogFollower, output_container

        uid, pod_name = pod["metadata"]["uid"], pod["metadata"]["name"]
        with cache.changed:
            if uid not in cache.followers:
                def finished():
                    current = cache.pods.objects.get(pod_name, pod)
                    return current.get("status", {}).get("phase") in ("Succeeded", "Failed")

                cache.followers[uid] = LogFollower(
                    self.cluster, self._api("CoreV1Api"), namespace, pod_name, finished, cache.changed,
                    container=output_container(pod),
                )
            return cache.followers[uid]

    def _full_logs(self, namespace: str, kind: str, workload: dict) -> dict[int, list[str]]:
        """Each rank's whole log; of a rank's pods (a retried worker) the newest counts."""
        from jupyter_kf.kube.watch import collector_line, output_container

        logs: dict[int, list[str]] = {}
        for pod in self._job_pods(namespace, kind, workload, watched=False):
            container = output_container(pod)  # Katib's collector on a trial's primary pod
            try:
                resp = self.cluster.call(
                    self._api("CoreV1Api").read_namespaced_pod_log,
                    pod["metadata"]["name"],
                    namespace,
                    what=f"read the log of pod {pod['metadata']['name']!r}",
                    _preload_content=False,
                    **({"container": container} if container else {}),
                )
            except KfError:
                continue
            text = resp.data.decode("utf-8", "replace")  # lines end at \n only: a \r redraws its line
            lines = text.removesuffix("\n").split("\n") if text else []
            if container:
                lines = [line for line in map(collector_line, lines) if line is not None]
            logs[pod_rank(pod)] = [render_line(line) for line in lines]
        return logs

    def _save_logs(self, name: str, namespace: str, kind: str, workload: dict) -> None:
        folder = self.record(name, namespace)
        logs = self._full_logs(namespace, kind, workload)
        (folder / "logs").mkdir(exist_ok=True)
        for rank, lines in logs.items():
            kept = [line for line in lines if not line.startswith(RESULT_MARK)]
            (folder / "logs" / f"worker-{rank}.log").write_text("".join(line + "\n" for line in kept))
            if rank == 0:
                (folder / "rank0-full.log").write_text("".join(line + "\n" for line in lines))

    def _extract_results(self, folder: Path) -> None:
        """Rank 0 printed its results as base64 lines, signed: take them back out of the saved log, and
        keep them only if their HMAC is this run's (nothing unauthenticated is ever unpickled)."""
        full = folder / "rank0-full.log"
        if (folder / "result.json").exists() or (folder / RESULT_REFUSED).exists() or not full.exists():
            return
        chunks: dict[str, list[str]] = {"json": [], "pkl": [], "mac": []}
        for line in full.read_text().splitlines():
            if line.startswith(RESULT_MARK):
                parts = line.split(" ", 2)
                if len(parts) == 3 and parts[1] in chunks:
                    chunks[parts[1]].append(parts[2])
        if chunks["json"]:
            meta = json.loads((folder / "meta.json").read_text())
            name = meta["spec"]["name"]
            try:
                summary = base64.b64decode("".join(chunks["json"]), validate=True)
                pickled = base64.b64decode("".join(chunks["pkl"]), validate=True) if chunks["pkl"] else None
                if json.loads(summary).get("result_in_store"):
                    store = store_location(meta["namespace"], name, for_pods=False)
                    pickled = runner.s3_request("GET", store, store["prefix"] + "result.pkl")
            except ValueError:
                summary = pickled = None
            key = self._result_key(folder, meta)
            if key is None:
                refused = (
                    f"the results of job {name!r} cannot be authenticated: its key is gone (no local record and no "
                    f"Secret {bundle_name(name)!r} left), so they were not loaded"
                )
            elif (summary is None or not chunks["mac"]
                  or not hmac.compare_digest(chunks["mac"][-1].encode("utf-8", "replace"),
                                             runner.result_mac(key, summary, pickled).encode("ascii"))):
                refused = (
                    f"the results of job {name!r} failed authentication (not signed with this run's key: another pod "
                    "wrote them, or they were altered), so they were not loaded; %kf_logs shows the job's output"
                )
            else:
                refused = ""
            if refused:
                (folder / RESULT_REFUSED).write_text(refused)
            else:
                if pickled is not None:
                    (folder / "result.pkl").write_bytes(pickled)
                (folder / "result.json").write_bytes(summary)
        full.unlink()

    def _result_key(self, folder: Path, meta: dict) -> str | None:
        """This run's result key: from the local record, else (a job adopted from another machine) from
        its bundle Secret while the workload keeps it."""
        try:
            return (folder / RESULT_KEY_FILE).read_text().strip()
        except FileNotFoundError:
            pass
        name = bundle_name(meta["spec"]["name"])
        try:
            secret = self.cluster.call(self._api("CoreV1Api").read_namespaced_secret, name, meta["namespace"],
                                       what=f"read secret {name!r}", _preload_content=False)
            return base64.b64decode(json.loads(secret.data)["data"][RESULT_KEY_FIELD]).decode("ascii")
        except (NotFound, Forbidden, KeyError, ValueError):
            return None

    # -- actions -------------------------------------------------------------------------------
    def cancel(self, name: str) -> JobStatus:
        status = self.status(name)
        if status.done:
            return status
        meta = self.meta(name)
        namespace = meta["namespace"]
        self._save_logs(name, namespace, meta["kind"], self._workload(namespace, meta["kind"], name))
        status.phase, status.message = "Cancelled", "cancelled by the user"
        status.finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for worker in status.workers:
            if worker.phase in ("Pending", "Running"):
                worker.phase = "Cancelled"
        # Recorded before the delete: a follower that looks in between sees a cancel, not a job gone missing.
        saved = self.record(name, namespace) / "status.json"
        saved.write_text(json.dumps(status.to_dict()))
        try:
            self._delete_object(namespace, meta["kind"], name)
        except BaseException:
            saved.unlink(missing_ok=True)
            raise
        return status

    def delete(self, name: str) -> None:
        meta = self.meta(name)
        namespace = meta["namespace"]
        try:
            self._delete_object(namespace, meta["kind"], name)
        except NotFound:
            pass
        # The bundle Secret (and a Job's Service) go with the workload, but only once the garbage collector gets
        # to them: deleted here too, so a --replace or re-submit of this name right after does not meet them.
        for kind, part in (("secret", bundle_name(name)),) + ((("service", name),) if meta["kind"] == "job" else ()):
            try:
                self._delete_object(namespace, kind, part)
            except (NotFound, Forbidden):
                pass
        shutil.rmtree(self.record(name, namespace), ignore_errors=True)

    def result_dir(self, name: str) -> Path:
        meta = self.meta(name)
        folder = self.record(name, meta["namespace"])
        if not (folder / "result.json").exists():
            self.status(name)  # a finished job's results are fetched as a side effect
        refused = folder / RESULT_REFUSED
        if refused.exists():
            raise ResultsRefused(refused.read_text())
        return folder


def bundle_name(job: str) -> str:
    """The bundle Secret of a job (its code, inputs and result key)."""
    return f"{job}-kf-bundle"


def store_location(namespace: str, name: str, for_pods: bool) -> dict | None:
    """Where a job's large payload and results live in the configured store (None: no store)."""
    cfg = config.get()
    if not cfg.store:
        return None
    if not cfg.store.startswith("s3://") or not cfg.store_endpoint:
        raise InvalidSpec(f"store {cfg.store!r} is not usable: set c.KfConfig.store = 's3://bucket/prefix' and "
                          "c.KfConfig.store_endpoint to its URL")
    bucket, _, prefix = cfg.store[len("s3://"):].partition("/")
    endpoint = (cfg.store_cluster_endpoint or cfg.store_endpoint) if for_pods else cfg.store_endpoint
    key = "/".join(part for part in (prefix.strip("/"), namespace, name) if part) + "/"
    return {"endpoint": endpoint, "bucket": bucket, "prefix": key, "region": cfg.store_region}


def _with_store_credentials(spec: TrainSpec) -> TrainSpec:
    """Pods read the store's credentials from the configured Secret (a reference; never the values)."""
    import dataclasses

    secret = config.get().store_secret
    if not secret:
        raise InvalidSpec("c.KfConfig.store is set but c.KfConfig.store_secret is not: name the Kubernetes Secret "
                          "holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the pods")
    refs = {key: (secret, key) for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    return dataclasses.replace(spec, secret_env={**refs, **spec.secret_env})


@functools.lru_cache(maxsize=1)
def _cloudpickle_sources() -> dict[str, bytes]:
    """The runner needs cloudpickle: ship this kernel's copy (the version that pickled the inputs)."""
    import cloudpickle

    source = Path(cloudpickle.__file__).parent
    return {f"src/cloudpickle/{path.name}": path.read_bytes() for path in sorted(source.glob("*.py"))}


def _add_env(workload: dict, env: dict) -> None:
    """Add env vars to every container of the workload, wherever its kind keeps them."""
    def visit(node):
        if isinstance(node, dict):
            if "command" in node and isinstance(node.get("env"), list):
                node["env"] += [{"name": k, "value": v} for k, v in env.items()]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(workload["spec"])


def _status_from_dict(data: dict) -> JobStatus:
    from jupyter_kf.training.status import WorkerStatus

    data = dict(data)
    data["workers"] = [WorkerStatus(**w) for w in data.get("workers", [])]
    return JobStatus(**data)
