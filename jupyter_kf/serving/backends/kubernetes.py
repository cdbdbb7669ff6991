"""Models on a cluster: a KServe InferenceService per model, created as a plain dict through the official
client (no kserve SDK: it pulls ~67 packages), validated strictly by the API server (fieldValidation=Strict).

An in-memory model is saved in its framework's format and uploaded to the configured store first; a
failure at any step removes what the earlier steps made. The URL is read from the status, never built.
"""
from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path

from jupyter_kf import config
from jupyter_kf.errors import AlreadyExists, InvalidSpec, KfError, NotFound
from jupyter_kf.kube.client import Cluster, ClusterClient, MissingApi
from jupyter_kf.serving import formats
from jupyter_kf.serving import manifests as m
from jupyter_kf.serving.backends import ServingBackend
from jupyter_kf.serving.errors import ModelExists, ModelNotFound, NotReady
from jupyter_kf.serving.spec import ServingSpec, check_protocol
from jupyter_kf.serving.status import ModelStatus

FAILED_WAITING = {"ErrImagePull": "image pull failed", "ImagePullBackOff": "image pull failed",
                  "InvalidImageName": "image name is invalid", "CrashLoopBackOff": "keeps crashing",
                  "CreateContainerConfigError": "cannot be configured"}
# PredictorReady reasons KServe sets when it cannot make the predictor at all (an invalid Deployment...)
FAILED_REASONS = ("ReconcileFailed", "InvalidWorkerSpecNotSet", "InvalidGPUAllocation")
STOP_ANNOTATION = "serving.kserve.io/stop"


def _user() -> str:
    import getpass

    try:
        return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover
        return "unknown"



def _model_format(spec: ServingSpec, obj, what: str, state: dict) -> str:
    """The model's format: the flag, the object's type, an hf:// URI, or the deployed version's."""
    fmt = spec.format or (formats.detect_format(obj, what) if obj is not None else None)
    if fmt is None and spec.uri and spec.uri.startswith("hf://"):
        fmt = "huggingface"
    fmt = fmt or (state["stable"] or {}).get("format")
    if fmt is None:
        raise InvalidSpec(f"--format is needed with --model {spec.uri}: one of sklearn, xgboost, lightgbm, pytorch, "
                          "onnx, tensorflow, huggingface")
    check_protocol(fmt, spec.protocol)
    return fmt

