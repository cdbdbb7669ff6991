"""The batch/v1 Job controller, as kube-controller-manager v1.31+ runs it: pods per parallelism and
completions (Indexed: one per index, with its completion-index annotation/label, JOB_COMPLETION_INDEX and
hostname), backoffLimit, activeDeadlineSeconds, suspend, and the status counts and conditions
(SuccessCriteriaMet then Complete; FailureTarget then Failed) it writes (pkg/controller/job/job_controller.go)."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.support.k8s_emulator.meta import parse_time, rfc3339
from tests.support.k8s_emulator.simulate.loop import Controller
from tests.support.k8s_emulator.simulate.objects import (
    active,
    is_true,
    owned_by,
    phase,
    pod_from_template,
    put_condition,
    random_suffix,
    ready,
    status_writer,
)

INDEX_KEY = "batch.kubernetes.io/job-completion-index"
SUCCESS = ("CompletionsReached", "Reached expected number of succeeded pods")
BACKOFF = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE = ("DeadlineExceeded", "Job was active longer than specified deadline")


class JobController(Controller):
    def __init__(self, emulator):
        super().__init__(emulator)
        self.write = status_writer(emulator, "batch", "v1", "jobs")

    def reconcile(self) -> None:
        pods = self.emu.list_objects("", "v1", "pods")
        for job in self.emu.list_objects("batch", "v1", "jobs"):
            if job["metadata"].get("deletionTimestamp") or not self.gate(job):
                continue
            managed_by = job["spec"].get("managedBy")
            if managed_by and managed_by != "kubernetes.io/job-controller":
                continue
            self.sync(job, owned_by(pods, job))

    def sync(self, job: dict, pods: list[dict]) -> None:
        status = job.get("status") or {}
        if is_true(status, "Complete") or is_true(status, "Failed"):
            return
        if job["spec"].get("suspend"):
            return self._suspend(job, pods)
        running = [p for p in pods if active(p)]
        succeeded = [p for p in pods if phase(p) == "Succeeded"]
        failed = [p for p in pods if phase(p) == "Failed"]
        finish = self._finished(job, pods, succeeded, failed)
        if finish is None:
            self._create_pods(job, running, succeeded)
        else:
            for pod in running:
                self._delete_pod(pod)
            running = []
        self.write(job, lambda s: self._status(s, job, running, succeeded, failed, finish))

    def _finished(self, job: dict, pods: list, succeeded: list, failed: list) -> tuple | None:
        """(condition, reason, message) once the job is done, else None. Container restarts (OnFailure)
        count against backoffLimit as failed pods do."""
        spec = job["spec"]
        restarts = sum(cs.get("restartCount", 0) for p in pods for cs in (p.get("status") or {}).get("containerStatuses") or [])
        if len(failed) + restarts > spec.get("backoffLimit", 6):
            return ("Failed", *BACKOFF)
        started = (job.get("status") or {}).get("startTime")
        deadline = spec.get("activeDeadlineSeconds")
        if deadline and started and (datetime.now(timezone.utc) - parse_time(started)).total_seconds() >= deadline:
            return ("Failed", *DEADLINE)
        if len(self._done_indexes(job, succeeded)) >= self._completions(job) > 0:
            return ("Complete", *SUCCESS)
        if spec.get("completions") is None and succeeded:
            return ("Complete", *SUCCESS)
        return None

    @staticmethod
    def _completions(job: dict) -> int:
        spec = job["spec"]
        return spec["completions"] if spec.get("completions") is not None else spec.get("parallelism", 1)

    @staticmethod
    def _done_indexes(job: dict, succeeded: list) -> set:
        if job["spec"].get("completionMode") == "Indexed":
            return {p["metadata"]["annotations"].get(INDEX_KEY) for p in succeeded}
        return {p["metadata"]["uid"] for p in succeeded}

    def _create_pods(self, job: dict, running: list, succeeded: list) -> None:
        spec = job["spec"]
        room = spec.get("parallelism", 1) - len(running)
        if job["spec"].get("completionMode") == "Indexed":
            taken = self._done_indexes(job, succeeded) | {p["metadata"]["annotations"].get(INDEX_KEY) for p in running}
            wanted = [i for i in range(self._completions(job)) if str(i) not in taken]
        else:
            wanted = [None] * max(0, self._completions(job) - len(succeeded) - len(running))
        for index in wanted[:max(room, 0)]:
            self._create_pod(job, index)

    def _create_pod(self, job: dict, index: int | None) -> None:
        meta = job["metadata"]
        name = meta["name"]
        extra = {} if index is None else {INDEX_KEY: str(index)}
        pod_name = f"{name}-{index}-{random_suffix()}" if index is not None else f"{name}-{random_suffix()}"
        pod = pod_from_template(job["spec"]["template"], meta["namespace"], pod_name, job, labels=extra,
                                annotations=extra)
        if index is not None:
            pod["spec"]["hostname"] = f"{name}-{index}"
            ref = {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_KEY}']"}}}
            for container in (pod["spec"].get("initContainers") or []) + pod["spec"]["containers"]:
                container["env"] = [ref, *(container.get("env") or [])]
        self.emu.create_object(pod, meta["namespace"], field_validation="Ignore")
        self.emu.emit_event(meta["namespace"], job, "SuccessfulCreate", f"Created pod: {pod_name}", source="job-controller")

    def _delete_pod(self, pod: dict) -> None:
        try:
            self.emu.delete_object("", "v1", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
        except KeyError:
            pass

    def _suspend(self, job: dict, pods: list[dict]) -> None:
        for pod in pods:
            if active(pod):
                self._delete_pod(pod)

        def mutate(status):
            status["active"] = 0
            status.pop("startTime", None)
            put_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", probe=True)
        self.write(job, mutate)

    def _status(self, status: dict, job: dict, running: list, succeeded: list, failed: list, finish) -> None:
        status.update(active=len(running), ready=sum(1 for p in running if ready(p)), succeeded=len(succeeded),
                      failed=len(failed), uncountedTerminatedPods={})
        if "startTime" not in status:
            status["startTime"] = rfc3339()
        if (status.get("conditions") and any(c["type"] == "Suspended" and c["status"] == "True"
                                             for c in status["conditions"])):
            put_condition(status, "Suspended", "False", "JobResumed", "Job resumed", probe=True)
        if job["spec"].get("completionMode") == "Indexed":
            status["completedIndexes"] = _ranges(sorted(int(i) for i in self._done_indexes(job, succeeded)))
        if finish is not None:
            ctype, reason, message = finish
            put_condition(status, "SuccessCriteriaMet" if ctype == "Complete" else "FailureTarget", "True", reason,
                          message, probe=True)
            put_condition(status, ctype, "True", reason, message, probe=True)
            if ctype == "Complete":
                status["completionTime"] = rfc3339()
            self.emu.emit_event(job["metadata"]["namespace"], job, "Completed" if ctype == "Complete" else reason,
                                "Job completed" if ctype == "Complete" else message,
                                type="Normal" if ctype == "Complete" else "Warning", source="job-controller")
        for key in ("completedIndexes",):
            if status.get(key) == "":
                status.pop(key)


def _ranges(indexes: list[int]) -> str:
    """``0-2,5``: how the job controller writes completedIndexes."""
    parts, start = [], None
    for i, value in enumerate(indexes):
        if start is None:
            start = value
        if i + 1 == len(indexes) or indexes[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ",".join(parts)
