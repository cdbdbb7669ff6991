"""Training Operator v1.9's PyTorchJob controller (kubeflow/training-operator v1.9.0,
pkg/controller.v1/pytorch/{pytorchjob_controller,envvar,master}.go, pkg/util/status.go): pods
``<job>-master-0`` and ``<job>-worker-<i>`` with the training.kubeflow.org/* labels, one headless Service per
pod, the MASTER_*/WORLD_SIZE/RANK/PET_* env, and the Created/Running/Succeeded/Failed conditions with
``PyTorchJob<Reason>`` reasons. Workers' ``nslookup`` init container is left out (no DNS here)."""
from __future__ import annotations

from tests.support.k8s_emulator.meta import rfc3339
from tests.support.k8s_emulator.simulate.loop import Controller
from tests.support.k8s_emulator.simulate.objects import (
    active,
    controller_ref,
    is_true,
    owned_by,
    phase,
    pod_from_template,
    put_condition,
    status_writer,
)

PYTORCHJOB = ("kubeflow.org", "v1", "pytorchjobs")
LABEL = "training.kubeflow.org/"
DEFAULT_PORT = 23456


class PyTorchJobController(Controller):
    def __init__(self, emulator):
        super().__init__(emulator)
        self.write = status_writer(emulator, *PYTORCHJOB)

    def reconcile(self) -> None:
        try:
            jobs = self.emu.list_objects(*PYTORCHJOB)
        except KeyError:  # the Training Operator's CRDs are not installed
            return
        pods = self.emu.list_objects("", "v1", "pods")
        for job in jobs:
            if not job["metadata"].get("deletionTimestamp"):
                self.sync(job, owned_by(pods, job))

    def sync(self, job: dict, pods: list[dict]) -> None:
        status = job.get("status") or {}
        if is_true(status, "Succeeded") or is_true(status, "Failed"):
            return
        suspended = bool((job["spec"].get("runPolicy") or {}).get("suspend"))
        names = {p["metadata"]["name"] for p in pods}
        if not suspended:
            for rtype, index in replicas(job):
                name = f"{job['metadata']['name']}-{rtype.lower()}-{index}"
                if name not in names:
                    self._create_or_requeue(job, rtype, index, name)
        self.write(job, lambda s: _status(s, job, pods, suspended))

    def _create_or_requeue(self, job: dict, rtype: str, index: int, name: str) -> None:
        """A replaced run's pod or Service of that name may still be being collected: AlreadyExists requeues
        (the operator's reconcile returns the error and retries), the next pass creates it."""
        from tests.support.k8s_emulator.errors import ApiError

        try:
            self._create(job, rtype, index, name)
        except ApiError as err:
            if err.code != 409:
                raise

    def _create(self, job: dict, rtype: str, index: int, name: str) -> None:
        meta = job["metadata"]
        spec = job["spec"]["pytorchReplicaSpecs"][rtype]
        labels = selector(meta["name"], rtype) | {LABEL + "replica-index": str(index)}
        if rtype == "Master":
            labels[LABEL + "job-role"] = "master"
        pod = pod_from_template(spec["template"], meta["namespace"], name, job, labels=labels)
        pod["spec"]["restartPolicy"] = "Never" if spec.get("restartPolicy", "Never") in ("Never", "ExitCode") \
            else spec["restartPolicy"]
        for container in pod["spec"]["containers"]:
            container["env"] = [*(container.get("env") or []), *_env(job, rtype, index)]
        self.emu.create_object(pod, meta["namespace"], field_validation="Ignore")
        self.emu.create_object({"apiVersion": "v1", "kind": "Service",
                                "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels,
                                             "ownerReferences": [controller_ref(job)]},
                                "spec": {"clusterIP": "None", "selector": labels,
                                         "ports": [{"name": "pytorchjob-port", "port": master_port(job)}]}},
                               field_validation="Ignore")
        self.emu.emit_event(meta["namespace"], job, "SuccessfulCreatePod", f"Created pod: {name}",
                            source="pytorchjob-controller")


def replicas(job: dict) -> list[tuple[str, int]]:
    specs = job["spec"]["pytorchReplicaSpecs"]
    return [(rtype, i) for rtype in ("Master", "Worker") if rtype in specs for i in range(specs[rtype].get("replicas", 1))]


