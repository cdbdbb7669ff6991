"""Training workloads for one cell: Kubeflow Trainer v2 TrainJob, Training Operator v1 PyTorchJob,
or a plain batch/v1 Job (Indexed + headless Service for several workers), each with its env contract."""
from __future__ import annotations

from dataclasses import dataclass, field

from jupyter_kf.datasets import manifests as data_manifests
from jupyter_kf.errors import InvalidSpec
from jupyter_kf.kube.objects import (
    BUNDLE_MOUNT,
    NO_ISTIO_SIDECAR,
    OUTPUT_MOUNT,
    RESULT_KEY_FIELD,
    env_list,
    resources,
    volumes_and_mounts,
)
from jupyter_kf.training.runner import RESULT_KEY_ENV
from jupyter_kf.training.spec import TrainSpec

MASTER_PORT = 29500
# The Trainer's JobSet plugin requires a domain-prefixed path (validation.IsDomainPrefixedPath).
TRAINER_PATCH_MANAGER = "jupyter-kf.io/jupyter-kf"
TRAINER_GROUP = "trainer.kubeflow.org"
KUEUE_PRIORITY = "kueue.x-k8s.io/priority-class"
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


@dataclass(frozen=True)
class TrainPlan:
    """Everything the builders need beyond the spec, decided by the backend (namespace, image, ...)."""

    spec: TrainSpec
    namespace: str
    image: str
    bundle: str  # the bundle Secret's name
    bundle_items: list = field(default_factory=list)
    labels: dict = field(default_factory=dict)
    runtime: str = "torch-distributed"
    runtime_kind: str = "ClusterTrainingRuntime"
    trainer_minor: int = 3
    data: tuple = ()  # --data entries ({"mount", "pvc"}) from the bundle's data plan: what the init step fetches

    @property
    def procs_per_worker(self) -> int:
        """One process per GPU when a worker has several; else one (CPU jobs must not fan out)."""
        return self.spec.gpus if self.spec.gpus > 1 else 1

    def command(self) -> list[str]:
        runner = [f"{BUNDLE_MOUNT}/runner.py", BUNDLE_MOUNT, OUTPUT_MOUNT]
        if self.procs_per_worker > 1:
            return ["torchrun", f"--nproc-per-node={self.procs_per_worker}", *runner]
        return ["python", "-u", *runner]

    def env(self, extra=()) -> list[dict]:
        base = [{"name": "PYTHONUNBUFFERED", "value": "1"}, {"name": "KF_JOB_NAME", "value": self.spec.name},
                {"name": "KF_INSTALL_PIP", "value": "1"},
                {"name": RESULT_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": self.bundle, "key": RESULT_KEY_FIELD}}}]
        return env_list(self.spec.env, self.spec.secret_env, base + list(extra))

    def pod_spec_parts(self) -> dict:
        parts = {}
        tpu = self.spec.tpu
        selector = {**self.spec.node_selector, **(tpu.node_selector() if tpu else {})}
        if selector:
            parts["nodeSelector"] = selector
        tolerations = [dict(t) for t in self.spec.tolerations]
        if self.spec.gpus:
            tolerations.append({"key": self.spec.gpu_vendor, "operator": "Exists", "effect": "NoSchedule"})
        if tpu:
            tolerations.append(tpu.toleration())
        if tolerations:
            parts["tolerations"] = tolerations
        if self.spec.priority_class:
            parts["priorityClassName"] = self.spec.priority_class
        return parts

    def pod_metadata(self) -> dict:
        """Labels that find the pods again (Kueue's belong on the workload alone: on pods, Kueue's pod
        integration would queue each pod by itself); no Istio sidecar, which keeps a finished pod Running."""
        labels = {k: v for k, v in self.labels.items() if not k.startswith("kueue.x-k8s.io/")}
        return {"labels": labels, "annotations": dict(NO_ISTIO_SIDECAR)}

    def container(self, name: str, extra_env=(), in_place: bool = False) -> dict:
        volumes, mounts = volumes_and_mounts(self.bundle, self.bundle_items, self.spec.volumes)
        mounts += self._data(in_place)[2]
        container = {"name": name, "image": self.image, "command": self.command(), "env": self.env(extra_env),
                     "volumeMounts": mounts, "workingDir": f"{OUTPUT_MOUNT}"}
        res = resources(self.spec.cpu, self.spec.memory, self.spec.gpus, self.spec.gpu_vendor, self.spec.tpu)
        if res:
            container["resources"] = res
        return container

    def volumes(self) -> list[dict]:
        return volumes_and_mounts(self.bundle, self.bundle_items, self.spec.volumes)[0] + self._data()[0]

    def _data(self, in_place: bool = False) -> tuple[list, list, list, list]:
        parts = data_manifests.data_volumes(self.data, f"{OUTPUT_MOUNT}/work", in_place)
        for claim, path in self.spec.volumes:  # --volume and --data at one place: one line, nothing made
            for mount, entry in zip(parts[2], self.data):
                at = mount["mountPath"]
                if at == path or at.startswith(path.rstrip("/") + "/") or path.startswith(at + "/"):
                    raise InvalidSpec(f"--data {entry['name']}:{entry['mount']} and --volume pvc:{claim}:{path} "
                                      f"overlap at {at}: give each its own folder")
        return parts

    def init_containers(self) -> dict:
        """The init step that fetches the job's dataset versions (none without --data from the store)."""
        if not data_manifests.needs_fetch(self.data):
            return {}
        _, mounts, _, folders = self._data()
        env = data_manifests.store_env(self.spec.secret_env)
        init = data_manifests.fetch_container(self.image, BUNDLE_MOUNT, "kf-bundle", mounts, folders, env)
        return {"initContainers": [init]}

    def metadata(self) -> dict:
        return {"name": self.spec.name, "namespace": self.namespace, "labels": dict(self.labels)}


def build_trainjob(plan: TrainPlan) -> dict:
    """A TrainJob for Kubeflow Trainer v2.2+ (``runtimePatches``) or v2.1 (``podTemplateOverrides``).

    Pods get their labels and annotations through the patch/override's pod metadata: v2.1's
    ``spec.labels`` reach only the JobSet. ``--priority-class`` is Kueue's WorkloadPriorityClass (a
    label on the TrainJob): neither version lets a TrainJob set the pods' ``priorityClassName``.
    """
    spec = plan.spec
    if spec.retries:
        raise InvalidSpec(
            f"--retries {spec.retries}: a TrainJob has no retry setting (its training runtime decides "
            "restarts): leave --retries out, or use --kind pytorchjob or --kind job, which accept --retries N"
        )
    if plan.trainer_minor < 2 and spec.timeout:
        raise InvalidSpec(f"--timeout: this cluster runs Kubeflow Trainer v2.{plan.trainer_minor}, whose TrainJob has "
                          "no deadline (v2.2+ has): leave --timeout out, or use --kind pytorchjob or --kind job")
    container = plan.container("node", in_place=True)
    if data_manifests.needs_fetch(plan.data):  # a TrainJob's pods take no new init container: the step goes first
        folders = plan._data(in_place=True)[3]
        container["command"] = [*data_manifests.fetch_command(BUNDLE_MOUNT, folders), "--", *container["command"]]
    trainer = {"image": plan.image, "command": container["command"], "env": container["env"],
               "numNodes": spec.workers, "numProcPerNode": plan.procs_per_worker}
    if "resources" in container:
        trainer["resourcesPerNode"] = container["resources"]
    pod_spec = {"volumes": plan.volumes(), "containers": [{"name": "node", "volumeMounts": container["volumeMounts"]}],
                **plan.pod_spec_parts()}
    priority = pod_spec.pop("priorityClassName", None)
    pod_metadata = plan.pod_metadata()
    body = {"apiVersion": f"{TRAINER_GROUP}/v1alpha1", "kind": "TrainJob", "metadata": plan.metadata(),
            "spec": {"runtimeRef": {"name": plan.runtime, "kind": plan.runtime_kind},
                     "trainer": trainer}}
    if priority:
        body["metadata"]["labels"][KUEUE_PRIORITY] = priority
    if plan.trainer_minor >= 2:
        body["spec"]["runtimePatches"] = [{
            "manager": TRAINER_PATCH_MANAGER,
            "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [{
                "name": "node",
                "template": {"spec": {"template": {"metadata": pod_metadata, "spec": pod_spec}}},
            }]}}},
        }]
        if spec.timeout:
            body["spec"]["activeDeadlineSeconds"] = int(spec.timeout)
    else:
        body["spec"]["podTemplateOverrides"] = [{"targetJobs": [{"name": "node"}], "metadata": pod_metadata,
                                                 "spec": pod_spec}]
    return body


