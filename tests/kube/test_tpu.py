"""``--tpu TYPE:TOPOLOGY``: GKE's TPU node labels, chips per host and one worker per host, for training, notebook
servers and models; every bad slice is one line."""
from pathlib import Path

import pytest

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.kube.tpu import parse_tpu
from jupyter_kf.training.manifests import build_workload
from jupyter_kf.training.spec import TrainSpec
from tests.notebooks.test_kubernetes import cluster  # noqa: F401 - the notebook servers' cluster fixture
from tests.training.test_manifests import plan_for

# GKE's figures (cloud.google.com/kubernetes-engine/docs/concepts/plan-tpus): accelerator label, chips, hosts
SLICES = {
    "v5e:2x2": ("tpu-v5-lite-podslice", 4, 1),
    "v5e:2x4": ("tpu-v5-lite-podslice", 8, 1),
    "v5e:4x4": ("tpu-v5-lite-podslice", 16, 4),
    "v5litepod:8x8": ("tpu-v5-lite-podslice", 64, 16),
    "v6e:4x8": ("tpu-v6e-slice", 32, 8),
    "v4:2x2x1": ("tpu-v4-podslice", 4, 1),
    "v4:2x2x2": ("tpu-v4-podslice", 8, 2),
    "v5p:2x4x4": ("tpu-v5p-slice", 32, 8),
}


@pytest.mark.parametrize("text", sorted(SLICES))
def test_a_slice_has_gke_s_labels_chips_and_hosts(text):
    accelerator, chips, hosts = SLICES[text]
    tpu = parse_tpu(text)
    assert (tpu.node_selector()["cloud.google.com/gke-tpu-accelerator"], tpu.chips, tpu.hosts) == (accelerator, chips, hosts)
    assert tpu.node_selector()["cloud.google.com/gke-tpu-topology"] == text.split(":")[1]
    assert tpu.chips_per_host * tpu.hosts == chips


@pytest.mark.parametrize("text, says", [
    ("v9:2x2", "TYPE one of v4, v5e, v5p, v6e"),
    ("v5e", "TYPE:TOPOLOGY"),
    ("v5e:2x2x1", "a v5e topology has 2 sides (AxB)"),
    ("v4:2x2", "a v4 topology has 3 sides (AxBxC)"),
    ("v5e:3x3", "9 chips do not fill whole v5e hosts of 4 chips"),
    ("v5e:0x4", "is not a TPU slice"),
    ("v5e:2x4; rm -rf /", "is not a TPU slice"),
])
def test_a_bad_slice_is_one_line_naming_the_accepted_form(text, says):
    with pytest.raises(InvalidSpec) as err:
        parse_tpu(text)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_tpu_job_has_one_worker_per_host_by_default_and_refuses_another_count():
    assert TrainSpec.create("t", tpu="v5e:4x4").workers == 4
    assert TrainSpec.create("t", tpu="v5e:2x4").workers == 1
    with pytest.raises(InvalidSpec, match="spans 4 host.*use --workers 4"):
        TrainSpec.create("t", tpu="v5e:4x4", workers=2)
    with pytest.raises(InvalidSpec, match="TPUs or GPUs, not both"):
        TrainSpec.create("t", tpu="v5e:2x4", gpus=1)


