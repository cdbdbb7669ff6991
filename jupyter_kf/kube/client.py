"""The official kubernetes client, set up once per kernel: retries, one-line errors, API discovery."""
from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field

from jupyter_kf.errors import AlreadyExists, KfError, NotFound

RETRY_STATUS = (429, 500, 502, 503, 504)
RETRIES = 5


class ClusterError(KfError):
    """The cluster refused or could not be reached; the line says what and what to do."""


class Forbidden(ClusterError):
    http_status = 403


class MissingApi(ClusterError):
    """The kind asked for has no CRD installed."""


@dataclass
class Cluster:
    """A connection to one API server: the client, where it points, and what it offers."""

    api_client: object
    context: str = ""
    host: str = ""
    namespace: str = "default"
    _apis: dict | None = field(default=None, repr=False)
    _trainer_minor: int | None = None

    # -- calls ----------------------------------------------------------------------------------
    def call(self, fn, *args, what: str = "", **kwargs):
        """Call a client method; retry 429/5xx with backoff (Retry-After honoured); map errors to one line."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        delay = 0.2
        for attempt in range(RETRIES + 1):
            try:
                return fn(*args, **kwargs)
            except ApiException as err:
                if err.status in RETRY_STATUS and attempt < RETRIES:
                    retry_after = (err.headers or {}).get("Retry-After") if hasattr(err, "headers") else None
                    time.sleep(
                        float(retry_after)
                        if retry_after and retry_after.isdigit()
                        else delay * (1 + random.random() / 4)
                    )
                    delay = min(delay * 2, 5)
                    continue
                raise self.error(err, what) from None
            except HTTPError as err:
                if attempt < 2:
                    time.sleep(delay)
                    continue
                raise ClusterError(f"the Kubernetes API server {self.host} (kubeconfig context {self.context!r}) is "
                                   f"unreachable: {type(err).__name__}: {str(err).splitlines()[0][:200]}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def error(self, err, what: str) -> KfError:
        message = _status_message(err)
        if message.startswith("admission webhook "):  # a controller's webhook refused it: not a permission
            return ClusterError(f"the cluster refused {what}: {message}")
        if err.status == 403:
            return Forbidden(f"not allowed to {what}: {message}; ask a cluster admin to grant it")
        if err.status == 404:
            return NotFound(f"{what}: {message}")
        if err.status == 409:
            return AlreadyExists(f"{what}: {message}")
        if err.status == 422:
            return ClusterError(f"the API server rejected {what}: {message}")
        if err.status in RETRY_STATUS:
            return ClusterError(
                f"the API server kept answering {err.status} to {what} after {RETRIES} retries: {message}"
            )
        return ClusterError(f"{what} failed ({err.status}): {message}")

    # -- discovery -----------------------------------------------------------------------------
    def apis(self) -> dict[str, set[str]]:
        """'group/version' -> resource names the server serves (cached per connection)."""
        if self._apis is None:
            from kubernetes import client

            found: dict[str, set[str]] = {}
            groups = self.call(client.ApisApi(self.api_client).get_api_versions, what="discover the cluster's APIs")
            for group in groups.groups:
                for version in group.versions:
                    if group.name in WATCHED_GROUPS:
                        resources = self.call(client.CustomObjectsApi(self.api_client).get_api_resources, group.name,
                                              version.version, what=f"discover {version.group_version}")
                        found[version.group_version] = {r.name for r in resources.resources}
            self._apis = found
        return self._apis

    def has(self, group_version: str, plural: str) -> bool:
        return plural in self.apis().get(group_version, set())

    def trainer_minor(self) -> int:
        """Kubeflow Trainer's minor version (its TrainJob API changed in every v2 minor).

        v2.2+ publish it in the ``kubeflow-trainer-public`` ConfigMap, readable by every authenticated
        user. Without it (v2.1 ships none) the TrainJob CRD's schema tells v2.0/v2.1 from v2.2+; when
        the CRD cannot be read either, the missing ConfigMap itself means v2.1.
        """
        if self._trainer_minor is None:
            from kubernetes import client

            namespace = os.environ.get("KUBEFLOW_SYSTEM_NAMESPACE", "kubeflow-system")
            try:
                cm = self.call(client.CoreV1Api(self.api_client).read_namespaced_config_map, "kubeflow-trainer-public",
                               namespace, what="read the Kubeflow Trainer version")
                version = (cm.data or {}).get("kubeflow_trainer_version", "")
                self._trainer_minor = int(version.lstrip("v").split(".")[1])
            except (KfError, ValueError, IndexError):
                self._trainer_minor = self._trainer_minor_from_crd()
        return self._trainer_minor

    def _trainer_minor_from_crd(self) -> int:
        from kubernetes import client

        try:
            resp = self.call(client.ApiextensionsV1Api(self.api_client).read_custom_resource_definition,
                             "trainjobs.trainer.kubeflow.org", what="read the TrainJob CRD", _preload_content=False)
            crd = json.loads(resp.data)
        except (KfError, ValueError):
            return 1  # no version ConfigMap (v2.2+ always has one) and no CRD to look at: v2.1
        for version in crd.get("spec", {}).get("versions", []):
            if version.get("name") == "v1alpha1":
                spec = version.get("schema", {}).get("openAPIV3Schema", {}).get("properties", {}).get("spec", {})
                fields = spec.get("properties", {})
                if "runtimePatches" in fields:
                    return LATEST_TRAINER_MINOR  # v2.2 and v2.3 take the same TrainJob body
                if "podTemplateOverrides" in fields:
                    return 1
                if "podSpecOverrides" in fields:
                    return 0
        return 1


class ClusterClient:
    """What every cluster-side part shares: a connection made on first use, the typed client APIs,
    and undoing what a failed create had made."""

    def __init__(self, context: str | None = None, cluster: Cluster | None = None, namespace: str | None = None):
        self._context, self._cluster, self._namespace = context, cluster, namespace

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            self._cluster = connect(self._context)
        return self._cluster

    @property
    def namespace(self) -> str:
        """The namespace given, else ``c.KfConfig.namespace``, else the kubeconfig context's."""
        from jupyter_kf import config

        return self._namespace or config.get().namespace or self.cluster.namespace

    def call_json(self, fn, *args, what: str, **kwargs) -> dict:
        """A client call whose answer is read as plain JSON (the client's models are slow and drop unknown
        fields, such as a CRD's)."""
        resp = self.cluster.call(fn, *args, what=what, _preload_content=False, **kwargs)
        return json.loads(resp.data) if resp.data else {}

    def _api(self, name: str):
        from kubernetes import client

        return getattr(client, name)(self.cluster.api_client)

    def _delete_object(self, namespace: str, kind: str, name: str) -> None:
        raise NotImplementedError

    def _undo(self, namespace: str, created: list[tuple[str, str]]) -> None:
        for kind, name in reversed(created):
            try:
                self._delete_object(namespace, kind, name)
            except KfError:
                pass


