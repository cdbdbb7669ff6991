"""On a cluster (the emulator in its own process): %%kf_train's client overhead, and a kernel's idle CPU
while it follows 100 running jobs through watches.

Overhead budget: 25 ms for a cell with up to 1 MB of inputs (parse, capture, build, create), beside
the bare create call of a Secret of the same size measured in the same run (the bundle travels in one).
Without a store, a Secret carries at most ~650 KB of pickled inputs (base64, beside the shipped sources), so
500 KB is measured.
"""
import base64
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, isolated_state, report, timed

CONTROLLER = """
import sys, time, yaml
sys.path.insert(0, {root!r})
from tests.support.k8s_emulator.emulator import K8sEmulator
from tests.support.k8s_emulator.simulate.jobset_crd import ensure_jobset_api
emu = K8sEmulator(crds="all").start()
ensure_jobset_api(emu)
emu.create_object(yaml.safe_load(open({runtime!r})))
emu.write_kubeconfig({kubeconfig!r})
print("ready", flush=True)
def ref(obj):
    meta = obj["metadata"]
    return [{{"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"], "uid": meta["uid"],
             "controller": True}}]
def job_of(tj):  # TrainJob -> JobSet -> Job, as the Trainer and JobSet make them (no simulator: 100 idle pods here
    name = tj["metadata"]["name"]  # would be 100 processes; these pods are hand-made and never run anything)
    jobset = emu.create_object({{"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
                                "metadata": {{"name": name, "namespace": "default", "ownerReferences": ref(tj)}},
                                "spec": {{"replicatedJobs": [{{"name": "node", "replicas": 1}}]}}}})
    labels = {{"jobset.sigs.k8s.io/jobset-name": name, "jobset.sigs.k8s.io/replicatedjob-name": "node"}}
    return emu.create_object({{"apiVersion": "batch/v1", "kind": "Job", "metadata": {{
        "name": f"{{name}}-node-0", "namespace": "default", "labels": labels, "ownerReferences": ref(jobset)}},
        "spec": {{"completionMode": "Indexed", "completions": 1, "parallelism": 1, "template": {{
            "metadata": {{"labels": labels}},
            "spec": {{"restartPolicy": "Never", "containers": [{{"name": "node", "image": "trainer"}}]}}}}}}}})
seen = set()
while True:  # a tiny Trainer + kubelet: every TrainJob gets one Running pod that says hello
    for tj in emu.list_objects("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default"):
        name = tj["metadata"]["name"]
        if name not in seen:
            seen.add(name)
            pod = f"{{name}}-node-0-0-x"
            owner = job_of(tj)
            labels = {{"app.kubernetes.io/managed-by": "jupyter-kf", "jupyter-kf.io/job": name}}
            emu.make_pod("default", pod, owner=owner, labels=labels, phase="Running", containers=("node",),
                         annotations={{"batch.kubernetes.io/job-completion-index": "0"}})
            emu.write_log("default", pod, "epoch=0 loss=1.0\\n")
    time.sleep(0.2)
"""


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(repeat: int = 15):
    isolated_state()
    tmp = Path(tempfile.mkdtemp(prefix="kf-bench-k8s-"))
    kubeconfig = tmp / "kubeconfig"
    runtime = ROOT / "tests/data/reference/manifests/trainer-v2/00-clustertrainingruntime-torch-distributed.yaml"
    controller = subprocess.Popen([sys.executable, "-c", CONTROLLER.format(root=str(ROOT), runtime=str(runtime),
                                                                           kubeconfig=str(kubeconfig))],
                                  stdout=subprocess.PIPE, text=True)
    try:
        assert controller.stdout.readline().strip() == "ready"
        os.environ.update(KUBECONFIG=str(kubeconfig), JUPYTER_KF_BACKEND="kubernetes")
        import numpy as np
        from kubernetes import client

        from jupyter_kf.training import api
        from jupyter_kf.training.backends import kubernetes as k8s

        k8s.reset()
        backend = k8s.KubernetesBackend()
        core = client.CoreV1Api(backend.cluster.api_client)
        ns = {"X": np.random.default_rng(0).random(62_500), "fit": len}  # 500 KB: the most a Secret carries in base64
        counter = iter(range(100_000))
        blob = {"payload.bin": base64.b64encode(b"x" * 645_000).decode()}  # 0.86 MB of base64, as the bundle's

        def bare_create():
            core.create_namespaced_secret("default", {"apiVersion": "v1", "kind": "Secret",
                                                      "metadata": {"name": f"bare-{next(counter)}"}, "data": blob})

        def kf_train():
            api.train("model = fit(X)", name=f"ovh-{next(counter)}", user_ns=ns, kind="job")

        api.train("warm = 1", name="warmup", user_ns={}, kind="job")  # discovery, connection: once per kernel
        report("%%kf_train client overhead against the emulator (500 KB of inputs)",
               [("baseline: bare create of a 0.86 MB Secret", timed(bare_create, repeat)),
                ("kf.train: analyse + capture + bundle + create", timed(kf_train, repeat))], budget=0.025)

        jobs = [api.train("x = 1", name=f"idle-{i}", user_ns={}) for i in range(100)]
        deadline = time.time() + 60
        while time.time() < deadline and not all(j.status().phase == "Running" for j in jobs):
            time.sleep(0.2)
        cursors = {j.name: None for j in jobs}
        for j in jobs:  # start following every job: 100 log streams, the shared watches
            _, cursors[j.name] = backend.read_logs(j.name, cursors[j.name])
        time.sleep(2)
        start_cpu, start = cpu_seconds(), time.monotonic()
        time.sleep(10)
        used = (cpu_seconds() - start_cpu) / (time.monotonic() - start)
        print("\n## one kernel following 100 running jobs (watches and log streams, nothing polled)")
        print(
            f"  idle CPU: {used * 100:.2f}% of one core over 10 s "
            f"({sum(1 for j in jobs if j.status().phase == 'Running')} running jobs)"
        )
    finally:
        controller.terminate()
        controller.wait(timeout=10)
        os.environ.pop("KUBECONFIG", None)  # the next benchmarks run on the local backend
        from jupyter_kf.training.backends import kubernetes

        kubernetes.reset()


if __name__ == "__main__":
    main()
