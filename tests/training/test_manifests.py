"""The training manifests, built for many specs and created strictly (unknown fields rejected) on the
emulator, which validates custom resources against the real CRDs and built-ins against their schemas,
and runs Kubeflow Trainer's admission webhook on TrainJobs."""
import base64
import json

import pytest

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.kube.objects import bundle_secret, job_labels
from jupyter_kf.training.manifests import TrainPlan, build_workload
from jupyter_kf.training.spec import TrainSpec
from tests.support.k8s_emulator.webhook_trainer import install_trainer

SPECS = {
    "cpu-single": dict(name="cpu-one"),
    "cpu-multi": dict(name="cpu-multi", workers=3, cpu="2", memory="4Gi", env=["A=1"]),
    "gpu-4x2": dict(name="gpu-four", workers=2, gpus=4, cpu="8", memory="32Gi", queue="team-gpus", timeout="2h",
                    node_selector=["nvidia.com/gpu.product=NVIDIA-H200"], tolerations=["nvidia.com/gpu:NoSchedule"],
                    secret_env=["HF_TOKEN=hf/token"], volumes=["pvc:datasets:/data"], priority_class="high",
                    gpu_vendor="amd.com/gpu"),
    "tpu-v5e-4x4": dict(name="tpu-four", tpu="v5e:4x4", cpu="8", node_selector=["pool=tpu"]),
}


def plan_for(spec_args, minor=3, **plan):
    spec = TrainSpec.create(**spec_args)
    labels = job_labels(spec.name, "ada", "train.ipynb", spec.queue)
    secret, items = bundle_secret(f"{spec.name}-kf-bundle", "default", {"runner.py": b"print(1)\n", "payload.bin": b"\0\1"},
                                  labels, "k" * 64)
    return TrainPlan(spec=spec, namespace="default", image="python:3.11-slim", bundle=secret["metadata"]["name"],
                     bundle_items=items, labels=labels, trainer_minor=minor, **plan), secret


@pytest.fixture
def trainer(k8s_emulator):
    """The emulator with Kubeflow Trainer v2.3 (its webhook on) and its stock torch-distributed runtime."""
    import yaml

    from tests.support.helpers import STOCK_RUNTIME

    install_trainer(k8s_emulator)
    k8s_emulator.create_object(yaml.safe_load(STOCK_RUNTIME.read_text()))
    return k8s_emulator


def create(api_client, obj):
    from kubernetes import client

    if obj["kind"] == "Service":
        return client.CoreV1Api(api_client).create_namespaced_service("default", obj, field_validation="Strict")
    if obj["kind"] == "Secret":
        return client.CoreV1Api(api_client).create_namespaced_secret("default", obj, field_validation="Strict")
    if obj["kind"] == "Job":
        return client.BatchV1Api(api_client).create_namespaced_job("default", obj, field_validation="Strict")
    group, version = obj["apiVersion"].split("/")
    plural = {"TrainJob": "trainjobs", "PyTorchJob": "pytorchjobs"}[obj["kind"]]
    return client.CustomObjectsApi(api_client).create_namespaced_custom_object(group, version, "default", plural, obj,
                                                                              field_validation="Strict")


@pytest.mark.parametrize("kind", ["trainjob", "pytorchjob", "job"])
@pytest.mark.parametrize("spec_name", sorted(SPECS))
def test_manifests_are_strictly_valid(trainer, k8s_api_client, kind, spec_name):
    plan, secret = plan_for(SPECS[spec_name])
    create(k8s_api_client, secret)
    for obj in build_workload(plan, kind):
        create(k8s_api_client, obj)  # a 422/400 from the emulator, or the Trainer webhook's 403, fails the test


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


def test_bundle_secret_keeps_paths_and_binary_and_the_key_out_of_the_volume():
    secret, items = bundle_secret("x", "default", {"src/pkg/mod.py": b"A = 1\n", "payload.bin": b"\xff\x00"}, {}, "k3y")
    assert secret["kind"] == "Secret" and secret["type"] == "Opaque"
    assert secret["data"] == {"src__pkg__mod.py": base64.b64encode(b"A = 1\n").decode(), "payload.bin": "/wA=",
                              "kf-result-key": base64.b64encode(b"k3y").decode()}
    assert {"key": "src__pkg__mod.py", "path": "src/pkg/mod.py"} in items
    assert "kf-result-key" not in {item["key"] for item in items}  # it reaches the runner as an env var only


