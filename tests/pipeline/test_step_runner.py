"""The program a step container runs, as KFP would start it: python3 -u -c PROGRAM with resolved arguments."""
import json
import subprocess
import sys

import numpy as np
import pytest

from jupyter_kf.pipeline import step_runner
from jupyter_kf.pipeline.step_runner import load_value, save_value, typed


def run_step(spec: dict, *extra: str, cwd=None):
    args = [sys.executable, "-u", "-c", step_runner.program(), "--spec", json.dumps(spec), *extra]
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=60)


def cells(*sources, first=1):
    return [{"cell": first + i, "code": code} for i, code in enumerate(sources)]


@pytest.mark.parametrize("value, fmt, head", [
    (np.arange(12.0).reshape(3, 4), "npy", b"\x93NUMPY"),
    ({"a": [1, 2.5, None, True, "x"]}, "json", b"{"),
    ((1, 2), "pickle", b"KFF1"),  # a tuple would come back from JSON as a list
    (np.array([{"a": 1}], dtype=object), "pickle", b"KFF1"),
    ({1: "int key"}, "pickle", b"KFF1"),
])
def test_values_in_the_format_their_type_suits(tmp_path, value, fmt, head):
    path = str(tmp_path / "v")
    assert save_value(value, path) == fmt
    assert open(path, "rb").read(len(head)) == head
    back = load_value(path)
    if isinstance(value, np.ndarray) and value.dtype != object:
        assert back.dtype == value.dtype and np.array_equal(back, value)
    elif isinstance(value, np.ndarray):
        assert back.dtype == object and back[0] == {"a": 1}
    else:
        assert back == value and type(back) is type(value)


def test_notebook_functions_and_classes_travel_by_value(tmp_path):
    namespace = {}
    exec("class Scaler:\n    def __init__(self, k):\n        self.k = k\n    def __call__(self, v):\n        return v * self.k\n"
         "s = Scaler(3)", namespace)
    path = str(tmp_path / "s")
    assert save_value(namespace["s"], path) == "pickle"
    assert load_value(path)(2) == 6


def test_torch_tensors_and_modules_use_torch_save(tmp_path):
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(2, 1)
    path = str(tmp_path / "m")
    assert save_value(model, path) == "torch"
    assert open(path, "rb").read(4) == b"PK\x03\x04"
    back = load_value(path)
    assert torch.equal(back.weight, model.weight)


@pytest.mark.parametrize("value, kind, expected", [
    ("3", "NUMBER_INTEGER", 3), ("3.0", "NUMBER_INTEGER", 3), ("0.25", "NUMBER_DOUBLE", 0.25), ("true", "BOOLEAN", True),
    ("false", "BOOLEAN", False), ("[1, 2]", "LIST", [1, 2]), ('{"a": 1}', "STRUCT", {"a": 1}), ("x y", "STRING", "x y"),
])
def test_parameters_typed_back_from_kfp_strings(value, kind, expected):
    assert typed(value, kind) == expected and type(typed(value, kind)) is type(expected)


