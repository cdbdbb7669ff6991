"""The training manifests, built for many specs and created strictly (unknown fields rejected) on the
emulator, which validates custom resources against the real CRDs and built-ins against their schemas."""
import pytest

from jupyter_kf.manifests.common import bundle_configmap, job_labels
from jupyter_kf.manifests.training import TrainPlan, build_workload
from jupyter_kf.specs import TrainSpec

SPECS = {
    "cpu-single": dict(name="cpu-one"),
    "cpu-multi": dict(name="cpu-multi", workers=3, cpu="2", memory="4Gi", env=["A=1"]),
    "gpu-4x2": dict(name="gpu-four", workers=2, gpus=4, cpu="8", memory="32Gi", queue="team-gpus", timeout="2h",
                    node_selector=["nvidia.com/gpu.product=NVIDIA-H200"], tolerations=["nvidia.com/gpu:NoSchedule"],
                    secret_env=["HF_TOKEN=hf/token"], volumes=["pvc:datasets:/data"], priority_class="high", retries=2,
                    gpu_vendor="amd.com/gpu"),
}


def plan_for(spec_args, minor=3):
    spec = TrainSpec.create(**spec_args)
    labels = job_labels(spec.name, "ada", "train.ipynb", spec.queue)
    configmap, items = bundle_configmap(f"{spec.name}-kf-bundle", "default", {"runner.py": b"print(1)\n", "payload.bin": b"\0\1"}, labels)
    return TrainPlan(spec=spec, namespace="default", image="python:3.11-slim", configmap=configmap["metadata"]["name"],
                     bundle_items=items, labels=labels, trainer_minor=minor), configmap


def create(api_client, obj):
    from kubernetes import client

    if obj["kind"] == "Service":
        return client.CoreV1Api(api_client).create_namespaced_service("default", obj, field_validation="Strict")
    if obj["kind"] == "ConfigMap":
        return client.CoreV1Api(api_client).create_namespaced_config_map("default", obj, field_validation="Strict")
    if obj["kind"] == "Job":
        return client.BatchV1Api(api_client).create_namespaced_job("default", obj, field_validation="Strict")
    group, version = obj["apiVersion"].split("/")
    plural = {"TrainJob": "trainjobs", "PyTorchJob": "pytorchjobs"}[obj["kind"]]
    return client.CustomObjectsApi(api_client).create_namespaced_custom_object(group, version, "default", plural, obj,
                                                                              field_validation="Strict")


@pytest.mark.parametrize("kind", ["trainjob", "pytorchjob", "job"])
@pytest.mark.parametrize("spec_name", sorted(SPECS))
def test_manifests_are_strictly_valid(k8s_emulator, k8s_api_client, kind, spec_name):
    plan, configmap = plan_for(SPECS[spec_name])
    create(k8s_api_client, configmap)
    for obj in build_workload(plan, kind):
        create(k8s_api_client, obj)  # a 422/400 from the emulator fails the test


def test_trainjob_processes_and_env_contract():
    cpu, _ = plan_for(SPECS["cpu-multi"])
    gpu, _ = plan_for(SPECS["gpu-4x2"])
    cpu_tj, gpu_tj = build_workload(cpu, "trainjob")[0], build_workload(gpu, "trainjob")[0]
    assert cpu_tj["spec"]["trainer"]["numProcPerNode"] == 1  # CPU jobs never fan out to one process per core
    assert cpu_tj["spec"]["trainer"]["command"][:2] == ["python", "-u"]
    assert gpu_tj["spec"]["trainer"]["numProcPerNode"] == 4
    assert gpu_tj["spec"]["trainer"]["command"][:2] == ["torchrun", "--nproc-per-node=4"]
    assert gpu_tj["spec"]["trainer"]["resourcesPerNode"]["limits"]["amd.com/gpu"] == "4"
    assert gpu_tj["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == "high"
    assert not any(e["name"].startswith("PET_") for e in gpu_tj["spec"]["trainer"]["env"])  # the Trainer's webhook refuses them


def test_trainer_v21_uses_pod_template_overrides():
    plan, _ = plan_for(SPECS["cpu-multi"], minor=1)
    tj = build_workload(plan, "trainjob")[0]
    assert "runtimePatches" not in tj["spec"] and tj["spec"]["podTemplateOverrides"][0]["targetJobs"] == [{"name": "node"}]


def test_pytorchjob_master_and_workers():
    plan, _ = plan_for(SPECS["cpu-multi"])
    job = build_workload(plan, "pytorchjob")[0]
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1 and replicas["Worker"]["replicas"] == 2
    assert replicas["Master"]["template"]["spec"]["containers"][0]["name"] == "pytorch"
    assert job["spec"]["runPolicy"]["cleanPodPolicy"] == "None"  # pods (and their logs) stay until deleted


def test_indexed_job_with_headless_service_for_several_workers():
    plan, _ = plan_for(SPECS["cpu-multi"])
    service, job = build_workload(plan, "job")
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["selector"] == {"job-name": "cpu-multi"}
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    assert spec["template"]["spec"]["subdomain"] == "cpu-multi"
    env = {e["name"]: e for e in spec["template"]["spec"]["containers"][0]["env"]}
    assert env["PET_MASTER_ADDR"]["value"] == "cpu-multi-0.cpu-multi" and env["PET_NNODES"]["value"] == "3"
    assert "job-completion-index" in env["PET_NODE_RANK"]["valueFrom"]["fieldRef"]["fieldPath"]
    single, = build_workload(plan_for(SPECS["cpu-single"])[0], "job")
    assert single["kind"] == "Job" and "subdomain" not in single["spec"]["template"]["spec"]


def test_bundle_configmap_keeps_paths_and_binary():
    cm, items = bundle_configmap("x", "default", {"src/pkg/mod.py": b"A = 1\n", "payload.bin": b"\xff\x00"}, {})
    assert cm["data"] == {"src__pkg__mod.py": "A = 1\n"} and cm["binaryData"] == {"payload.bin": "/wA="}
    assert {"key": "src__pkg__mod.py", "path": "src/pkg/mod.py"} in items
