"""JobSet (jobset.x-k8s.io/v1alpha2) and Kubeflow Trainer v2.3's TrainJob, as their controllers run them.

Sources (tags): kubernetes-sigs/jobset v0.12.0 pkg/constants/constants.go (condition reasons and messages),
pkg/controllers/jobset_controller.go (job names ``<jobset>-<replicatedJob>-<index>``, labels, headless
Service named after the JobSet); kubeflow/trainer v2.3.0 pkg/runtime/framework/plugins/jobset/jobset.go
(JobSet = TrainJob's name, Complete/Failed copied from the JobSet's Completed/Failed, jobsStatus from
replicatedJobsStatus), plugins/torch/torch.go (the PET_* env), pkg/constants/constants.go (Suspended
messages). See tests/data/controller_shapes.md."""
from __future__ import annotations

import hashlib

from tests.support.k8s_emulator.simulate.loop import Controller
from tests.support.k8s_emulator.simulate.objects import (
    controller_ref,
    find_condition,
    is_true,
    owned_by,
    put_condition,
    status_writer,
)
from tests.support.k8s_emulator.store import clone

JOBSET = ("jobset.x-k8s.io", "v1alpha2", "jobsets")
TRAINJOB = ("trainer.kubeflow.org", "v1alpha1", "trainjobs")
PREFIX = "jobset.sigs.k8s.io/"
ANCESTOR = "trainer.kubeflow.org/trainjob-ancestor-step"
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
TRAINER_PORT = 29500


def _installed(emulator, gvr: tuple) -> bool:
    try:
        emulator.resource(*gvr)
        return True
    except KeyError:
        return False