def build_pytorchjob(plan: TrainPlan) -> dict:
    """A Training Operator v1 PyTorchJob: a Master and ``workers - 1`` Workers, container ``pytorch``."""
    spec = plan.spec

    def replica(count: int, master: bool) -> dict:
        container = plan.container("pytorch")
        if master:
            container["ports"] = [{"name": "pytorchjob-port", "containerPort": 23456}]
        # The operator's backoffLimit counts restarts under OnFailure/Always/ExitCode only, never under Never.
        return {"replicas": count, "restartPolicy": "OnFailure" if spec.retries else "Never",
                "template": {"metadata": plan.pod_metadata(),
                             "spec": {**plan.init_containers(), "containers": [container], "volumes": plan.volumes(),
                                      **plan.pod_spec_parts()}}}

    replicas = {"Master": replica(1, True)}
    if spec.workers > 1:
        replicas["Worker"] = replica(spec.workers - 1, False)
    run_policy = {"cleanPodPolicy": "None", "backoffLimit": spec.retries}
    if spec.timeout:
        run_policy["activeDeadlineSeconds"] = int(spec.timeout)
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": plan.metadata(),
        "spec": {"nprocPerNode": str(plan.procs_per_worker), "runPolicy": run_policy, "pytorchReplicaSpecs": replicas},
    }


