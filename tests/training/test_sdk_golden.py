"""Our TrainJob and PyTorchJob bodies against the official SDKs' for the same requests, field by field.

The SDK bodies were made offline by tests/data/sdk_golden/generate.py (kubeflow==0.5.0 for TrainJob,
kubeflow-training==1.9.4 for PyTorchJob) and saved as JSON; the SDKs are not needed here. Ours are what
``--dry-run`` renders on the emulator, i.e. exactly what would be created. Every field the SDK sends must
be in ours with the same value, and every field only we send must be listed below, each with its reason.
"""
import json
import re
from pathlib import Path

import pytest
import yaml

from jupyter_kf.training import api
from tests.support.helpers import STOCK_RUNTIME

GOLDEN = sorted(p for p in (Path(__file__).resolve().parents[1] / "data/sdk_golden").glob("*.json")
                if p.name.startswith(("trainjob-", "pytorchjob-")))  # the folder holds other domains' too

# (kind, path regex, why ours differs from the SDK's body). Paths: dots for keys, [name] for list items
# that have a name, [i] for others.
INTENDED = [
    ("*", r"metadata\.namespace", "ours names it in the body too (the SDK only in the URL); same namespace"),
    ("*", r"metadata\.labels\.(app\.kubernetes\.io/managed-by|jupyter-kf\.io/(job|user|notebook))",
     "labels that find our jobs again, per user and notebook, after a kernel restart"),
    ("*", r"metadata\.annotations\.jupyter-kf\.io/spec", "the requested resources, for status without pods"),
    ("trainjob", r"spec\.runtimePatches\[0\]\.manager",
     "each client owns its patch: ours is jupyter-kf.io/jupyter-kf (a domain-prefixed path, as the SDK's)"),
    ("trainjob", r"spec\.trainer\.numProcPerNode",
     "1 process per CPU node (unset means auto: one process per core, kubeflow-apis.md key fact 3), one per GPU"),
    ("*", r".*resources(PerNode)?\.limits\.cpu",
     "no CPU limit: a CFS quota throttles data loaders; the request schedules the pod (the SDK copies requests to limits)"),
    ("trainjob", r"spec\.trainer\.resourcesPerNode\.(requests|limits)\.nvidia\.com/gpu",
     "a quantity string '4'; the SDK sends the float 4.0, an unverified form for a live API server"),
    ("*", r".*\.env\[(PYTHONUNBUFFERED|KF_JOB_NAME|KF_INSTALL_PIP|KF_RESULT_KEY|KF_RESULT_VIA_LOG)\]\..*",
     "the runner's contract: unbuffered logs, the job's name, pip installs, the result key (a secretKeyRef) and channel"),
    ("trainjob", r"spec\.runtimePatches\[0\]\..*\.template\.metadata\.(labels\..*|annotations\.sidecar\.istio\.io/inject)",
     "pod labels (found again, v2.1's spec.labels never reach pods) and no Istio sidecar (a finished pod would stay Running)"),
    ("pytorchjob", r"spec\.pytorchReplicaSpecs\.\w+\.template\.metadata\.labels\..*", "pod labels: pods are found again by them"),
    ("*", r".*volumes\[(kf-bundle|kf-out|dshm)\]\..*", "the bundle Secret (code, inputs), the output folder and /dev/shm"),
    ("*", r".*volumeMounts\[(kf-bundle|kf-out|dshm)\]\..*", "where the runner finds its bundle and writes results"),
    ("*", r".*containers\[(node|pytorch)\]\.volumeMounts\[(kf-bundle|kf-out|dshm)\]\..*",
     "where the runner finds its bundle and writes results"),
    ("trainjob", r"spec\.runtimePatches\[0\]\..*\.spec\.(volumes|containers)\[.*",
     "the runtime patch carries our bundle volumes even for a request with no volume of its own"),
    ("trainjob", r"spec\.runtimePatches\[0\]\.trainingRuntimeSpec\.template\.spec\.replicatedJobs\[node\]\.name",
     "the SDK sends no patch for a request without pod options; ours always patches the node job (bundle, labels)"),
    ("pytorchjob", r"spec\.pytorchReplicaSpecs\.\w+\.template\.spec\.containers\[pytorch\]\.(command\[\d+\]|workingDir)",
     "ours runs the runner; the SDK, given an image and no function, runs the image's entrypoint"),
    ("pytorchjob", r"spec\.pytorchReplicaSpecs\.Master\.template\.spec\.containers\[pytorch\]\.ports\[pytorchjob-port\]\..*",
     "the port the operator would add by default, named as it names it"),
    ("pytorchjob", r"spec\.pytorchReplicaSpecs\.\w+\.restartPolicy",
     "Never unless --retries (then OnFailure): the operator's default OnFailure reruns a failed cell without end"),
    ("pytorchjob", r"spec\.runPolicy\.(cleanPodPolicy|backoffLimit)",
     "pods (and their logs) stay until the job is deleted; no retry unless --retries"),
    ("pytorchjob", r"spec\.nprocPerNode", "always explicit: 1 per CPU worker, one per GPU"),
    ("pytorchjob", r"spec\.pytorchReplicaSpecs\.\w+\.template\.spec\.(nodeSelector|tolerations)(\..*|\[.*)",
     "the v1 SDK's create_job has no node selector or tolerations; ours passes --node-selector and tolerates the GPU taint"),
]


