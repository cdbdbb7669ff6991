"""Local serving over real HTTP: KServe's V1 and V2 endpoints, canary, promote, rollback, errors, and a
server that outlives the kernel (jupyter_kf/serving/backends/local.py, local_server.py, client.py, api.py)."""
import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from jupyter_kf import processes
from jupyter_kf.serving import api
from jupyter_kf.serving.backends.local import MARKER, LocalServing
from jupyter_kf.serving.errors import ModelNotFound, PredictionError


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(X, y), DecisionTreeClassifier(max_depth=1).fit(X, y), X


@pytest.fixture
def serving():
    backend = LocalServing()
    yield backend
    for status in backend.list():  # never leave a server running
        backend.delete(status.name)


def http(method, url, body=None, token=True, headers=None):
    """A raw request, with the model server's token (read from its 0600 file) unless ``token`` says otherwise."""
    from jupyter_kf.serving.client import local_token

    token = local_token(url, "") if token is True else token
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {}),
               **(headers or {})}
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), {k.lower(): v for k, v in err.headers.items()}


def test_v1_and_v2_endpoints_speak_kserve(serving, iris):
    clf, _, X = iris
    model = api.deploy("iris", clf)
    url = model.url
    assert url.startswith("http://127.0.0.1:")
    assert http("GET", f"{url}/v2/health/live")[:2] == (200, {"live": True})
    assert http("GET", f"{url}/v2/health/ready")[:2] == (200, {"ready": True})
    assert http("GET", f"{url}/v1/models/iris")[:2] == (200, {"name": "iris", "ready": True})
    assert http("GET", f"{url}/v2/models/iris/ready")[:2] == (200, {"name": "iris", "ready": True})
    status, meta, _ = http("GET", f"{url}/v2/models/iris")
    assert status == 200 and meta["name"] == "iris" and meta["platform"] == "sklearn"
    status, reply, _ = http("POST", f"{url}/v1/models/iris:predict", {"instances": X[:3].tolist()})
    assert status == 200 and reply == {"predictions": clf.predict(X[:3]).tolist()}
    body = {"id": "42", "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": X[:2].ravel().tolist()}]}
    status, reply, _ = http("POST", f"{url}/v2/models/iris/infer", body)
    assert status == 200 and reply["id"] == "42" and reply["model_name"] == "iris"
    assert reply["outputs"][0]["shape"] == [2] and reply["outputs"][0]["datatype"] == "INT64"
    assert reply["outputs"][0]["data"] == clf.predict(X[:2]).tolist()
    assert http("GET", f"{url}/v1/models/other")[:2] == (404, {"error": "Model with name other does not exist."})
    # the Python API and the client, both protocols
    np.testing.assert_array_equal(model.predict(X[:5]), clf.predict(X[:5]))
    np.testing.assert_array_equal(model.predict(X[:5], protocol="v2"), clf.predict(X[:5]))
    np.testing.assert_array_equal(api.model("iris").predict(X[:5].tolist()), clf.predict(X[:5]))


def test_v2_deployment_and_shape_rejected_with_the_servers_message(serving, iris):
    clf, _, X = iris
    model = api.deploy("iris2", clf, protocol="v2")
    assert model.status().protocol == "v2"
    np.testing.assert_array_equal(model.predict(X[:4]), clf.predict(X[:4]))
    with pytest.raises(PredictionError) as err:
        model.predict(X[:2, :3])
    assert str(err.value) == ("model iris2 refused the request (HTTP 400): X has 3 features, but LogisticRegression "
                              "is expecting 4 features as input.")
    status, reply, _ = http("POST", f"{model.url}/v2/models/iris2/infer",
                            {"inputs": [{"name": "x", "shape": [3, 4], "datatype": "FP32", "data": [1, 2]}]})
    assert status == 400 and "cannot reshape array of size 2 into shape (3,4)" in reply["error"]


def test_canary_splits_traffic_then_promote_and_rollback(serving, iris):
    clf, stump, X = iris
    api.deploy("iris", clf)
    url = api.model("iris").url
    status = api.deploy("iris", stump, canary=30).status()
    assert (status.stable, status.canary, status.canary_percent) == ("v1", "v2", 30)
    assert status.traffic == "70% v1 / 30% v2 (canary)" and status.url == url
    seen = [http("POST", f"{url}/v1/models/iris:predict", {"instances": X[:1].tolist()})[2]["kf-model-version"]
            for _ in range(300)]
    assert 40 < seen.count("v2") < 150 and seen.count("v1") + seen.count("v2") == 300
    status = api.model("iris").rollback()
    assert status.traffic == "100% v1" and not (serving.folder("iris") / "v2").exists()
    api.deploy("iris", stump, canary=10)
    status = api.model("iris").promote()
    assert status.traffic == "100% v3" and status.url == url and not (serving.folder("iris") / "v1").exists()
    np.testing.assert_array_equal(api.model("iris").predict(X[:20]), stump.predict(X[:20]))


def test_server_outlives_the_kernel_and_is_found_again(serving, iris, tmp_path):
    clf, _, X = iris
    api.deploy("iris", clf)
    pid = json.loads((serving.folder("iris") / "server.json").read_text())["pid"]
    processes.children.clear()  # a new kernel knows nothing of the processes the old one started
    assert processes.alive(pid, MARKER)
    [status] = api.models()
    assert status.name == "iris" and status.ready and status.traffic == "100% v1"
    np.testing.assert_array_equal(api.model("iris").predict(X[:3]), clf.predict(X[:3]))
    api.undeploy("iris")
    assert not processes.alive(pid, MARKER) and api.models() == []


def test_missing_model_and_canary_without_a_deployment(serving, iris):
    with pytest.raises(ModelNotFound, match=r"^no model named 'ghost' on the local backend: %kf_models lists the deployed models$"):
        api.undeploy("ghost")
    with pytest.raises(ModelNotFound, match="--canary needs a deployed model"):
        api.deploy("iris", iris[0], canary=10)
    assert api.models() == []


def test_a_model_that_cannot_be_saved_leaves_nothing(serving):
    from jupyter_kf.serving.errors import CannotSave

    with pytest.raises(CannotSave):
        api.deploy("iris", {"not": "a model"}, format="sklearn")
    assert api.models() == [] and not serving.folder("iris").exists()


def test_uri_on_the_local_backend_is_refused(serving):
    from jupyter_kf.errors import InvalidSpec

    with pytest.raises(InvalidSpec, match="the local backend serves models from the notebook"):
        api.deploy("llm", "hf://org/model", format="huggingface")
    assert api.models() == []


def test_pytorch_model_served_locally_over_v2(serving):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(4, 2))
    model = api.deploy("net", net)
    assert model.status().protocol == "v2"
    x = np.ones((3, 4), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x), net(torch.as_tensor(x)).detach().numpy(), rtol=1e-5)


def test_onnx_model_served_locally_over_v2(serving):
    pytest.importorskip("onnxruntime")
    from tests.serving.test_formats import linear_onnx

    weights = np.eye(4, 2, dtype=np.float32)
    model = api.deploy("lin", linear_onnx(weights))
    status = model.status()
    assert (status.format, status.protocol) == ("onnx", "v2")
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(model.predict(x), x @ weights)
    from jupyter_kf.errors import InvalidSpec

    with pytest.raises(InvalidSpec, match="--protocol v1 does not fit --format onnx"):
        api.deploy("lin", linear_onnx(weights), protocol="v1")
