"""Simulating mode end to end: the emulator runs as its own process with its controllers and kubelet, and
jupyter_kf's kubernetes backend (and kubectl) use it as a cluster. Nothing test-side plays a controller: each
test creates objects through the API and waits on the state the simulator writes back."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from tests.kube.simulated_cluster import SimulatedCluster, eventually, process_alive


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    sim = SimulatedCluster(tmp_path_factory.mktemp("simulated-cluster")).wait_ready()
    yield sim
    sim.stop()


@pytest.fixture
def kf_cluster(cluster, monkeypatch):
    """jupyter_kf's kubernetes backend pointed at the simulated cluster, with a fresh connection."""
    from jupyter_kf import config
    from jupyter_kf.training.backends import kubernetes

    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    monkeypatch.setenv("JUPYTER_KF_BACKEND", "kubernetes")
    config.reset()
    kubernetes.reset()
    yield cluster
    kubernetes.reset()
    config.reset()


@pytest.fixture
def core(cluster):
    from kubernetes import client

    api = cluster.client()
    yield client.CoreV1Api(api)
    api.close()


@pytest.fixture
def batch(cluster):
    from kubernetes import client

    api = cluster.client()
    yield client.BatchV1Api(api)
    api.close()


def job_body(name: str, argv: list[str], labels: dict | None = None, cpu: str | None = None, **spec) -> dict:
    container = {"name": "main", "image": "python:3.12-slim", "command": argv}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"backoffLimit": 0, **spec,
                     "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}}


def condition(obj: dict, ctype: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == ctype), None)


@pytest.mark.parametrize("kind", ["trainjob", "job", "pytorchjob"])
def test_a_cell_runs_on_two_workers_and_its_results_come_back(kf_cluster, kind):
    from jupyter_kf.training import api

    ns = {"data": [1, 2, 3]}
    job = api.train("import os\ntotal = sum(data)\nrank = os.environ['RANK']\nprint('sum', total, 'rank', rank)",
                    user_ns=ns, name=f"sim-{kind}", workers=2, kind=kind)
    status = job.wait(timeout=180)
    assert status.phase == "Succeeded", status
    # a PyTorchJob succeeds with its master: the worker may still be exiting
    eventually(lambda: [w.exit_code for w in job.status().workers] == [0, 0], what="both workers to exit 0")
    job.apply(ns)
    assert ns["total"] == 6 and ns["rank"] == "0"
    assert sorted(job.logs()) == ["[0] sum 6 rank 0", "[1] sum 6 rank 1"]


def test_trainjob_pods_env_and_status_follow_the_trainer(kf_cluster):
    from kubernetes import client

    from jupyter_kf.training import api

    job = api.train("import os\nprint(os.environ['PET_NNODES'], os.environ['PET_NODE_RANK'], os.environ['PET_MASTER_ADDR'])",
                    user_ns={}, name="sim-pet", workers=2, kind="trainjob")
    assert job.wait(timeout=180).phase == "Succeeded"
    api_client = kf_cluster.client()
    custom, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    trainjob = custom.get_namespaced_custom_object("trainer.kubeflow.org", "v1alpha1", "default", "trainjobs", "sim-pet")
    assert condition(trainjob, "Complete")["reason"] == "AllJobsCompleted"
    assert trainjob["status"]["jobsStatus"] == [{"name": "node", "ready": 0, "succeeded": 1, "failed": 0, "active": 0,
                                                 "suspended": 0}]
    pods = core.list_namespaced_pod("default", label_selector="jobset.sigs.k8s.io/jobset-name=sim-pet").items
    assert sorted(p.metadata.name.rsplit("-", 1)[0] for p in pods) == ["sim-pet-node-0-0", "sim-pet-node-0-1"]
    env = {e.name: e for e in pods[0].spec.containers[0].env}
    assert env["PET_MASTER_ADDR"].value == "sim-pet-node-0-0.sim-pet" and env["PET_NNODES"].value == "2"
    assert env["PET_NODE_RANK"].value_from.field_ref.field_path.endswith("['batch.kubernetes.io/job-completion-index']")
    assert sorted(job.logs()) == ["[0] 2 0 127.0.0.1", "[1] 2 1 127.0.0.1"]
    api_client.close()