def selector(name: str, rtype: str) -> dict:
    return {LABEL + "job-name": name, LABEL + "operator-name": "pytorchjob-controller",
            LABEL + "replica-type": rtype.lower()}


def master_port(job: dict) -> int:
    master = job["spec"]["pytorchReplicaSpecs"].get("Master") or {}
    for container in ((master.get("template") or {}).get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == "pytorchjob-port":
                return port["containerPort"]
    return DEFAULT_PORT


def _env(job: dict, rtype: str, index: int) -> list[dict]:
    total = len(replicas(job))
    nproc = job["spec"].get("nprocPerNode")
    per_node = int(nproc) if nproc and str(nproc).isdigit() else 1
    env = [{"name": "PYTHONUNBUFFERED", "value": "1"}]
    if "Master" in job["spec"]["pytorchReplicaSpecs"]:
        port, addr = str(master_port(job)), f"{job['metadata']['name']}-master-0"
        rank = str(index + 1 if rtype == "Worker" else index)
        env += [{"name": "MASTER_PORT", "value": port}, {"name": "PET_MASTER_PORT", "value": port},
                {"name": "MASTER_ADDR", "value": addr}, {"name": "PET_MASTER_ADDR", "value": addr},
                {"name": "WORLD_SIZE", "value": str(total * per_node)}, {"name": "RANK", "value": rank},
                {"name": "PET_NODE_RANK", "value": rank}]
    if nproc is not None:
        env.append({"name": "PET_NPROC_PER_NODE", "value": str(nproc)})
    return env + [{"name": "PET_NNODES", "value": str(total)}]


def _status(status: dict, job: dict, pods: list[dict], suspended: bool) -> None:
    name = job["metadata"]["name"]
    put_condition(status, "Created", "True", "PyTorchJobCreated", f"PyTorchJob {name} is created.")
    status.setdefault("startTime", rfc3339())
    counts = {}
    for rtype in job["spec"]["pytorchReplicaSpecs"]:
        mine = [p for p in pods if (p["metadata"].get("labels") or {}).get(LABEL + "replica-type") == rtype.lower()]
        counts[rtype] = {"active": sum(1 for p in mine if active(p) and phase(p) == "Running"),
                         "succeeded": sum(1 for p in mine if phase(p) == "Succeeded"),
                         "failed": sum(1 for p in mine if phase(p) == "Failed")}
        row = {k: v for k, v in counts[rtype].items() if v}
        row["selector"] = ",".join(f"{k}={v}" for k, v in sorted(selector(name, rtype).items()))
        status.setdefault("replicaStatuses", {})[rtype] = row
    if suspended:
        put_condition(status, "Suspended", "True", "PyTorchJobSuspended", f"PyTorchJob {name} is suspended.")
        return
    _outcome(status, job, counts)


def _outcome(status: dict, job: dict, counts: dict) -> None:
    name = job["metadata"]["name"]
    specs = job["spec"]["pytorchReplicaSpecs"]
    master = counts.get("Master") or counts.get("Worker")
    master_type = "Master" if "Master" in counts else "Worker"
    if master["active"]:
        put_condition(status, "Running", "True", "PyTorchJobRunning", f"PyTorchJob {name} is running.")
    if master["succeeded"] >= specs[master_type].get("replicas", 1):
        message = f"PyTorchJob {name} is successfully completed."
        _finish(status, "Succeeded", "PyTorchJobSucceeded", message)
        return
    for rtype, count in counts.items():
        if count["failed"] and specs[rtype].get("restartPolicy", "Never") in ("Never", "ExitCode"):
            message = f"PyTorchJob {name} is failed because {count['failed']} {rtype} replica(s) failed."
            _finish(status, "Failed", "PyTorchJobFailed", message)
            return


def _finish(status: dict, ctype: str, reason: str, message: str) -> None:
    """The operator's setCondition: a terminal condition turns Running False (same reason and message)."""
    if any(c["type"] == "Running" for c in status.get("conditions") or []):
        put_condition(status, "Running", "False", reason, message)
    put_condition(status, ctype, "True", reason, message)
    status.setdefault("completionTime", rfc3339())
