"""Golden request bodies for serving (KServe SDK) and notebook servers (Kubeflow Jupyter web app), for
tests/serving/test_sdk_golden.py and tests/notebooks/test_sdk_golden.py.

Serving: the InferenceService bodies the official KServe SDK's model classes (``V1beta1InferenceService``,
``V1beta1PredictorSpec``, ``V1beta1ModelSpec``, ``V1beta1CanarySpec``...) give for a few requests, written
as KServe's documentation writes them, serialised with the SDK's own ``kserve.api_client.ApiClient``
``sanitize_for_serialization``. Version: kserve==0.21.0 (recorded in each file).

Notebook servers: what the Kubeflow Notebooks v1.11.0 Jupyter web app's backend
(components/crud-web-apps/jupyter/backend, ``POST /api/namespaces/<ns>/notebooks``) creates for a few form
submissions. Its own code runs unchanged, read from a kubeflow/notebooks git checkout at the tag
(``apps/default/routes/post.py``, ``apps/common/{form,volumes,utils,status}.py``, the Notebook template and
the default ``spawner_ui_config.yaml``); only the Kubernetes API calls (captured), Flask's request and the
crud_backend helpers around it are stand-ins. The bodies are what the Angular form sends
(``form-new.component.ts`` ``getSubmitNotebook``: memory as ``<n>Gi``, ``cpuLimit``/``memoryLimit`` filled by
``calculateLimits`` as request x limitFactor 1.2 with one decimal).

Regenerate (the test suite itself never needs either):
  python3 -m venv /tmp/kservesdk && /tmp/kservesdk/bin/pip install kserve==0.21.0
  /tmp/kservesdk/bin/python tests/data/sdk_golden/generate_serving_notebook.py serving
  git clone --bare https://github.com/kubeflow/notebooks /tmp/notebooks.git
  /tmp/kservesdk/bin/python tests/data/sdk_golden/generate_serving_notebook.py notebook --git-dir /tmp/notebooks.git
"""
from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import types
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMESPACE = "team-a"
NOTEBOOKS_TAG = "v1.11.0"
CREATOR = "ana@example.com"

# The same requests as jupyter_kf arguments (kf.deploy / %kf_deploy); the test builds ours from "request".
SERVING = {
    "sklearn-uri": {"name": "iris", "model": "s3://models/iris/v1", "format": "sklearn", "mode": "Standard"},
    "sklearn-cpu-memory": {"name": "iris", "model": "s3://models/iris/v1", "format": "sklearn", "mode": "Standard",
                           "cpu": "2", "memory": "4Gi"},
    "huggingface-gpu": {"name": "llm", "model": "hf://meta-llama/Llama-3.2-1B-Instruct", "format": "huggingface",
                        "mode": "Standard", "cpu": "4", "memory": "24Gi", "gpus": 1},
    "canary-knative": {"name": "iris", "model": "s3://models/iris/v1", "format": "sklearn", "mode": "Knative",
                       "canary": {"model": "s3://models/iris/v2", "percent": 10}},
    "canary-standard": {"name": "iris", "model": "s3://models/iris/v1", "format": "sklearn", "mode": "Standard",
                        "canary": {"model": "s3://models/iris/v2", "percent": 20}},
}

# What the form sends for the same server as jupyter_kf's NotebookSpec arguments ("request").
NOTEBOOK = {
    "defaults": {
        "request": {"name": "lab", "image": "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.11.0"},
        "form": {"cpu": "0.5", "cpuLimit": "0.6", "memory": "1Gi", "memoryLimit": "1.2Gi",
                 "gpus": {"vendor": "", "num": "none"}, "workspace": "5Gi", "datavols": [], "shm": True,
                 "configurations": []},
    },
    "gpu-data-volume": {
        "request": {"name": "big-gpu", "image": "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-pytorch-cuda-full:v1.11.0",
                    "cpu": "8", "memory": "32Gi", "gpus": 1, "workspace": "50Gi", "data_volumes": ["datasets:/data"],
                    "configurations": ["access-ml-pipeline"]},
        "form": {"cpu": "8", "cpuLimit": "9.6", "memory": "32Gi", "memoryLimit": "38.4Gi",
                 "gpus": {"vendor": "nvidia.com/gpu", "num": "1"}, "workspace": "50Gi",
                 "datavols": [{"mount": "/data", "existingSource": {"persistentVolumeClaim": {"claimName": "datasets"}}}],
                 "shm": True, "configurations": ["access-ml-pipeline"]},
    },
    "existing-workspace-no-shm": {
        "request": {"name": "small", "image": "ghcr.io/kubeflow/kubeflow/notebook-servers/jupyter-scipy:v1.11.0",
                    "cpu": "1.5", "memory": "3Gi", "workspace": "pvc:shared-home", "shm": False},
        "form": {"cpu": "1.5", "cpuLimit": "1.8", "memory": "3Gi", "memoryLimit": "3.6Gi",
                 "gpus": {"vendor": "", "num": "none"},
                 "workspace": {"mount": "/home/jovyan", "existingSource": {"persistentVolumeClaim": {"claimName": "shared-home"}}},
                 "datavols": [], "shm": False, "configurations": []},
    },
}


