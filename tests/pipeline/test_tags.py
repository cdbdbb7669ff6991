"""Cells into steps: Kale's tags, # kf: comment markers, markdown headings, and the bad input they reject."""
import pytest

from jupyter_kf.pipeline import tags
from jupyter_kf.pipeline.model import PipelineError
from tests.support.pipeline_helpers import DATA, notebook


def parse(*cells, meta=None, **kwargs):
    return tags.parse(notebook(*cells, meta=meta), **kwargs)


def error(*cells, meta=None, **kwargs) -> str:
    with pytest.raises(PipelineError) as info:
        parse(*cells, meta=meta, **kwargs)
    return str(info.value)


def test_kale_notebook_every_tag():
    pipeline = tags.parse(DATA / "kale_tags.ipynb")
    assert pipeline.mode == "tags"
    assert (pipeline.name, pipeline.description, pipeline.experiment) == ("kale-demo", "every Kale tag", "kale-exp")
    assert [s.name for s in pipeline.steps] == ["load_data", "transform", "train_model", "evaluate"]
    load, transform, train, evaluate = pipeline.steps
    # an untagged cell continues the step above it; a skip cell is dropped
    assert [c.number for c in load.cells] == [5, 6]
    assert all("scratch" not in c.code for s in pipeline.steps for c in s.cells)
    assert [c.number for c in pipeline.shared] == [2, 3]  # imports, then functions
    assert {n: (p.value, p.type) for n, p in pipeline.parameters.items()} == {
        "size": (6, "NUMBER_INTEGER"), "factor": (2.5, "NUMBER_DOUBLE"), "label_text": ("demo", "STRING"),
        "verbose": (True, "BOOLEAN")}
    assert pipeline.metrics == ["total", "size"]
    # CPU and memory requests and limits are kept (Kale drops them); the cell wins over steps_defaults
    r = load.resources
    assert (r.cpu_request, r.cpu_limit, r.memory_request, r.memory_limit) == ("500m", "1", "1Gi", "2Gi")
    assert transform.resources.memory_limit == "4Gi"  # from steps_defaults
    assert (train.resources.accelerator, train.resources.accelerator_count) == ("nvidia.com/gpu", 1)
    assert load.labels == {"team": "ml", "project": "demo"} and load.annotations == {"owner": "alice"}
    assert load.cache is False and transform.cache is None
    assert transform.image == "python:3.11-slim" and pipeline.image == "python:3.11"
    assert train.secrets == {"DB_PASSWORD": ("db-credentials", "password")}
    assert [s.prev for s in pipeline.steps] == [[], ["load_data"], ["transform"], ["train_model"]]
    assert pipeline.volumes == [{"name": "raw-data", "mount_point": "/data"}]


def test_markers_are_tags_in_comments():
    pipeline = tags.parse(DATA / "markers.ipynb")
    assert [(s.name, s.prev) for s in pipeline.steps] == [("load", []), ("stats", ["load"]), ("report", ["stats"])]
    assert pipeline.steps[1].resources.memory_limit == "1Gi"
    assert [c.number for c in pipeline.shared] == [1]


def test_headings_make_steps_from_the_repeated_level():
    pipeline = tags.parse(DATA / "headings.ipynb")
    assert pipeline.mode == "headings"
    # the single '#' title is not a section; '###' stays inside its section; a section with only
    # '%kf_pipeline run' has no pipeline code and is no step; numbering is dropped from names
    assert [(s.name, [c.number for c in s.cells]) for s in pipeline.steps] == [
        ("load_the_data", [5]), ("summarize", [7, 9]), ("count", [11]), ("report", [13])]
    assert [c.number for c in pipeline.shared] == [2]  # only imports before the first section: the imports block
    assert set(pipeline.parameters) == {"n", "scale"}  # papermill's 'parameters' tag


def test_setup_code_before_the_first_section_is_a_step():
    pipeline = parse("import os\nbase = os.getcwd()", ("md", "## Use"), "print(base)", ("md", "## Again"), "x = 1")
    assert [s.name for s in pipeline.steps] == ["setup", "use", "again"]


def test_no_tags_no_headings_is_one_step_with_a_warning():
    pipeline = parse("a = 1", "b = a + 1", name="plain")
    assert [(s.name, len(s.cells)) for s in pipeline.steps] == [("plain", 2)]
    assert pipeline.warnings == ["no step tags, # kf: markers or markdown headings: the whole notebook is one step"]


