"""jupyter_kf: notebook cells as Kubernetes/Kubeflow jobs, from JupyterLab.

``%load_ext jupyter_kf`` registers the magics; ``import jupyter_kf as kf`` gives the Python API.
Heavy modules load on first use so that both stay fast.
"""
__version__ = "0.1.0"

_API = ("train", "jobs", "job", "Job")
_SUBPACKAGES = ("notebooks", "pipeline")
_SERVING = ("deploy", "model", "models", "undeploy")  # jupyter_kf.serving.api
_EXPERIMENTS = ("tune", "experiment", "experiments")  # jupyter_kf.experiments.api
_COMPARE = ("compare",)  # jupyter_kf.experiments.compare


def __getattr__(name):
    if name in _SERVING:
        from jupyter_kf.serving import api as serving_api

        return getattr(serving_api, name)
    if name in _EXPERIMENTS:
        from jupyter_kf.experiments import api as experiments_api

        return getattr(experiments_api, name)
    if name in _COMPARE:
        from jupyter_kf.experiments import compare as compare_api

        return getattr(compare_api, name)
    if name in _API:
        from jupyter_kf.training import api

        return getattr(api, name)
    if name in _SUBPACKAGES:  # kf.notebooks, kf.pipeline: imported on first use
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name == "data":  # kf.data: the datasets domain
        import importlib

        return importlib.import_module(".datasets", __name__)
    raise AttributeError(f"module 'jupyter_kf' has no attribute {name!r}")


def load_ipython_extension(ipython):
    from jupyter_kf.magics import load_ipython_extension as load

    load(ipython)


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyter-kf"}]


def _jupyter_server_extension_points():
    return [{"module": "jupyter_kf.server"}]