def save(name: str, data: dict) -> None:
    path = HERE / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"wrote {path.relative_to(HERE.parents[2])}")


# -- serving: the KServe SDK's model classes -----------------------------------------------------------------
def serving_body(request: dict) -> dict:
    from kserve import (
        V1beta1CanarySpec,
        V1beta1InferenceService,
        V1beta1InferenceServiceSpec,
        V1beta1ModelFormat,
        V1beta1ModelSpec,
        V1beta1PredictorSpec,
        constants,
    )
    from kserve.api_client import ApiClient
    from kubernetes.client import V1ObjectMeta, V1ResourceRequirements

    def model(uri: str, **extra) -> V1beta1ModelSpec:
        resources = {k: v for k, v in (("cpu", request.get("cpu")), ("memory", request.get("memory"))) if v}
        if request.get("gpus"):
            resources["nvidia.com/gpu"] = str(request["gpus"])
        args = [f"--model_name={request['name']}"] if request["format"] == "huggingface" else None
        return V1beta1ModelSpec(model_format=V1beta1ModelFormat(name=request["format"]), storage_uri=uri, args=args,
                                resources=V1ResourceRequirements(requests=dict(resources), limits=dict(resources))
                                if resources else None, **extra)

    canary = request.get("canary")
    if canary and request["mode"] == "Knative":  # re-apply with the new model and a traffic percent
        predictor = V1beta1PredictorSpec(model=model(canary["model"]), canary_traffic_percent=canary["percent"])
        canaries = None
    elif canary:  # Standard (v0.20): a named stable predictor and spec.canary[]
        predictor = V1beta1PredictorSpec(name="v1", model=model(request["model"]))
        canaries = [V1beta1CanarySpec(traffic_percent=canary["percent"], predictor=V1beta1PredictorSpec(
            name="v2", model=model(canary["model"], name="kserve-container")))]
    else:
        predictor, canaries = V1beta1PredictorSpec(model=model(request["model"])), None
    isvc = V1beta1InferenceService(
        api_version=constants.KSERVE_V1BETA1, kind=constants.KSERVE_KIND_INFERENCESERVICE,
        metadata=V1ObjectMeta(name=request["name"], namespace=NAMESPACE,
                              annotations={"serving.kserve.io/deploymentMode": request["mode"]}),
        spec=V1beta1InferenceServiceSpec(predictor=predictor, canary=canaries))
    return ApiClient().sanitize_for_serialization(isvc)


def make_serving() -> None:
    for name, request in SERVING.items():
        save(f"serving_{name}", {"sdk": f"kserve=={version('kserve')}", "request": request, "body": serving_body(request)})


# -- notebook servers: the Jupyter web app's backend, run from its source ------------------------------------
BACKEND = "components/crud-web-apps/jupyter/backend/apps"
FILES = ("common/form.py", "common/volumes.py", "common/utils.py", "common/status.py", "common/yaml/notebook_template.yaml",
         "common/yaml/spawner_ui_config.yaml", "default/routes/post.py")