def test_a_gpu_job_stays_pending_with_the_schedulers_reason(kf_cluster, core):
    from jupyter_kf.training import api

    job = api.train("x = 1", user_ns={}, name="sim-gpu", gpus=1, kind="job")
    message = eventually(lambda: job.status().message, what="a Pending message")
    assert "0/1 nodes are available: 1 Insufficient nvidia.com/gpu." in message
    assert job.status().phase == "Pending"
    pod = core.list_namespaced_pod("default", label_selector="job-name=sim-gpu").items[0]
    scheduled = next(c for c in pod.status.conditions if c.type == "PodScheduled")
    assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")
    events = core.list_namespaced_event("default", field_selector=f"involvedObject.name={pod.metadata.name}").items
    assert any(e.reason == "FailedScheduling" for e in events)
    job.cancel()


def test_a_node_selector_that_matches_no_node(batch, core):
    body = job_body("sim-tpu", [sys.executable, "-c", "pass"])
    body["spec"]["template"]["spec"]["nodeSelector"] = {"cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice"}
    batch.create_namespaced_job("default", body)

    def reason():
        pods = core.list_namespaced_pod("default", label_selector="job-name=sim-tpu").items
        conditions = pods[0].status.conditions or [] if pods else []
        return next((c.message for c in conditions if c.type == "PodScheduled" and c.status == "False"), None)
    assert eventually(reason) == "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    batch.delete_namespaced_job("sim-tpu", "default", propagation_policy="Background")


def test_kueue_holds_the_second_job_until_the_first_ends(cluster, batch, tmp_path):
    from kubernetes import client

    api_client = cluster.client()
    custom = client.CustomObjectsApi(api_client)
    group, version = "kueue.x-k8s.io", "v1beta2"
    custom.create_cluster_custom_object(group, version, "resourceflavors",
                                        {"apiVersion": f"{group}/{version}", "kind": "ResourceFlavor",
                                         "metadata": {"name": "default-flavor"}})
    custom.create_cluster_custom_object(group, version, "clusterqueues", {
        "apiVersion": f"{group}/{version}", "kind": "ClusterQueue", "metadata": {"name": "team"},
        "spec": {"namespaceSelector": {}, "resourceGroups": [{"coveredResources": ["cpu"], "flavors": [
            {"name": "default-flavor", "resources": [{"name": "cpu", "nominalQuota": "1"}]}]}]}})
    custom.create_namespaced_custom_object(group, version, "default", "localqueues", {
        "apiVersion": f"{group}/{version}", "kind": "LocalQueue", "metadata": {"name": "team-queue"},
        "spec": {"clusterQueue": "team"}})
    gate = tmp_path / "release"
    wait_for_gate = [sys.executable, "-c", "import os, sys, time\n"
                     "while not os.path.exists(sys.argv[1]): time.sleep(0.05)\nprint('released')", str(gate)]
    queue = {"kueue.x-k8s.io/queue-name": "team-queue"}
    batch.create_namespaced_job("default", job_body("first", wait_for_gate, labels=queue, cpu="1"))
    eventually(lambda: batch.read_namespaced_job("first", "default").status.active, what="first job running")
    batch.create_namespaced_job("default", job_body("second", [sys.executable, "-c", "print('second ran')"],
                                                    labels=queue, cpu="1"))

    def second_workload():
        items = custom.list_namespaced_custom_object(group, version, "default", "workloads")["items"]
        found = [w for w in items if w["metadata"]["name"].startswith("job-second-")]
        return found and condition(found[0], "QuotaReserved")
    held = eventually(second_workload, what="the second Workload's QuotaReserved condition")
    assert (held["status"], held["reason"]) == ("False", "Pending")
    assert held["message"] == ("couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor "
                               "default-flavor, 1 more needed")
    second = batch.read_namespaced_job("second", "default")
    assert second.spec.suspend is True and not second.status.active
    gate.write_text("go")
    eventually(lambda: _complete(batch, "second"), what="the second job to complete after the first")
    assert _complete(batch, "first")
    api_client.close()


