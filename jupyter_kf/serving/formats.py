"""Models saved in their framework's own format, laid out as KServe's runtime for it expects, and loaded
again for local serving. Every framework is imported only when a model of it is saved or served.

| format     | written                                 | KServe runtime                   |
|------------|-----------------------------------------|----------------------------------|
| sklearn    | model.joblib                            | kserve-sklearnserver (v1, v2)    |
| xgboost    | model.bst (XGBoost's own format)        | kserve-xgbserver (v1, v2)        |
| lightgbm   | model.bst                               | kserve-lgbserver (v1, v2)        |
| pytorch    | <name>/1/model.pt (TorchScript) + config.pbtxt | kserve-tritonserver (v2)  |
| onnx       | <name>/1/model.onnx                     | kserve-tritonserver (v2)         |
| tensorflow | 1/ (SavedModel)                         | kserve-tensorflow-serving (v1)   |
"""
from __future__ import annotations

import importlib
import pickle
import warnings
from pathlib import Path

from jupyter_kf.serving.errors import CannotSave
from jupyter_kf.serving.spec import FORMATS

SAVEABLE = ("sklearn", "xgboost", "lightgbm", "pytorch", "onnx", "tensorflow")
_MODULE_FORMAT = {"sklearn": "sklearn", "xgboost": "xgboost", "lightgbm": "lightgbm", "torch": "pytorch",
                  "onnx": "onnx", "keras": "tensorflow", "tensorflow": "tensorflow", "tf_keras": "tensorflow",
                  "imblearn": "sklearn"}
PIP_NAME = {"sklearn": "scikit-learn", "xgboost": "xgboost", "lightgbm": "lightgbm", "pytorch": "torch",
            "onnx": "onnxruntime", "tensorflow": "tensorflow"}


def describe(obj) -> str:
    return type(obj).__name__


def detect_format(obj, what: str = "the model") -> str:
    """The format an in-memory model is saved in, from the package that defines its class."""
    for klass in type(obj).__mro__:
        root = (klass.__module__ or "").split(".")[0]
        if root in _MODULE_FORMAT:
            return _MODULE_FORMAT[root]
    raise CannotSave(f"cannot tell the format of {what} ({describe(obj)}): pass --format, one of {', '.join(SAVEABLE)}")