class KubernetesServing(ClusterClient, ServingBackend):
    name = "kubernetes"

    def __init__(self, context: str | None = None, cluster: Cluster | None = None):
        super().__init__(context, cluster)
        self._mode: str | None = None

    def _ns(self, namespace: str | None) -> str:
        return namespace or self.namespace

    def _require_kserve(self) -> None:
        if not self.cluster.has(m.API_VERSION, m.PLURAL):
            raise MissingApi(
                f"KServe is not installed on the cluster {self.cluster.host} (no {m.API_VERSION} "
                "InferenceService): ask an admin to install it, or serve on this machine with --backend local"
            )

    # -- the cluster's deployment mode -------------------------------------------------------------
    def deployment_mode(self) -> str:
        """config > the KServe installation's default (ConfigMap inferenceservice-config) > Knative where
        Knative Serving is installed > Standard."""
        if self._mode is None:
            self._mode = m.normalize_mode(config.get().serving_mode) or self._configured_mode() or (
                "Knative" if self._has_group("serving.knative.dev") else "Standard")
        return self._mode

    def _configured_mode(self) -> str | None:
        namespace = os.environ.get("KSERVE_NAMESPACE", "kserve")
        try:
            cm = self.cluster.call(
                self._api("CoreV1Api").read_namespaced_config_map,
                "inferenceservice-config",
                namespace,
                what="read KServe's configuration",
            )
            return m.normalize_mode(json.loads((cm.data or {}).get("deploy", "{}")).get("defaultDeploymentMode"))
        except (KfError, ValueError):
            return None

    def _has_group(self, group: str) -> bool:
        try:
            groups = self.cluster.call(self._api("ApisApi").get_api_versions, what="discover the cluster's APIs")
        except KfError:
            return False
        return any(g.name == group for g in groups.groups)

    # -- objects -------------------------------------------------------------------------------
    def _get(self, name: str, namespace: str) -> dict | None:
        try:
            return self.cluster.call(
                self._api("CustomObjectsApi").get_namespaced_custom_object,
                m.GROUP,
                m.VERSION,
                namespace,
                m.PLURAL,
                name,
                what=f"get inferenceservice {name!r} in namespace {namespace!r}",
            )
        except NotFound:
            return None

    def _must_get(self, name: str, namespace: str, own: bool = False) -> dict:
        self._require_kserve()
        isvc = self._get(name, namespace)
        if isvc is None:
            raise ModelNotFound(
                f"no model named {name!r} in namespace {namespace!r}: %kf_models lists the deployed models"
            )
        if own and not _ours(isvc):
            raise ModelExists(f"the InferenceService {name!r} in namespace {namespace!r} was not made by jupyter_kf: "
                              "change it with kubectl (jupyter_kf changes only its own deployments)")
        return isvc

    def _create(self, body: dict) -> dict:
        ns = body["metadata"]["namespace"]
        try:
            return self.cluster.call(
                self._api("CustomObjectsApi").create_namespaced_custom_object,
                m.GROUP,
                m.VERSION,
                ns,
                m.PLURAL,
                body,
                field_validation="Strict",
                what=f"create inferenceservices in namespace {ns!r}",
            )
        except AlreadyExists:
            raise ModelExists(
                f"a model named {body['metadata']['name']!r} already exists in namespace {ns!r}"
            ) from None

    def _replace(self, body: dict) -> dict:
        meta = body["metadata"]
        return self.cluster.call(self._api("CustomObjectsApi").replace_namespaced_custom_object, m.GROUP, m.VERSION,
                                 meta["namespace"], m.PLURAL, meta["name"], body, field_validation="Strict",
                                 what=f"update inferenceservice {meta['name']!r} in namespace {meta['namespace']!r}")

    def _update(self, name: str, namespace: str, change) -> dict:
        """Read, change, replace; a concurrent write (409) makes it read again."""
        for attempt in range(3):
            current = self._must_get(name, namespace)
            body = change(current)
            body["metadata"] = {k: v for k, v in body["metadata"].items() if k not in ("managedFields",)}
            body.pop("status", None)
            try:
                return self._replace(body)
            except AlreadyExists:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- deploy ---------------------------------------------------------------------------------
    def deploy(self, spec: ServingSpec, obj=None, what: str = "the model") -> ModelStatus:
        self._require_kserve()
        namespace = self._ns(spec.namespace)
        existing = self._get(spec.name, namespace)
        if spec.canary and existing is None:
            raise ModelNotFound(
                f"--canary needs a deployed model to split traffic with, and there is no {spec.name!r} in "
                f"namespace {namespace!r}: deploy it first without --canary"
            )
        if existing is not None and not _ours(existing):
            raise ModelExists(
                f"an InferenceService named {spec.name!r} that jupyter_kf did not make exists in namespace "
                f"{namespace!r}: choose another name (jupyter_kf changes only its own deployments)"
            )
        state = m.versions(existing) if existing else {"stable": None, "canary": None}
        fmt = _model_format(spec, obj, what, state)
        deployed = state["stable"] or {}
        protocol = (
            deployed["protocol"] if deployed.get("format") == fmt and not spec.protocol else spec.protocol_for(fmt)
        )
        label = f"v{_next_number(state)}"
        uploaded: list[str] = []
        store = None
        with tempfile.TemporaryDirectory(prefix="kf-model-") as tmp:
            if obj is not None:  # save first: a model that cannot be saved uploads and creates nothing
                formats.save(obj, fmt, Path(tmp), spec.name, what)
                from jupyter_kf.serving.store import get_store

                store = get_store(" for a model from the notebook")
                uri, uploaded = store.upload(
                    Path(tmp), f"models/{namespace}/{spec.name}/{label}-{secrets.token_hex(3)}"
                )
            else:
                uri = spec.uri
        try:
            runtime = spec.runtime or (m.TRITON if fmt == "pytorch" and obj is not None else None)
            model = m.model_block(fmt, uri, protocol, runtime=runtime, model_name=spec.name, cpu=spec.cpu,
                                  memory=spec.memory, gpus=spec.gpus, gpu_vendor=spec.gpu_vendor, tpu=spec.tpu)
            version = {"version": label, "format": fmt, "protocol": protocol, "storageUri": uri, "uploaded": uploaded,
                       "model": model}
            retired = self._apply(spec, namespace, existing, state, model, version)
        except BaseException:
            if store is not None:
                store.delete(uploaded)
            raise
        self._drop_uploads(retired)
        return self.status(spec.name, namespace)

    def _apply(self, spec: ServingSpec, namespace: str, existing, state: dict, model: dict, version: dict) -> list:
        """Create the service, add a canary, or roll a new stable version out; the versions it retires."""
        if existing is None:
            account = self._service_account(namespace, version["storageUri"])
            body = m.build_inferenceservice(spec.name, namespace, model, self.deployment_mode(),
                                            m.model_labels(spec.name, _user()), version, spec.min_replicas,
                                            spec.max_replicas, account, spec.tpu)
            self._create(body)
            return []
        if spec.canary:
            self._update(spec.name, namespace, lambda cur: m.with_canary(cur, model, spec.canary, version))
            return [state["canary"]] if state["canary"] else []

        def rollout(cur):
            out = m.rolled_back(cur)
            predictor = out["spec"]["predictor"]
            kept = {k: v for k, v in predictor["model"].items() if k in ("resources", "env", "args")}
            predictor["model"] = {**kept, **model}
            for key, value in (("minReplicas", spec.min_replicas), ("maxReplicas", spec.max_replicas)):
                if value is not None:
                    predictor[key] = value
            predictor.update(m.placement(spec.tpu))
            out["metadata"]["annotations"][m.VERSIONS_ANNOTATION] = json.dumps({"stable": version, "canary": None})
            return out

        self._update(spec.name, namespace, rollout)
        return [v for v in (state["stable"], state["canary"]) if v]

    def _service_account(self, namespace: str, uri: str) -> str | None:
        """The account KServe's storage initializer takes credentials from: configured, or made for store_secret."""
        cfg = config.get()
        if cfg.serving_service_account:
            return cfg.serving_service_account
        if not cfg.store_secret or not uri.startswith("s3://"):
            return None
        name = f"kf-store-{cfg.store_secret}"[:63].rstrip("-")
        body = m.service_account(name, namespace, cfg.store_secret, dict(m.MANAGED_BY))
        try:
            self.cluster.call(self._api("CoreV1Api").create_namespaced_service_account, namespace, body,
                              field_validation="Strict", what=f"create serviceaccounts in namespace {namespace!r}")
        except AlreadyExists:
            pass  # made by an earlier deploy: it names the same Secret
        self._annotate_secret(namespace, cfg)
        return name

    def _annotate_secret(self, namespace: str, cfg) -> None:
        """KServe's storage initializer finds the S3 endpoint in annotations of the credentials Secret; add them
        when missing (annotations only: the values are never read or written)."""
        endpoint = cfg.store_cluster_endpoint or cfg.store_endpoint
        if not endpoint:
            return
        from urllib.parse import urlsplit

        parts = urlsplit(endpoint)
        wanted = {"serving.kserve.io/s3-endpoint": parts.netloc or endpoint,
                  "serving.kserve.io/s3-usehttps": "1" if parts.scheme == "https" else "0",
                  "serving.kserve.io/s3-region": cfg.store_region or "us-east-1"}
        core = self._api("CoreV1Api")
        try:
            secret = self.cluster.call(core.read_namespaced_secret, cfg.store_secret, namespace,
                                       what=f"read secret {cfg.store_secret!r}", _preload_content=False)
            present = json.loads(secret.data).get("metadata", {}).get("annotations") or {}
            missing = {k: v for k, v in wanted.items() if k not in present}
            if missing:
                self.cluster.call(core.patch_namespaced_secret, cfg.store_secret, namespace,
                                  {"metadata": {"annotations": missing}}, what=f"annotate secret {cfg.store_secret!r}")
        except KfError:
            pass  # not ours to read: KServe's global S3 settings may cover it

    def _drop_uploads(self, versions: list[dict]) -> None:
        keys = [k for v in versions if v for k in v.get("uploaded") or ()]
        if not keys:
            return
        try:
            from jupyter_kf.serving.store import get_store

            get_store().delete(keys)
        except KfError:
            pass

    # -- read -----------------------------------------------------------------------------------
    def status(self, name: str, namespace: str | None = None, pods: bool = True) -> ModelStatus:
        namespace = self._ns(namespace)
        isvc = self._must_get(name, namespace)
        return self._status(isvc, pods)

    def _status(self, isvc: dict, pods: bool = True) -> ModelStatus:
        meta, st = isvc["metadata"], isvc.get("status") or {}
        state = m.versions(isvc)
        stable, canary = state["stable"] or {}, state["canary"] or {}
        out = ModelStatus(name=meta["name"], backend="kubernetes", namespace=meta.get("namespace", ""),
                          format=stable.get("format") or _format_of(isvc), protocol=stable.get("protocol") or
                          isvc["spec"]["predictor"].get("model", {}).get("protocolVersion") or "v1",
                          created=meta.get("creationTimestamp", ""), stable=stable.get("version", ""),
                          canary=canary.get("version", ""), canary_percent=canary.get("percent", 0),
                          traffic=m.traffic(isvc))
        in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        address = (st.get("address") or {}).get("url")
        out.url = (address if in_cluster and address else st.get("url")) or address or ""
        conditions = {c.get("type"): c for c in st.get("conditions") or []}
        if _stopped(isvc, conditions):
            out.phase, out.url, out.traffic = "Stopped", "", ""
            out.reasons = [(f"stopped: the annotation {STOP_ANNOTATION}=true removed its pods; remove the annotation "
                            "to serve it again")]
            return out
        reasons = []
        for ctype, cond in conditions.items():
            if (
                ctype != "CanaryPredictorReady"
                and cond.get("status") != "True"
                and (cond.get("reason") or cond.get("message"))
            ):
                reasons.append(f"{ctype}: " + " ".join(filter(None, (cond.get("reason"), cond.get("message")))))
        canary_waiting = _canaries_not_ready(isvc, conditions)
        if canary_waiting:
            why = conditions.get("CanaryPredictorReady", {}).get("reason") or "not reported yet"
            reasons.append(f"canary {', '.join(canary_waiting)} not ready ({why})")
        ready = conditions.get("Ready", {}).get("status") == "True" and _observed(isvc) and not canary_waiting
        failure = (st.get("modelStatus") or {}).get("lastFailureInfo") or {}
        if failure.get("reason") or failure.get("message"):
            reasons.append(f"model: {' '.join(filter(None, (failure.get('reason'), failure.get('message'))))}")
        failed = (st.get("modelStatus") or {}).get("transitionStatus") in ("BlockedByFailedLoad", "InvalidSpec")
        failed = failed or conditions.get("PredictorReady", {}).get("reason") in FAILED_REASONS
        if pods and not ready:
            pod_reasons, pod_failed = self._pod_reasons(meta["name"], meta["namespace"])
            reasons += [r for r in pod_reasons if r not in reasons]
            failed = failed or pod_failed
        out.reasons = _dedupe(reasons)
        out.phase = "Ready" if ready else ("Failed" if failed else "Pending")
        return out

    def _pod_reasons(self, name: str, namespace: str) -> tuple[list[str], bool]:
        try:
            resp = self.cluster.call(self._api("CoreV1Api").list_namespaced_pod, namespace,
                                     label_selector=f"serving.kserve.io/inferenceservice={name}",
                                     what=f"list pods in namespace {namespace!r}", _preload_content=False)
        except KfError:
            return [], False
        reasons, failed = [], False
        for pod in json.loads(resp.data).get("items", []):
            st = pod.get("status") or {}
            for cond in st.get("conditions") or []:
                if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                    reasons.append(
                        f"pod {pod['metadata']['name']} cannot be scheduled: "
                        f"{cond.get('message') or cond.get('reason')}"
                    )
            for init in st.get("initContainerStatuses") or []:
                text = _container_problem(init)
                if text:
                    failed = True
                    what = (
                        "storage initializer (downloads the model)"
                        if init.get("name") == "storage-initializer"
                        else f"init container {init.get('name')}"
                    )
                    reasons.append(f"{what} failing: {text}")
            for c in st.get("containerStatuses") or []:
                text = _container_problem(c)
                if text:
                    failed = True
                    reasons.append(f"container {c.get('name')}: {text}")
        return reasons, failed

    def list(self, namespace: str | None = None) -> list[ModelStatus]:
        self._require_kserve()
        namespace = self._ns(namespace)
        key, value = next(iter(m.MANAGED_BY.items()))
        items = self.cluster.call(
            self._api("CustomObjectsApi").list_namespaced_custom_object,
            m.GROUP,
            m.VERSION,
            namespace,
            m.PLURAL,
            label_selector=f"{key}={value}",
            what=f"list inferenceservices in namespace {namespace!r}",
        )["items"]
        return [self._status(i, pods=False) for i in sorted(items, key=lambda i: i["metadata"]["name"])]

    def wait(self, name: str, timeout: float | None = 300, on_update=None, namespace: str | None = None,
             interval: float = 1.0) -> ModelStatus:
        deadline = time.monotonic() + (timeout or 0)
        while True:
            status = self.status(name, namespace)
            if on_update:
                on_update(status)
            if status.ready:
                return status
            if status.phase == "Stopped":
                raise NotReady(f"{name} is {status.message}")
            if timeout is None or time.monotonic() >= deadline:
                why = status.message or "no condition reported yet (is the KServe controller running?)"
                took = f" after {timeout:.0f} s" if timeout else ""
                raise NotReady(f"{name} is not Ready{took}: {why}; it stays deployed: %kf_models shows it, "
                               f"%kf_undeploy {name} removes it")
            time.sleep(min(interval, max(0.05, deadline - time.monotonic())))

    # -- change ---------------------------------------------------------------------------------
    def promote(self, name: str, namespace: str | None = None) -> ModelStatus:
        namespace = self._ns(namespace)
        state = m.versions(self._must_get(name, namespace, own=True))
        if not state["canary"]:
            raise InvalidSpec(f"{name} has no canary to promote: deploy one with --canary PERCENT")
        self._update(name, namespace, m.promoted)
        self._drop_uploads([state["stable"]])
        return self.status(name, namespace)

    def rollback(self, name: str, namespace: str | None = None) -> ModelStatus:
        namespace = self._ns(namespace)
        state = m.versions(self._must_get(name, namespace, own=True))
        if not state["canary"]:
            raise InvalidSpec(f"{name} has no canary to roll back: deploy one with --canary PERCENT")
        self._update(name, namespace, m.rolled_back)
        self._drop_uploads([state["canary"]])
        return self.status(name, namespace)

    def delete(self, name: str, namespace: str | None = None) -> None:
        namespace = self._ns(namespace)
        state = m.versions(self._must_get(name, namespace, own=True))
        try:
            self.cluster.call(
                self._api("CustomObjectsApi").delete_namespaced_custom_object,
                m.GROUP,
                m.VERSION,
                namespace,
                m.PLURAL,
                name,
                propagation_policy="Background",
                what=f"delete inferenceservice {name!r} in namespace {namespace!r}",
            )
        except NotFound:
            raise ModelNotFound(
                f"no model named {name!r} in namespace {namespace!r}: %kf_models lists the deployed models"
            ) from None
        self._drop_uploads([state["stable"], state["canary"]])