def _stubs(created: list, body_box: dict) -> None:
    """Stand-ins for Flask, werkzeug, cachetools and kubeflow.kubeflow.crud_backend: the parts post.py touches."""
    import yaml
    from kubernetes import client

    def module(name, **attrs):
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        sys.modules[name] = mod
        return mod

    class BadRequest(Exception):
        pass

    module("werkzeug")
    module("werkzeug.exceptions", BadRequest=BadRequest, NotFound=LookupError)
    module("werkzeug.exceptions").__dict__.update(BadRequest=BadRequest, NotFound=LookupError)
    sys.modules["werkzeug"].exceptions = sys.modules["werkzeug.exceptions"]
    module("flask", request=types.SimpleNamespace(get_json=lambda: body_box["body"]))
    module("cachetools")
    module("cachetools.func", ttl_cache=lambda ttl: (lambda fn: fn))

    def load_yaml(path):
        try:
            text = Path(path).read_text()
        except OSError:
            return None
        return yaml.safe_load(text) or {}

    def load_param_yaml(path, **kwargs):
        return yaml.safe_load(Path(path).read_text().format(**kwargs)) or {}

    def deserialize(data, kind):  # crud_backend.api.utils.deserialize
        return client.ApiClient()._ApiClient__deserialize(data, kind)

    def create_notebook(notebook, namespace, dry_run=False):
        if not dry_run:
            created.append({"kind": "Notebook", "namespace": namespace, "body": notebook})

    def create_pvc(pvc, namespace, dry_run=False):
        if not dry_run:
            created.append({"kind": "PersistentVolumeClaim", "namespace": namespace,
                            "body": client.ApiClient().sanitize_for_serialization(pvc)})
        return pvc

    api = types.SimpleNamespace(create_notebook=create_notebook, create_pvc=create_pvc, deserialize=deserialize,
                                success_response=lambda *a: None, list_notebook_events=lambda *a: [])
    def passthrough(*args, **kwargs):
        return lambda fn: fn
    crud = {"api": api, "helpers": types.SimpleNamespace(load_yaml=load_yaml, load_param_yaml=load_param_yaml),
            "logging": __import__("logging"), "authn": types.SimpleNamespace(get_username=lambda: CREATOR),
            "decorators": types.SimpleNamespace(request_is_json_type=lambda fn: fn, required_body_params=passthrough),
            "status": types.SimpleNamespace(STATUS_PHASE=None, create_status=lambda *a: None)}
    module("kubeflow")
    module("kubeflow.kubeflow")
    module("kubeflow.kubeflow.crud_backend", **crud)


def notebook_bodies(git_dir: str) -> dict:
    created: list = []
    body_box: dict = {}
    _stubs(created, body_box)
    root = Path(tempfile.mkdtemp(prefix="jwa-"))
    for rel in FILES:
        target = root / "apps" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(subprocess.run(["git", "--git-dir", git_dir, "show", f"{NOTEBOOKS_TAG}:{BACKEND}/{rel}"],
                                          check=True, capture_output=True).stdout)
    for package in ("apps", "apps/common", "apps/default"):
        (root / package / "__init__.py").touch()
    (root / "apps/default/routes/__init__.py").write_text(
        "class _Blueprint:\n    def route(self, *a, **k):\n        return lambda fn: fn\n\nbp = _Blueprint()\n")
    sys.path.insert(0, str(root))
    post = importlib.import_module("apps.default.routes.post")
    out = {}
    for name, case in NOTEBOOK.items():
        form = dict(case["form"])
        workspace = form.pop("workspace")
        if isinstance(workspace, str):  # the form's default: a new claim named after the server
            workspace = {"mount": "/home/jovyan", "newPvc": {
                "metadata": {"name": f"{case['request']['name']}-workspace"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": workspace}}}}}
        body_box["body"] = {"name": case["request"]["name"], "namespace": NAMESPACE, "image": case["request"]["image"],
                            "imagePullPolicy": "IfNotPresent", "customImage": "", "customImageCheck": False,
                            "serverType": "jupyter", "affinityConfig": "", "tolerationGroup": "", "workspace": workspace,
                            **form}
        created.clear()
        post.post_pvc(NAMESPACE)
        out[name] = {"form": body_box["body"], "created": list(created)}
    return out


def make_notebook(git_dir: str) -> None:
    commit = subprocess.run(["git", "--git-dir", git_dir, "rev-parse", f"{NOTEBOOKS_TAG}^{{commit}}"], check=True,
                            capture_output=True, text=True).stdout.strip()
    for name, result in notebook_bodies(git_dir).items():
        save(f"notebook_{name}", {"sdk": f"kubeflow/notebooks {NOTEBOOKS_TAG} ({commit[:8]}) jupyter web app backend",
                                  "request": NOTEBOOK[name]["request"], **result})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("serving", "notebook"))
    parser.add_argument("--git-dir", help="a kubeflow/notebooks git directory (for notebook)")
    args = parser.parse_args()
    if args.what == "serving":
        make_serving()
    elif not args.git_dir:
        parser.error("notebook needs --git-dir (a kubeflow/notebooks clone)")
    else:
        make_notebook(args.git_dir)