def _complete(batch, name: str) -> bool:
    status = batch.read_namespaced_job(name, "default").status
    return any(c.type == "Complete" and c.status == "True" for c in status.conditions or [])


def test_deleting_a_job_cascades_and_kills_its_process(batch, core, tmp_path):
    pid_file = tmp_path / "pid"
    argv = [sys.executable, "-c", "import os, sys, time\nopen(sys.argv[1], 'w').write(str(os.getpid()))\n"
            "time.sleep(600)", str(pid_file)]
    batch.create_namespaced_job("default", job_body("sim-long", argv))
    pid = int(eventually(lambda: pid_file.exists() and pid_file.read_text(), what="the process to start"))
    assert process_alive(pid)
    batch.delete_namespaced_job("sim-long", "default", propagation_policy="Foreground")
    eventually(lambda: not process_alive(pid), what="the process to be killed")
    eventually(lambda: not core.list_namespaced_pod("default", label_selector="job-name=sim-long").items,
               what="the pod to go")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_logs_a_job(cluster, batch):
    batch.create_namespaced_job("default", job_body("sim-hello", [sys.executable, "-c", "print('hello from the pod')"]))
    eventually(lambda: _complete(batch, "sim-hello"), what="the job to complete")
    out = subprocess.run(["kubectl", f"--kubeconfig={cluster.kubeconfig}", "logs", "job/sim-hello"],
                         capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (0, "hello from the pod\n"), out.stderr


def run_in_a_kernel(base: str, code: str) -> str:
    """Start a kernel over the server's REST API and run ``code`` over its websocket; what it printed."""
    import asyncio
    import json
    import urllib.request
    import uuid

    from tornado.websocket import websocket_connect

    start = urllib.request.Request(base + "api/kernels", data=b"{}", method="POST")
    with urllib.request.urlopen(start, timeout=60) as answer:
        kernel = json.loads(answer.read())["id"]

    async def run() -> str:
        ws = await websocket_connect(base.replace("http://", "ws://") + f"api/kernels/{kernel}/channels",
                                     connect_timeout=60)
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "t", "session": uuid.uuid4().hex,
                  "version": "5.3", "date": ""}
        ws.write_message(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "channel": "shell",
                                     "content": {"code": code, "silent": False}}))
        out = ""
        while True:
            msg = json.loads(await asyncio.wait_for(ws.read_message(), timeout=120))
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out += msg["content"]["text"]
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                ws.close()
                return out

    return asyncio.run(run())


def test_a_notebook_server_runs_behind_the_proxy_and_stops_by_annotation(kf_cluster, core):
    import urllib.request

    from jupyter_kf.notebooks import api as notebooks

    status = notebooks.create("sim-lab", workspace="none", cpu="0.5", memory="1Gi", timeout="240s")
    assert status.phase == "Ready", status
    base = f"{kf_cluster.url}/notebook/default/sim-lab/"

    def api_answer():
        try:
            with urllib.request.urlopen(base + "api/status", timeout=10) as answer:
                return answer.status == 200 and answer.read()
        except OSError:
            return None
    assert b"started" in eventually(api_answer, timeout=240, interval=0.5, what="the server behind the proxy")
    assert run_in_a_kernel(base, "print(6 * 7)") == "42\n"  # the kernel's websocket goes through the proxy too
    pod = core.read_namespaced_pod("sim-lab-0", "default")
    assert pod.metadata.labels["notebook-name"] == "sim-lab" and pod.metadata.labels["statefulset"] == "sim-lab"
    nb_prefix = {e.name: e.value for e in pod.spec.containers[0].env}["NB_PREFIX"]
    assert nb_prefix == "/notebook/default/sim-lab"
    stopped = notebooks.stop("sim-lab")
    eventually(lambda: notebooks.get("sim-lab").phase == "Stopped", timeout=120, what="the server to stop")
    eventually(lambda: not core.list_namespaced_pod("default", label_selector="notebook-name=sim-lab").items,
               what="the pod to go")
    assert stopped.name == "sim-lab"
    with pytest.raises(OSError):
        urllib.request.urlopen(base + "api/status", timeout=10)


