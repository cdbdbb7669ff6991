"""The KFP v2 IR: typed parameters, artifacts, resources, caching, the platform spec, and what a step container runs."""
import ast
import json
import sys

import pytest
import yaml

from jupyter_kf import config
from jupyter_kf.pipeline import convert, step_runner
from jupyter_kf.pipeline.ir import artifact_type
from jupyter_kf.pipeline.model import PipelineError
from tests.support.pipeline_helpers import DATA, notebook, write


@pytest.fixture(scope="module")
def kale():
    return convert(DATA / "kale_tags.ipynb")


def container(spec, task):
    return spec["deploymentSpec"]["executors"][f"exec-{task}"]["container"]


def args_of(spec, task) -> list:
    return container(spec, task)["args"]


def step_spec(spec, task) -> dict:
    args = args_of(spec, task)
    return json.loads(args[args.index("--spec") + 1])


def test_pipeline_info_and_typed_parameters(kale):
    spec = kale.spec
    assert spec["pipelineInfo"] == {"name": "kale-demo", "description": "every Kale tag"}
    assert spec["schemaVersion"] == "2.1.0" and spec["sdkVersion"].startswith("jupyter_kf-")
    assert spec["root"]["inputDefinitions"]["parameters"] == {
        "size": {"parameterType": "NUMBER_INTEGER", "defaultValue": 6.0, "isOptional": True},
        "factor": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 2.5, "isOptional": True},
        "label_text": {"parameterType": "STRING", "defaultValue": "demo", "isOptional": True},
        "verbose": {"parameterType": "BOOLEAN", "defaultValue": True, "isOptional": True},
    }


def test_tasks_edges_artifacts_and_caching(kale):
    tasks = kale.spec["root"]["dag"]["tasks"]
    assert sorted(tasks) == ["evaluate", "load-data", "train-model", "transform"]
    assert tasks["load-data"] == {
        "taskInfo": {"name": "load_data"}, "componentRef": {"name": "comp-load-data"}, "cachingOptions": {},
        "inputs": {"parameters": {"size": {"componentInputParameter": "size"}}}}
    assert tasks["transform"]["dependentTasks"] == ["load-data"]
    assert tasks["transform"]["cachingOptions"] == {"enableCache": True}
    assert tasks["transform"]["inputs"]["artifacts"] == {
        "raw": {"taskOutputArtifact": {"producerTask": "load-data", "outputArtifactKey": "raw"}}}
    comps = kale.spec["components"]
    assert comps["comp-load-data"]["outputDefinitions"]["artifacts"] == {
        "raw": {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}},
        "metrics": {"artifactType": {"schemaTitle": "system.Metrics", "schemaVersion": "0.0.1"}}}
    assert comps["comp-transform"]["inputDefinitions"] == {
        "artifacts": {"raw": {"artifactType": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}}},
        "parameters": {"factor": {"parameterType": "NUMBER_DOUBLE"}}}


def test_container_command_and_arguments(kale):
    spec = kale.spec
    c = container(spec, "transform")
    assert c["command"][:3] == ["python3", "-u", "-c"] and c["command"][3] == step_runner.program()
    assert c["image"] == "python:3.11-slim"  # the image: tag beats the notebook's base_image
    assert container(spec, "load-data")["image"] == "python:3.11"
    assert args_of(spec, "transform")[2:] == [
        "--param", "factor", "{{$.inputs.parameters['factor']}}",
        "--input", "raw", "{{$.inputs.artifacts['raw'].path}}",
        "--output", "scaled", "{{$.outputs.artifacts['scaled'].path}}", "--executor-input", "{{$}}"]
    assert args_of(spec, "load-data")[-4:] == ["--metrics", "{{$.outputs.artifacts['metrics'].path}}", "--executor-input", "{{$}}"]
    s = step_spec(spec, "transform")
    assert [c["cell"] for c in s["cells"]] == [2, 3, 8]  # imports, functions, then its own cell
    assert s["inputs"] == {"raw": "load_data"} and s["params"] == {"factor": "NUMBER_DOUBLE"}
    assert step_spec(spec, "load-data")["readers"] == {"raw": ["transform"]}


