"""The IR cross-checked by kfp 2.17 itself, in its own venv (.venv-kfp): kfp pins kubernetes<31, the core uses 37.

kfp loads and recompiles every IR to the identical spec; kfp's own local orchestrator runs it
(placeholders, artifacts, metrics resolved by KFP's code, not ours); jupyter_kf's submit drives
kfp's client against a fake KFP API server; the platform spec matches what kfp-kubernetes writes.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jupyter_kf.pipeline import convert
from tests.support.pipeline_helpers import DATA

ROOT = Path(__file__).resolve().parents[2]
KFP_PYTHON = ROOT / ".venv-kfp" / "bin" / "python"
CHECK = Path(__file__).resolve().parents[1] / "support" / "pipeline_kfp_check.py"
EXAMPLE = ROOT / "examples" / "pipeline.ipynb"


def kfp(*args, timeout=180) -> dict:
    if not KFP_PYTHON.exists():
        pytest.fail(f"{KFP_PYTHON.relative_to(ROOT)} is missing: `make test` creates it (make .venv-kfp installs "
                    "kfp==2.17.3 and kfp-kubernetes==2.17.3 in their own venv)")
    out = subprocess.run([str(KFP_PYTHON), str(CHECK), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.fixture(scope="module")
def irs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("irs")
    paths = {}
    for name in ("kale_tags", "headings", "markers"):
        paths[name] = folder / f"{name}.yaml"
        convert(DATA / f"{name}.ipynb", paths[name])
    paths["example"] = folder / "example.yaml"
    convert(EXAMPLE, paths["example"])
    return paths


def test_kfp_loads_and_recompiles_every_ir_identically(irs):
    result = kfp("roundtrip", *irs.values())
    assert result == {
        "kale_tags.yaml": {"identical": True, "documents": 2, "inputs": ["factor", "label_text", "size", "verbose"]},
        "headings.yaml": {"identical": True, "documents": 1, "inputs": ["n", "scale"]},
        "markers.yaml": {"identical": True, "documents": 1, "inputs": []},
        "example.yaml": {"identical": True, "documents": 1, "inputs": ["epochs", "learning_rate", "n_samples", "seed"]},
    }


def test_kfp_local_orchestrator_runs_the_ir(irs, tmp_path):
    by_name = kfp("local", irs["kale_tags"], tmp_path / "root", "size=4")  # <task>/<artifact> -> content
    assert json.loads(by_name["load-data/raw"]) == [0, 1, 2, 3]
    assert json.loads(by_name["transform/scaled"]) == [0.0, 2.5, 5.0, 7.5]
    assert json.loads(by_name["train-model/total"]) == 15.0
    output = json.loads(by_name["train-model/executor_output.json"])
    assert output["artifacts"]["metrics"]["artifacts"][0]["metadata"] == {"total": 15.0}
    assert output["artifacts"]["total"]["artifacts"][0]["metadata"] == {"format": "json", "type": "float",
                                                                            "python": "%d.%d" % sys.version_info[:2]}


def test_submit_with_kfp_client_against_a_fake_endpoint(irs):
    result = kfp("submit", irs["kale_tags"], "size=4")
    assert result["run_id"] == "run-42" and result["url"] == "HOST/#/runs/details/run-42"
    calls = [(method, path) for method, path, _ in result["calls"]]
    assert calls[-2:] == [("POST", "/apis/v2beta1/experiments"), ("POST", "/apis/v2beta1/runs")]
    experiment = result["calls"][-2][2]
    assert experiment["display_name"] == "exp1"
    run = result["calls"][-1][2]
    ours = list(yaml.safe_load_all(irs["kale_tags"].read_text()))
    assert run["display_name"] == "first run" and run["experiment_id"] == "exp-1"
    assert run["runtime_config"] == {"parameters": {"size": 4}}
    assert run["pipeline_spec"] == {"pipeline_spec": ours[0], "platform_spec": ours[1]}


def test_platform_spec_matches_kfp_kubernetes(irs):
    reference = kfp("platform")
    ours = list(yaml.safe_load_all(irs["kale_tags"].read_text()))[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    load = ours["exec-load-data"]
    assert load["pvcMount"] == reference["pvcMount"]
    assert ours["exec-train-model"]["secretAsEnv"] == reference["secretAsEnv"]
    assert load["podMetadata"]["annotations"] == reference["podMetadata"]["annotations"]
    assert {k: v for k, v in load["podMetadata"]["labels"].items() if k == "team"} == reference["podMetadata"]["labels"]