class JobSetController(Controller):
    def __init__(self, emulator):
        super().__init__(emulator)
        self.write = status_writer(emulator, *JOBSET)

    def reconcile(self) -> None:
        if not _installed(self.emu, JOBSET):
            return
        jobs = self.emu.list_objects("batch", "v1", "jobs")
        for jobset in self.emu.list_objects(*JOBSET):
            if not jobset["metadata"].get("deletionTimestamp") and self.gate(jobset):
                self.sync(jobset, owned_by(jobs, jobset))

    def sync(self, jobset: dict, jobs: list[dict]) -> None:
        status = jobset.get("status") or {}
        if status.get("terminalState"):
            return
        suspend = bool(jobset["spec"].get("suspend"))
        by_name = {j["metadata"]["name"]: j for j in jobs}
        self._service(jobset)
        for rjob in jobset["spec"].get("replicatedJobs") or []:
            for index in range(rjob.get("replicas", 1)):
                name = f"{jobset['metadata']['name']}-{rjob['name']}-{index}"
                if name not in by_name:
                    by_name[name] = self.emu.create_object(self._job(jobset, rjob, index, name), field_validation="Ignore")
                elif bool(by_name[name]["spec"].get("suspend")) != suspend:
                    self._set_suspend(by_name[name], suspend)
        self.write(jobset, lambda s: self._status(s, jobset, list(by_name.values())))

    def _job(self, jobset: dict, rjob: dict, index: int, name: str) -> dict:
        meta = jobset["metadata"]
        template = clone(rjob["template"])
        keys = {PREFIX + "jobset-name": meta["name"], PREFIX + "replicatedjob-name": rjob["name"],
                PREFIX + "replicatedjob-replicas": str(rjob.get("replicas", 1)), PREFIX + "job-index": str(index),
                PREFIX + "job-key": hashlib.sha1(f"{meta['namespace']}/{name}".encode()).hexdigest(),
                PREFIX + "jobset-uid": meta["uid"]}
        job_meta = template.setdefault("metadata", {})
        pod_meta = template["spec"]["template"].setdefault("metadata", {})
        for target in (job_meta, pod_meta):
            target["labels"] = {**(meta.get("labels") or {}), **(target.get("labels") or {}), **keys}
            target["annotations"] = {**(target.get("annotations") or {}), **keys}
        network = jobset["spec"].get("network") or {}
        if network.get("enableDNSHostnames", True):
            template["spec"]["template"]["spec"]["subdomain"] = network.get("subdomain") or meta["name"]
        template["spec"].setdefault("completionMode", "Indexed")
        template["spec"]["template"]["spec"].setdefault("restartPolicy", "OnFailure")  # JobSet's defaulting webhook
        template["spec"]["suspend"] = bool(jobset["spec"].get("suspend"))
        job_meta.update(name=name, namespace=meta["namespace"], ownerReferences=[controller_ref(jobset)])
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta, "spec": template["spec"]}

    def _service(self, jobset: dict) -> None:
        meta = jobset["metadata"]
        network = jobset["spec"].get("network") or {}
        name = network.get("subdomain") or meta["name"]
        if not network.get("enableDNSHostnames", True) or \
                self.emu.get_object("", "v1", "services", meta["namespace"], name) is not None:
            return
        self.emu.create_object({"apiVersion": "v1", "kind": "Service",
                                "metadata": {"name": name, "namespace": meta["namespace"],
                                             "ownerReferences": [controller_ref(jobset)]},
                                "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                                         "selector": {PREFIX + "jobset-name": meta["name"]}}})

    def _set_suspend(self, job: dict, suspend: bool) -> None:
        def apply(obj):
            obj["spec"]["suspend"] = suspend
        self.emu.update_object("batch", "v1", "jobs", job["metadata"]["namespace"], job["metadata"]["name"], apply)

    def _status(self, status: dict, jobset: dict, jobs: list[dict]) -> None:
        rows = []
        for rjob in jobset["spec"].get("replicatedJobs") or []:
            mine = [j for j in jobs if (j["metadata"].get("labels") or {}).get(PREFIX + "replicatedjob-name") == rjob["name"]]
            rows.append(_replicated_status(rjob["name"], mine))
        status["replicatedJobsStatus"] = rows
        status.setdefault("restarts", 0)
        expected = sum(r.get("replicas", 1) for r in jobset["spec"].get("replicatedJobs") or [])
        if any(row["failed"] for row in rows):
            put_condition(status, "Failed", "True", "FailedJobs", "jobset failed due to one or more job failures")
            status["terminalState"] = "Failed"
        elif sum(row["succeeded"] for row in rows) >= expected > 0:
            put_condition(status, "Completed", "True", "AllJobsCompleted", "jobset completed successfully")
            status["terminalState"] = "Completed"
        if jobset["spec"].get("suspend"):
            put_condition(status, "Suspended", "True", "SuspendedJobs", "jobset is suspended")
        elif find_condition(status, "Suspended"):
            put_condition(status, "Suspended", "False", "ResumeJobs", "jobset is resumed")


def _replicated_status(name: str, jobs: list[dict]) -> dict:
    def done(job, ctype):
        return is_true(job.get("status") or {}, ctype)
    counts = {"name": name, "ready": 0, "succeeded": 0, "failed": 0, "active": 0, "suspended": 0}
    for job in jobs:
        status = job.get("status") or {}
        if done(job, "Complete"):
            counts["succeeded"] += 1
        elif done(job, "Failed"):
            counts["failed"] += 1
        elif job["spec"].get("suspend"):
            counts["suspended"] += 1
        elif status.get("active"):
            counts["active"] += 1
            if status.get("ready", 0) + status.get("succeeded", 0) >= job["spec"].get("parallelism", 1):
                counts["ready"] += 1
    return counts


class TrainJobController(Controller):
    """TrainJob -> JobSet built from its training runtime; status mirrored back."""

    def __init__(self, emulator):
        super().__init__(emulator)
        self.write = status_writer(emulator, *TRAINJOB)

    def reconcile(self) -> None:
        if not (_installed(self.emu, TRAINJOB) and _installed(self.emu, JOBSET)):
            return
        for trainjob in self.emu.list_objects(*TRAINJOB):
            meta = trainjob["metadata"]
            managed = trainjob["spec"].get("managedBy", "trainer.kubeflow.org/trainjob-controller")
            if meta.get("deletionTimestamp") or managed != "trainer.kubeflow.org/trainjob-controller" \
                    or not self.gate(trainjob):
                continue
            self.sync(trainjob)

    def sync(self, trainjob: dict) -> None:
        meta = trainjob["metadata"]
        jobset = self.emu.get_object(*JOBSET, meta["namespace"], meta["name"])
        if jobset is None:
            if is_true(trainjob.get("status") or {}, "Complete") or is_true(trainjob.get("status") or {}, "Failed"):
                return
            runtime = self._runtime(trainjob)
            if runtime is None:
                return
            jobset = self.emu.create_object(build_jobset(trainjob, runtime), field_validation="Ignore")
        elif bool(jobset["spec"].get("suspend")) != bool(trainjob["spec"].get("suspend")):
            def apply(obj):
                obj["spec"]["suspend"] = bool(trainjob["spec"].get("suspend"))
            jobset = self.emu.update_object(*JOBSET, meta["namespace"], meta["name"], apply)
        self.write(trainjob, lambda s: _trainjob_status(s, trainjob, jobset))

    def _runtime(self, trainjob: dict) -> dict | None:
        ref = trainjob["spec"]["runtimeRef"]
        if ref.get("kind", "ClusterTrainingRuntime") == "ClusterTrainingRuntime":
            return self.emu.get_object("trainer.kubeflow.org", "v1alpha1", "clustertrainingruntimes", None, ref["name"])
        return self.emu.get_object("trainer.kubeflow.org", "v1alpha1", "trainingruntimes",
                                   trainjob["metadata"]["namespace"], ref["name"])


def _trainjob_status(status: dict, trainjob: dict, jobset: dict) -> None:
    js_status = jobset.get("status") or {}
    for source, target in (("Completed", "Complete"), ("Failed", "Failed")):
        condition = find_condition(js_status, source)
        if condition and condition["status"] == "True":
            put_condition(status, target, "True", condition["reason"], condition["message"])
    if trainjob["spec"].get("suspend"):
        put_condition(status, "Suspended", "True", "Suspended", "TrainJob is suspended")
    elif is_true(status, "Suspended"):
        put_condition(status, "Suspended", "False", "Resumed", "TrainJob is resumed")
    if js_status.get("replicatedJobsStatus"):
        status["jobsStatus"] = [dict(row) for row in js_status["replicatedJobsStatus"]]


def build_jobset(trainjob: dict, runtime: dict) -> dict:
    """The JobSet the Trainer applies: the runtime's template, the trainer settings on the ``node`` step,
    the torch plugin's PET_* env, then the TrainJob's runtimePatches (v2.2+) or podTemplateOverrides (v2.1)."""
    meta, spec = trainjob["metadata"], trainjob["spec"]
    template = clone(runtime["spec"]["template"])
    ml_policy = runtime["spec"].get("mlPolicy") or {}
    trainer = spec.get("trainer") or {}
    nodes = trainer.get("numNodes") or ml_policy.get("numNodes") or 1
    for rjob in template["spec"]["replicatedJobs"]:
        labels = ((rjob.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if labels.get(ANCESTOR) == "trainer" or rjob["name"] == "node":
            _trainer_step(rjob, trainjob, trainer, nodes, "torch" in ml_policy)
    for patch in spec.get("runtimePatches") or []:
        for rpatch in (((patch.get("trainingRuntimeSpec") or {}).get("template") or {}).get("spec") or {}).get("replicatedJobs") or []:
            pod = ((rpatch.get("template") or {}).get("spec") or {}).get("template") or {}
            _patch_pods(template, [rpatch["name"]], pod.get("metadata") or {}, pod.get("spec") or {})
    for override in spec.get("podTemplateOverrides") or []:
        targets = [t["name"] for t in override.get("targetJobs") or []]
        _patch_pods(template, targets, override.get("metadata") or {}, override.get("spec") or {})
    labels = {**((template.get("metadata") or {}).get("labels") or {}), **(spec.get("labels") or {})}
    return {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": labels,
                         "annotations": dict(spec.get("annotations") or {}), "ownerReferences": [controller_ref(trainjob)]},
            "spec": {**template["spec"], "suspend": bool(spec.get("suspend"))}}


def _trainer_step(rjob: dict, trainjob: dict, trainer: dict, nodes: int, torch: bool) -> None:
    job_spec = rjob["template"]["spec"]
    job_spec.update(parallelism=nodes, completions=nodes)
    name = trainjob["metadata"]["name"]
    for container in job_spec["template"]["spec"]["containers"]:
        if container["name"] != "node":
            continue
        for key in ("image", "command", "args"):
            if trainer.get(key):
                container[key] = trainer[key]
        if trainer.get("resourcesPerNode"):
            container["resources"] = trainer["resourcesPerNode"]
        env = [e for e in container.get("env") or [] if e["name"] not in {x["name"] for x in trainer.get("env") or []}]
        env += trainer.get("env") or []
        if torch:
            per_node = trainer.get("numProcPerNode", "auto")
            env += [{"name": "PET_NNODES", "value": str(nodes)}, {"name": "PET_NPROC_PER_NODE", "value": str(per_node)},
                    {"name": "PET_NODE_RANK", "valueFrom": {"fieldRef": {"fieldPath": COMPLETION_INDEX}}},
                    {"name": "PET_MASTER_ADDR", "value": f"{name}-node-0-0.{name}"},
                    {"name": "PET_MASTER_PORT", "value": str(TRAINER_PORT)}]
            container["ports"] = [{"containerPort": TRAINER_PORT}]
        container["env"] = env


def _patch_pods(template: dict, targets: list[str], metadata: dict, pod_spec: dict) -> None:
    """A strategic-merge-like patch of the named steps' pod templates: containers merged by name."""
    for rjob in template["spec"]["replicatedJobs"]:
        if rjob["name"] not in targets:
            continue
        pod = rjob["template"]["spec"]["template"]
        pod_meta = pod.setdefault("metadata", {})
        for key in ("labels", "annotations"):
            pod_meta[key] = {**(pod_meta.get(key) or {}), **(metadata.get(key) or {})}
        for key, value in pod_spec.items():
            if key in ("containers", "initContainers"):
                pod["spec"][key] = _merge_containers(pod["spec"].get(key) or [], value)
            elif key in ("volumes", "tolerations", "imagePullSecrets"):
                pod["spec"][key] = [*(pod["spec"].get(key) or []), *clone(value)]
            else:
                pod["spec"][key] = clone(value)


def _merge_containers(base: list[dict], patch: list[dict]) -> list[dict]:
    merged = {c["name"]: clone(c) for c in base}
    for container in patch:
        target = merged.setdefault(container["name"], {"name": container["name"]})
        for key, value in container.items():
            if key in ("env", "volumeMounts", "ports") and target.get(key):
                target[key] = [*target[key], *clone(value)]
            else:
                target[key] = clone(value)
    return list(merged.values())
