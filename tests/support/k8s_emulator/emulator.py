"""The :class:`K8sEmulator` object tests hold: lifecycle, CRDs, kubeconfig, faults, RBAC and request log.

Cluster-state helpers (pods, phases, events, logs, statuses) come from :class:`~.controls.Controls`.
Every method is thread-safe: the HTTP threads and the test thread share one store lock.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterable

from tests.support.k8s_emulator import builtin_schemas
from tests.support.k8s_emulator import crds as crd_files
from tests.support.k8s_emulator.api import CRD_KEY, Api
from tests.support.k8s_emulator.app import App, RecordedRequest, RequestLog
from tests.support.k8s_emulator.controls import Controls
from tests.support.k8s_emulator.faults import Fault, Faults
from tests.support.k8s_emulator.logs import LogStore
from tests.support.k8s_emulator.meta import new_uid, rfc3339
from tests.support.k8s_emulator.rbac import DEFAULT_USER, DenyRule, Rbac
from tests.support.k8s_emulator.resources import Registry
from tests.support.k8s_emulator.server import HttpServer
from tests.support.k8s_emulator.store import Store

DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class K8sEmulator(Controls):
    """A Kubernetes API server emulator on ``127.0.0.1:<port>``.

    ``crds``: what :meth:`reset` restores: ``"all"``, ``"none"``, directory names/prefixes under the
    shared CRD folder (``"trainer-v2,kserve"``), or a list of those, CRD files or CRD dicts.
    """

    def __init__(self, crds: Any = "none", namespaces: Iterable[str] = DEFAULT_NAMESPACES, port: int = 0,
                 crds_dir: str | Path | None = None):
        self.crds_dir = Path(crds_dir) if crds_dir else crd_files.default_crds_dir()
        self.baseline_crds = crds
        self.baseline_namespaces = tuple(namespaces)
        self.store = Store()
        self.registry = Registry()
        self.logs = LogStore(self.store)
        self.rbac = Rbac()
        self.faults = Faults()
        self.request_log = RequestLog()
        self.bookmark_interval = 60.0
        self._stop = threading.Event()
        self._server: HttpServer | None = None
        self.api = Api(self.store, self.registry, self.logs, self.rbac, stopping=self._stop.is_set,
                       bookmark_interval=lambda: self.bookmark_interval)
        self.app = App(self.api, self.registry, self.rbac, self.faults, self.request_log,
                       server_address=lambda: f"127.0.0.1:{self.port}",
                       version_minor=builtin_schemas.schema_version().split(".")[1],
                       wait=self._stop.wait)
        self._requested_port = port
        self.kubeconfig_path: Path | None = None
        self._seed()

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> "K8sEmulator":
        self._stop.clear()
        self._server = HttpServer(self.app, port=self._requested_port)
        self._server.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.store.notify()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "K8sEmulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.port if self._server else 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self, crds: Any = None) -> None:
        """Back to a fresh cluster: default namespaces, baseline CRDs (or ``crds``), no rules, no log.

        Open watch and log streams end. resourceVersions keep increasing across resets.
        """
        if crds is not None:
            self.baseline_crds = crds
        self.store.clear()
        self.registry.reset()
        self.logs.clear()
        self.rbac.allow()
        self.rbac.user = DEFAULT_USER
        self.faults.clear()
        self.bookmark_interval = 60.0
        self.api.deleter.reset()
        self._seed()
        self.request_log.clear()

    def _seed(self) -> None:
        self.api.namespace_controllers = False  # baseline namespaces stay bare: tests count what is in them
        try:
            for name in self.baseline_namespaces:
                self.create_namespace(name)
        finally:
            self.api.namespace_controllers = True
        self.install_crds(self.baseline_crds)
        self.store.compact()

    # -- CRDs -----------------------------------------------------------------------------------------
    def install_crds(self, selection: Any = "all") -> list[str]:
        """Install CRDs: ``"all"``, ``"none"``, shared-folder names (``"kserve,kueue"``), or a list mixing
        those with CRD files, directories and dicts. Returns the CRD names."""
        items = [selection] if isinstance(selection, (str, Path, dict)) else list(selection or [])
        names = []
        for item in items:
            if isinstance(item, str) and not Path(item).exists():
                sources = crd_files.select_crd_dirs(item, self.crds_dir)
            else:
                sources = [item]
            for source in sources:
                names += self.install_crd(source)
        return names

    def install_crd(self, source: Any) -> list[str]:
        """Install from a CRD dict, a YAML file or a directory (kustomization.yaml honoured)."""
        installed = []
        for crd in crd_files.load_crd_source(source):
            errs = crd_files.validate_crd(crd)
            if errs:
                raise ValueError(f"invalid CRD {crd.get('metadata', {}).get('name')}: {'; '.join(map(str, errs))}")
            with self.store.cond:
                name = crd["metadata"]["name"]
                old = self.store.get(CRD_KEY, "", name)
                meta = {**crd["metadata"], "uid": old["metadata"]["uid"] if old else new_uid(),
                        "creationTimestamp": old["metadata"]["creationTimestamp"] if old else rfc3339(),
                        "generation": (old["metadata"].get("generation", 0) + 1) if old else 1}
                meta.pop("resourceVersion", None)
                obj = {**crd, "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                       "metadata": meta, "status": crd_files.established_status(crd)}
                self.store.put(CRD_KEY, obj)
                self.registry.set_crd(name, crd_files.crd_resources(obj))
            installed.append(name)
        return installed

    def uninstall_crd(self, name: str) -> None:
        """Remove a CRD (``trainjobs.trainer.kubeflow.org``) with all its objects."""
        with self.store.cond:
            crd = self.store.get(CRD_KEY, "", name)
            if crd is None:
                raise KeyError(name)
            self.api.deleter.delete(self.registry.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
                                    crd, "Background")

    # -- kubeconfig -----------------------------------------------------------------------------------
    def write_kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: k8s-emulator\n  cluster:\n    server: {self.url}\n"
            "users:\n- name: k8s-emulator-user\n  user:\n    token: emulator-token\n"
            "contexts:\n- name: k8s-emulator\n  context:\n    cluster: k8s-emulator\n    user: k8s-emulator-user\n"
            f"    namespace: {namespace}\n"
            "current-context: k8s-emulator\npreferences: {}\n")
        self.kubeconfig_path = path
        return path

    def client_configuration(self):
        """A ``kubernetes.client.Configuration`` pointing at this server (imports the client lazily)."""
        from kubernetes import client

        config = client.Configuration()
        config.host = self.url
        config.api_key = {"authorization": "emulator-token"}
        config.api_key_prefix = {"authorization": "Bearer"}
        return config

    @property
    def gc_delay(self) -> float | None:
        """None (default): the garbage collector acts within each DELETE. Seconds: it acts that much later, in
        its own thread, as a real cluster's does: a Background-deleted owner's dependents linger meanwhile and a
        Foreground-deleted owner stays "being deleted". Reset restores None."""
        return self.api.deleter.gc_delay

    @gc_delay.setter
    def gc_delay(self, seconds: float | None) -> None:
        self.api.deleter.gc_delay = seconds

    @property
    def pod_termination(self) -> float | None:
        """None (default, and after ``reset()``): a deleted pod goes at once. Seconds: a running pod on a node
        goes Terminating (deletionTimestamp = now + its grace period) and its kubelet removes it that many
        seconds later, as on a real cluster; ``gracePeriodSeconds=0`` (``--force``) removes it at once."""
        return self.api.deleter.pod_termination

    @pod_termination.setter
    def pod_termination(self, seconds: float | None) -> None:
        self.api.deleter.pod_termination = seconds

    # -- faults ---------------------------------------------------------------------------------------
    def fail_next(self, verb: str = "*", path: str = ".*", status: int = 500, times: int = 1,
                  retry_after: int | None = None, message: str | None = None) -> Fault:
        """The next ``times`` requests matching answer ``status`` (429 TooManyRequests, 500, 503, 504...)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        return self.faults.add(Fault(verb, path, times, status=status, retry_after=retry_after, message=message))

    def hang_next(self, verb: str = "*", path: str = ".*", seconds: float = 5.0, times: int = 1) -> Fault:
        """The next matching requests stall ``seconds`` before being served (client timeouts)."""
        return self.faults.add(Fault(verb, path, times, hang=seconds))

    def cut_next(self, verb: str = "*", path: str = ".*", after_bytes: int = 0, times: int = 1) -> Fault:
        """The next matching responses (watch, log stream or unary body) drop after ``after_bytes``."""
        return self.faults.add(Fault(verb, path, times, cut_after=after_bytes))

    def clear_faults(self) -> None:
        self.faults.clear()

    # -- RBAC -----------------------------------------------------------------------------------------
    def deny(self, verb: str, resource: str, group: str = "", namespace: str | None = None,
             name: str | None = None) -> DenyRule:
        """Forbid ``verb`` on ``resource`` (``"pods"``, ``"pods/log"``, ``"*"``) in ``group`` (optionally one
        namespace/name): requests get the real 403 and SelfSubjectAccessReviews say ``allowed: false``."""
        return self.rbac.deny(verb, resource, group, namespace, name)

    def allow(self, rule: DenyRule | None = None) -> None:
        self.rbac.allow(rule)

    @property
    def user(self) -> str:
        return self.rbac.user

    @user.setter
    def user(self, value: str) -> None:
        self.rbac.user = value

    # -- history and request log ------------------------------------------------------------------
    def close_streams(self) -> None:
        """End every open watch and ``follow`` stream cleanly (the apiserver's watch timeout); clients that
        reconnect resume from their last resourceVersion."""
        self.store.end_streams()

    def compact(self) -> int:
        """Drop all watch history: watches and continue tokens from before now get 410 Gone."""
        return self.store.compact()

    @property
    def resource_version(self) -> int:
        return self.store.rv

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.request_log.snapshot()

    def clear_requests(self) -> None:
        self.request_log.clear()

    def requests_matching(self, verb: str | None = None, resource: str | None = None, path: str | None = None,
                          namespace: str | None = None) -> list[RecordedRequest]:
        import re

        return [r for r in self.requests if (verb is None or r.verb == verb)
                and (resource is None or r.resource == resource)
                and (namespace is None or r.namespace == namespace)
                and (path is None or re.search(path, r.path))]

    def wait_for_requests(self, timeout: float = 5.0, **match) -> list[RecordedRequest]:
        """Wait until a request matching ``requests_matching(**match)`` arrived (e.g. a watch opened)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.requests_matching(**match)
            if found:
                return found
            time.sleep(0.01)
        raise TimeoutError(f"no request matching {match} within {timeout}s")