@dataclass
class OfflineCluster(Cluster):
    """What a dry run assumes with no cluster to ask, as ``kubectl --dry-run=client`` does: every API this
    project speaks, at its newest version; nothing is called."""

    reason: str = ""

    def call(self, fn, *args, what: str = "", **kwargs):
        raise ClusterError(f"offline dry run: cannot {what}")

    def has(self, group_version: str, plural: str) -> bool:
        return True

    def trainer_minor(self) -> int:
        return LATEST_TRAINER_MINOR

    def assumed(self) -> str:
        """What was assumed, as YAML comment lines above the manifests."""
        return (f"# offline dry run: {self.reason.split(';')[0]}.\n"
                f"# Assumed: Kubeflow Trainer v2.{LATEST_TRAINER_MINOR} (TrainJob), its runtimes as "
                f"ClusterTrainingRuntimes, namespace {self.namespace!r}.\n")


WATCHED_GROUPS = {"trainer.kubeflow.org", "kubeflow.org", "kueue.x-k8s.io", "serving.kserve.io", "jobset.x-k8s.io"}
LATEST_TRAINER_MINOR = 3
_connections: dict[tuple, Cluster] = {}


def connect(context: str | None = None) -> Cluster:
    """The cluster of the kubeconfig (its current or the given context), or in-cluster config; cached."""
    key = (os.environ.get("KUBECONFIG", ""), context or "")
    if key not in _connections:
        _connections[key] = _load(context)
    return _connections[key]


def reset_connections() -> None:
    _connections.clear()


def _load(context: str | None) -> Cluster:
    from kubernetes import client
    from kubernetes import config as kube_config

    configuration = client.Configuration()
    # The client reads $KUBECONFIG once, at import: pass it every time so a changed value counts.
    config_file = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        kube_config.load_kube_config(config_file=config_file, context=context, client_configuration=configuration)
        contexts, active = kube_config.list_kube_config_contexts(config_file=config_file)
        chosen = next((c for c in contexts if c["name"] == context), active) if context else active
        namespace = chosen.get("context", {}).get("namespace")
        name = chosen.get("name", "")
    except (kube_config.ConfigException, FileNotFoundError, TypeError):
        try:
            kube_config.load_incluster_config(client_configuration=configuration)
        except kube_config.ConfigException:
            raise ClusterError("no cluster configured: no kubeconfig (KUBECONFIG or ~/.kube/config) and not running "
                               "in a pod; use --backend local to run on this machine") from None
        name = "in-cluster"
        namespace = _incluster_namespace()
    configuration.retries = False
    from jupyter_kf import config

    namespace = _kubeflow_profile_namespace() or namespace or config.get().namespace or "default"
    return Cluster(
        api_client=client.ApiClient(configuration), context=name, host=configuration.host, namespace=namespace
    )


def _incluster_namespace() -> str | None:
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
            return f.read().strip() or None
    except OSError:
        return None


def _kubeflow_profile_namespace() -> str | None:
    """Inside a Kubeflow notebook server, NB_PREFIX is /notebook/<profile namespace>/<server>."""
    parts = os.environ.get("NB_PREFIX", "").strip("/").split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == "notebook" else None


def _status_message(err) -> str:
    try:
        body = json.loads(err.body)
        return body.get("message") or err.reason
    except (TypeError, ValueError):
        return str(err.reason or err.body or err.status)
