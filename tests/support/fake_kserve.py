"""Plays KServe v0.20's InferenceService controller (and the Deployment controller and kubelet under it)
on the Kubernetes emulator, so the serving tests read the status objects KServe really writes.

Written from kserve/kserve at v0.20.0 (1fb78105): ``pkg/controller/v1beta1/inferenceservice/controller.go``
(order of reconcile, the Stopped condition), ``components/predictor.go`` (stable and canary Deployments,
``CanaryPredictorReady``, ``canaryStatuses``), ``utils.MergeRuntimeContainers`` (the ServingRuntime's
container merged *under* the InferenceService's), ``inference_service_status.go`` (``PropagateRawStatus``,
which copies ``observedGeneration`` from the stable Deployment, and ``PropagateStatus`` for Knative, which
copies the Knative Service's), ``reconcilers/knative/ksvc_reconciler.go`` (canary traffic) and the stock
runtimes in ``config/runtimes``.

Standard mode makes real Deployments through the emulator's API (the official client over HTTP), so the
apiserver's validation applies to what KServe builds: a CPU request above the runtime's CPU limit is the
422 Kubernetes answers, and KServe reports it as ``PredictorReady=False/ReconcileFailed``. Knative mode
keeps the Knative Service in memory (Knative Serving's CRDs are not installed) and writes what KServe
copies from its status. Not played: finalizers, the ingress objects, the storage initializer.
"""
from __future__ import annotations

import copy
import json

from tests.support.k8s_emulator.meta import rfc3339

G, V, P = "serving.kserve.io", "v1beta1", "inferenceservices"
STOP = "serving.kserve.io/stop"
MODE = "serving.kserve.io/deploymentMode"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
FRAMEWORKS = ("sklearn", "xgboost", "tensorflow", "pytorch", "triton", "onnx", "huggingface", "pmml", "lightgbm", "paddle")
_STOCK = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}
# config/runtimes at v0.20.0: the container each stock ClusterServingRuntime puts under the model's
RUNTIMES = {
    "kserve-sklearnserver": ({"sklearn"}, {"image": "kserve/sklearnserver:v0.20.0", "resources": _STOCK,
                                           "args": ["--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080"]}),
    "kserve-xgbserver": ({"xgboost"}, {"image": "kserve/xgbserver:v0.20.0", "resources": _STOCK,
                                       "args": ["--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080",
                                                "--nthread=1"]}),
    "kserve-lgbserver": ({"lightgbm"}, {"image": "kserve/lgbserver:v0.20.0", "resources": _STOCK,
                                        "args": ["--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080",
                                                 "--nthread=1"]}),
    "kserve-huggingfaceserver": ({"huggingface"}, {"image": "kserve/huggingfaceserver:v0.20.0", "resources": _STOCK,
                                                   "args": ["--model_name={{.Name}}"]}),
    "kserve-tensorflow-serving": ({"tensorflow"}, {"image": "tensorflow/serving:2.6.2", "resources": _STOCK,
                                                   "args": ["--model_name={{.Name}}", "--port=9000", "--rest_api_port=8080",
                                                            "--model_base_path=/mnt/models"]}),
    "kserve-torchserve": ({"pytorch"}, {"image": "pytorch/torchserve-kfs:0.9.0", "resources": _STOCK,
                                        "args": ["torchserve", "--start", "--model-store=/mnt/models/model-store"]}),
    "kserve-tritonserver": ({"onnx", "tensorrt", "tensorflow", "pytorch", "triton"},
                            {"image": "nvcr.io/nvidia/tritonserver:23.05-py3", "resources": _STOCK,
                             "args": ["tritonserver", "--model-store=/mnt/models", "--grpc-port=9000", "--http-port=8080"]}),
}
AUTO_SELECT = {"sklearn": "kserve-sklearnserver", "xgboost": "kserve-xgbserver", "lightgbm": "kserve-lgbserver",
               "huggingface": "kserve-huggingfaceserver", "tensorflow": "kserve-tensorflow-serving",
               "pytorch": "kserve-torchserve", "onnx": "kserve-tritonserver", "triton": "kserve-tritonserver"}


