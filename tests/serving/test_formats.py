"""Saving models in their framework's own format, and the one-line refusals (jupyter_kf/serving/formats.py, spec.py)."""
import joblib
import numpy as np
import pytest

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.serving import formats
from jupyter_kf.serving.errors import CannotSave
from jupyter_kf.serving.spec import ServingSpec


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(X, y), X


def test_sklearn_saved_as_joblib_loads_and_predicts(iris, tmp_path):
    clf, X = iris
    assert formats.detect_format(clf) == "sklearn"
    assert formats.save(clf, "sklearn", tmp_path, "iris") == "model.joblib"
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").predict(X[:5]), clf.predict(X[:5]))
    predict = formats.load("sklearn", tmp_path / "model.joblib")
    np.testing.assert_array_equal(predict(X[:5]), clf.predict(X[:5]))


def test_pipeline_is_sklearn(iris):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    assert formats.detect_format(make_pipeline(StandardScaler(), iris[0])) == "sklearn"


def test_pytorch_saved_as_torchscript_in_triton_layout(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    assert formats.detect_format(net) == "pytorch"
    assert formats.save(net, "pytorch", tmp_path, "net") == "net/1/model.pt"
    assert 'platform: "pytorch_libtorch"' in (tmp_path / "net/config.pbtxt").read_text()
    x = np.ones((2, 4), dtype=np.float32)
    out = formats.load("pytorch", tmp_path / "net/1/model.pt")(x)
    np.testing.assert_allclose(out, net(torch.as_tensor(x)).detach().numpy(), rtol=1e-5)


@pytest.mark.parametrize("fmt", ["xgboost", "lightgbm", "onnx"])  # TensorFlow: written, not installed here (500 MB)
def test_other_frameworks(fmt, tmp_path, iris):
    X, y = iris[1], iris[0].predict(iris[1])
    if fmt == "xgboost":
        import xgboost

        model = xgboost.XGBClassifier(n_estimators=3).fit(X, y)
    elif fmt == "lightgbm":
        import lightgbm

        model = lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y)
    else:
        model = linear_onnx(np.arange(12, dtype=np.float32).reshape(4, 3))
    rel = formats.save(model, fmt, tmp_path, "m")
    assert rel == {"xgboost": "model.bst", "lightgbm": "model.bst", "onnx": "m/1/model.onnx"}[fmt]
    out = formats.load(fmt, tmp_path / rel)(X[:3])
    assert out.shape[0] == 3
    if fmt == "onnx":
        np.testing.assert_allclose(out, X[:3].astype(np.float32) @ np.arange(12, dtype=np.float32).reshape(4, 3), rtol=1e-5)


def linear_onnx(weights):
    """A tiny ONNX graph (y = x @ W), as an exporter would produce one."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input-0", "W"], ["output-0"])], "linear",
        [helper.make_tensor_value_info("input-0", TensorProto.FLOAT, [None, weights.shape[0]])],
        [helper.make_tensor_value_info("output-0", TensorProto.FLOAT, [None, weights.shape[1]])],
        [numpy_helper.from_array(weights, "W")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_object_of_another_framework_is_refused_with_a_hint(iris, tmp_path):
    pytest.importorskip("torch")
    with pytest.raises(CannotSave) as err:
        formats.save(iris[0], "pytorch", tmp_path, "iris", "clf")
    assert str(err.value) == ("clf (LogisticRegression) cannot be saved as pytorch: it is not a torch.nn.Module; "
                              "it looks like a sklearn model: use --format sklearn")
    assert list(tmp_path.iterdir()) == []


class Holder:
    def __init__(self):
        self.lock = __import__("threading").Lock()

    def predict(self, x):
        return x


def test_object_without_predict_or_unpicklable_is_refused(tmp_path):
    with pytest.raises(CannotSave, match=r"^thing \(dict\) cannot be saved as sklearn: it is not an estimator with a predict\(\) method$"):
        formats.save({}, "sklearn", tmp_path, "m", "thing")

    with pytest.raises(CannotSave, match=r"^h \(Holder\) cannot be saved as sklearn: it cannot be pickled \(TypeError: cannot pickle"):
        formats.save(Holder(), "sklearn", tmp_path, "m", "h")
    Holder.__module__ = "__main__"
    try:
        with pytest.raises(CannotSave, match=r"its class Holder is defined in the notebook"):
            formats.save(Holder.__new__(Holder), "sklearn", tmp_path, "m", "h")
    finally:
        Holder.__module__ = __name__
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_and_undetectable_object():
    with pytest.raises(InvalidSpec, match=r"^--format 'pickle' is unknown: use one of sklearn, xgboost, lightgbm, pytorch, onnx, tensorflow, huggingface$"):
        ServingSpec.create("iris", format="pickle")
    with pytest.raises(CannotSave, match=r"^cannot tell the format of clf \(object\): pass --format"):
        formats.detect_format(object(), "clf")


def test_huggingface_needs_a_uri(tmp_path):
    with pytest.raises(CannotSave, match="huggingface models are deployed from a URI"):
        formats.save(object(), "huggingface", tmp_path, "llm")


@pytest.mark.parametrize("kwargs,message", [
    ({"uri": "ftp://x/y"}, "--model 'ftp://x/y' is not a model URI: use s3://, gs://, pvc://, hf://, oci://, http://, https://"),
    ({"protocol": "v3"}, "--protocol 'v3' is unknown: use v1 (KServe V1) or v2 (Open Inference Protocol)"),
    ({"format": "onnx", "protocol": "v1"}, "--protocol v1 does not fit --format onnx: it is served by Triton, which speaks only v2"),
    ({"canary": 100}, "--canary 100 is too large: use a traffic percent from 1 to 99"),
    ({"min_replicas": 3, "max_replicas": 2}, "--min-replicas 3 is more than --max-replicas 2: use min <= max"),
    ({"memory": "1GB"}, "--memory '1GB' is not a Kubernetes quantity (Kubernetes writes gigabytes as 1Gi or 1G, not 1GB)"),
    ({"uri": "pvc://Bad_Claim/x"}, "volume claim name in pvc://CLAIM/PATH 'Bad_Claim' is invalid"),
])
def test_bad_flags_are_one_line(kwargs, message):
    with pytest.raises(InvalidSpec) as err:
        ServingSpec.create("iris", **kwargs)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_uris_are_kept_as_given():
    for uri in ("s3://b/m", "gs://b/m", "pvc://claim/models/iris", "hf://org/model", "oci://reg/m:1", "https://h/m.joblib"):
        assert ServingSpec.create("m", uri=uri).uri == uri