def test_a_step_reads_inputs_runs_cells_and_writes_outputs(tmp_path):
    save_value(np.arange(4.0), str(tmp_path / "X"))
    spec = {"step": "train", "cells": cells("import numpy as np", "w = X * lr\nn = len(X)", "n + 1"),
            "inputs": {"X": "load"}, "params": {"lr": "NUMBER_DOUBLE", "tag": "STRING"}}
    out = run_step(spec, "--param", "lr", "0.5", "--param", "tag", "a b", "--input", "X", str(tmp_path / "X"),
                   "--output", "w", str(tmp_path / "out" / "w"), "--output", "n", str(tmp_path / "out" / "n"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "[jupyter_kf] step train: lr=0.5, tag='a b', X: ndarray[4]"
    assert lines[1] == "5"  # a cell's last expression is shown, as in the notebook
    assert lines[2].startswith("[jupyter_kf] step train done in ") and lines[2].endswith("; passed on: w (npy), n (json)")
    assert np.array_equal(load_value(str(tmp_path / "out" / "w")), np.arange(4.0) * 0.5)
    assert load_value(str(tmp_path / "out" / "n")) == 4


def test_a_failure_names_the_cell_and_line(tmp_path):
    out = run_step({"step": "evaluate", "cells": cells("a = 1", "b = 2\n\nc = b / (a - 1)", first=7)})
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1] == (
        "jupyter_kf: step 'evaluate' failed in cell 8, line 3 (c = b / (a - 1)): ZeroDivisionError: division by zero")
    assert 'File "<cell 8>", line 3, in <module>' in out.stderr and "<string>" not in out.stderr


def test_a_failure_inside_a_function_points_at_its_line():
    out = run_step({"step": "s", "cells": cells("def f(v):\n    return v[5]", "f([1])")})
    assert out.stderr.splitlines()[-1] == "jupyter_kf: step 's' failed in cell 1, line 2 (return v[5]): IndexError: list index out of range"


def test_missing_module_says_which_image_to_use():
    out = run_step({"step": "s", "cells": cells("import not_a_real_module_xyz")})
    assert out.returncode == 4
    assert out.stderr.splitlines()[-1].endswith(
        "ModuleNotFoundError: No module named 'not_a_real_module_xyz': module 'not_a_real_module_xyz' is missing in this "
        "step's image, use one that has it (image: tag or --image)")


def test_an_output_not_defined(tmp_path):
    spec = {"step": "load", "cells": cells("if False:\n    X = 1"), "readers": {"X": ["train", "evaluate"]}}
    out = run_step(spec, "--output", "X", str(tmp_path / "X"))
    assert out.returncode == 6
    assert out.stderr.strip() == ("jupyter_kf: step 'load' ended without defining 'X', which train, evaluate reads "
                                  "(assigned only in a branch that did not run?)")


def test_an_output_that_cannot_be_pickled(tmp_path):
    spec = {"step": "load", "cells": cells("import threading\nguard = threading.Lock() if True else None"), "readers": {"guard": ["train"]}}
    out = run_step(spec, "--output", "guard", str(tmp_path / "guard"))
    assert out.returncode == 6
    assert out.stderr.strip() == ("jupyter_kf: value 'guard' cannot be passed from step 'load' to train: TypeError: "
                                  "cannot pickle '_thread.lock' object")


def test_an_input_that_cannot_be_read(tmp_path):
    (tmp_path / "X").write_text("{broken")
    out = run_step({"step": "s", "cells": cells("print(X)"), "inputs": {"X": "load"}}, "--input", "X", str(tmp_path / "X"))
    assert out.returncode == 2
    assert out.stderr.strip().startswith("jupyter_kf: step 's': input 'X' (from step 'load') could not be read: JSONDecodeError")


def test_metrics_go_to_the_metrics_file_and_kfp_executor_output(tmp_path):
    executor_input = {"outputs": {"outputFile": str(tmp_path / "exec" / "executor_output.json"), "artifacts": {"metrics": {
        "artifacts": [{"name": "metrics", "type": {"schemaTitle": "system.Metrics"}, "uri": "minio://bucket/run/metrics", "metadata": {}}]}}}}
    spec = {"step": "evaluate", "cells": cells("import numpy as np\naccuracy = np.float64(0.93)\nlabel = 'x'"),
            "metrics": ["accuracy", "label"], "metrics_key": "metrics"}
    out = run_step(spec, "--metrics", str(tmp_path / "m" / "metrics"), "--executor-input", json.dumps(executor_input))
    assert out.returncode == 0, out.stderr
    assert "[jupyter_kf] metrics: accuracy=0.93" in out.stdout
    assert "metric 'label' is a str, not a number: not reported" in out.stderr
    assert json.loads((tmp_path / "m" / "metrics").read_text()) == {"accuracy": 0.93}
    assert json.loads((tmp_path / "exec" / "executor_output.json").read_text()) == {"artifacts": {"metrics": {"artifacts": [
        {"name": "metrics", "uri": "minio://bucket/run/metrics", "metadata": {"accuracy": 0.93}}]}}}


def test_ipython_stand_in_inside_a_step():
    out = run_step({"step": "s", "cells": cells("get_ipython().run_line_magic('matplotlib', 'inline')\n"
                                                "get_ipython().system('echo from-shell')\ndisplay({'k': 1})")})
    assert out.returncode == 0, out.stderr
    assert "from-shell" in out.stdout and "{'k': 1}" in out.stdout


def test_executor_output_tells_kfp_each_artifacts_format(tmp_path):
    executor_input = {"outputs": {"outputFile": str(tmp_path / "executor_output.json"), "artifacts": {
        "X": {"artifacts": [{"name": "X", "uri": "s3://b/X", "metadata": {}}]},
        "note": {"artifacts": [{"name": "note", "uri": "s3://b/note", "metadata": {}}]}}}}
    out = run_step({"step": "s", "cells": cells("import numpy as np\nX = np.zeros((2, 3))\nnote = 'hi'")},
                   "--output", "X", str(tmp_path / "X"), "--output", "note", str(tmp_path / "note"),
                   "--executor-input", json.dumps(executor_input))
    assert out.returncode == 0, out.stderr
    python = "%d.%d" % sys.version_info[:2]
    assert json.loads((tmp_path / "executor_output.json").read_text()) == {"artifacts": {
        "X": {"artifacts": [{"name": "X", "uri": "s3://b/X", "metadata": {"format": "npy", "type": "ndarray[2, 3]", "python": python}}]},
        "note": {"artifacts": [{"name": "note", "uri": "s3://b/note", "metadata": {"format": "json", "type": "str", "python": python}}]}}}
