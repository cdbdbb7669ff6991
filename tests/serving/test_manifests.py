"""InferenceService builders (jupyter_kf/serving/manifests.py), validated strictly against KServe's v0.20 CRD:
the CRD's openAPIV3Schema as JSON Schema, unknown fields rejected wherever the schema lists properties."""
import copy
import functools
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from jupyter_kf.serving import manifests as m
from tests.support.helpers import REFERENCE_MANIFESTS

SHARED = Path(__file__).resolve().parents[3] / "shared"
CRD = SHARED / "crds/kserve/serving.kserve.io_inferenceservices.yaml"


def _strict(node):
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["type"] = ["integer", "string"]
    if node.get("x-kubernetes-embedded-resource"):
        out.setdefault("properties", {}).update({"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                                 "metadata": {"type": "object"}})
    if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


@functools.lru_cache(maxsize=1)
def validator():
    crd = yaml.load(CRD.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta1")["schema"]["openAPIV3Schema"]
    schema = _strict(schema)
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft202012Validator(schema)


def errors(obj):
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(obj)]


def valid(obj):
    assert errors(obj) == []
    return obj


def version(label="v1", uri="s3://models/ns/iris/v1", fmt="sklearn"):
    return {"version": label, "format": fmt, "protocol": "v1", "storageUri": uri, "uploaded": [],
            "model": m.model_block(fmt, uri, "v1")}


def iris(mode="Standard", **kw):
    model = m.model_block("sklearn", "s3://models/ns/iris/v1", "v1", cpu="500m", memory="1Gi")
    return m.build_inferenceservice("iris", "team-a", model, mode, m.model_labels("iris", "ana"), version(), **kw)


@pytest.mark.parametrize("path", sorted((REFERENCE_MANIFESTS / "kserve").glob("*.yaml")))
def test_the_validator_accepts_the_reference_examples(path):
    for doc in yaml.safe_load_all(path.read_text()):
        valid(doc)


def test_the_validator_is_strict():
    obj = iris()
    obj["spec"]["predictor"]["model"]["storageURI"] = "s3://x"
    assert errors(obj) == ["spec.predictor.model: Additional properties are not allowed ('storageURI' was unexpected)"]


def test_sklearn_from_the_notebook():
    obj = valid(iris(min_replicas=1, max_replicas=3, service_account="kf-store-s3-creds"))
    predictor = obj["spec"]["predictor"]
    assert predictor["model"] == {"modelFormat": {"name": "sklearn"}, "protocolVersion": "v1",
                                  "storageUri": "s3://models/ns/iris/v1",
                                  "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                                                "limits": {"cpu": "500m", "memory": "1Gi"}}}
    assert predictor["name"] == "v1"  # Standard: named now, as a canary may not rename it later
    assert (predictor["minReplicas"], predictor["maxReplicas"], predictor["serviceAccountName"]) == (1, 3, "kf-store-s3-creds")
    assert obj["metadata"]["annotations"][m.MODE_ANNOTATION] == "Standard"
    assert obj["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "jupyter-kf", "jupyter-kf.io/model": "iris",
                                         "jupyter-kf.io/user": "ana"}
    assert "AWS_SECRET_ACCESS_KEY" not in json.dumps(obj)


def test_huggingface_with_a_gpu_and_pytorch_on_triton():
    hf = m.model_block("huggingface", "hf://org/model", "v2", model_name="llm", gpus=1)
    obj = valid(m.build_inferenceservice("llm", "team-a", hf, "Knative", {}, version("v1", "hf://org/model", "huggingface")))
    assert "name" not in obj["spec"]["predictor"]  # Knative: one Knative Service, its canary by traffic
    model = obj["spec"]["predictor"]["model"]
    assert model["args"] == ["--model_name=llm"] and model["storageUri"] == "hf://org/model"
    assert model["resources"] == {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}
    torch_model = m.model_block("pytorch", "s3://b/net", "v2", runtime=m.TRITON)
    obj = valid(m.build_inferenceservice("net", "team-a", torch_model, "Standard", {}, version()))
    assert obj["spec"]["predictor"]["model"]["runtime"] == "kserve-tritonserver"


def test_knative_canary_promote_rollback():
    base = iris("Knative")
    new = m.model_block("sklearn", "s3://models/ns/iris/v2", "v1")
    canary = valid(m.with_canary(base, new, 10, version("v2", "s3://models/ns/iris/v2")))
    predictor = canary["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10 and predictor["model"]["storageUri"] == "s3://models/ns/iris/v2"
    assert predictor["model"]["resources"]["requests"]["cpu"] == "500m"  # kept from the deployed version
    assert "canary" not in canary["spec"] and m.traffic(canary) == "90% v1 / 10% v2 (canary)"
    promoted = valid(m.promoted(canary))
    assert "canaryTrafficPercent" not in promoted["spec"]["predictor"]
    assert promoted["spec"]["predictor"]["model"]["storageUri"] == "s3://models/ns/iris/v2"
    assert m.versions(promoted)["stable"]["version"] == "v2" and m.traffic(promoted) == "100% v2"
    back = valid(m.rolled_back(canary))
    assert "canaryTrafficPercent" not in back["spec"]["predictor"]
    assert back["spec"]["predictor"]["model"]["storageUri"] == "s3://models/ns/iris/v1"
    assert m.versions(back) == {"stable": version(), "canary": None}


def test_standard_canary_promote_rollback():
    base = iris("Standard")
    new = m.model_block("sklearn", "s3://models/ns/iris/v2", "v2")
    canary = valid(m.with_canary(base, new, 25, version("v2", "s3://models/ns/iris/v2")))
    assert canary["spec"]["predictor"]["name"] == base["spec"]["predictor"]["name"] == "v1"
    assert "canaryTrafficPercent" not in canary["spec"]["predictor"]
    assert canary["spec"]["canary"] == [{"trafficPercent": 25, "predictor": {"name": "v2", "model": {
        "name": "kserve-container", "modelFormat": {"name": "sklearn"}, "protocolVersion": "v2",
        "storageUri": "s3://models/ns/iris/v2"}}}]
    assert canary["spec"]["predictor"]["model"]["storageUri"] == "s3://models/ns/iris/v1"
    promoted = valid(m.promoted(canary))
    assert "canary" not in promoted["spec"] and promoted["spec"]["predictor"]["name"] == "v2"
    assert promoted["spec"]["predictor"]["model"]["storageUri"] == "s3://models/ns/iris/v2"
    back = valid(m.rolled_back(canary))
    assert "canary" not in back["spec"] and back["spec"]["predictor"]["model"]["storageUri"] == "s3://models/ns/iris/v1"


def test_the_crd_requires_a_name_on_standard_canary_models():
    canary = m.with_canary(iris(), m.model_block("sklearn", "s3://b/v2", "v1"), 10, version("v2"))
    broken = copy.deepcopy(canary)
    del broken["spec"]["canary"][0]["predictor"]["model"]["name"]
    assert errors(broken) == ["spec.canary.0.predictor.model: 'name' is a required property"]


def test_modes_old_names_and_traffic_from_status():
    assert [m.normalize_mode(x) for x in ("Serverless", "RawDeployment", "knative", "Standard", "", None)] == [
        "Knative", "Standard", "Knative", "Standard", None, None]
    obj = iris("Knative")
    obj["status"] = {"components": {"predictor": {"traffic": [{"percent": 80, "revisionName": "iris-predictor-00001"},
                                                              {"percent": 20, "tag": "latest", "revisionName": "iris-predictor-00002"}]}}}
    assert m.traffic(obj) == "80% iris-predictor-00001 / 20% latest"
    sa = m.service_account("kf-store-s3", "team-a", "s3-creds", {})
    assert sa["secrets"] == [{"name": "s3-creds"}]
