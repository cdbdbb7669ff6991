"""Kueue v0.19's admission, as far as one flavor per resource goes: a workload labelled
``kueue.x-k8s.io/queue-name`` is suspended (the webhook's part), gets a Workload ``<kind>-<name>-<hash>``
(pkg/controller/jobframework/workload_names.go), and is admitted in creation order when its requests fit its
ClusterQueue's nominalQuota beside the admitted unfinished ones; else the Workload says why, with Kueue's
messages (pkg/scheduler/flavorassigner/flavorassigner.go, pkg/controller/core/workload_controller.go,
pkg/workload/workload.go and admissionchecks.go, tag v0.19.2). Integrations as Kueue enables them by default:
batch/v1 Job, JobSet, TrainJob (PyTorchJob is off by default in Kueue, so it runs unqueued here too)."""
from __future__ import annotations

import hashlib
from decimal import Decimal

from tests.support.k8s_emulator import quantity
from tests.support.k8s_emulator.simulate.loop import Controller
from tests.support.k8s_emulator.simulate.node import pod_requests
from tests.support.k8s_emulator.simulate.objects import controller_ref, is_true, put_condition
from tests.support.k8s_emulator.store import clone

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
KUEUE = ("kueue.x-k8s.io", "v1beta2")
INTEGRATIONS = {("batch", "v1", "jobs"): "Job", ("jobset.x-k8s.io", "v1alpha2", "jobsets"): "JobSet",
                ("trainer.kubeflow.org", "v1alpha1", "trainjobs"): "TrainJob"}
DONE = {"Job": ("Complete", "Failed"), "JobSet": ("Completed", "Failed"), "TrainJob": ("Complete", "Failed")}


def workload_name(kind: str, group: str, name: str, uid: str) -> str:
    digest = hashlib.sha1(f"{kind}\n{group}\n{name}\n{uid}".encode()).hexdigest()
    return f"{(kind.lower() + '-' + name)[:253 - 6]}-{digest[:5]}"


def queued(obj: dict) -> bool:
    meta = obj["metadata"]
    return bool((meta.get("labels") or {}).get(QUEUE_LABEL)) and not any(
        ref.get("controller") for ref in meta.get("ownerReferences") or [])