def test_resources_cpu_memory_and_gpu(kale):
    assert container(kale.spec, "load-data")["resources"] == {
        "cpuRequest": 0.5, "resourceCpuRequest": "500m", "cpuLimit": 1.0, "resourceCpuLimit": "1",
        "memoryRequest": 1.073741824, "resourceMemoryRequest": "1Gi", "memoryLimit": 2.147483648, "resourceMemoryLimit": "2Gi"}
    resources = container(kale.spec, "train-model")["resources"]
    assert resources["accelerator"] == {"resourceType": "nvidia.com/gpu", "resourceCount": "1", "type": "nvidia.com/gpu", "count": "1"}
    assert resources["resourceMemoryLimit"] == "4Gi"  # steps_defaults


def test_platform_spec_labels_annotations_secrets_volumes(kale):
    executors = kale.platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors["exec-load-data"]["podMetadata"] == {"labels": {"team": "ml", "project": "demo"}, "annotations": {"owner": "alice"}}
    assert executors["exec-train-model"]["secretAsEnv"] == [{
        "keyToEnv": [{"envVar": "DB_PASSWORD", "secretKey": "password"}], "optional": False, "secretName": "db-credentials",
        "secretNameParameter": {"runtimeValue": {"constant": "db-credentials"}}}]
    assert all(e["pvcMount"] == [{"constant": "raw-data", "mountPath": "/data",
                                  "pvcNameParameter": {"runtimeValue": {"constant": "raw-data"}}}] for e in executors.values())


def test_yaml_round_trip_and_header(kale):
    text = kale.yaml()
    assert text.startswith("# PIPELINE DEFINITION\n# Name: kale-demo\n# Description: every Kale tag\n# Inputs:\n")
    docs = list(yaml.safe_load_all(text))
    assert docs == [kale.spec, kale.platform]
    assert "        - |\n" in text  # the step program is a readable literal block


def test_name_read_and_written_gets_an_in_key():
    c = convert(notebook(("model = [0]\nlr = 0.1", ["step:a"]), ("model = model + [1]", ["step:b"]),
                         ("print(model)", ["step:c"])), image="python:3.11")
    args = args_of(c.spec, "b")
    assert args[2:] == ["--input", "model", "{{$.inputs.artifacts['model_in'].path}}",
                        "--output", "model", "{{$.outputs.artifacts['model'].path}}", "--executor-input", "{{$}}"]
    assert "--executor-input" not in args_of(c.spec, "c")  # no outputs, no metrics: nothing to tell KFP
    assert c.spec["root"]["dag"]["tasks"]["b"]["inputs"]["artifacts"]["model_in"]["taskOutputArtifact"]["outputArtifactKey"] == "model"


def test_no_cache_and_cache_tags():
    c = convert(notebook(("x = 1", ["step:a"]), ("print(x)", ["step:b", "cache:enabled"])), cache=False, image="python:3.11")
    tasks = c.spec["root"]["dag"]["tasks"]
    assert tasks["a"]["cachingOptions"] == {} and tasks["b"]["cachingOptions"] == {"enableCache": True}


def test_default_image_from_config_then_python_version(monkeypatch):
    cells = (("x = 1", ["step:a"]),)
    assert container(convert(notebook(*cells)).spec, "a")["image"] == "python:%d.%d-slim" % sys.version_info[:2]
    config.get().image = "registry.example.com/team/ml:1.2"
    assert container(convert(notebook(*cells)).spec, "a")["image"] == "registry.example.com/team/ml:1.2"


def test_bare_python_image_warns_about_missing_libraries_when_nothing_installs_them():
    cells = (("import numpy as np\nimport json\nx = np.zeros(2)", ["step:a"]), ("print(x)", ["step:b"]))
    c = convert(notebook(*cells), image="python:3.11-slim", install_packages=False)
    assert c.warnings == ["steps import numpy, but image python:3.11-slim has only Python's standard library and nothing "
                          "installs them at start: give an image that has them (--image, an image: tag, or the "
                          "notebook's kubeflow_notebook.base_image), or --install-packages"]
    assert convert(notebook(*cells), image="python:3.11-slim").warnings == []  # installed at step start by default
    assert convert(notebook(("import numpy as np", ["step:a"])), image="quay.io/jupyter/scipy-notebook:2025-03-14").warnings == []