def test_same_heading_twice_gets_a_suffix():
    pipeline = parse(("md", "## Train"), "a = 1", ("md", "## Train"), "b = a")
    assert [s.name for s in pipeline.steps] == ["train", "train_2"]
    assert pipeline.warnings == ["two sections are both called 'train': the one at cell 4 is step 'train_2'"]


def test_own_magics_are_left_out_and_kf_train_cells_run_their_body():
    pipeline = parse("%load_ext jupyter_kf", ("%%kf_train --workers 2\nmodel = 1", ["step:fit"]), "%kf_jobs\nprint(model)")
    code = [c.code for c in pipeline.steps[0].cells]
    assert code == ["\nmodel = 1", "\nprint(model)"]


def test_ipython_syntax_becomes_python():
    pipeline = parse(("!echo hi\n%time x = 1", ["step:shell"]))
    assert "get_ipython().system('echo hi')" in pipeline.steps[0].cells[0].code


def test_pipeline_name_from_file_name(tmp_path):
    import nbformat

    path = tmp_path / "My Training_Notebook.v2.ipynb"
    nbformat.write(notebook(("x = 1", ["step:a"])), path)
    assert tags.parse(path).name == "my-training-notebook-v2"


def test_unknown_tags_with_colon_are_warned_plain_tags_ignored():
    pipeline = parse(("x = 1", ["step:a", "hide-input", "steps:b"]))
    assert pipeline.warnings == ["cell 1: tag 'steps:b' is not a pipeline tag (step:<name>, prev:<name>, imports, functions, "
                                 "pipeline-parameters, pipeline-metrics, skip, image:, limit:, request:, label:, annotation:, "
                                 "secret:, cache:, data:): ignored"]


# -- bad input: one line each ------------------------------------------------------------------
def test_untagged_cell_before_any_step_is_dropped_as_kale_does():
    pipeline = parse("setup = 1", ("x = 2", ["step:first"]))
    assert [[c.number for c in s.cells] for s in pipeline.steps] == [[2]]
    assert pipeline.warnings == [
        "cell 1: code above the first tagged cell belongs to no step and is dropped, as Kale drops it (tag it imports, "
        "functions or step:<name> to keep it, skip to silence this)"]


def test_comment_only_cell_before_the_first_step_is_fine():
    assert [s.name for s in parse("# just notes", ("x = 1", ["step:a"])).steps] == ["a"]


@pytest.mark.parametrize("name", ["Train", "2train", "my step", "train-", "a" * 64, "_private"])
def test_invalid_step_names(name):
    message = error(("x = 1", [f"step:{name}"]))
    assert message.startswith(f"step name {name!r} (cell 1) is not a valid KFP name: use lowercase letters, digits, '_' and '-'")


def test_duplicate_step_names():
    assert error(("a = 1", ["step:load"]), ("b = a", ["step:train"]), ("c = b", ["step:load"])) == (
        "cell 3 is tagged step:load, but step 'load' ended at cell 1 and step 'train' started after it: a step's "
        "cells must come together; give cell 3 a step name of its own (e.g. step:load_2)")
    assert error(("a = 1", ["step:load_data"]), ("b = a", ["step:load-data"])) == (
        "duplicate step name: step:load-data (cell 2) and step:load_data (cell 1) are the same KFP task 'load-data': rename one")


def test_same_step_tag_on_adjacent_cells_extends_it():
    pipeline = parse(("a = 1", ["step:load"]), ("print('x')", ["skip"]), ("b = a", ["step:load"]))
    assert [len(s.cells) for s in pipeline.steps] == [2]


def test_two_step_tags_on_one_cell():
    assert error(("a = 1", ["step:a", "step:b"])) == "cell 1 has two step tags (step:a, step:b): a cell belongs to one step"


def test_prev_without_step():
    assert error(("a = 1", ["step:a"]), ("b = 1", ["prev:a"])) == (
        "cell 2 has prev:a but no step:<name> tag: prev: belongs on a step's first cell")