def flatten(node, prefix: str = "") -> dict:
    if isinstance(node, dict):
        if not node:
            return {prefix: {}}
        out = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else key))
        return out
    if isinstance(node, list):
        if not node:
            return {prefix: []}
        out = {}
        for i, value in enumerate(node):
            label = value["name"] if isinstance(value, dict) and "name" in value else i
            out.update(flatten(value, f"{prefix}[{label}]"))
        return out
    return {prefix: node}


def reason_for(kind: str, path: str) -> str | None:
    for pattern_kind, pattern, why in INTENDED:
        if pattern_kind in ("*", kind) and re.fullmatch(pattern, path):
            return why
    return None


def differences(kind: str, sdk: dict, ours: dict) -> dict[str, str]:
    """Paths where ours differs from the SDK's body: missing, another value, or only ours -> what happened."""
    theirs, mine = flatten(sdk), flatten(ours)
    found = {}
    for path, value in theirs.items():
        if value == {} and any(p.startswith(path + ".") for p in mine):
            continue  # the SDK sends an empty object (runPolicy: {}); ours fills it
        if path not in mine:
            found[path] = f"missing (SDK: {value!r})"
        elif mine[path] != value:
            found[path] = f"ours {mine[path]!r}, SDK {value!r}"
    for path, value in mine.items():
        if path not in theirs:
            found[path] = f"only ours: {value!r}"
    return found


def ours_for(cluster, kind: str, request: dict) -> dict:
    """What jupyter_kf would create for ``request``, from its dry run on the emulator."""
    if cluster.get_object("", "v1", "namespaces", None, "team-a") is None:
        cluster.create_namespace("team-a")
    if request.get("runtime_kind") == "TrainingRuntime":
        runtime = yaml.safe_load(STOCK_RUNTIME.read_text())
        runtime.update(kind="TrainingRuntime", metadata={**runtime["metadata"], "namespace": "team-a"})
        cluster.create_object(runtime)
    volumes = [f"pvc:{request['volume'][0]}:{request['volume'][1]}"] if request.get("volume") else []
    dry = api.train("x = 1", name=request["name"], user_ns={}, dry_run=True, kind=kind, namespace="team-a",
                    workers=request["workers"], cpu=request["cpu"], memory=request["memory"], gpus=request["gpus"],
                    env=request["env"], image=request["image"], queue=request.get("queue"),
                    node_selector=request.get("node_selector"), volumes=volumes)
    rendered = list(yaml.safe_load_all(dry.manifests))
    workload = rendered[-1]
    assert workload["spec"].get("trainer", {}).get("command", request["command"]) == request["command"]
    return workload


@pytest.mark.parametrize("golden", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_our_bodies_match_the_sdks_but_for_intended_differences(kf_cluster, golden):
    saved = json.loads(golden.read_text())
    kind = saved["kind"]
    ours = ours_for(kf_cluster, kind, saved["request"])
    unexplained = {path: what for path, what in differences(kind, saved["body"], ours).items() if not reason_for(kind, path)}
    assert not unexplained, f"{golden.name} ({saved['sdk']}): fix ours or list why it differs:\n" + "\n".join(
        f"  {path}: {what}" for path, what in sorted(unexplained.items()))


def test_every_listed_difference_is_still_real(kf_cluster):
    """A difference fixed since must leave the list."""
    used = set()
    for golden in GOLDEN:
        saved = json.loads(golden.read_text())
        ours = ours_for(kf_cluster, saved["kind"], saved["request"])
        for path in differences(saved["kind"], saved["body"], ours):
            used |= {pattern for pattern_kind, pattern, _ in INTENDED
                     if pattern_kind in ("*", saved["kind"]) and re.fullmatch(pattern, path)}
        kf_cluster.reset(crds="all")  # a fresh cluster per request (the namespaced runtime)
        kf_cluster.create_object(yaml.safe_load(STOCK_RUNTIME.read_text()))
    assert [p for _, p, _ in INTENDED if p not in used] == []


def test_the_golden_files_say_which_sdk_made_them():
    assert {json.loads(p.read_text())["sdk"] for p in GOLDEN} == {"kubeflow==0.5.0", "kubeflow-training==1.9.4"}
    assert {json.loads(p.read_text())["kind"] for p in GOLDEN} == {"trainjob", "pytorchjob"}