def _stopped(isvc: dict, conditions: dict) -> bool:
    """Stopped: KServe's ``Stopped`` condition, or the stop annotation it has not acted on yet."""
    annotations = isvc.get("metadata", {}).get("annotations") or {}
    return (conditions.get("Stopped", {}).get("status") == "True"
            or str(annotations.get(STOP_ANNOTATION, "")).lower() == "true")


def _observed(isvc: dict) -> bool:
    """Whether the status speaks for the current spec. Knative mode copies the Knative Service's
    observedGeneration, which moves with every edit we make; Standard mode copies the stable Deployment's,
    which an edit that leaves that Deployment alone (a canary, a promote) never moves: no comparison there."""
    st = isvc.get("status") or {}
    mode = m.normalize_mode(st.get("deploymentMode")) or m.mode_of(isvc)
    if mode != "Knative" or st.get("observedGeneration") is None:
        return True
    return st["observedGeneration"] >= isvc["metadata"].get("generation", 0)


def _canaries_not_ready(isvc: dict, conditions: dict) -> list[str]:
    """The Standard-mode canaries (``spec.canary[]``) not reported ready: ``Ready`` leaves them out, so a
    broken canary would otherwise read as a healthy service."""
    wanted = [c.get("predictor", {}).get("name", "") for c in isvc.get("spec", {}).get("canary") or []]
    if not wanted:
        return []
    reported = {c.get("name"): c.get("ready") is True for c in (isvc.get("status") or {}).get("canaryStatuses") or []}
    all_ready = conditions.get("CanaryPredictorReady", {}).get("status") == "True"
    return [name for name in wanted if not (all_ready and reported.get(name))]


