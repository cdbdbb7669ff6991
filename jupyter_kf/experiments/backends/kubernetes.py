"""Searches on a cluster: one Katib Experiment (``kubeflow.org/v1beta1``) whose trials are %%kf_train jobs.

The trial template is the workload the training backend plans for the same flags (its bundle Secret,
holding the code and inputs, is created once and shared by every trial). The Experiment is checked
against Katib's rules (``webhook_rules``) before anything is created. Katib runs the search: nothing
coordinates it from the kernel.
"""
from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path

from jupyter_kf.errors import KfError, NotFound
from jupyter_kf.experiments import webhook_rules
from jupyter_kf.experiments.manifests import API_VERSION, build_experiment
from jupyter_kf.experiments.spec import ExperimentSpec
from jupyter_kf.experiments.status import ExperimentStatus, TrialStatus

GROUP, VERSION = API_VERSION.split("/")
_TRIAL_PHASES = ("EarlyStopped", "MetricsUnavailable", "Failed", "Succeeded", "Killed", "Running", "Created")


class KatibExperiments:
    name = "kubernetes"
    trial_backend = "kubernetes"

    def __init__(self):
        from jupyter_kf.training.backends.kubernetes import KubernetesBackend

        self.jobs = KubernetesBackend()

    def _plan(self, spec: ExperimentSpec, source: str, user_ns: dict, folder: Path):
        from jupyter_kf.training import capture, payload
        from jupyter_kf.training.spec import TrainSpec

        options = dict(spec.train)
        include, exclude = options.pop("include", ()), options.pop("exclude", ())
        ship_all = options.pop("ship_all", False)
        train = TrainSpec.create(name=spec.name, backend="kubernetes", namespace=spec.namespace, **options)
        analysis = capture.analyse(source)
        captured = payload.capture_inputs(analysis, user_ns, include=include, exclude=exclude, ship_all=ship_all)
        payload.write_bundle(folder, train, analysis, captured)
        key = secrets.token_hex(32)
        namespace, kind, secret, objects, _ = self.jobs.plan(train, folder, key)
        labels = objects[-1]["metadata"].get("labels") or {}
        return namespace, secret, build_experiment(spec, objects, kind, namespace, labels)

    def render(self, spec: ExperimentSpec, source: str, user_ns: dict) -> str:
        import yaml

        with tempfile.TemporaryDirectory(prefix="kf-tune-") as tmp:
            namespace, _, body = self._plan(spec, source, user_ns, Path(tmp))
        webhook_rules.check(body)
        return (f"dry run: experiment {spec.name!r} in namespace {namespace}; Katib would get:\n"
                + yaml.safe_dump(body, sort_keys=False) + "nothing was started")

    def create(self, spec: ExperimentSpec, source: str, user_ns: dict | None = None, replace: bool = False) -> None:
        with tempfile.TemporaryDirectory(prefix="kf-tune-") as tmp:
            namespace, secret, body = self._plan(spec, source, user_ns or {}, Path(tmp))
        labels = self._namespace_labels(namespace)
        webhook_rules.check(body, labels)
        core, custom = self.jobs._api("CoreV1Api"), self.jobs._api("CustomObjectsApi")
        if replace:
            self.delete(spec.name, namespace)
        what = f"Secret {secret['metadata']['name']}"
        self.jobs.cluster.call(core.create_namespaced_secret, namespace, secret, what=what)
        try:
            self.jobs.cluster.call(custom.create_namespaced_custom_object, GROUP, VERSION, namespace, "experiments",
                                   body, what=f"Experiment {spec.name}")
        except BaseException:
            self.jobs.cluster.call(core.delete_namespaced_secret, secret["metadata"]["name"], namespace)
            raise

    def _namespace_labels(self, namespace: str) -> dict | None:
        core = self.jobs._api("CoreV1Api")
        try:
            ns = self.jobs.cluster.call(core.read_namespace, namespace, what=f"namespace {namespace}")
        except KfError:
            return None  # not allowed to read namespaces: the webhook will say
        return dict(ns.metadata.labels or {})

    def start(self, name: str, user_ns: dict, on_update=None):
        return None  # Katib coordinates the search

    def active(self, name: str):
        return None

    def _get(self, name: str, namespace: str | None = None) -> dict:
        custom = self.jobs._api("CustomObjectsApi")
        namespace = namespace or self.jobs.cluster.namespace
        try:
            return self.jobs.cluster.call(custom.get_namespaced_custom_object, GROUP, VERSION, namespace,
                                          "experiments", name, what=f"Experiment {name}")
        except NotFound:
            raise NotFound(f"experiment {name!r} not found in namespace {namespace!r}") from None

    def spec(self, name: str) -> ExperimentSpec:
        body = self._get(name)["spec"]
        params = {p["name"]: _form(p) for p in body["parameters"]}
        return ExperimentSpec.create(name=name, params=params, objective=body["objective"]["objectiveMetricName"],
                                     goal=body["objective"]["type"], trials=body.get("maxTrialCount", 1),
                                     parallel=body.get("parallelTrialCount", 1),
                                     algorithm=body["algorithm"]["algorithmName"], backend="kubernetes")

    def status(self, name: str) -> ExperimentStatus:
        body = self._get(name)
        return _status(body, self._trials(body))

    def _trials(self, body: dict) -> list[dict]:
        custom = self.jobs._api("CustomObjectsApi")
        listed = self.jobs.cluster.call(custom.list_namespaced_custom_object, GROUP, VERSION,
                                        body["metadata"]["namespace"], "trials",
                                        label_selector=f"katib.kubeflow.org/experiment={body['metadata']['name']}")
        return listed.get("items", [])

    def list(self) -> list[ExperimentStatus]:
        custom = self.jobs._api("CustomObjectsApi")
        listed = self.jobs.cluster.call(custom.list_namespaced_custom_object, GROUP, VERSION,
                                        self.jobs.cluster.namespace, "experiments")
        return [_status(b, []) for b in listed.get("items", [])]

    def cancel(self, name: str) -> ExperimentStatus:
        raise KfError(f"Katib cannot pause experiment {name!r}: %kf_experiment_delete {name} stops it and removes "
                      "its trials")

    def delete(self, name: str, namespace: str | None = None) -> None:
        custom = self.jobs._api("CustomObjectsApi")
        namespace = namespace or self.jobs.cluster.namespace
        try:
            self.jobs.cluster.call(custom.delete_namespaced_custom_object, GROUP, VERSION, namespace, "experiments",
                                   name, what=f"Experiment {name}")
        except NotFound:
            pass