@pytest.mark.parametrize("kind", ["job", "trainjob"])
def test_a_katib_search_runs_its_trials_as_cluster_jobs(kf_cluster, core, kind):
    from jupyter_kf.experiments import api
    from jupyter_kf.experiments.webhook_rules import INJECTION_LABEL

    core.patch_namespace("default", {"metadata": {"labels": {INJECTION_LABEL: "enabled"}}})
    ns = {}
    name = f"sim-quad-{kind}"
    experiment = api.tune("loss = (x - 0.5) ** 2\nprint(f'loss={loss}')", params=["x=uniform(-2,2)"], objective="loss",
                          trials=3, parallel=2, algorithm="random", name=name, backend="kubernetes", user_ns=ns,
                          kind=kind)
    status = eventually(lambda: (s := experiment.status()).phase in ("Succeeded", "Failed") and s, timeout=300,
                        interval=0.5, what="the experiment to end")
    assert status.phase == "Succeeded" and len(status.trials) == 3, status
    expected = {t.name: (float(t.params["x"]) - 0.5) ** 2 for t in status.trials}
    assert experiment.best.objective == pytest.approx(min(expected.values()))
    pods = core.list_namespaced_pod("default", label_selector="katib.kubeflow.org/experiment=" + name).items
    assert {p.metadata.labels["katib.kubeflow.org/trial"] for p in pods} == set(expected)


POD_SCRIPT = """
import json, os, pathlib, sys
out = {
    "cm": open('/etc/conf/renamed.txt').read(),
    "binary": open('/etc/conf/blob.bin', 'rb').read().hex(),
    "secret": open('/etc/creds/token').read(),
    "labels": open('/etc/podinfo/labels').read(),
    "init": open('/scratch/from-init').read(),
    "pvc_before": sorted(os.listdir('/data')),
    "cwd_is_scratch": os.getcwd() == os.path.realpath(os.environ['SCRATCH']),
    "env": {k: os.environ[k] for k in ('FROM_CM', 'PREFIX_token', 'POD', 'TEAM', 'TOKEN', 'EXPANDED')},
}
pathlib.Path('/data/' + os.environ['POD']).write_text('kept')
print(json.dumps(out, sort_keys=True))
"""