def predictor_service_name(isvc: str, predictor: str = "") -> str:
    """``constants.PredictorServiceName``: ``<isvc>-<name>-predictor``, or ``<isvc>-predictor`` unnamed."""
    return f"{isvc}-{predictor}-predictor" if predictor else f"{isvc}-predictor"


def mount_model(pod: dict, storage_uri: str) -> None:
    """The stock runtimes' port (8080) and, for ``pvc://CLAIM/PATH``, the claim mounted read-only at /mnt/models
    (KServe's storage initializer mounts PVCs instead of copying; other URIs need the initializer, not played)."""
    container = pod["containers"][0]
    container.setdefault("ports", [{"containerPort": 8080, "protocol": "TCP"}])
    container.setdefault("readinessProbe", {"tcpSocket": {"port": 8080}})  # ready once the server listens
    if storage_uri.startswith("pvc://"):
        claim, _, path = storage_uri[len("pvc://"):].partition("/")
        pod["volumes"] = [{"name": "kserve-pvc-source", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}]
        container["volumeMounts"] = [{"name": "kserve-pvc-source", "mountPath": "/mnt/models", "subPath": path,
                                      "readOnly": True}]


def merge_container(runtime: dict, ours: dict) -> dict:
    """``MergeRuntimeContainers``: a strategic merge of our container over the runtime's (resources merged
    key by key, env by name), args concatenated runtime first."""
    merged = copy.deepcopy(runtime)
    for key, value in ours.items():
        if key == "resources":
            for part in ("requests", "limits"):
                if value.get(part):
                    merged.setdefault("resources", {}).setdefault(part, {}).update(value[part])
        elif key == "env":
            by_name = {e["name"]: e for e in merged.get("env", [])}
            by_name.update({e["name"]: e for e in value})
            merged["env"] = list(by_name.values())
        elif key != "args":
            merged[key] = copy.deepcopy(value)
    merged["args"] = list(runtime.get("args", [])) + list(ours.get("args", []))
    return merged


