"""Golden request bodies from the official Kubeflow SDKs, for tests/training/test_sdk_golden.py.

Builds, without a cluster, the exact body each SDK would POST for a few training requests and saves it
as JSON beside this file. The SDKs' own builders run unchanged; only their API objects are replaced
by stand-ins that serve the stock runtime and capture the create call.

SDK versions the saved files come from (each JSON file records the one it was made with):
  - TrainJob:   kubeflow==0.5.0 (kubeflow.trainer TrainerClient, Kubernetes backend; kubeflow-trainer-api 2.3.0)
  - PyTorchJob: kubeflow-training==1.9.4 (kubeflow.training TrainingClient.create_job)

Regenerate (the test suite itself never needs the SDKs):
  python3 -m venv /tmp/sdkvenv && /tmp/sdkvenv/bin/pip install "kubeflow==0.5.*"
  python3 -m venv /tmp/sdkvenv1 && /tmp/sdkvenv1/bin/pip install "kubeflow-training==1.9.*"
  /tmp/sdkvenv/bin/python tests/data/sdk_golden/generate.py trainjob
  /tmp/sdkvenv1/bin/python tests/data/sdk_golden/generate.py pytorchjob
"""
from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMESPACE = "team-a"
STOCK_RUNTIME = HERE.parent / "reference/manifests/trainer-v2/00-clustertrainingruntime-torch-distributed.yaml"

# The same requests as jupyter_kf flags; the test builds ours from "request" and compares field by field.
# "command" is what jupyter_kf runs (its runner); it is passed to the SDK where the SDK lets one set it.
REQUESTS = {
    "cpu-single": {
        "name": "fit-cpu", "workers": 1, "cpu": "1", "memory": "2Gi", "gpus": 0, "env": {},
        "image": "python:3.11-slim",
        "command": ["python", "-u", "/kf/bundle/runner.py", "/kf/bundle", "/kf/out"],
    },
    "gpu-multi-env": {
        "name": "fit-gpu", "workers": 2, "cpu": "8", "memory": "32Gi", "gpus": 4,
        "env": {"SEED": "3", "WANDB_MODE": "offline"}, "queue": "team-gpus",
        "image": "pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime",
        "node_selector": {"nvidia.com/gpu.product": "NVIDIA-H200"}, "volume": ["datasets", "/data"],
        "command": ["torchrun", "--nproc-per-node=4", "/kf/bundle/runner.py", "/kf/bundle", "/kf/out"],
    },
    "namespaced-runtime": {
        "name": "fit-ns", "workers": 1, "cpu": "2", "memory": "4Gi", "gpus": 0, "env": {},
        "image": "python:3.11-slim", "runtime_kind": "TrainingRuntime",
        "command": ["python", "-u", "/kf/bundle/runner.py", "/kf/bundle", "/kf/out"],
    },
}


class _Done:
    """What ``async_req=True`` returns: a thread-like object with ``get``."""

    def __init__(self, value=None, error=None):
        self.value, self.error = value, error

    def get(self, timeout=None):
        if self.error is not None:
            raise self.error
        return self.value


def _runtime(kind: str) -> dict:
    import yaml

    runtime = yaml.safe_load(STOCK_RUNTIME.read_text())
    runtime["kind"] = kind
    if kind == "TrainingRuntime":
        runtime["metadata"]["namespace"] = NAMESPACE
    return runtime


class _CustomObjects:
    """Stands in for kubernetes.client.CustomObjectsApi: serves the runtime, captures the create body."""

    def __init__(self, runtime_kind: str = "ClusterTrainingRuntime"):
        self.runtime_kind = runtime_kind
        self.created = None

    def get_namespaced_custom_object(self, group, version, namespace, plural, name, async_req=False, **_):
        from kubernetes.client.exceptions import ApiException

        if plural == "trainingruntimes" and self.runtime_kind == "TrainingRuntime":
            return _Done(_runtime("TrainingRuntime"))
        if plural == "localqueues":
            return {"metadata": {"name": name}}
        return _Done(error=ApiException(status=404, reason="Not Found"))

    def get_cluster_custom_object(self, group, version, plural, name, async_req=False, **_):
        return _Done(_runtime("ClusterTrainingRuntime"))

    def create_namespaced_custom_object(self, group, version, namespace, plural, body, **_):
        self.created = body
        return body