class KueueController(Controller):
    """``admitted_or_unqueued(obj)`` is the gate the workload controllers ask before making anything."""

    def __init__(self, emulator):
        super().__init__(emulator)
        self.seen: set[str] = set()

    def installed(self) -> bool:
        try:
            self.emu.resource(*KUEUE, "workloads")
            return True
        except KeyError:
            return False

    def admitted_or_unqueued(self, obj: dict) -> bool:
        return not queued(obj) or not self.installed() or obj["metadata"]["uid"] in self.seen

    def reconcile(self) -> None:
        if not self.installed():
            return
        jobs = self._queued_jobs()
        workloads = {w["metadata"]["name"]: w for w in self.emu.list_objects(*KUEUE, "workloads")}
        for gvr, job in jobs:
            self._ensure_workload(gvr, job, workloads)
            self.seen.add(job["metadata"]["uid"])
        self._admit(jobs, workloads)

    def _queued_jobs(self) -> list[tuple[tuple, dict]]:
        found = []
        for gvr in INTEGRATIONS:
            try:
                items = self.emu.list_objects(*gvr)
            except KeyError:
                continue
            found += [(gvr, o) for o in items if queued(o) and not o["metadata"].get("deletionTimestamp")]
        return sorted(found, key=lambda pair: (pair[1]["metadata"]["creationTimestamp"], pair[1]["metadata"]["name"]))

    def _ensure_workload(self, gvr: tuple, job: dict, workloads: dict) -> None:
        meta = job["metadata"]
        name = workload_name(INTEGRATIONS[gvr], gvr[0], meta["name"], meta["uid"])
        if name in workloads:
            return
        if not job["spec"].get("suspend"):
            self._set_suspend(gvr, job, True)  # the webhook's part: nothing runs before admission
        body = {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
                "metadata": {"name": name, "namespace": meta["namespace"], "ownerReferences": [controller_ref(job)],
                             "labels": {"kueue.x-k8s.io/job-uid": meta["uid"]}},
                "spec": {"queueName": meta["labels"][QUEUE_LABEL], "podSets": self._pod_sets(gvr, job)}}
        workloads[name] = self.emu.create_object(body, field_validation="Ignore")

    def _pod_sets(self, gvr: tuple, job: dict) -> list[dict]:
        kind = INTEGRATIONS[gvr]
        if kind == "Job":
            return [{"name": "main", "count": job["spec"].get("parallelism", 1), "template": job["spec"]["template"]}]
        if kind == "TrainJob":
            from tests.support.k8s_emulator.simulate.trainer import TrainJobController, build_jobset

            runtime = TrainJobController(self.emu)._runtime(job)
            if runtime is None:
                return [{"name": "node", "count": 1, "template": {"spec": {"containers": []}}}]
            job = build_jobset(job, runtime)
        return [{"name": r["name"], "count": r.get("replicas", 1) * r["template"]["spec"].get("parallelism", 1),
                 "template": r["template"]["spec"]["template"]} for r in job["spec"]["replicatedJobs"]]

    def _set_suspend(self, gvr: tuple, job: dict, value: bool) -> None:
        def apply(obj):
            obj["spec"]["suspend"] = value
        self.emu.update_object(*gvr, job["metadata"]["namespace"], job["metadata"]["name"], apply)

    # -- admission --------------------------------------------------------------------------------
    def _admit(self, jobs: list, workloads: dict) -> None:
        usage: dict[str, dict] = {}
        pending = []
        for gvr, job in jobs:
            meta = job["metadata"]
            workload = workloads.get(workload_name(INTEGRATIONS[gvr], gvr[0], meta["name"], meta["uid"]))
            if workload is None:
                continue
            status = workload.get("status") or {}
            if is_true(status, "Finished"):
                continue
            if self._finished(gvr, job):
                self._finish(workload, gvr, job)
            elif is_true(status, "QuotaReserved"):
                _add(usage.setdefault(status["admission"]["clusterQueue"], {}), _requests(workload))
                if job["spec"].get("suspend"):
                    self._set_suspend(gvr, job, False)
            else:
                pending.append((gvr, job, workload))
        for gvr, job, workload in pending:
            self._try_admit(gvr, job, workload, usage)

    def _try_admit(self, gvr: tuple, job: dict, workload: dict, usage: dict) -> None:
        namespace = workload["metadata"]["namespace"]
        queue_name = workload["spec"]["queueName"]
        local = self.emu.get_object(*KUEUE, "localqueues", namespace, queue_name)
        if local is None:
            return self._pending(workload, "Misconfigured", f"LocalQueue {queue_name} doesn't exist")
        cq_name = local["spec"]["clusterQueue"]
        cluster_queue = self.emu.get_object(*KUEUE, "clusterqueues", None, cq_name)
        if cluster_queue is None:
            return self._pending(workload, "Misconfigured", f"ClusterQueue {cq_name} doesn't exist")
        wanted = _requests(workload)
        used = usage.setdefault(cq_name, {})
        problems, flavors = _fit(cluster_queue, wanted, used)
        if problems:
            pod_set = workload["spec"]["podSets"][0]["name"]
            return self._pending(workload, "Pending", f"couldn't assign flavors to pod set {pod_set}: {', '.join(problems)}")
        _add(used, wanted)
        self._admitted(workload, cq_name, flavors)
        self._set_suspend(gvr, job, False)

    def _pending(self, workload: dict, reason: str, message: str) -> None:
        self._write(workload, lambda s: put_condition(s, "QuotaReserved", "False", reason, message))

    def _admitted(self, workload: dict, cq_name: str, flavors: dict) -> None:
        def mutate(status):
            put_condition(status, "QuotaReserved", "True", "QuotaReserved", f"Quota reserved in ClusterQueue {cq_name}")
            put_condition(status, "Admitted", "True", "Admitted", "The workload is admitted")
            status["admission"] = {"clusterQueue": cq_name, "podSetAssignments": [
                {"name": ps["name"], "count": ps.get("count", 1),
                 "flavors": {r: flavors[r] for r in _requests({"spec": {"podSets": [ps]}}) if r in flavors},
                 "resourceUsage": {r: str(v) for r, v in _requests({"spec": {"podSets": [ps]}}).items()}}
                for ps in workload["spec"]["podSets"]]}
        self._write(workload, mutate)

    def _finished(self, gvr: tuple, job: dict) -> str | None:
        status = job.get("status") or {}
        success, failure = DONE[INTEGRATIONS[gvr]]
        return "Succeeded" if is_true(status, success) else ("Failed" if is_true(status, failure) else None)

    def _finish(self, workload: dict, gvr: tuple, job: dict) -> None:
        outcome = self._finished(gvr, job)
        message = "Job finished successfully" if outcome == "Succeeded" else "Job failed"
        self._write(workload, lambda s: put_condition(s, "Finished", "True", outcome, message))

    def _write(self, workload: dict, mutate) -> None:
        meta = workload["metadata"]
        current = self.emu.get_object(*KUEUE, "workloads", meta["namespace"], meta["name"])
        if current is None:
            return
        before = clone(current.get("status") or {})
        after = clone(before)
        mutate(after)
        if after != before:
            self.emu.set_status(*KUEUE, "workloads", meta["namespace"], meta["name"], after)


def _requests(workload: dict) -> dict:
    total: dict = {}
    for pod_set in workload["spec"]["podSets"]:
        per_pod = pod_requests({"spec": pod_set["template"].get("spec") or {}})
        for name, amount in per_pod.items():
            total[name] = total.get(name, Decimal(0)) + amount * pod_set.get("count", 1)
    return total


def _add(used: dict, wanted: dict) -> None:
    for name, amount in wanted.items():
        used[name] = used.get(name, Decimal(0)) + amount


def _fit(cluster_queue: dict, wanted: dict, used: dict) -> tuple[list[str], dict]:
    """Problems in Kueue's words (empty: it fits) and the flavor of each resource (the first that covers it)."""
    quotas, flavors = {}, {}
    for group in cluster_queue["spec"].get("resourceGroups") or []:
        for flavor in group.get("flavors") or []:
            for resource in flavor.get("resources") or []:
                if resource["name"] not in quotas:
                    quotas[resource["name"]] = quantity.value(resource["nominalQuota"])
                    flavors[resource["name"]] = flavor["name"]
    problems = []
    for name, amount in sorted(wanted.items()):
        if amount <= 0:
            continue
        if name not in quotas:
            problems.append(f"resource {name} unavailable in ClusterQueue")
            continue
        available = quotas[name] - used.get(name, Decimal(0))
        if amount > available:
            problems.append(f"insufficient unused quota for {name} in flavor {flavors[name]}, "
                            f"{_quantity(amount - max(available, Decimal(0)))} more needed")
    return problems, flavors


def _quantity(amount: Decimal) -> str:
    return str(int(amount)) if amount == int(amount) else f"{int(amount * 1000)}m"