def test_a_pods_volumes_env_and_init_containers_are_laid_out_as_the_kubelet_does(cluster, batch, core):
    import base64
    import json

    core.create_namespaced_config_map("default", {"metadata": {"name": "conf"}, "data": {"a.txt": "alpha", "FROM_CM": "cm"},
                                                  "binaryData": {"blob": base64.b64encode(b"\x00\xff").decode()}})
    core.create_namespaced_secret("default", {"metadata": {"name": "creds"}, "stringData": {"token": "s3cret"}})
    core.create_namespaced_persistent_volume_claim("default", {
        "metadata": {"name": "shared"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                 "resources": {"requests": {"storage": "1Gi"}}}})
    mounts = [{"name": "conf", "mountPath": "/etc/conf"}, {"name": "creds", "mountPath": "/etc/creds"},
              {"name": "podinfo", "mountPath": "/etc/podinfo"}, {"name": "scratch", "mountPath": "/scratch"},
              {"name": "data", "mountPath": "/data"}]
    volumes = [{"name": "conf", "configMap": {"name": "conf", "items": [{"key": "a.txt", "path": "renamed.txt"},
                                                                        {"key": "blob", "path": "blob.bin"}]}},
               {"name": "creds", "secret": {"secretName": "creds"}},
               {"name": "podinfo", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels['team']"}}]}},
               {"name": "scratch", "emptyDir": {}},
               {"name": "data", "persistentVolumeClaim": {"claimName": "shared"}}]
    env = [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}}},
           {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
           {"name": "SCRATCH", "value": "/scratch"}, {"name": "EXPANDED", "value": "$(TEAM)-$(POD)"}]
    for index in range(2):  # the second pod sees what the first left on the claim
        body = job_body(f"sim-volumes-{index}", [sys.executable, "-c", POD_SCRIPT])
        pod = body["spec"]["template"]
        pod["metadata"] = {"labels": {"team": "vision"}}
        container = pod["spec"]["containers"][0]
        container.update(volumeMounts=mounts, env=env, workingDir="/scratch",
                         envFrom=[{"configMapRef": {"name": "conf"}}, {"secretRef": {"name": "creds"}, "prefix": "PREFIX_"}])
        pod["spec"]["volumes"] = volumes
        pod["spec"]["initContainers"] = [{"name": "prepare", "image": "busybox", "volumeMounts": mounts,
                                          "command": [sys.executable, "-c", "open('/scratch/from-init', 'w').write('done')"]}]
        batch.create_namespaced_job("default", body)
        eventually(lambda i=index: _complete(batch, f"sim-volumes-{i}"), what=f"sim-volumes-{index} to complete")
    outputs = []
    for index in range(2):
        pod = core.list_namespaced_pod("default", label_selector=f"job-name=sim-volumes-{index}").items[0]
        outputs.append(json.loads(core.read_namespaced_pod_log(pod.metadata.name, "default", container="main")))
        assert pod.status.init_container_statuses[0].state.terminated.exit_code == 0
    first, second = outputs
    assert (first["cm"], first["binary"], first["secret"], first["labels"], first["init"]) == \
        ("alpha", "00ff", "s3cret", "vision", "done")
    assert first["cwd_is_scratch"] is True
    assert first["env"]["FROM_CM"] == "cm" and first["env"]["PREFIX_token"] == "s3cret"
    assert first["env"]["TOKEN"] == "s3cret" and first["env"]["TEAM"] == "vision"
    assert first["env"]["EXPANDED"] == f"vision-{first['env']['POD']}"
    assert first["pvc_before"] == [] and second["pvc_before"] == [first["env"]["POD"]]


