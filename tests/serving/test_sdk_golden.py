"""Our InferenceServices against the official KServe SDK's (kserve==0.21.0), field by field.

The golden bodies (tests/data/sdk_golden/serving_*.json, made by generate_serving_notebook.py with the SDK's
model classes and its ApiClient) are compared with what ``kf.deploy`` really sends to the cluster (the
emulator's recorded request), for the same request. Every difference must be listed below with its
reason, and every listed difference must still occur. The SDK is not needed to run this."""
import json
import re
from pathlib import Path

import pytest

from jupyter_kf import config
from jupyter_kf.serving import api
from tests.support.golden import differences

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "sdk_golden"
CASES = sorted(p.stem.removeprefix("serving_") for p in GOLDEN.glob("serving_*.json"))
SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")

INTENDED = {  # path pattern -> why ours differs from the SDK's body
    r"metadata\.labels\..*": "ours labels what jupyter_kf made (managed-by, model, user) to find and list it again",
    r"metadata\.annotations\.jupyter-kf\.io/model-versions":
        "ours records each version (format, protocol, files) so promote and rollback need nothing but the object",
    r"spec\.predictor\.model\.name":
        "the SDK's ModelSpec always serialises name: '' (its required field); ours leaves it out, the same to KServe, "
        "whose webhook refuses only a non-empty name on the stable predictor",
    r"spec\.(predictor|canary\[0\]\.predictor)\.model\.protocolVersion":
        "ours states the protocol it will call the model with (v1 or v2); the SDK leaves the runtime's default",
    r"spec\.predictor\.name":
        "ours names a Standard predictor when it is created (v1): KServe's webhook refuses naming it later without a "
        "model change, and a Standard canary needs it named",
}


def reason(path: str) -> str | None:
    return next((why for pattern, why in INTENDED.items() if re.fullmatch(pattern, path)), None)


@pytest.fixture
def cluster(kf_cluster, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "ana")
    return kf_cluster


def ours_for(cluster, request: dict) -> dict:
    """The body ``kf.deploy`` sends for the request: its last write of the InferenceService."""
    cluster.create_namespace("team-a")
    config.get().serving_mode = request["mode"]
    kwargs = {k: request[k] for k in ("cpu", "memory", "gpus") if k in request}
    api.deploy(request["name"], request["model"], format=request["format"], namespace="team-a", wait=False, **kwargs)
    if request.get("canary"):
        api.deploy(request["name"], request["canary"]["model"], format=request["format"], namespace="team-a", wait=False,
                   canary=request["canary"]["percent"], **kwargs)
    write = [r for r in cluster.requests if r.resource == "inferenceservices" and r.verb in ("create", "update")][-1]
    body = json.loads(write.body) if isinstance(write.body, (str, bytes)) else write.body
    body["metadata"] = {k: v for k, v in body["metadata"].items() if k not in SERVER_FIELDS}
    return body


def load(case: str) -> dict:
    return json.loads((GOLDEN / f"serving_{case}.json").read_text())


@pytest.mark.parametrize("case", CASES)
def test_our_inferenceservice_matches_the_sdks_but_for_intended_differences(cluster, case):
    golden = load(case)
    found = differences(golden["body"], ours_for(cluster, golden["request"]))
    unexplained = {path: values for path, values in found.items() if reason(path) is None}
    assert unexplained == {}


def test_every_listed_difference_is_still_real(kf_cluster, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "ana")
    used = set()
    for case in CASES:
        kf_cluster.reset(crds="all")
        golden = load(case)
        for path in differences(golden["body"], ours_for(kf_cluster, golden["request"])):
            used |= {pattern for pattern in INTENDED if re.fullmatch(pattern, path)}
    assert sorted(set(INTENDED) - used) == []


def test_the_golden_files_say_which_sdk_made_them():
    assert len(CASES) >= 5
    assert {load(case)["sdk"] for case in CASES} == {"kserve==0.21.0"}
    assert load("canary-standard")["body"]["spec"]["canary"][0]["predictor"]["name"] == "v2"
