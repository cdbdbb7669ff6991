"""A cluster job's status, read from its workload object and its pods (pure functions, no I/O)."""
from __future__ import annotations

import json

from jupyter_kf.kube.objects import LABEL_QUEUE
from jupyter_kf.training.status import JobStatus, WorkerStatus

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
ANNOTATION_SPEC = "jupyter-kf.io/spec"
KIND_NAMES = {"trainjob": "TrainJob", "pytorchjob": "PyTorchJob", "job": "Job"}


def pod_rank(pod: dict) -> int:
    meta = pod.get("metadata", {})
    labels, annotations = meta.get("labels", {}), meta.get("annotations", {})
    index = annotations.get(COMPLETION_INDEX) or labels.get(COMPLETION_INDEX)
    if index is not None:
        return int(index)
    replica_type = labels.get("training.kubeflow.org/replica-type", "").lower()
    if replica_type:
        return 0 if replica_type == "master" else int(labels.get("training.kubeflow.org/replica-index", "0")) + 1
    return 0


def controller_of(obj: dict) -> dict | None:
    """The ownerReference marked ``controller`` (the object that made this one), if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def controlled_by(obj: dict, owner: dict, kind: str | None = None) -> bool:
    """``obj`` was made by ``owner`` itself (its UID: a replaced owner of the same name does not count)."""
    ref = controller_of(obj)
    return (ref is not None and ref.get("uid") == owner.get("metadata", {}).get("uid")
            and (kind is None or ref.get("kind") == kind))


def worker_status(pod: dict) -> WorkerStatus:
    """A pod as a worker: its phase and, when it is stuck or failed, why."""
    status = pod.get("status", {})
    phase = status.get("phase", "Pending")
    message, exit_code = "", None
    for cond in status.get("conditions", []):
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            message = f"unschedulable: {cond.get('message') or cond.get('reason', '')}".strip()
    for cs in status.get("containerStatuses", []) + status.get("initContainerStatuses", []):
        state = cs.get("state", {})
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
            message = f"image pull failed ({waiting['reason']}): {waiting.get('message', cs.get('image', ''))}"
        elif waiting and waiting.get("reason") in (
            "CreateContainerConfigError",
            "CrashLoopBackOff",
            "RunContainerError",
        ):
            message = f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
        if terminated:
            exit_code = terminated.get("exitCode")
            if terminated.get("reason") == "OOMKilled":
                message = "out of memory (OOMKilled): raise --memory"
            elif exit_code and cs in status.get("initContainerStatuses", []):  # e.g. --data's fetch step
                message = (_last_line(terminated.get("message"))
                           or f"init container {cs.get('name')} failed (exit {exit_code})")
    if phase == "Unknown":
        phase = "Pending"
    return WorkerStatus(rank=pod_rank(pod), phase=phase, exit_code=exit_code, message=message)


def _last_line(text: str | None) -> str:
    """A termination message taken from the log (FallbackToLogsOnError) is its tail, up to 80 lines with their
    newlines: the last line is the one the step wrote to say why."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _condition(obj: dict, ctype: str) -> dict | None:
    for cond in obj.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == ctype and cond.get("status") == "True":
            return cond
    return None


def job_phase(kind: str, obj: dict, workers: list[WorkerStatus]) -> tuple[str, str]:
    """(phase, message) from the workload's own status; pods only tell Pending from Running."""
    success = {"trainjob": "Complete", "pytorchjob": "Succeeded", "job": "Complete"}[kind]
    done = _condition(obj, success)
    if done:
        return "Succeeded", ""
    failed = _condition(obj, "Failed")
    if failed:
        return "Failed", failed.get("message") or failed.get("reason") or "failed"
    queue = obj.get("metadata", {}).get("labels", {}).get(LABEL_QUEUE)
    suspended = (
        _condition(obj, "Suspended")
        or obj.get("spec", {}).get("suspend")
        or obj.get("spec", {}).get("runPolicy", {}).get("suspend")
    )
    if suspended:
        return "Pending", f"waiting for Kueue to admit it to queue {queue!r}" if queue else "suspended"
    if any(w.phase == "Running" for w in workers):
        return "Running", ""
    stuck = next((w.message for w in sorted(workers, key=lambda w: w.rank) if w.message), "")
    if not workers and queue:
        stuck = f"waiting for Kueue to admit it to queue {queue!r}"
    return "Pending", stuck


def build_status(kind: str, obj: dict, pods: list[dict]) -> JobStatus:
    meta = obj.get("metadata", {})
    spec = json.loads(meta.get("annotations", {}).get(ANNOTATION_SPEC, "{}") or "{}")
    by_rank: dict[int, WorkerStatus] = {}
    for pod in sorted(pods, key=lambda p: p.get("metadata", {}).get("creationTimestamp", "")):
        worker = worker_status(pod)
        by_rank[worker.rank] = worker  # a retried pod replaces the one before it
    count = spec.get("workers") or max(by_rank, default=-1) + 1 or 1
    workers = [by_rank.get(rank, WorkerStatus(rank=rank, phase="Pending")) for rank in range(count)]
    phase, message = job_phase(kind, obj, workers)
    if phase == "Failed":
        failed = [w for w in workers if w.phase == "Failed" and w.message]
        if failed:
            message = f"{message}; worker {failed[0].rank}: {failed[0].message}"
    if phase in ("Succeeded", "Failed"):  # an ended job's pods may be gone: its workers ended with it, not Pending
        workers = [w if w.rank in by_rank else WorkerStatus(rank=w.rank, phase=phase, message="its pod is gone")
                   for w in workers]
    status = obj.get("status", {})
    starts = [p.get("status", {}).get("startTime") for p in pods if p.get("status", {}).get("startTime")]
    finished = status.get("completionTime") or next(
        (
            c.get("lastTransitionTime")
            for c in status.get("conditions", []) or []
            if c.get("type") in ("Complete", "Succeeded", "Failed") and c.get("status") == "True"
        ),
        None,
    )
    return JobStatus(
        name=meta.get("name", ""),
        phase=phase,
        backend="kubernetes",
        kind=KIND_NAMES[kind],
        namespace=meta.get("namespace"),
        created=meta.get("creationTimestamp"),
        started=status.get("startTime") or (min(starts) if starts else None),
        finished=finished if phase in ("Succeeded", "Failed") else None,
        message=message,
        workers=workers,
        resources={"workers": count, "cpu": spec.get("cpu"), "memory": spec.get("memory"), "gpus": spec.get("gpus", 0),
                   **({"tpu": spec["tpu"]} if spec.get("tpu") else {})},
    )