def trainjob(request: dict) -> dict:
    from kubeflow.common.types import KubernetesBackendConfig  # noqa: F401  (the SDK's own import path)
    from kubeflow.trainer.backends.kubernetes.backend import KubernetesBackend
    from kubeflow.trainer.options import kubernetes as opts
    from kubeflow.trainer.options.common import Name
    from kubeflow.trainer.types.types import CustomTrainerContainer

    backend = KubernetesBackend.__new__(KubernetesBackend)  # no kubeconfig: the API objects are stand-ins
    backend.custom_api = _CustomObjects(request.get("runtime_kind", "ClusterTrainingRuntime"))
    backend.namespace = NAMESPACE
    resources = {"cpu": request["cpu"], "memory": request["memory"]}
    if request["gpus"]:
        resources["gpu"] = request["gpus"]
    options = [Name(request["name"]), opts.TrainerCommand(request["command"])]
    if request.get("queue"):
        options.append(opts.Labels({"kueue.x-k8s.io/queue-name": request["queue"]}))
    pod = {}
    if request.get("node_selector"):
        pod["node_selector"] = dict(request["node_selector"])
    if request["gpus"]:
        pod["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    if request.get("volume"):
        claim, path = request["volume"]
        pod["volumes"] = [{"name": "data-0", "persistentVolumeClaim": {"claimName": claim}}]
        pod["containers"] = [opts.ContainerPatch(name="node", volume_mounts=[{"name": "data-0", "mountPath": path}])]
    if pod:
        options.append(opts.RuntimePatch(training_runtime_spec=opts.TrainingRuntimeSpecPatch(
            template=opts.JobSetTemplatePatch(spec=opts.JobSetSpecPatch(replicated_jobs=[opts.ReplicatedJobPatch(
                name="node", template=opts.JobTemplatePatch(spec=opts.JobSpecPatch(template=opts.PodTemplatePatch(
                    spec=opts.PodSpecPatch(**pod)))))])))))
    trainer = CustomTrainerContainer(image=request["image"], num_nodes=request["workers"], resources_per_node=resources,
                                     env=request["env"] or None)
    backend.train(runtime=request.get("runtime", "torch-distributed"), trainer=trainer, options=options)
    return json.loads(json.dumps(backend.custom_api.created, default=str))


def pytorchjob(request: dict) -> dict:
    from kubeflow.training import TrainingClient, models
    from kubernetes.client import ApiClient

    client = TrainingClient.__new__(TrainingClient)  # no kubeconfig: the API objects are stand-ins
    client.custom_api = _CustomObjects()
    client.api_client = ApiClient()
    client.namespace = NAMESPACE
    client.job_kind = "PyTorchJob"
    resources = {"cpu": request["cpu"], "memory": request["memory"]}
    if request["gpus"]:
        resources["gpu"] = str(request["gpus"])
    volumes = mounts = None
    if request.get("volume"):
        claim, path = request["volume"]
        volumes = [models.V1Volume(name="data-0", persistent_volume_claim=models.V1PersistentVolumeClaimVolumeSource(claim_name=claim))]
        mounts = [models.V1VolumeMount(name="data-0", mount_path=path)]
    client.create_job(name=request["name"], namespace=NAMESPACE, base_image=request["image"], num_workers=request["workers"],
                      num_procs_per_worker=request["gpus"] if request["gpus"] > 1 else None,
                      resources_per_worker=resources, env_vars=request["env"] or None, queue_name=request.get("queue"),
                      volumes=volumes, volume_mounts=mounts)
    return ApiClient().sanitize_for_serialization(client.custom_api.created)


SDKS = {"trainjob": (trainjob, "kubeflow"), "pytorchjob": (pytorchjob, "kubeflow-training")}


def main(kind: str) -> None:
    build, package = SDKS[kind]
    for label, request in REQUESTS.items():
        if kind == "pytorchjob" and request.get("runtime_kind"):
            continue  # a Trainer runtime has no meaning for a PyTorchJob
        out = {"sdk": f"{package}=={version(package)}", "kind": kind, "request": request, "body": build(request)}
        path = HERE / f"{kind}-{label}.json"
        path.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
        print(f"wrote {path.relative_to(HERE.parents[2])}")


if __name__ == "__main__":
    main(sys.argv[1])