def _form(param: dict) -> str:
    space, kind = param["feasibleSpace"], param["parameterType"]
    if kind in ("categorical", "discrete"):
        return f"{'choice' if kind == 'categorical' else 'discrete'}({','.join(space['list'])})"
    step = f",{space['step']}" if "step" in space else ""
    if kind == "int":
        return f"int({space['min']},{space['max']}{step})"
    log = space.get("distribution") == "logUniform"
    return f"{'loguniform' if log else 'uniform'}({space['min']},{space['max']}{'' if log else step})"


def _phase(conditions: list[dict], order) -> str:
    true = {c.get("type") for c in conditions or [] if c.get("status") == "True"}
    return next((p for p in order if p in true), "Pending")


def _status(body: dict, trials: list[dict]) -> ExperimentStatus:
    spec, st = body.get("spec") or {}, body.get("status") or {}
    phase = _phase(st.get("conditions"), ("Succeeded", "Failed", "Running", "Restarting", "Created"))
    phase = {"Created": "Pending", "Restarting": "Running"}.get(phase, phase)
    out = ExperimentStatus(body["metadata"]["name"], phase, "kubernetes", spec["objective"]["objectiveMetricName"],
                           spec["objective"]["type"], spec.get("maxTrialCount", 0), spec.get("parallelTrialCount", 3),
                           spec["algorithm"]["algorithmName"], namespace=body["metadata"].get("namespace"),
                           created=time.time())
    metric = spec["objective"]["objectiveMetricName"]
    strategy = "min" if spec["objective"]["type"] == "minimize" else "max"
    for i, trial in enumerate(sorted(trials, key=lambda t: t["metadata"].get("creationTimestamp", ""))):
        tst = trial.get("status") or {}
        params = {a["name"]: a["value"] for a in (trial.get("spec") or {}).get("parameterAssignments") or []}
        value = None
        for m in (tst.get("observation") or {}).get("metrics") or []:
            if m.get("name") == metric:
                try:
                    value = float(m.get(strategy, m.get("latest")))
                except (TypeError, ValueError):
                    value = None
        tphase = _phase(tst.get("conditions"), _TRIAL_PHASES)
        tphase = {"Created": "Pending", "Killed": "Cancelled"}.get(tphase, tphase)
        out.trials.append(TrialStatus(i, trial["metadata"]["name"], params, phase=tphase, objective=value))
    return out