def test_a_tpu_node_schedules_tpu_pods(tmp_path):
    from kubernetes import client

    sim = SimulatedCluster(tmp_path, "--tpu", "tpu-v5-lite-podslice:2x4").wait_ready()
    try:
        api = sim.client()
        core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
        node = core.read_node("simulated-node")
        assert node.status.capacity["google.com/tpu"] == "8"
        assert node.metadata.labels["cloud.google.com/gke-tpu-topology"] == "2x4"
        body = job_body("sim-tpu-ok", [sys.executable, "-c", "print('on a tpu host')"])
        spec = body["spec"]["template"]["spec"]
        spec["nodeSelector"] = {"cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                                "cloud.google.com/gke-tpu-topology": "2x4"}
        spec["containers"][0]["resources"] = {"limits": {"google.com/tpu": "8"}}
        batch.create_namespaced_job("default", body)
        eventually(lambda: _complete(batch, "sim-tpu-ok"), what="the TPU job to complete")
        api.close()
    finally:
        sim.stop()
    assert "simulating:" in sim.output() and "google.com/tpu=8" in sim.output()


def test_a_process_that_ignores_sigterm_is_killed_when_its_grace_period_ends(batch, core, tmp_path):
    pid_file = tmp_path / "pid"
    argv = [sys.executable, "-c", "import os, signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: print('TERM'))\n"
            "open(sys.argv[1], 'w').write(str(os.getpid()))\nwhile True: time.sleep(0.1)", str(pid_file)]
    body = job_body("sim-stubborn", argv)
    body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 2
    batch.create_namespaced_job("default", body)
    pid = int(eventually(lambda: pid_file.exists() and pid_file.read_text(), what="the process to start"))
    pod = core.list_namespaced_pod("default", label_selector="job-name=sim-stubborn").items[0].metadata.name
    core.delete_namespaced_pod(pod, "default")
    terminating = core.read_namespaced_pod(pod, "default")
    assert terminating.metadata.deletion_timestamp is not None and process_alive(pid)
    eventually(lambda: not process_alive(pid), timeout=60, what="SIGKILL after the grace period")
    eventually(lambda: pod not in {p.metadata.name for p in core.list_namespaced_pod("default").items},
               what="the pod to leave the API")
    batch.delete_namespaced_job("sim-stubborn", "default", propagation_policy="Background")


def test_kueue_admits_a_trainjob_from_jupyter_kf_within_quota(kf_cluster):
    from kubernetes import client

    from jupyter_kf.training import api

    api_client = kf_cluster.client()
    custom = client.CustomObjectsApi(api_client)
    group, version = "kueue.x-k8s.io", "v1beta2"
    custom.create_cluster_custom_object(group, version, "clusterqueues", {
        "apiVersion": f"{group}/{version}", "kind": "ClusterQueue", "metadata": {"name": "gpus"},
        "spec": {"namespaceSelector": {}, "resourceGroups": [{"coveredResources": ["cpu", "memory"], "flavors": [
            {"name": "default-flavor", "resources": [{"name": "cpu", "nominalQuota": "1"},
                                                     {"name": "memory", "nominalQuota": "4Gi"}]}]}]}})
    custom.create_namespaced_custom_object(group, version, "default", "localqueues", {
        "apiVersion": f"{group}/{version}", "kind": "LocalQueue", "metadata": {"name": "gpu-queue"},
        "spec": {"clusterQueue": "gpus"}})
    too_big = api.train("x = 1", user_ns={}, name="sim-queued-big", workers=2, cpu="1", queue="gpu-queue")
    fits = api.train("x = 2", user_ns={}, name="sim-queued-fits", workers=1, cpu="1", queue="gpu-queue")
    assert fits.wait(timeout=180).phase == "Succeeded"
    status = too_big.status()
    assert status.phase == "Pending" and "waiting for Kueue to admit it to queue 'gpu-queue'" in status.message
    workloads = custom.list_namespaced_custom_object(group, version, "default", "workloads")["items"]
    big = next(w for w in workloads if w["metadata"]["name"].startswith("trainjob-sim-queued-big-"))
    # 2 CPUs wanted of 1: "1 more needed", or "2" while the other job holds its CPU
    assert re.fullmatch(r"couldn't assign flavors to pod set node: insufficient unused quota for cpu in flavor "
                        r"default-flavor, [12] more needed", condition(big, "QuotaReserved")["message"])
    too_big.cancel()
    api_client.close()


TRAIN_TO_PVC = """
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
import joblib, os
X, y = load_iris(return_X_y=True)
os.makedirs('/models/iris', exist_ok=True)
joblib.dump(LogisticRegression(max_iter=500).fit(X, y), '/models/iris/model.joblib')
"""


def test_a_model_trained_onto_a_pvc_is_served_by_an_inferenceservice(kf_cluster, batch, core):
    pytest.importorskip("sklearn")
    from kubernetes import client
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from jupyter_kf.serving import api

    core.create_namespaced_persistent_volume_claim("default", {
        "metadata": {"name": "models"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                 "resources": {"requests": {"storage": "1Gi"}}}})
    body = job_body("sim-train-iris", [sys.executable, "-c", TRAIN_TO_PVC])
    body["spec"]["template"]["spec"]["volumes"] = [{"name": "m", "persistentVolumeClaim": {"claimName": "models"}}]
    body["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "m", "mountPath": "/models"}]
    batch.create_namespaced_job("default", body)
    eventually(lambda: _complete(batch, "sim-train-iris"), what="the training job")
    model = api.deploy("sim-iris", "pvc://models/iris", format="sklearn", timeout=180)
    X, y = load_iris(return_X_y=True)
    expected = LogisticRegression(max_iter=500).fit(X, y).predict(X[:5]).tolist()
    assert list(model.predict(X[:5])) == expected and list(model.predict(X[:5], protocol="v2")) == expected
    api_client = kf_cluster.client()
    isvc = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        "serving.kserve.io", "v1beta1", "default", "inferenceservices", "sim-iris")
    assert isvc["status"]["url"] == f"{kf_cluster.url}/serving/default/sim-iris"
    assert {c["type"]: c["status"] for c in isvc["status"]["conditions"]}["Ready"] == "True"
    assert isvc["status"]["modelStatus"]["states"]["activeModelState"] == "Loaded"
    api_client.close()