@pytest.mark.parametrize("name, kind", [("model", "system.Model"), ("best_clf", "system.Model"), ("X_train", "system.Dataset"),
                                        ("df", "system.Dataset"), ("y", "system.Dataset"), ("threshold", "system.Artifact")])
def test_artifact_types_from_names(name, kind):
    assert artifact_type(name) == kind


def test_step_program_needs_only_the_standard_library():
    program = step_runner.program()
    tree = ast.parse(program)
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
           for alias in node.names}
    assert top and all(name in sys.stdlib_module_names for name in top), top
    local_run_only = "from jupyter_kf.datasets.api import mount_for_step"  # data: tags, with this machine's package
    assert "kfp" not in program and "pip install" not in program
    assert program.count("jupyter_kf.") == program.count(local_run_only) == 1
    compile(program, "<step>", "exec")


def test_written_atomically_and_nothing_written_on_error(tmp_path):
    out = tmp_path / "p.yaml"
    c = convert(DATA / "markers.ipynb", out)
    assert c.path == str(out) and yaml.safe_load(out.read_text())["pipelineInfo"]["name"] == "markers"
    assert [p.name for p in tmp_path.iterdir()] == ["p.yaml"]  # no temporary file left
    out.write_text("previous")
    for bad in ("bad_cycle", "bad_unknown_prev", "bad_orphan_cell", "bad_parameters"):
        with pytest.raises(PipelineError):
            convert(DATA / f"{bad}.ipynb", out)
        with pytest.raises(PipelineError):
            convert(DATA / f"{bad}.ipynb", tmp_path / f"{bad}.yaml")
    assert out.read_text() == "previous" and sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml"]


def test_a_step_too_large_for_a_container_argument(tmp_path):
    big = "blob = " + repr("x" * 120_000)
    path = write(tmp_path, "big.ipynb", (big, ["step:a"]))
    with pytest.raises(PipelineError) as info:
        convert(path, tmp_path / "big.yaml")
    assert str(info.value).startswith("step 'a' carries 117 KiB of code, over the 97 KiB a container argument can hold")
    assert not (tmp_path / "big.yaml").exists()


def test_conversion_shows_a_dag_and_a_summary(kale):
    svg = kale.svg()
    assert svg.startswith("<svg") and svg.count('class="kf-step"') == 4 and ">raw<" in svg and ">scaled<" in svg
    assert kale.summary().splitlines()[:3] == [
        "pipeline 'kale-demo': 4 step(s) from cell tags",
        "parameters: size=6, factor=2.5, label_text='demo', verbose=True",
        "  load_data    cells 5,6; reads size (param); passes raw; metrics size; cpu 1, memory 2Gi"]


def test_kale_upstream_notebooks_convert_unchanged():
    """Kale 2.3.0's own test notebooks: the same steps, data and settings Kale's generated DSL has."""
    upstream = DATA / "kale_upstream"
    hp = convert(upstream / "pipeline_parameters_and_metrics.ipynb")
    tasks = hp.spec["root"]["dag"]["tasks"]
    assert hp.name == "hp-test" and sorted(tasks) == ["create-matrix", "sum-matrix"]
    assert tasks["create-matrix"]["cachingOptions"] == {"enableCache": True}  # cache:enabled beats enable_caching: false
    assert tasks["sum-matrix"]["cachingOptions"] == {}
    assert tasks["sum-matrix"]["inputs"]["artifacts"]["rnd_matrix"]["taskOutputArtifact"] == {
        "producerTask": "create-matrix", "outputArtifactKey": "rnd_matrix"}
    assert container(hp.spec, "create-matrix")["resources"]["accelerator"]["resourceCount"] == "2"
    assert [s.metrics for s in hp.pipeline.steps] == [["d1", "d2"], ["sum_result"]]
    pvc = convert(upstream / "mount_pvc.ipynb")
    executors = pvc.platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors["exec-train"]["pvcMount"][0]["mountPath"] == "/data" and pvc.warnings == []
    # Kale leaves train without an edge to load (no prev: tag) and it fails at run time; here the data flow adds it
    assert pvc.spec["root"]["dag"]["tasks"]["train"]["dependentTasks"] == ["load"]
    env = convert(upstream / "mount_pvc_env_var.ipynb")
    assert container(env.spec, "load")["env"] == [{"name": "KALE_VOLUME_RAW_DATA", "value": "/data"}]
