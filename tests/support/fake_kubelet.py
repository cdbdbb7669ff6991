"""Plays what a cluster's controllers and kubelet would do for a jupyter_kf workload on the emulator.

It makes the pods a TrainJob, PyTorchJob or Job would get (names, labels, ranks, and the owner chain:
TrainJob -> JobSet -> Job -> pods, PyTorchJob -> pods, Job -> pods), gives each the env its controller
injects, lays the bundle Secret out as its volume would, and runs our real runner for every worker as a
local process whose output becomes the pod's log. Then it moves the pods and the workload to their
final state. What it checks on the way is what a kubelet would refuse.
"""
from __future__ import annotations

import base64
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

KINDS = {"trainjob": ("trainer.kubeflow.org", "v1alpha1", "trainjobs"), "pytorchjob": ("kubeflow.org", "v1", "pytorchjobs"),
         "job": ("batch", "v1", "jobs")}
SUCCESS = {"trainjob": "Complete", "pytorchjob": "Succeeded", "job": "Complete"}


class FakeKubelet:
    def __init__(self, emulator, suffix: str = "abcde"):
        self.emu = emulator
        self.suffix = suffix  # the random part of pod names (a rerun's pods get other names)

    def workload(self, namespace: str, name: str) -> tuple[str, dict]:
        for kind, (group, version, plural) in KINDS.items():
            try:
                obj = self.emu.get_object(group, version, plural, namespace, name)
            except KeyError:  # that CRD is not installed
                continue
            if obj is not None:
                return kind, obj
        raise KeyError(f"no workload {namespace}/{name}")

    def pod_names(self, kind: str, name: str, workers: int) -> list[tuple[str, dict, dict]]:
        """(pod name, labels, annotations) per rank, as the workload's controller names them."""
        pods = []
        for rank in range(workers):
            if kind == "trainjob":
                pods.append((f"{name}-node-0-{rank}-{self.suffix}", {"jobset.sigs.k8s.io/jobset-name": name},
                             {"batch.kubernetes.io/job-completion-index": str(rank)}))
            elif kind == "pytorchjob":
                kind_label = "master" if rank == 0 else "worker"
                index = 0 if rank == 0 else rank - 1
                pods.append((f"{name}-{kind_label}-{index}", {"training.kubeflow.org/replica-type": kind_label,
                                                              "training.kubeflow.org/replica-index": str(index)}, {}))
            else:
                pods.append((f"{name}-{rank}-{self.suffix}", {"job-name": name, "batch.kubernetes.io/job-completion-index": str(rank)},
                             {"batch.kubernetes.io/job-completion-index": str(rank)}))
        return pods

    @staticmethod
    def container(kind: str, obj: dict) -> tuple[dict, dict, list]:
        """(container, pod template labels, workers count) from wherever the kind keeps them."""
        spec = obj["spec"]
        if kind == "trainjob":
            trainer = spec["trainer"]
            patch = FakeKubelet.pod_patch(obj)
            mounts = patch["spec"]["containers"][0]["volumeMounts"]
            return ({"command": trainer["command"], "env": trainer.get("env", []), "volumeMounts": mounts},
                    patch["metadata"].get("labels", {}), trainer["numNodes"])
        if kind == "pytorchjob":
            replicas = spec["pytorchReplicaSpecs"]
            template = replicas["Master"]["template"]
            count = 1 + (replicas.get("Worker", {}).get("replicas", 0))
            return template["spec"]["containers"][0], template["metadata"].get("labels", {}), count
        template = spec["template"]
        return template["spec"]["containers"][0], template["metadata"].get("labels", {}), spec["completions"]

    @staticmethod
    def pod_patch(trainjob: dict) -> dict:
        """The pod template (metadata, spec) a TrainJob patches: v2.2+ runtimePatches, v2.1 podTemplateOverrides."""
        spec = trainjob["spec"]
        if "runtimePatches" in spec:
            return spec["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]
        override = spec["podTemplateOverrides"][0]
        return {"metadata": override.get("metadata", {}), "spec": override["spec"]}

    def env(self, kind: str, namespace: str, name: str, container: dict, rank: int, workers: int, port: int) -> dict:
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = item["value"]
            elif "fieldRef" in item.get("valueFrom", {}):
                env[item["name"]] = str(rank)  # the completion-index annotation
            elif "secretKeyRef" in item.get("valueFrom", {}):
                ref = item["valueFrom"]["secretKeyRef"]
                secret = self.emu.get_object("", "v1", "secrets", namespace, ref["name"])
                if secret is None:
                    raise RuntimeError(f"CreateContainerConfigError: secret {ref['name']!r} not found")
                env[item["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        if kind == "trainjob":  # the Trainer's torch plugin
            env.update(PET_NNODES=str(workers), PET_NPROC_PER_NODE="1", PET_NODE_RANK=str(rank),
                       PET_MASTER_ADDR="127.0.0.1", PET_MASTER_PORT=str(port))
        elif kind == "pytorchjob":  # the Training Operator
            env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(workers), RANK=str(rank),
                       PET_NNODES=str(workers), PET_NODE_RANK=str(rank), PET_MASTER_ADDR="127.0.0.1", PET_MASTER_PORT=str(port))
        else:  # plain Job: PET_* by hand in the manifest; <job>-0.<svc> resolves to this machine here
            env["PET_MASTER_ADDR"] = "127.0.0.1"
            env["PET_MASTER_PORT"] = str(port)
        return env

    def lay_out_bundle(self, namespace: str, obj: dict, kind: str, root: Path) -> None:
        volumes = (self.pod_patch(obj)["spec"]["volumes"] if kind == "trainjob"
                   else (obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["volumes"] if kind == "pytorchjob"
                         else obj["spec"]["template"]["spec"]["volumes"]))
        volume = next(v for v in volumes if v["name"] == "kf-bundle")
        if "secret" in volume:
            source, items = self.emu.get_object("", "v1", "secrets", namespace, volume["secret"]["secretName"]), volume["secret"]["items"]
        else:
            source, items = self.emu.get_object("", "v1", "configmaps", namespace, volume["configMap"]["name"]), volume["configMap"]["items"]
        if source is None:
            raise RuntimeError("FailedMount: the bundle volume's source is not found")
        for item in items:
            key = item["key"]
            if "secret" in volume:
                data = base64.b64decode(source["data"][key])
            else:
                text = source.get("data", {}).get(key)
                data = text.encode() if text is not None else base64.b64decode(source["binaryData"][key])
            target = root / "bundle" / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def owner_of_pods(self, namespace: str, kind: str, obj: dict) -> dict:
        """What the pods' controller ownerReference names: for a TrainJob the Job its JobSet made."""
        if kind != "trainjob":
            return obj
        name = obj["metadata"]["name"]
        try:
            jobset = self.emu.create_object({
                "apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
                "metadata": {"name": name, "namespace": namespace, "ownerReferences": [_controller_ref(obj)]},
                "spec": {"replicatedJobs": [{"name": "node", "replicas": 1}]}})
        except KeyError:  # JobSet's API is not installed: the Job still names its JobSet, which cannot be read
            jobset = {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
                      "metadata": {"name": name, "uid": str(uuid.uuid4())}}
        labels = {"jobset.sigs.k8s.io/jobset-name": name, "jobset.sigs.k8s.io/replicatedjob-name": "node"}
        return self.emu.create_object({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": f"{name}-node-0", "namespace": namespace, "labels": labels,
                         "ownerReferences": [_controller_ref(jobset)]},
            "spec": {"completionMode": "Indexed", "completions": obj["spec"]["trainer"]["numNodes"],
                     "parallelism": obj["spec"]["trainer"]["numNodes"],
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"restartPolicy": "Never", "containers": [{"name": "node", "image": "trainer"}]}}}})

    def run(self, namespace: str, name: str, fail_rank: int | None = None, start_only: bool = False,
            env: dict | None = None) -> dict[int, int]:
        """Create the pods, run every worker to the end (or just mark them Running), finish the workload.

        ``env`` overrides variables in every worker (e.g. a wrong result key)."""
        from jupyter_kf.training.backends.local_supervisor import free_port

        kind, obj = self.workload(namespace, name)
        container, labels, workers = self.container(kind, obj)
        pods = self.pod_names(kind, name, workers)
        owner = self.owner_of_pods(namespace, kind, obj)
        for pod, extra_labels, pod_annotations in pods:
            self.emu.make_pod(namespace, pod, owner=owner, labels={**labels, **extra_labels}, annotations=pod_annotations,
                              phase="Running", containers=(container.get("name", "node"),))
        if start_only:
            return {}
        port = free_port()
        root = Path(tempfile.mkdtemp(prefix="fake-kubelet-"))
        self.lay_out_bundle(namespace, obj, kind, root)
        procs = []
        for rank, (pod, _, _) in enumerate(pods):
            out = root / f"out-{rank}"
            out.mkdir()
            command = [sys.executable if part == "python" else part.replace("/kf/bundle", str(root / "bundle")).replace("/kf/out", str(out))
                       for part in container["command"]]
            worker_env = {**self.env(kind, namespace, name, container, rank, workers, port), **(env or {})}
            if rank == fail_rank:
                command = [sys.executable, "-c", "import sys; print('worker crashed'); sys.exit(3)"]
            proc = subprocess.Popen(command, env=worker_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=out)
            pump = threading.Thread(target=self._pump, args=(namespace, pod, proc), daemon=True)
            pump.start()
            procs.append((pod, proc, pump))
        codes = {}
        for rank, (pod, proc, pump) in enumerate(procs):
            codes[rank] = proc.wait(timeout=120)
            pump.join(timeout=10)
            self.emu.set_pod_phase(namespace, pod, "Succeeded" if codes[rank] == 0 else "Failed", exit_code=codes[rank] or None)
        self.finish(namespace, name, succeeded=all(code == 0 for code in codes.values()))
        return codes

    def _pump(self, namespace: str, pod: str, proc) -> None:
        for line in iter(proc.stdout.readline, b""):
            self.emu.write_log(namespace, pod, line.decode("utf-8", "replace"))

    def finish(self, namespace: str, name: str, succeeded: bool, message: str = "") -> None:
        kind, _ = self.workload(namespace, name)
        group, version, plural = KINDS[kind]
        ctype = SUCCESS[kind] if succeeded else "Failed"
        self.emu.set_condition(group, version, plural, namespace, name, ctype, "True",
                               reason="JobCompleted" if succeeded else "JobFailed",
                               message=message or ("" if succeeded else "a worker failed"))


def _controller_ref(owner: dict) -> dict:
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}