def _need(module: str, fmt: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise CannotSave(f"the {fmt} format needs the {PIP_NAME[fmt]} package, which is not installed here: "
                         f"pip install {PIP_NAME[fmt]}") from None


def _is(obj, module_root: str) -> bool:
    return any((k.__module__ or "").split(".")[0] == module_root for k in type(obj).__mro__)


def save(obj, fmt: str, folder: Path, name: str, what: str = "the model") -> str:
    """Write ``obj`` under ``folder`` in ``fmt``; returns the path of the main file, relative to ``folder``.

    ``folder`` is what the storage URI points at. Raises CannotSave (one line) and leaves the folder empty."""
    if fmt not in FORMATS:
        raise CannotSave(f"--format {fmt!r} is unknown: use one of {', '.join(FORMATS)}")
    if fmt not in SAVEABLE:
        raise CannotSave(
            f"{fmt} models are deployed from a URI (e.g. --model hf://org/model), not from a notebook object"
        )
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _SAVERS[fmt](obj, folder, name, what)
    except CannotSave:
        _empty(folder)
        raise
    except Exception as err:  # the framework's own refusal, as one line
        _empty(folder)
        reason = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        raise CannotSave(f"{what} ({describe(obj)}) cannot be saved as {fmt}: {type(err).__name__}: {reason}") from None


def _empty(folder: Path) -> None:
    import shutil

    for child in folder.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


def _mismatch(obj, fmt: str, what: str, expected: str) -> CannotSave:
    return CannotSave(f"{what} ({describe(obj)}) cannot be saved as {fmt}: it is not {expected}"
                      + (f"; it looks like a {detect_format(obj)} model: use --format {detect_format(obj)}"
                         if _guess(obj) not in (None, fmt) else ""))


def _guess(obj) -> str | None:
    try:
        return detect_format(obj)
    except CannotSave:
        return None


def _save_sklearn(obj, folder: Path, name: str, what: str) -> str:
    if not callable(getattr(obj, "predict", None)):
        raise _mismatch(obj, "sklearn", what, "an estimator with a predict() method")
    joblib = _need("joblib", "sklearn")
    if type(obj).__module__ == "__main__":
        raise CannotSave(
            f"{what} ({describe(obj)}) cannot be saved as sklearn: its class {describe(obj)} is defined in the "
            "notebook, which a model server cannot import; move the class into a module next to the notebook"
        )
    try:
        pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as err:
        raise CannotSave(f"{what} ({describe(obj)}) cannot be saved as sklearn: it cannot be pickled "
                         f"({type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''})") from None
    joblib.dump(obj, folder / "model.joblib")
    return "model.joblib"


def _save_xgboost(obj, folder: Path, name: str, what: str) -> str:
    if not _is(obj, "xgboost"):
        raise _mismatch(obj, "xgboost", what, "an XGBoost Booster or XGBModel")
    booster = obj.get_booster() if hasattr(obj, "get_booster") else obj
    booster.save_model(str(folder / "model.bst"))
    return "model.bst"


def _save_lightgbm(obj, folder: Path, name: str, what: str) -> str:
    if not _is(obj, "lightgbm"):
        raise _mismatch(obj, "lightgbm", what, "a LightGBM Booster or LGBMModel")
    booster = obj.booster_ if hasattr(obj, "booster_") else obj
    booster.save_model(str(folder / "model.bst"))
    return "model.bst"


TRITON_PYTORCH_CONFIG = """name: "{name}"
platform: "pytorch_libtorch"
max_batch_size: 0
input [ {{ name: "INPUT__0" data_type: TYPE_FP32 dims: [ -1, -1 ] }} ]
output [ {{ name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ -1, -1 ] }} ]
"""


def _save_pytorch(obj, folder: Path, name: str, what: str) -> str:
    torch = _need("torch", "pytorch")
    if not isinstance(obj, torch.nn.Module):
        raise _mismatch(obj, "pytorch", what, "a torch.nn.Module")
    target = folder / name / "1"
    target.mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # torch.jit is deprecated in favour of torch.export, which Triton cannot load yet
        scripted = obj if isinstance(obj, torch.jit.ScriptModule) else torch.jit.script(obj.eval())
        scripted.save(str(target / "model.pt"))
    (folder / name / "config.pbtxt").write_text(TRITON_PYTORCH_CONFIG.format(name=name))
    return f"{name}/1/model.pt"


def _save_onnx(obj, folder: Path, name: str, what: str) -> str:
    if not (_is(obj, "onnx") and hasattr(obj, "SerializeToString")):
        raise _mismatch(obj, "onnx", what, "an onnx.ModelProto (export it first, e.g. torch.onnx.export)")
    target = folder / name / "1"
    target.mkdir(parents=True)
    (target / "model.onnx").write_bytes(obj.SerializeToString())
    return f"{name}/1/model.onnx"


def _save_tensorflow(obj, folder: Path, name: str, what: str) -> str:
    if not _is(obj, "keras") and not _is(obj, "tensorflow") and not _is(obj, "tf_keras"):
        raise _mismatch(obj, "tensorflow", what, "a Keras model or tf.Module")
    tf = _need("tensorflow", "tensorflow")
    tf.saved_model.save(obj, str(folder / "1"))
    return "1/saved_model.pb"


_SAVERS = {"sklearn": _save_sklearn, "xgboost": _save_xgboost, "lightgbm": _save_lightgbm, "pytorch": _save_pytorch,
           "onnx": _save_onnx, "tensorflow": _save_tensorflow}


# -- loading, for the local model server ------------------------------------------------------------
def load(fmt: str, path: Path):
    """A predict function (numpy array in, numpy array out) for a model saved by ``save``."""
    import numpy as np

    if fmt == "sklearn":
        model = _need("joblib", "sklearn").load(path)
        return lambda x: np.asarray(model.predict(x))
    if fmt == "xgboost":
        xgb = _need("xgboost", "xgboost")
        booster = xgb.Booster(model_file=str(path))
        return lambda x: np.asarray(booster.predict(xgb.DMatrix(x)))
    if fmt == "lightgbm":
        booster = _need("lightgbm", "lightgbm").Booster(model_file=str(path))
        return lambda x: np.asarray(booster.predict(x))
    if fmt == "pytorch":
        torch = _need("torch", "pytorch")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated in favour of torch.export, which Triton cannot serve yet
            module = torch.jit.load(str(path)).eval()

        def predict(x):
            with torch.no_grad():
                return module(torch.as_tensor(np.asarray(x, dtype=np.float32))).numpy()
        return predict
    if fmt == "onnx":
        ort = _need("onnxruntime", "onnx")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        return lambda x: np.asarray(session.run(None, {input_name: np.asarray(x, dtype=np.float32)})[0])
    if fmt == "tensorflow":
        tf = _need("tensorflow", "tensorflow")
        loaded = tf.saved_model.load(str(Path(path).parent))
        fn = loaded.signatures["serving_default"]

        def predict(x):
            out = fn(tf.constant(np.asarray(x, dtype=np.float32)))
            return np.asarray(next(iter(out.values())))
        return predict
    raise CannotSave(f"the local backend cannot serve {fmt} models: deploy it on a cluster (--backend kubernetes)")
