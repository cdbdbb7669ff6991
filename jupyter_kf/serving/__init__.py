"""Model serving: KServe InferenceServices on a cluster, a V1/V2 model server on this machine.

``kf.deploy(name, model)``, ``kf.model(name).predict(X)``, ``kf.models()``, ``kf.undeploy(name)``. Nothing
heavy (numpy, sklearn, kubernetes) is imported until one of them is called.
"""
_API = ("deploy", "model", "models", "undeploy", "Model")


def __getattr__(name):
    if name in _API:
        from jupyter_kf.serving import api

        return getattr(api, name)
    raise AttributeError(f"module 'jupyter_kf.serving' has no attribute {name!r}")
