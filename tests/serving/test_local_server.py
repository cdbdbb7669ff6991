"""The local model server's V2 replies name each output's real datatype (jupyter_kf/serving/local_server.py)."""
import json
import urllib.request

import numpy as np
import pytest

from jupyter_kf.serving import api
from jupyter_kf.serving.backends.local import LocalServing
from jupyter_kf.serving.client import local_token
from jupyter_kf.serving.local_server import v2_datatype


@pytest.mark.parametrize("dtype, name", [(np.float16, "FP16"), (np.float32, "FP32"), (np.float64, "FP64"),
                                         (np.int32, "INT32"), (np.uint8, "UINT8"), (np.bool_, "BOOL"),
                                         (np.str_, "BYTES")])
def test_v2_datatype_names_the_dtype(dtype, name):
    assert v2_datatype(np.zeros(2, dtype=dtype)) == name


@pytest.fixture
def serving():
    backend = LocalServing()
    yield backend
    for status in backend.list():  # never leave a server running
        backend.delete(status.name)


def test_a_regressor_over_v2_answers_fp64(serving):
    from sklearn.linear_model import LinearRegression

    X = np.arange(12.0).reshape(6, 2)
    reg = LinearRegression().fit(X, X @ [0.1, 1 / 3] + 0.7)
    model = api.deploy("reg", reg)
    body = {"inputs": [{"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": X[:2].ravel().tolist()}]}
    req = urllib.request.Request(f"{model.url}/v2/models/reg/infer", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {local_token(model.url, 'reg')}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        out = json.loads(resp.read())["outputs"][0]
    assert out["datatype"] == "FP64" and out["shape"] == [2]
    assert out["data"] == reg.predict(X[:2]).tolist()
    np.testing.assert_array_equal(model.predict(X[:3], protocol="v2"), reg.predict(X[:3]))  # no float32 round trip