def build_batch_job(plan: TrainPlan) -> list[dict]:
    """A batch/v1 Job; several workers make it Indexed with a headless Service and the PET_* env by hand."""
    spec, name = plan.spec, plan.spec.name
    multi = spec.workers > 1
    pet = [{"name": "PET_NNODES", "value": str(spec.workers)},
           {"name": "PET_NPROC_PER_NODE", "value": str(plan.procs_per_worker)},
           {"name": "PET_NODE_RANK", "valueFrom": {"fieldRef": {"fieldPath": COMPLETION_INDEX}}},
           {"name": "PET_MASTER_ADDR", "value": f"{name}-0.{name}" if multi else "127.0.0.1"},
           {"name": "PET_MASTER_PORT", "value": str(MASTER_PORT)}]
    container = plan.container("train", extra_env=pet)
    container["ports"] = [{"containerPort": MASTER_PORT}]
    pod_spec = {"restartPolicy": "Never", **plan.init_containers(), "containers": [container],
                "volumes": plan.volumes(), **plan.pod_spec_parts()}
    if multi:
        pod_spec["subdomain"] = name
    job_spec = {"completionMode": "Indexed", "completions": spec.workers, "parallelism": spec.workers,
                "backoffLimit": spec.retries, "ttlSecondsAfterFinished": 7 * 24 * 3600,
                "template": {"metadata": plan.pod_metadata(), "spec": pod_spec}}
    if spec.timeout:
        job_spec["activeDeadlineSeconds"] = int(spec.timeout)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": plan.metadata(), "spec": job_spec}
    if not multi:
        return [job]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": plan.metadata(),
               "spec": {"clusterIP": "None", "selector": {"job-name": name},
                        "ports": [{"name": "c10d", "port": MASTER_PORT}]}}
    return [service, job]


BUILDERS = {"trainjob": build_trainjob, "pytorchjob": build_pytorchjob}


def build_workload(plan: TrainPlan, kind: str) -> list[dict]:
    """The objects to create for ``kind`` (trainjob, pytorchjob, job), the workload last."""
    if kind == "job":
        return build_batch_job(plan)
    return [BUILDERS[kind](plan)]