def derivative(desired, existing) -> bool:
    """``equality.Semantic.DeepDerivative``: every field we set has that value (the server's defaults aside)."""
    if isinstance(desired, dict):
        return isinstance(existing, dict) and all(derivative(v, existing.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        return isinstance(existing, list) and len(desired) == len(existing) and all(map(derivative, desired, existing))
    return desired == existing


class ConditionSet:
    """knative.dev/pkg's living condition set as KServe uses it: ``Ready`` follows PredictorReady and
    IngressReady (the first False one gives it its reason); other conditions leave it alone."""

    DEPENDENTS = ("PredictorReady", "IngressReady")

    def __init__(self, conditions: list | None = None):
        self.items = {c["type"]: dict(c) for c in conditions or []}

    def set(self, ctype: str, status: str, reason: str = "", message: str = "") -> None:
        old = self.items.get(ctype)
        cond = {"type": ctype, "status": status}
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message
        if ctype in ("Stopped", "CanaryPredictorReady", "LatestDeploymentReady", "RoutesReady") \
                or ctype.endswith(("RouteReady", "ConfigurationReady")):
            cond["severity"] = "Info"
        cond["lastTransitionTime"] = old["lastTransitionTime"] if old and old["status"] == status else rfc3339()
        self.items[ctype] = cond
        if ctype in self.DEPENDENTS:
            self._ready()

    def clear(self, ctype: str) -> None:
        self.items.pop(ctype, None)

    def _ready(self) -> None:
        deps = [self.items.get(t) for t in self.DEPENDENTS]
        false = [c for c in deps if c and c["status"] == "False"]
        if false:
            self.set("Ready", "False", false[0].get("reason", ""), false[0].get("message", ""))
        elif all(c and c["status"] == "True" for c in deps):
            self.set("Ready", "True")
        else:
            unknown = next((c for c in deps if c and c["status"] == "Unknown"), None) or {}
            self.set("Ready", "Unknown", unknown.get("reason", ""), unknown.get("message", ""))

    def to_list(self) -> list:
        return sorted(self.items.values(), key=lambda c: c["type"])


class FakeKServe:
    """``reconcile(name)`` after each write of the code under test, ``roll_out(deployment)`` when its pods
    are up, ``crash(deployment)`` when they keep failing."""

    def __init__(self, emu, namespace: str = "default", default_mode: str = "Standard", url=None,
                 simulated: bool = False):
        self.emu = emu
        self.namespace = namespace
        self.default_mode = default_mode
        self.url = url  # where the model answers (tests point it at a real server on loopback); or url(name)
        # simulated: the emulator's simulating mode runs the Deployments (its controller and kubelet), so this
        # only writes them, with what KServe's pod mutator adds: the runtime's port, a pvc:// model mounted
        self.simulated = simulated
        self.ksvc: dict[str, dict] = {}  # Knative Services, by InferenceService name

    # -- the official client, as a controller talks to the apiserver ------------------------------
    def _apps(self):
        from kubernetes import client

        return client.AppsV1Api(client.ApiClient(self.emu.client_configuration()))

    def _write_deployment(self, body: dict) -> str | None:
        """Create or replace; the apiserver's refusal as the error text KServe wraps, else None."""
        from kubernetes.client.rest import ApiException

        name = body["metadata"]["name"]
        apps = self._apps()
        current = self.emu.get_object("apps", "v1", "deployments", self.namespace, name)
        try:
            if current is None:
                apps.create_namespaced_deployment(self.namespace, body)
            elif not derivative(body["spec"], current["spec"]):
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                apps.replace_namespaced_deployment(name, self.namespace, body)
            else:
                return None
        except ApiException as err:
            return json.loads(err.body)["message"]
        finally:
            apps.api_client.close()
        if not self.simulated:
            self._deployment_controller(name)
        return None

    # -- the Deployment controller and the kubelet ----------------------------------------------
    def _deployment_controller(self, name: str) -> None:
        """A new template: a new ReplicaSet progressing; old pods (if any) keep it Available."""
        dep = self.emu.get_object("apps", "v1", "deployments", self.namespace, name)
        old = dep.get("status") or {}
        replicas = dep["spec"].get("replicas", 1)
        now = rfc3339()
        available = [c for c in old.get("conditions") or [] if c["type"] == "Available"]
        status = {"observedGeneration": dep["metadata"]["generation"], "replicas": replicas, "updatedReplicas": 0,
                  "readyReplicas": old.get("readyReplicas", 0), "availableReplicas": old.get("availableReplicas", 0),
                  "conditions": (available or [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                                                "message": "Deployment does not have minimum availability.",
                                                "lastUpdateTime": now, "lastTransitionTime": now}])
                  + [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated" if available else "NewReplicaSetCreated",
                      "message": f'ReplicaSet "{name}-{dep["metadata"]["generation"]:x}f5c7d" is progressing.',
                      "lastUpdateTime": now, "lastTransitionTime": now}]}
        self.emu.set_status("apps", "v1", "deployments", self.namespace, name, status)
        labels = dep["spec"]["template"]["metadata"]["labels"]
        pod = f"{name}-{dep['metadata']['generation']:x}f5c7d-x7k2p"
        if self.emu.get_object("", "v1", "pods", self.namespace, pod) is None:
            container = dep["spec"]["template"]["spec"]["containers"][0]
            self.emu.make_pod(self.namespace, pod, owner=dep, labels=labels, containers=(container["name"],),
                              image=container["image"], restart_policy="Always")

    def _pods(self, deployment: str) -> list[dict]:
        return [p for p in self.emu.list_objects("", "v1", "pods", self.namespace)
                if p["metadata"].get("labels", {}).get("app") == f"isvc.{deployment}"]

    def roll_out(self, deployment: str) -> None:
        """Its new pods are Ready, the old ones gone: the Deployment is Available and done progressing."""
        dep = self.emu.get_object("apps", "v1", "deployments", self.namespace, deployment)
        current = f"{deployment}-{dep['metadata']['generation']:x}f5c7d-"
        for pod in self._pods(deployment):
            if pod["metadata"]["name"].startswith(current):
                self.emu.set_pod_phase(self.namespace, pod["metadata"]["name"], "Running")
            else:
                self.emu.delete_object("", "v1", "pods", self.namespace, pod["metadata"]["name"])
        replicas = dep["spec"].get("replicas", 1)
        now = rfc3339()
        self.emu.set_status("apps", "v1", "deployments", self.namespace, deployment, {
            "observedGeneration": dep["metadata"]["generation"], "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                            "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now},
                           {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                            "message": f'ReplicaSet "{deployment}-f5c7d" has successfully progressed.',
                            "lastUpdateTime": now, "lastTransitionTime": now}]})

    def crash(self, deployment: str, message: str = "ModuleNotFoundError: No module named 'sklearn'") -> None:
        """Its kserve-container keeps exiting: CrashLoopBackOff, never available."""
        for pod in self._pods(deployment):
            name = pod["metadata"]["name"]
            self.emu.set_pod_phase(self.namespace, name, "Running")
            self.emu.restart_container(self.namespace, name, exit_code=1, reason="Error")

            def backoff(p, pod_name=name):
                cs = p["status"]["containerStatuses"][0]
                cs["lastState"]["terminated"]["message"] = message
                cs["state"] = {"waiting": {"reason": "CrashLoopBackOff",
                                           "message": f"back-off 40s restarting failed container=kserve-container pod={pod_name}"}}
                cs["ready"] = False
            self.emu.update_object("", "v1", "pods", self.namespace, name, backoff)

    # -- the InferenceService controller ----------------------------------------------------------
    def reconcile(self, name: str) -> dict | None:
        isvc = self.emu.get_object(G, V, P, self.namespace, name)
        if isvc is None or isvc["metadata"].get("deletionTimestamp"):
            return None
        status = copy.deepcopy(isvc.get("status") or {})
        annotations = isvc["metadata"].get("annotations") or {}
        mode = self._mode(status.get("deploymentMode"), annotations)
        conditions = ConditionSet(status.get("conditions"))
        if "Ready" not in conditions.items:  # InitializeConditions
            for ctype in ("PredictorReady", "IngressReady"):
                conditions.set(ctype, "Unknown")
        stop = str(annotations.get(STOP, "")).lower() == "true"
        reconcile = self._standard if mode == "Standard" else self._knative
        status, conditions, failed = reconcile(isvc, status, conditions, stop)
        if failed:  # the predictor's reconcile failed: updateStatus, then the error (retried later)
            status["deploymentMode"] = mode
            return self._write(name, status, conditions)
        stopped = conditions.items.get("Stopped")
        if stopped is None:
            conditions.set("Stopped", "False")
        if stop and conditions.items["Stopped"]["status"] == "False":
            conditions.set("Stopped", "True")
        elif not stop and conditions.items["Stopped"]["status"] == "True":
            conditions.set("Stopped", "False")
        if mode == "Knative" and not stop:
            for cross, part in (("RoutesReady", "PredictorRouteReady"), ("LatestDeploymentReady", "PredictorConfigurationReady")):
                cond = conditions.items.get(part) or {"status": "Unknown"}
                conditions.set(cross, "True" if cond["status"] == "True" else cond["status"],
                               "" if cond["status"] == "True" else f"{part} not ready")
        # ingress
        if stop:
            conditions.set("IngressReady", "False", "Stopped")
        elif (status.get("components") or {}).get("predictor", {}).get("url"):
            status["url"] = (self.url(name) if callable(self.url) else self.url) or f"http://{name}-{self.namespace}.example.com"
            status["address"] = {"url": f"http://{name}-predictor.{self.namespace}.svc.cluster.local"}
            conditions.set("IngressReady", "True")
        status["deploymentMode"] = mode
        return self._write(name, status, conditions)

    def _write(self, name: str, status: dict, conditions: ConditionSet) -> dict:
        status["conditions"] = conditions.to_list()
        self.emu.set_status(G, V, P, self.namespace, name, status)
        return status

    def _mode(self, recorded: str | None, annotations: dict) -> str:
        """``GetDeploymentMode``: the status, then the annotation, then the installation's default."""
        legacy = {"RawDeployment": "Standard", "Serverless": "Knative"}
        if recorded:
            return legacy.get(recorded, recorded)
        asked = legacy.get(annotations.get(MODE, ""), annotations.get(MODE, ""))
        return asked if asked in ("Standard", "Knative", "ModelMesh") else self.default_mode

    def _container(self, isvc: dict, predictor: dict) -> dict:
        model = predictor.get("model") or {}
        fmt = (model.get("modelFormat") or {}).get("name", "")
        runtime = model.get("runtime") or AUTO_SELECT.get(fmt)
        if runtime not in RUNTIMES:
            raise LookupError(f"no runtime found to support predictor with model type: {model.get('modelFormat')}")
        base = {"name": "kserve-container", **copy.deepcopy(RUNTIMES[runtime][1])}
        base["args"] = [a.replace("{{.Name}}", isvc["metadata"]["name"]) for a in base["args"]]
        ours = {k: v for k, v in model.items() if k in ("resources", "env", "args", "image", "command")}
        return merge_container(base, ours)

    def _deployment(self, isvc: dict, predictor: dict, name: str, replicas: int) -> dict:
        labels = {**(isvc["metadata"].get("labels") or {}), ISVC_LABEL: isvc["metadata"]["name"],
                  "component": "predictor", "app": f"isvc.{name}"}
        pod = {"containers": [self._container(isvc, predictor)]}
        if self.simulated:
            mount_model(pod, (predictor.get("model") or {}).get("storageUri", ""))
        if predictor.get("serviceAccountName"):
            pod["serviceAccountName"] = predictor["serviceAccountName"]
        return {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": self.namespace, "labels": labels,
                             "ownerReferences": [{"apiVersion": f"{G}/{V}", "kind": "InferenceService",
                                                  "name": isvc["metadata"]["name"], "uid": isvc["metadata"]["uid"],
                                                  "controller": True, "blockOwnerDeletion": True}]},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": f"isvc.{name}"}},
                         "template": {"metadata": {"labels": labels}, "spec": pod}}}

    def _standard(self, isvc: dict, status: dict, conditions: ConditionSet, stop: bool):
        name = isvc["metadata"]["name"]
        stable = isvc["spec"]["predictor"]
        stable_name = predictor_service_name(name, stable.get("name", ""))
        expected = {stable_name}
        if stop:
            for dep in self._predictor_deployments(name):
                self.emu.delete_object("apps", "v1", "deployments", self.namespace, dep["metadata"]["name"])
            if conditions.items.get("PredictorReady", {}).get("reason") != "Stopped":
                status, conditions = {"deploymentMode": status.get("deploymentMode")}, ConditionSet()
                status = {k: v for k, v in status.items() if v}
                conditions.set("PredictorReady", "False", "Stopped")
            return status, conditions, False
        canaries = isvc["spec"].get("canary") or []
        replicas = stable.get("minReplicas", 1) if stable.get("minReplicas") is not None else 1
        if canaries and stable.get("minReplicas") is not None:
            replicas = max(replicas - sum(self._canary_replicas(stable, c) for c in canaries), 1)
        error = self._write_deployment(self._deployment(isvc, stable, stable_name, replicas))
        if error:
            conditions.set("PredictorReady", "False", "ReconcileFailed", f"fails to reconcile predictor: {error}")
            return status, conditions, True
        dep = self.emu.get_object("apps", "v1", "deployments", self.namespace, stable_name)
        self._propagate_raw(status, conditions, dep)
        # reconcileCanaryDeployments
        statuses = []
        for canary in canaries:
            cname = predictor_service_name(name, canary["predictor"]["name"])
            expected.add(cname)
            merged = self._canary_predictor(stable, canary)
            error = self._write_deployment(self._deployment(isvc, merged, cname, self._canary_replicas(stable, canary)))
            if error:
                conditions.set("PredictorReady", "False", "ReconcileFailed", f"fails to reconcile predictor: "
                               f"fails to reconcile canary deployments: fails to reconcile canary {canary['predictor']['name']}: {error}")
                return status, conditions, True
        for canary in canaries:
            dep = self.emu.get_object("apps", "v1", "deployments", self.namespace,
                                      predictor_service_name(name, canary["predictor"]["name"]))
            ready = bool(dep and (dep.get("status") or {}).get("availableReplicas", 0) > 0)
            statuses.append({"name": canary["predictor"]["name"], "ready": ready, "trafficPercent": canary.get("trafficPercent", 0)})
        if statuses:
            status["canaryStatuses"] = statuses
            ok = all(s["ready"] for s in statuses)
            conditions.set("CanaryPredictorReady", "True" if ok else "False", "AllCanariesReady" if ok else "CanariesNotReady")
        else:
            status.pop("canaryStatuses", None)
            conditions.clear("CanaryPredictorReady")
        for dep in self._predictor_deployments(name):  # orphans: a renamed stable, a removed canary
            if dep["metadata"]["name"] not in expected:
                self.emu.delete_object("apps", "v1", "deployments", self.namespace, dep["metadata"]["name"])
                for pod in self._pods(dep["metadata"]["name"]):
                    self.emu.delete_object("", "v1", "pods", self.namespace, pod["metadata"]["name"])
        status["modelStatus"] = self._model_status(stable_name, conditions)
        return status, conditions, False

    def _predictor_deployments(self, name: str) -> list[dict]:
        return [d for d in self.emu.list_objects("apps", "v1", "deployments", self.namespace)
                if d["metadata"].get("labels", {}).get(ISVC_LABEL) == name
                and d["metadata"]["labels"].get("component") == "predictor"]

    @staticmethod
    def _canary_replicas(stable: dict, canary: dict) -> int:
        """``canaryReplicaCount``: its own minReplicas, else ceil(stable replicas x percent / 100)."""
        if canary["predictor"].get("minReplicas") is not None:
            return canary["predictor"]["minReplicas"]
        base = stable.get("minReplicas") if stable.get("minReplicas") is not None else 1
        return -(-base * canary.get("trafficPercent", 0) // 100)

    @staticmethod
    def _canary_predictor(stable: dict, canary: dict) -> dict:
        """``buildCanaryPredictor``: the stable predictor with the canary's fields over it (mergo, override)."""
        def merge(dst, src):
            for key, value in src.items():
                if isinstance(value, dict) and isinstance(dst.get(key), dict):
                    merge(dst[key], value)
                elif value not in (None, "", [], {}):
                    dst[key] = copy.deepcopy(value)
        merged = copy.deepcopy(stable)
        merge(merged, canary["predictor"])
        for key in ("maxReplicas", "scaleTarget", "scaleMetric", "autoScaling"):
            merged.pop(key, None)
        return merged

    def _propagate_raw(self, status: dict, conditions: ConditionSet, dep: dict) -> None:
        """``PropagateRawStatus`` for one Deployment."""
        found = {c["type"]: c for c in (dep.get("status") or {}).get("conditions") or []}
        available, progressing = found.get("Available"), found.get("Progressing")
        ready = ("False", "", "")
        if available and available["status"] == "True":
            ready = ("True", available.get("reason", ""), available.get("message", ""))
        if progressing:
            if progressing["status"] == "False" and progressing.get("message"):
                ready = ("False", progressing.get("reason", ""), progressing["message"])
            elif progressing["status"] == "True":
                if progressing.get("reason") == "NewReplicaSetAvailable":
                    ready = ("True", progressing["reason"], progressing.get("message", ""))
                elif not (available and available["status"] == "True"):
                    ready = ("Unknown", progressing.get("reason", ""), progressing.get("message", ""))
        if available and available["status"] == "False":
            ready = ("False", available.get("reason", ""), available.get("message", ""))
        component = (status.setdefault("components", {})).setdefault("predictor", {})
        if ready[0] == "True":
            component["url"] = f"http://{dep['metadata']['name']}-{self.namespace}.example.com"
        conditions.set("PredictorReady", *ready)
        status["observedGeneration"] = (dep.get("status") or {}).get("observedGeneration", 0)

    def _model_status(self, deployment: str, conditions: ConditionSet) -> dict:
        """``PropagateModelStatus`` for raw deployments (the first pod decides)."""
        pods = self._pods(deployment)
        ready = [p for p in pods if any(c.get("type") == "Ready" and c.get("status") == "True"
                                        for c in (p.get("status") or {}).get("conditions") or [])]
        out = {"transitionStatus": "InProgress", "copies": {"failedCopies": 0, "totalCopies": len(ready)}}
        state = "Pending"
        if pods:
            cs = next((c for c in (pods[0].get("status") or {}).get("containerStatuses") or []
                       if c["name"] == "kserve-container"), {})
            if conditions.items.get("Ready", {}).get("status") == "True":
                state = "Loaded"
            elif (cs.get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff":
                state = "FailedToLoad"
                term = (cs.get("lastState") or {}).get("terminated") or {}
                out["lastFailureInfo"] = {"reason": "ModelLoadFailed", "message": term.get("message", ""),
                                          "exitCode": term.get("exitCode", 1)}
        out["states"] = {"activeModelState": state if state != "Pending" else "", "targetModelState": state}
        out["transitionStatus"] = {"Loaded": "UpToDate", "FailedToLoad": "BlockedByFailedLoad"}.get(state, "InProgress")
        return out

    # -- Knative mode: the Knative Service in memory ----------------------------------------------
    def _knative(self, isvc: dict, status: dict, conditions: ConditionSet, stop: bool):
        name = isvc["metadata"]["name"]
        predictor = isvc["spec"]["predictor"]
        if stop:
            self.ksvc.pop(name, None)
            if conditions.items.get("PredictorReady", {}).get("reason") != "Stopped":
                status = {k: v for k, v in {"deploymentMode": status.get("deploymentMode")}.items() if v}
                conditions = ConditionSet()
                conditions.set("PredictorReady", "False", "Stopped")
            return status, conditions, False
        component = dict((status.get("components") or {}).get("predictor") or {})
        ksvc = self.ksvc.setdefault(name, {"generation": 0, "spec": None, "template": None, "revisions": [], "ready": set()})
        template = json.dumps({k: v for k, v in predictor.items() if k != "canaryTrafficPercent"}, sort_keys=True)
        if template != ksvc["template"]:  # a new template: a new Revision
            ksvc["revisions"].append(f"{name}-predictor-{len(ksvc['revisions']) + 1:05d}")
            ksvc["template"] = template
        percent, rolled = predictor.get("canaryTrafficPercent"), component.get("latestRolledoutRevision", "")
        if percent is not None and rolled:  # the ksvc reconciler's traffic split
            traffic = [{"latestRevision": True, "percent": percent}]
            if percent < 100:
                traffic.append({"revisionName": rolled, "latestRevision": False, "percent": 100 - percent, "tag": "prev"})
        else:
            traffic = [{"latestRevision": True, "percent": 100}]
        spec = json.dumps([template, traffic])
        if spec != ksvc["spec"]:  # the Knative Service's own generation moves with its spec
            ksvc["spec"] = spec
            ksvc["generation"] += 1
        latest = ksvc["revisions"][-1]
        latest_ready = next((r for r in reversed(ksvc["revisions"]) if r in ksvc["ready"]), "")
        resolved = [{**t, "revisionName": t.get("revisionName") or latest_ready or latest} for t in traffic]
        ready = latest in ksvc["ready"]
        state = ("True", "", "") if ready else (
            "Unknown", "RevisionMissing", f'Configuration "{name}-predictor" is waiting for a Revision to become ready.')
        # PropagateStatus
        component["latestCreatedRevision"] = latest
        for t in resolved:
            if t["revisionName"] == latest_ready and t["latestRevision"] and t["percent"] == 100 \
                    and component.get("latestRolledoutRevision") != latest_ready:
                component["previousRolledoutRevision"] = component.get("latestRolledoutRevision", "")
                component["latestRolledoutRevision"] = latest_ready
        if latest_ready:
            component["latestReadyRevision"] = latest_ready
        if ready:
            component["url"] = f"http://{name}-predictor-{self.namespace}.example.com"
            component["address"] = {"url": f"http://{name}-predictor.{self.namespace}.svc.cluster.local"}
        component["traffic"] = resolved
        status.setdefault("components", {})["predictor"] = {k: v for k, v in component.items() if v not in ("", None)}
        for ctype in ("PredictorReady", "PredictorRouteReady", "PredictorConfigurationReady"):
            conditions.set(ctype, *state)
        status["observedGeneration"] = ksvc["generation"]
        status["modelStatus"] = {"transitionStatus": "UpToDate" if ready else "InProgress",
                                 "states": {"activeModelState": "Loaded" if ready else "",
                                            "targetModelState": "Loaded" if ready else "Pending"},
                                 "copies": {"failedCopies": 0, "totalCopies": 1 if ready else 0}}
        return status, conditions, False

    def revision_ready(self, name: str) -> None:
        """Knative: the latest revision's pods are up."""
        self.ksvc[name]["ready"].add(self.ksvc[name]["revisions"][-1])