@pytest.mark.parametrize("kind", ["trainjob", "pytorchjob", "job"])
def test_every_worker_asks_for_its_host_s_chips_on_the_slice_s_nodes(kind):
    plan, _ = plan_for({"name": "tpu-four", "tpu": "v5e:4x4", "node_selector": ["pool=tpu"]})
    workload = next(o for o in build_workload(plan, kind) if o["kind"] != "Service")
    text = str(workload)
    assert "'google.com/tpu': '4'" in text and "'nvidia.com/gpu'" not in text
    assert "'cloud.google.com/gke-tpu-accelerator': 'tpu-v5-lite-podslice'" in text
    assert "'cloud.google.com/gke-tpu-topology': '4x4'" in text and "'pool': 'tpu'" in text
    assert "{'key': 'google.com/tpu', 'operator': 'Exists', 'effect': 'NoSchedule'}" in text
    if kind == "trainjob":
        assert workload["spec"]["trainer"]["numNodes"] == 4 and workload["spec"]["trainer"]["numProcPerNode"] == 1
    elif kind == "pytorchjob":
        assert workload["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 3
    else:
        assert workload["spec"]["completions"] == workload["spec"]["parallelism"] == 4


def test_the_local_backend_refuses_a_tpu_job_before_anything_is_written(tmp_path, monkeypatch):
    from jupyter_kf.training import api

    monkeypatch.setenv("JUPYTER_KF_STATE_DIR", str(tmp_path))
    with pytest.raises(InvalidSpec, match="--tpu v5e:2x4 needs a GKE cluster with TPU nodes"):
        api.train("x = 1", user_ns={}, name="tpu-here", tpu="v5e:2x4", backend="local")
    assert not list(tmp_path.rglob("tpu-here"))


@pytest.mark.parametrize("kind", ["notebook", "statefulset"])
def test_a_tpu_notebook_server_is_valid_and_placed_on_its_slice(kind):
    from jupyter_kf.notebooks.manifests import build_notebook, build_statefulset
    from jupyter_kf.notebooks.spec import NotebookSpec
    from tests.notebooks.test_manifests import admit
    from tests.support.k8s_emulator.emulator import K8sEmulator

    emu = K8sEmulator(crds="notebooks")  # the Notebook CRD's schema and the built-ins', strictly
    emu.create_namespace("team-a")
    spec = NotebookSpec.create("tpu-lab", tpu="v6e:2x4", workspace="none")
    assert NotebookSpec.from_dict(spec.to_dict()).tpu == spec.tpu  # a local record reads back the same slice
    objects = (build_notebook(spec, "team-a", "img:1", "ana") if kind == "notebook"
               else build_statefulset(spec, "team-a", "img:1", "ana", "token"))
    for obj in objects:
        admit(emu, obj)
    pod = objects[-1]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-tpu-accelerator": "tpu-v6e-slice",
                                   "cloud.google.com/gke-tpu-topology": "2x4"}
    assert pod["containers"][0]["resources"]["limits"]["google.com/tpu"] == "8"
    assert pod["tolerations"] == [{"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_a_tpu_model_is_valid_against_kserve_s_crd_and_placed_on_its_slice():
    from jupyter_kf.serving import manifests as m
    from jupyter_kf.serving.spec import ServingSpec
    from tests.serving.test_manifests import valid, version

    spec = ServingSpec.create("llm", uri="hf://org/model", tpu="v5e:2x2")
    model = m.model_block("huggingface", spec.uri, "v2", tpu=spec.tpu)
    isvc = valid(m.build_inferenceservice("llm", "team-a", model, "Standard", {}, version(), tpu=spec.tpu))
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["resources"]["limits"]["google.com/tpu"] == "4"
    assert predictor["nodeSelector"]["cloud.google.com/gke-tpu-topology"] == "2x2"
    assert predictor["tolerations"] == [{"key": "google.com/tpu", "operator": "Exists", "effect": "NoSchedule"}]


@pytest.mark.parametrize("make", ["notebook", "model"])
def test_a_server_refuses_a_multi_host_slice_in_one_line(make):
    from jupyter_kf.notebooks.spec import NotebookSpec
    from jupyter_kf.serving.spec import ServingSpec

    with pytest.raises(InvalidSpec, match=r"spans 4 hosts, and .* runs on one: use a single-host topology") as err:
        if make == "notebook":
            NotebookSpec.create("tpu-lab", tpu="v5e:4x4")
        else:
            ServingSpec.create("llm", uri="hf://org/model", tpu="v5e:4x4")
    assert "\n" not in str(err.value)


def test_a_tpu_server_on_the_cluster_shows_its_chips_and_slice(cluster):  # noqa: F811 - the fixture
    from jupyter_kf import notebooks

    created = notebooks.create("tpu-lab", tpu="v5e:2x4", wait=False)
    assert created.resources["gpu_vendor"] == "google.com/tpu" and created.resources["tpu"] == "2x4"
    assert "8 TPU chips (2x4)" in created.what()
    assert "GPU" not in created.what()


@pytest.mark.parametrize("make", ["notebook", "model"])
def test_the_local_backend_refuses_a_tpu_server_and_starts_nothing(make, tmp_path):
    from jupyter_kf import config, notebooks
    from jupyter_kf.serving import api as serving

    with pytest.raises(InvalidSpec, match="needs a GKE cluster with TPU nodes: the local backend has no TPUs"):
        if make == "notebook":
            notebooks.create("tpu-lab", tpu="v5e:2x4", backend="local")
        else:
            serving.deploy("llm", {"w": 1}, format="sklearn", tpu="v5e:2x4", backend="local")
    assert not [p for p in Path(config.get().state_dir).rglob("*") if "tpu-lab" in p.name or p.name == "llm"]


def test_a_tpu_job_on_the_cluster_lists_its_slice(kf_cluster):
    """Submitted on the emulator with Trainer v2.3: %kf_jobs shows the slice beside the worker count."""
    from jupyter_kf.training import api
    from jupyter_kf.training.display import JobTable

    job = api.train("x = 1", user_ns={}, name="tpu-fit", tpu="v4:2x2x2", backend="kubernetes")
    status = job.status()
    assert status.resources["tpu"] == "v4:2x2x2" and status.resources["workers"] == 2
    assert "2w tpu v4:2x2x2" in repr(JobTable([status], "kubernetes"))
