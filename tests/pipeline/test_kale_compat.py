"""Kale notebooks as Kale users have them convert unchanged (issue 14): one notebook per defect in tests/data/kale_compat."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_kf.pipeline import convert, run, tags
from jupyter_kf.pipeline.model import PipelineError

COMPAT = Path(__file__).resolve().parents[1] / "data" / "kale_compat"


def shape(conversion) -> dict:
    """{step: (cells, upstream steps, inputs with producers)}."""
    return {s.name: ([c.number for c in s.cells], s.after, dict(sorted(s.inputs.items())))
            for s in conversion.pipeline.steps}


def test_block_tags_are_read_as_step_tags():
    conversion = convert(COMPAT / "block_tags.ipynb")
    assert shape(conversion) == {
        "sack": ([5, 6], [], {}),
        "kid1": ([7], ["sack"], {"total": "sack"}),
        "report": ([8], ["kid1"], {"each": "kid1", "left": "kid1"}),
    }
    assert conversion.pipeline.metrics == ["each"] and conversion.warnings == []


def test_empty_step_tag_continues_the_step_above():
    conversion = convert(COMPAT / "empty_step.ipynb")
    assert shape(conversion) == {"load": ([2, 3], [], {}), "compute": ([4, 5], ["load"], {"values": "load"})}


def test_prev_on_a_skip_cell_is_warned_and_ignored():
    conversion = convert(COMPAT / "prev_on_skip.ipynb")
    assert shape(conversion) == {"load": ([1], [], {}), "stats": ([3], ["load"], {"data": "load"})}
    assert conversion.warnings == ["cell 2: prev:load on a skip cell has no effect (Kale ignores it too): ignored"]


def test_prev_on_an_empty_step_cell_is_warned_and_ignored():
    pipeline = tags.parse({"cells": [
        {"cell_type": "code", "source": "a = 1", "metadata": {"tags": ["step:a"]}},
        {"cell_type": "code", "source": "b = a", "metadata": {"tags": ["step:", "prev:a"]}},
    ]})
    assert [[c.number for c in s.cells] for s in pipeline.steps] == [[1, 2]]
    assert pipeline.warnings == [
        "cell 2: prev:a on a cell tagged with an empty step: has no effect (Kale ignores it too): ignored"]


def test_untagged_cells_above_the_first_tag_are_dropped_with_one_warning():
    conversion = convert(COMPAT / "untagged_head.ipynb")
    assert shape(conversion) == {"load": ([5], [], {}), "summarize": ([6], ["load"], {"ages": "load"})}
    assert conversion.warnings == [
        "cells 2, 3: code above the first tagged cell belongs to no step and is dropped, as Kale drops it (tag it "
        "imports, functions or step:<name> to keep it, skip to silence this)"]
    assert "pip install" not in conversion.yaml()


def test_a_module_is_never_data_so_independent_steps_stay_parallel():
    conversion = convert(COMPAT / "modules_not_data.ipynb", image="quay.io/jupyter/scipy-notebook:2025-03-14")
    assert shape(conversion) == {
        "load_data": ([2], [], {}),
        "train_a": ([3], ["load_data"], {"X": "load_data", "out": "load_data", "y": "load_data"}),
        "train_b": ([4], ["load_data"], {"X": "load_data", "out": "load_data", "y": "load_data"}),
        "train_c": ([5], ["load_data"], {"X": "load_data", "out": "load_data", "y": "load_data"}),
        "compare": ([6], ["train_a", "train_b", "train_c"], {"w_a": "train_a", "w_b": "train_b", "w_c": "train_c"}),
    }
    assert all(not {"os", "shutil", "np"} & set(s.outputs) for s in conversion.pipeline.steps)
    assert conversion.warnings == []


def test_a_module_imported_by_one_step_is_imported_again_by_the_others():
    pipeline = convert({"cells": [
        {"cell_type": "code", "source": "import os", "metadata": {"tags": ["step:a"]}},
        {"cell_type": "code", "source": "os.makedirs('x', exist_ok=True)", "metadata": {"tags": ["step:b"]}},
        {"cell_type": "code", "source": "os.environ['K'] = '1'\nos.rmdir('x')", "metadata": {"tags": ["step:c"]}},
    ]}).pipeline
    assert [(s.inputs, s.after, [c.code.strip() for c in s.shipped]) for s in pipeline.steps] == [
        ({}, [], []), ({}, [], ["import os"]), ({}, [], ["import os"])]


def test_modules_notebook_runs_locally_passing_no_module(tmp_path):
    target = tmp_path / "modules_not_data.ipynb"
    shutil.copy(COMPAT / "modules_not_data.ipynb", target)
    lines = []
    result = run(target, on_line=lines.append)
    assert result.phase == "Succeeded"
    passed = [line for line in lines if "passed on:" in line]
    assert len(passed) == 4 and not any(f"{m} (" in line for line in passed for m in ("os", "shutil", "np"))


def test_legacy_docker_image_and_experiment_are_read_and_ignored_keys_named():
    conversion = convert(COMPAT / "legacy_metadata.ipynb")
    assert conversion.pipeline.image == "gcr.io/arrikto/kale-py38:v0.6.0"
    assert conversion.pipeline.experiment == "legacy-exp"
    assert {e["container"]["image"] for e in conversion.spec["deploymentSpec"]["executors"].values()} == {
        "gcr.io/arrikto/kale-py38:v0.6.0"}
    assert conversion.warnings == [
        "kubeflow_notebook metadata autosnapshot, snapshot_volumes: Kale settings jupyter_kf does not use, ignored "
        "(read: pipeline_name, pipeline_description, experiment_name, base_image or docker_image, kfp_host, "
        "enable_caching, volumes, steps_defaults)"]


def test_base_image_wins_over_docker_image():
    notebook = json.loads((COMPAT / "legacy_metadata.ipynb").read_text())
    notebook["metadata"]["kubeflow_notebook"]["base_image"] = "python:3.12"
    assert tags.parse(notebook).image == "python:3.12"


def test_xgboost_dmatrix_is_known_at_convert_time_and_runs_locally(tmp_path):
    conversion = convert(COMPAT / "xgboost_dmatrix.ipynb", image="quay.io/jupyter/scipy-notebook:2025-03-14")
    evaluate = conversion.pipeline.step("evaluate")
    assert evaluate.inputs == {"booster": "train", "dtrain": "load_data"} and "xgboost" in evaluate.modules
    target = tmp_path / "xgboost_dmatrix.ipynb"
    shutil.copy(COMPAT / "xgboost_dmatrix.ipynb", target)
    lines = []
    result = run(target, on_line=lines.append)
    assert result.phase == "Succeeded", lines[-5:]
    assert any("passed on: dtrain (xgboost-dmatrix)" in line for line in lines)
    assert any("passed on: booster (xgboost-booster)" in line for line in lines)
    assert 0.5 <= result.metrics["accuracy"] <= 1.0


def test_a_known_unpicklable_type_is_refused_at_convert_time_through_its_import_alias():
    with pytest.raises(PipelineError) as info:
        convert({"cells": [
            {"cell_type": "code", "source": "import tensorflow as tf\nds = tf.data.Dataset.from_tensor_slices([1])",
             "metadata": {"tags": ["step:load"]}},
            {"cell_type": "code", "source": "print(ds)", "metadata": {"tags": ["step:train"]}},
        ]})
    assert str(info.value) == ("value 'ds' cannot be passed from step 'load' to step 'train': it is a tf.data.Dataset "
                               "(cell 1, line 2), which cannot be pickled; create it again in 'train'")


def test_an_imports_only_heading_section_is_every_steps_imports():
    conversion = convert(COMPAT / "headings_imports.ipynb")
    assert [s.name for s in conversion.pipeline.steps] == ["load", "summarize"]
    assert [c.number for c in conversion.pipeline.shared] == [3]


def test_duplicate_step_wording():
    with pytest.raises(PipelineError) as info:
        convert(COMPAT / "bad_duplicate_step.ipynb")
    assert str(info.value) == (
        "cell 3 is tagged step:evaluation, but step 'evaluation' ended at cell 1 and step 'train' started after it: "
        "a step's cells must come together; give cell 3 a step name of its own (e.g. step:evaluation_2)")


def test_values_crossing_python_versions_are_warned():
    assert convert(COMPAT / "python_versions.ipynb").warnings == [
        "step 'consume' (Python 3.12, python:3.12-slim) reads 'table' written by step 'produce' (Python 3.11, "
        "python:3.11-slim): a value pickled in one Python may not load in another; give both steps images with the "
        "same Python"]


def test_every_compat_notebook_converts_from_the_command_line(tmp_path):
    converted = []
    for path in sorted(COMPAT.glob("*.ipynb")):
        out = subprocess.run([sys.executable, "-m", "jupyter_kf.pipeline.cli", "convert", str(path), "-o",
                              str(tmp_path / f"{path.stem}.yaml")], capture_output=True, text=True, timeout=60)
        assert (out.returncode == 0) == (not path.stem.startswith("bad_")), (path.name, out.stderr)
        converted += [path.stem] if out.returncode == 0 else []
    assert len(converted) == 13


# -- values pickle cannot carry travel in their library's own format (what Kale serializes) ----------------------
def test_xgboost_dmatrix_and_booster_in_their_own_formats(tmp_path):
    import numpy as np
    import xgboost as xgb

    from jupyter_kf.pipeline.step_runner import load_value, save_value

    matrix = xgb.DMatrix(np.arange(12.0).reshape(4, 3), label=np.array([0, 1, 0, 1]))
    assert save_value(matrix, str(tmp_path / "m")) == "xgboost-dmatrix"
    back = load_value(str(tmp_path / "m"))
    assert (back.num_row(), back.num_col(), back.get_label().tolist()) == (4, 3, [0.0, 1.0, 0.0, 1.0])
    booster = xgb.train({"max_depth": 2}, matrix, num_boost_round=2)
    assert save_value(booster, str(tmp_path / "b")) == "xgboost-booster"
    assert load_value(str(tmp_path / "b")).predict(matrix).tolist() == booster.predict(matrix).tolist()


FAKE_KERAS = '''
import json


class Layer:
    pass


class Model(Layer):
    def __init__(self, units):
        self.units = units

    def save(self, path):
        if not path.endswith(".keras"):
            raise ValueError("Keras 3 saves only to a .keras file")
        with open(path, "w") as f:
            json.dump({"units": self.units}, f)


class Sequential(Model):
    pass
'''


def test_keras_models_use_model_save_and_load_model(tmp_path, monkeypatch):
    """Keras 3's contract (Model.save to .keras, keras.models.load_model), stood in by a small package."""
    package = tmp_path / "lib" / "keras"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_KERAS)
    (package / "models.py").write_text("import json\nfrom keras import Sequential\n\n\ndef load_model(path):\n"
                                       "    assert path.endswith('.keras')\n"
                                       "    return Sequential(json.load(open(path))['units'])\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    import keras

    from jupyter_kf.pipeline.step_runner import load_value, save_value

    assert save_value(keras.Sequential(8), str(tmp_path / "k")) == "keras"
    back = load_value(str(tmp_path / "k"))
    assert type(back).__name__ == "Sequential" and back.units == 8


def test_a_step_imports_pandas_although_get_ipython_is_there():
    """pandas asks hasattr(get_ipython(), "kernel") on import: the step's stand-in must answer False."""
    from tests.pipeline.test_step_runner import cells, run_step

    out = run_step({"step": "s", "cells": cells("import pandas as pd\nprint(len(pd.DataFrame({'a': [1, 2]})))")})
    assert out.returncode == 0, out.stderr
    assert "2" in out.stdout.splitlines()


def test_kfp_loads_and_recompiles_every_compat_ir(tmp_path):
    from tests.pipeline.test_kfp import kfp

    paths = [convert(path, tmp_path / f"{path.stem}.yaml").path for path in sorted(COMPAT.glob("*.ipynb"))
             if not path.stem.startswith("bad_")]
    result = kfp("roundtrip", *paths)
    assert {name: entry["identical"] for name, entry in result.items()} == {Path(p).name: True for p in paths}


def test_a_name_only_a_dropped_cell_assigns_is_explained():
    from tests.support.pipeline_helpers import DATA

    with pytest.raises(PipelineError) as info:
        convert(DATA / "bad_orphan_cell.ipynb")
    assert str(info.value) == (
        "step 'first' reads 'setup' (cell 2, line 1), which only cell 1 assigns; cell 1 is untagged above the first "
        "tagged cell, so no step runs it: tag it imports, functions or step:<name>")


# -- beyond Kale: --install-packages, --sequential ---------------------------------------------------------------
def test_install_packages_pins_this_kernels_versions_and_never_kfp(tmp_path):
    from importlib import metadata

    (tmp_path / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    path = tmp_path / "nb.ipynb"
    shutil.copy(COMPAT / "install_packages.ipynb", path)
    conversion = convert(path)  # python:<version>-slim: a bare Python image installs by default
    load, fit = conversion.pipeline.steps
    assert load.packages == {"numpy": f"numpy=={metadata.version('numpy')}"}
    assert fit.packages == {"numpy": f"numpy=={metadata.version('numpy')}",
                            "sklearn": f"scikit-learn=={metadata.version('scikit-learn')}"}
    assert conversion.warnings == [
        "step fit imports not_a_real_module_kf, which no distribution installed here provides, so it is not installed "
        "at step start: install it in this kernel, or use an image that has it"]
    spec = json.loads(container_args(conversion, "fit")[1])
    assert spec["packages"] == fit.packages
    assert all(not s.packages for s in convert(path, install_packages=False).pipeline.steps)
    assert all(not s.packages for s in convert(path, image="quay.io/jupyter/scipy-notebook:2025-03-14").pipeline.steps)


def container_args(conversion, step):
    return conversion.spec["deploymentSpec"]["executors"][f"exec-{step}"]["container"]["args"]


def _wheel(folder: Path) -> Path:
    """A one-module wheel written by hand: pip installs it with no network."""
    import zipfile

    wheel = folder / "kfwheel_demo-1.0-py3-none-any.whl"
    info = "kfwheel_demo-1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("kfwheel_demo/__init__.py", "VALUE = 42\n")
        z.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: kfwheel-demo\nVersion: 1.0\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", f"kfwheel_demo/__init__.py,,\n{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n")
    return wheel


def test_a_step_installs_what_its_image_lacks_and_only_that(tmp_path):
    import venv

    from jupyter_kf.pipeline import step_runner

    venv.create(tmp_path / "image", system_site_packages=True, with_pip=False)  # a fresh image: no kfwheel_demo
    python = str(tmp_path / "image" / "bin" / "python")
    spec = {"step": "s", "cells": [{"cell": 1, "code": "import kfwheel_demo\nprint('value', kfwheel_demo.VALUE)"}],
            "packages": {"kfwheel_demo": str(_wheel(tmp_path)), "json": "no-such-distribution==0"}}
    out = subprocess.run([python, "-c", step_runner.program(), "--spec", json.dumps(spec)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:2] == [f"[jupyter_kf] step s: installing {tmp_path}/kfwheel_demo-1.0-py3-none-any.whl",
                                          "value 42"]
    again = subprocess.run([python, "-c", step_runner.program(), "--spec", json.dumps(spec)], capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0 and "installing" not in again.stdout


def test_a_failed_install_is_one_line_naming_the_packages(tmp_path):
    import venv

    from jupyter_kf.pipeline import step_runner

    venv.create(tmp_path / "image", system_site_packages=True, with_pip=False)
    spec = {"step": "s", "cells": [{"cell": 1, "code": "import kfwheel_missing"}],
            "packages": {"kfwheel_missing": str(tmp_path / "kfwheel_missing-1.0-py3-none-any.whl")}}
    out = subprocess.run([str(tmp_path / "image" / "bin" / "python"), "-c", step_runner.program(), "--spec",
                          json.dumps(spec)], capture_output=True, text=True, timeout=120)
    assert out.returncode == step_runner.EXIT_MODULE
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("jupyter_kf: ")][-1]
    assert line.startswith(f"jupyter_kf: step 's' could not install {tmp_path}/kfwheel_missing-1.0-py3-none-any.whl: ")
    assert line.endswith("(use an image that has them, or convert without --install-packages)")


def test_sequential_runs_steps_in_notebook_order():
    path = COMPAT / "modules_not_data.ipynb"
    parallel = convert(path)
    assert [s.after for s in parallel.pipeline.steps][1:4] == [["load_data"]] * 3
    for conversion in (convert(path, sequential=True), convert(COMPAT / "sequential.ipynb")):
        after = {s.name: s.after for s in conversion.pipeline.steps}
        names = [s.name for s in conversion.pipeline.steps]
        assert all(names[i - 1] in after[names[i]] for i in range(1, len(names)))
        tasks = conversion.spec["root"]["dag"]["tasks"]
        assert all(names[i - 1].replace("_", "-") in tasks[names[i].replace("_", "-")]["dependentTasks"]
                   for i in range(1, len(names)))


# -- beyond Kale: notebook:NAME runs another notebook's pipeline as a nested DAG ----------------------------------
def test_notebook_step_is_a_nested_dag_with_values_in_and_out_by_name():
    conversion = convert(COMPAT / "compose_main.ipynb")
    assert shape(conversion) == {
        "load": ([1], [], {}),
        "prepare_centre": ([1, 3], ["load"], {"raw": "load"}),
        "prepare_rescale": ([1, 4], ["load", "prepare_centre"], {"centred": "prepare_centre"}),
        "report": ([3], ["prepare_centre", "prepare_rescale"], {"prepared": "prepare_rescale"}),
    }
    assert list(conversion.pipeline.parameters) == ["scale"]  # raw is given by load; scale keeps its default
    root = conversion.spec["root"]["dag"]["tasks"]
    assert sorted(root) == ["load", "prepare", "report"]
    assert root["prepare"]["inputs"] == {
        "artifacts": {"raw": {"taskOutputArtifact": {"producerTask": "load", "outputArtifactKey": "raw"}}},
        "parameters": {"scale": {"componentInputParameter": "scale"}}}
    assert root["report"]["inputs"]["artifacts"]["prepared"] == {
        "taskOutputArtifact": {"producerTask": "prepare", "outputArtifactKey": "prepared"}}
    assert root["report"]["dependentTasks"] == ["prepare"]
    inner = conversion.spec["components"]["comp-prepare"]["dag"]
    assert sorted(inner["tasks"]) == ["prepare-centre", "prepare-rescale"]
    assert inner["tasks"]["prepare-centre"]["inputs"]["artifacts"]["raw"] == {"componentInputArtifact": "raw"}
    assert inner["outputs"]["artifacts"]["prepared"]["artifactSelectors"] == [
        {"producerSubtask": "prepare-rescale", "outputArtifactKey": "prepared"}]
    assert "of compose_prepare.ipynb" in conversion.summary().splitlines()[3]


def test_notebook_step_runs_locally(tmp_path):
    for name in ("compose_main.ipynb", "compose_prepare.ipynb"):
        shutil.copy(COMPAT / name, tmp_path / name)
    result = run(tmp_path / "compose_main.ipynb", on_line=None)
    assert result.phase == "Succeeded"
    assert result.load("prepared") == [-4.0, -2.0, 0.0, 6.0] and result.metrics == {"total": 12.0}


@pytest.mark.parametrize("cells, message", [
    ([("", ["notebook:missing.ipynb"])], "notebook:missing.ipynb on cell 1: {folder}/missing.ipynb not found: give the "
                                         "path of a notebook, relative to this one's folder"),
    ([("x = 1", ["notebook:compose_prepare.ipynb"])], "cell 1 is tagged notebook:compose_prepare.ipynb, which runs that "
                                                      "notebook, and also has code: move the code to a cell of its own"),
    ([("", ["notebook:compose_prepare.ipynb"]), ("y = 2", [])], "cell 2 has code but no tag, below the "
                                                                "notebook:compose_prepare.ipynb cell (cell 1), which "
                                                                "runs only that notebook: give it a step:<name> tag"),
    ([("", ["notebook:"])], "cell 1: notebook: needs the other notebook's path, e.g. notebook:prepare.ipynb"),
])
def test_bad_notebook_steps(tmp_path, cells, message):
    import nbformat

    from tests.support.pipeline_helpers import notebook

    shutil.copy(COMPAT / "compose_prepare.ipynb", tmp_path / "compose_prepare.ipynb")
    nbformat.write(notebook(*cells), tmp_path / "main.ipynb")
    with pytest.raises(PipelineError) as info:
        convert(tmp_path / "main.ipynb")
    assert str(info.value) == message.format(folder=tmp_path.resolve())


def test_only_one_level_of_notebook_steps():
    with pytest.raises(PipelineError) as info:
        convert(COMPAT / "bad_compose_nested.ipynb")
    assert str(info.value) == (
        "notebook:compose_main.ipynb on cell 2: compose_main.ipynb has notebook: steps of its own; one level of "
        "notebook: steps is supported: expand that notebook's notebook: cells into it")


def test_kfp_local_orchestrator_runs_the_nested_dag(tmp_path):
    from tests.pipeline.test_kfp import kfp

    path = convert(COMPAT / "compose_main.ipynb", tmp_path / "compose.yaml").path
    by_name = kfp("local", path, tmp_path / "root")
    assert json.loads(by_name["prepare-rescale/prepared"]) == [-4.0, -2.0, 0.0, 6.0]
    assert json.loads(by_name["report/executor_output.json"])["artifacts"]["metrics"]["artifacts"][0]["metadata"] == {
        "total": 12.0}


def test_steps_defaults_in_kales_dict_form():
    pipeline = tags.parse({"metadata": {"kubeflow_notebook": {"steps_defaults": {
        "labels": {"team": "ml"}, "annotations": {"owner": "alice"}, "limits": {"memory": "2Gi"}, "affinity": {}}}},
        "cells": [{"cell_type": "code", "source": "x = 1", "metadata": {"tags": ["step:a"]}}]})
    step = pipeline.steps[0]
    assert (step.labels, step.annotations, step.resources.memory_limit) == ({"team": "ml"}, {"owner": "alice"}, "2Gi")
    assert pipeline.warnings == ["steps_defaults key 'affinity' in the notebook metadata is not labels, annotations or "
                                 "limits: ignored"]


SMALL = ["block_tags", "empty_step", "prev_on_skip", "untagged_head", "legacy_metadata", "headings_imports",
         "python_versions", "sequential"]


def test_the_small_compat_notebooks_run_locally(tmp_path):
    outcomes = {}
    for name in SMALL:
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(COMPAT / f"{name}.ipynb", folder)
        result = run(folder / f"{name}.ipynb", on_line=None, raise_on_failure=False)
        outcomes[name] = result.phase
    assert outcomes == dict.fromkeys(SMALL, "Succeeded")


def test_a_notebook_cannot_run_itself(tmp_path):
    import nbformat

    from tests.support.pipeline_helpers import notebook

    nbformat.write(notebook(("x = 1", ["step:a"]), ("", ["notebook:../" + tmp_path.name + "/self.ipynb"])),
                   tmp_path / "self.ipynb")
    with pytest.raises(PipelineError) as info:
        convert(tmp_path / "self.ipynb")
    assert str(info.value) == (f"notebook:../{tmp_path.name}/self.ipynb on cell 2 names this notebook: a notebook "
                               "cannot run itself")


def test_two_notebooks_running_each_other_are_refused_not_recursed(tmp_path):
    import nbformat

    from tests.support.pipeline_helpers import notebook

    nbformat.write(notebook(("", ["notebook:b.ipynb"])), tmp_path / "a.ipynb")
    nbformat.write(notebook(("", ["notebook:a.ipynb"])), tmp_path / "b.ipynb")
    with pytest.raises(PipelineError) as info:
        convert(tmp_path / "a.ipynb")
    assert str(info.value) == ("notebook:b.ipynb on cell 1: b.ipynb has notebook: steps of its own; one level of "
                               "notebook: steps is supported: expand that notebook's notebook: cells into it")