@pytest.mark.parametrize("source, line", [
    ("lr = compute_lr()", "line 1 is `lr = compute_lr()`"),
    ("lr = 0.1\nprint(lr)", "line 2 is `print(lr)`"),
    ("a, b = 1, 2", "line 1 is `a, b = 1, 2`"),
    ("nothing = None", "line 1 is `nothing = None`"),
])
def test_parameters_cell_not_plain_assignments(source, line):
    assert error((source, ["pipeline-parameters"]), ("x = 1", ["step:a"])) == (
        "the parameters cell (cell 1) may hold only assignments of literals (lr = 0.1, epochs = 5, mode = 'fast', "
        f"shuffle = True, sizes = [1, 2]): {line}")


def test_parameters_all_types():
    pipeline = parse(("a = 1\nb: float = -2.5\nc = 'x'\nd = False\ne = [1, 2]\nf = {'k': [1]}", ["pipeline-parameters"]),
                     ("x = a", ["step:s"]))
    assert {n: p.type for n, p in pipeline.parameters.items()} == {
        "a": "NUMBER_INTEGER", "b": "NUMBER_DOUBLE", "c": "STRING", "d": "BOOLEAN", "e": "LIST", "f": "STRUCT"}
    assert pipeline.parameters["b"].value == -2.5


def test_metrics_cell_rules():
    assert error(("x = 1", ["step:a"]), ("print(x + 1)", ["pipeline-metrics"])) == (
        "the pipeline-metrics cell (cell 2) may hold only print(name) lines, one variable each: line 1 is not")
    assert error(("x = 1", ["step:a"]), ("print(x)", ["pipeline-metrics"]), ("y = 2", ["step:b"])) == (
        "cell 3 starts step 'b' after the pipeline-metrics cell (cell 2): the metrics cell must follow every step")


@pytest.mark.parametrize("tag, message", [
    ("limit:memory:2GB", "limit:memory on cell 1 '2GB' is not a Kubernetes quantity (Kubernetes writes gigabytes as 1Gi or 1G, not 1GB): use a number with an optional suffix, e.g. 512Mi, 1Gi, 2G, 500m, 4"),
    ("limit:nvidia.com/gpu:one", "cell 1: limit:nvidia.com/gpu:one is not a whole number of GPUs, e.g. limit:nvidia.com/gpu:1"),
    ("limit:ephemeral-storage:1Gi", "cell 1: limit:ephemeral-storage (step 'a') is not a resource a KFP task can set: use cpu, memory or <vendor>/gpu (e.g. nvidia.com/gpu)"),
    ("limit:memory", "cell 1: 'limit:memory' is not limit:<resource>:<amount>, e.g. limit:memory:2Gi or limit:nvidia.com/gpu:1"),
    ("secret:db:password", "cell 1: 'secret:db:password' is not secret:<secret>:<key>:<ENV_VAR>, e.g. secret:db-credentials:password:DB_PASSWORD"),
    ("cache:off", "cell 1: 'cache:off' is not cache:enabled or cache:disabled"),
    ("image:Python 3", "image: tag on cell 1 'Python 3' is not an image reference: use [REGISTRY/]PATH[:TAG][@sha256:DIGEST] with a lowercase path, e.g. quay.io/jupyter/scipy-notebook:2025-03-14"),
])
def test_bad_step_settings(tag, message):
    assert error(("x = 1", ["step:a", tag])) == message


def test_request_above_limit():
    assert error(("x = 1", ["step:a", "request:memory:4Gi", "limit:memory:2Gi"])) == (
        "step 'a': request:memory:4Gi is above limit:memory:2Gi")


def test_settings_on_an_untagged_cell():
    assert error(("x = 1", ["step:a"]), ("y = 2", ["limit:memory:1Gi"])) == (
        "cell 2 has resource, image or pod tags but no step:<name> tag: put them on a step's cell")


def test_invalid_pipeline_name():
    assert error(("x = 1", ["step:a"]), name="My_Pipeline") == (
        "pipeline name 'My_Pipeline' is not a valid KFP name: use lowercase letters, digits and '-', starting with a "
        "letter or digit, at most 128 (e.g. train-pipeline)")


def test_not_a_notebook(tmp_path):
    bad = tmp_path / "x.ipynb"
    bad.write_text("{not json")
    with pytest.raises(PipelineError, match=r"is not a notebook \(invalid JSON at line 1\): give an .ipynb file"):
        tags.parse(bad)
    with pytest.raises(PipelineError, match=r"notebook '.*missing.ipynb' not found: give the path of an .ipynb file"):
        tags.parse(tmp_path / "missing.ipynb")