@pytest.mark.parametrize("kind", ["trainjob", "pytorchjob", "job"])
@pytest.mark.parametrize("minor", [1, 3])
def test_pods_opt_out_of_istio_sidecars(kind, minor):
    """Item 4: Kubeflow profile namespaces inject Istio; a sidecar keeps a finished pod Running."""
    plan, _ = plan_for(SPECS["cpu-multi"], minor=minor)
    workload = build_workload(plan, kind)[-1]
    if kind == "trainjob":
        spec = workload["spec"]
        templates = ([spec["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]]
                     if minor >= 2 else spec["podTemplateOverrides"])
    elif kind == "pytorchjob":
        templates = [r["template"] for r in workload["spec"]["pytorchReplicaSpecs"].values()]
    else:
        templates = [workload["spec"]["template"]]
    for template in templates:
        assert template["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
        assert template["metadata"]["labels"]["jupyter-kf.io/job"] == "cpu-multi"


def test_retries_restart_pytorchjob_workers_and_are_refused_for_trainjob():
    """Item 9: the Training Operator counts restarts only under OnFailure/Always/ExitCode; a TrainJob has no retries."""
    retried, _ = plan_for({**SPECS["cpu-multi"], "retries": 2})
    job = build_workload(retried, "pytorchjob")[0]
    assert {r["restartPolicy"] for r in job["spec"]["pytorchReplicaSpecs"].values()} == {"OnFailure"}
    assert job["spec"]["runPolicy"]["backoffLimit"] == 2
    once, _ = plan_for(SPECS["cpu-multi"])
    assert {r["restartPolicy"] for r in build_workload(once, "pytorchjob")[0]["spec"]["pytorchReplicaSpecs"].values()} == {"Never"}
    assert build_workload(retried, "job")[-1]["spec"]["backoffLimit"] == 2  # a Job retries under Never
    with pytest.raises(InvalidSpec) as err:
        build_workload(retried, "trainjob")
    assert str(err.value) == ("--retries 2: a TrainJob has no retry setting (its training runtime decides restarts): leave "
                              "--retries out, or use --kind pytorchjob or --kind job, which accept --retries N")


def test_trainer_v21_pods_get_labels_and_no_priority_class_field():
    """Item 6: v2.1's spec.labels reach only the JobSet, and its pod template override has no priorityClassName."""
    plan, _ = plan_for({**SPECS["gpu-4x2"], "timeout": None}, minor=1)
    tj = build_workload(plan, "trainjob")[0]
    override = tj["spec"]["podTemplateOverrides"][0]
    assert override["metadata"]["labels"]["jupyter-kf.io/job"] == "gpu-four" and "labels" not in tj["spec"]
    assert "priorityClassName" not in override["spec"]
    assert tj["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == "high"
    with pytest.raises(InvalidSpec, match=r"^--timeout: this cluster runs Kubeflow Trainer v2.1, whose TrainJob has no deadline"):
        build_workload(plan_for(SPECS["gpu-4x2"], minor=1)[0], "trainjob")


@pytest.mark.parametrize("kind", ["trainjob", "pytorchjob", "job"])
def test_the_queue_label_is_on_the_workload_not_its_pods(kind):
    """Kueue admits the workload; a queue label on its pods would make Kueue's pod integration queue each pod."""
    plan, _ = plan_for({**SPECS["gpu-4x2"], "timeout": None})
    workload = build_workload(plan, kind)[-1]
    assert workload["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-gpus"
    assert "kueue.x-k8s.io/queue-name" not in json.dumps(workload["spec"])


def test_a_kind_typed_by_the_user_builds_the_same_batch_job():
    typed = "".join(["j", "o", "b"])  # a string made at run time, as parsed from --kind
    assert typed is not "job"  # noqa: F632 - the point: not the interned literal
    plan, _ = plan_for({"name": "typed", "workers": 2})
    assert build_workload(plan, typed) == build_workload(plan, "job")


def test_a_pytorchjobs_master_exposes_the_training_operators_port():
    plan, _ = plan_for({"name": "ported", "workers": 2})
    replicas = build_workload(plan, "pytorchjob")[0]["spec"]["pytorchReplicaSpecs"]
    [master] = replicas["Master"]["template"]["spec"]["containers"]
    assert master["ports"] == [{"name": "pytorchjob-port", "containerPort": 23456}]  # the operator's default
    assert "ports" not in replicas["Worker"]["template"]["spec"]["containers"][0]