def _ours(isvc: dict) -> bool:
    labels = isvc.get("metadata", {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in m.MANAGED_BY.items())


def _next_number(state: dict) -> int:
    numbers = [int(v["version"][1:]) for v in (state["stable"], state["canary"])
               if v and str(v.get("version", "")).startswith("v") and v["version"][1:].isdigit()]
    return max(numbers, default=0) + 1


def _format_of(isvc: dict) -> str:
    predictor = isvc.get("spec", {}).get("predictor", {})
    return (predictor.get("model", {}).get("modelFormat") or {}).get("name") or next(
        (
            k
            for k in ("sklearn", "xgboost", "lightgbm", "pytorch", "onnx", "tensorflow", "huggingface")
            if k in predictor
        ),
        "",
    )


def _container_problem(cs: dict) -> str:
    state, last = cs.get("state") or {}, cs.get("lastState") or {}
    waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
    last_term = last.get("terminated") or {}
    if terminated.get("reason") == "OOMKilled" or last_term.get("reason") == "OOMKilled":
        return "out of memory (OOMKilled): give it more with --memory"
    if waiting.get("reason") in FAILED_WAITING:
        detail = waiting.get("message") or ""
        if waiting["reason"] == "CrashLoopBackOff" and last_term.get("message"):
            detail = last_term["message"]
        return f"{FAILED_WAITING[waiting['reason']]} ({waiting['reason']})" + (
            f": {detail.strip().splitlines()[-1][:300]}" if detail.strip() else ""
        )
    if terminated and terminated.get("exitCode", 0) != 0:
        detail = (terminated.get("message") or "").strip()
        return f"exited {terminated.get('exitCode')} ({terminated.get('reason') or 'Error'})" + (
            f": {detail.splitlines()[-1][:300]}" if detail else ""
        )
    return ""


def _dedupe(items: list[str]) -> list[str]:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
