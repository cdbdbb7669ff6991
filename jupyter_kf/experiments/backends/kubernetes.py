"""Searches on a cluster with Katib: one Katib Experiment (``kubeflow.org/v1beta1``) whose trials are %%kf_train jobs.

The trial template is the workload the training backend plans for the same flags (its bundle Secret,
holding the code and inputs, is created once, shared by every trial and owned by the Experiment). The
Experiment is checked against Katib's rules (``webhook_rules``) before anything is created. Katib runs the
search; the kernel only follows it (``KatibWatch``) and, at the end, brings the best trial's results back the
way a %%kf_train job's come back: each trial's job is a job of the training backend named like its Trial,
whose record this backend writes (the bundle's metadata, inputs and result key are kept locally per experiment).

Katib cannot pause a search: stopping one keeps its status and the best trial's results here, then deletes the
Experiment (its Trials and their jobs go with it, by owner references).
"""
from __future__ import annotations

import json
import secrets
import shutil
import threading
import time
from pathlib import Path

from jupyter_kf import config
from jupyter_kf.errors import AlreadyExists, KfError, NotFound
from jupyter_kf.experiments import webhook_rules
from jupyter_kf.experiments.manifests import API_VERSION, build_experiment
from jupyter_kf.experiments.spec import ExperimentSpec
from jupyter_kf.experiments.status import ExperimentStatus, TrialStatus

GROUP, VERSION = API_VERSION.split("/")
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
_TRIAL_PHASES = ("EarlyStopped", "MetricsUnavailable", "Failed", "Succeeded", "Killed", "Running", "Created")
_KEPT = ("meta.json", "payload.bin")  # of the bundle: what a trial's record needs to load its results


def katib_installed(cluster) -> bool:
    return cluster.has(API_VERSION, "experiments") and cluster.has(API_VERSION, "trials")


class KatibExperiments:
    name = "kubernetes"
    trial_backend = "kubernetes"
    driven_by = "katib"  # the cluster runs the search: the kernel follows it and can leave at any time

    def __init__(self, jobs=None):
        from jupyter_kf.training.backends.kubernetes import KubernetesBackend

        self.jobs = jobs or KubernetesBackend()
        self._failures: dict[str, str] = {}  # failed trial -> the cell's error

    # -- local records: the bundle's parts per experiment, the status of stopped ones ---------------------
    def folder(self, name: str, namespace: str | None = None) -> Path:
        return config.state_root() / "katib" / (namespace or self.jobs.cluster.namespace) / name

    def _plan(self, spec: ExperimentSpec, source: str, user_ns: dict, folder: Path):
        from jupyter_kf.training import capture, payload
        from jupyter_kf.training.spec import TrainSpec

        options = dict(spec.train)
        include, exclude = options.pop("include", ()), options.pop("exclude", ())
        ship_all = options.pop("ship_all", False)
        train = TrainSpec.create(name=spec.name, backend="kubernetes", namespace=spec.namespace, **options)
        analysis = capture.analyse(source)
        folder.mkdir(parents=True, exist_ok=True)
        captured = payload.capture_inputs(analysis, user_ns, include=include, exclude=exclude, ship_all=ship_all)
        payload.write_bundle(folder, train, analysis, captured)
        key = secrets.token_hex(32)
        namespace, kind, secret, objects, meta = self.jobs.plan(train, folder, key)
        labels = objects[-1]["metadata"].get("labels") or {}
        body = build_experiment(spec, objects, kind, namespace, labels)
        return namespace, secret, body, {**meta, "result_key": key, "workers": train.workers}

    def render(self, spec: ExperimentSpec, source: str, user_ns: dict) -> str:
        """The Experiment Katib would get; with no cluster to ask, what the newest Trainer and Katib would
        (as ``kubectl --dry-run=client``), the assumptions said above it."""
        import tempfile

        import yaml

        from jupyter_kf.kube.client import ClusterError, OfflineCluster
        from jupyter_kf.training.backends.kubernetes import KubernetesBackend

        assumed = ""
        with tempfile.TemporaryDirectory(prefix="kf-tune-") as tmp:
            try:
                namespace, _, body, _ = self._plan(spec, source, user_ns, Path(tmp) / "online")
            except ClusterError as err:
                offline = OfflineCluster(api_client=None, namespace=config.get().namespace or "default",
                                         reason=str(err))
                namespace, _, body, _ = KatibExperiments(KubernetesBackend(cluster=offline))._plan(
                    spec, source, user_ns, Path(tmp) / "offline")
                assumed = offline.assumed() + "# Assumed: Katib v0.19 installed; the namespace's labels unread.\n"
        webhook_rules.check(body)
        return (f"{assumed}dry run: experiment {spec.name!r} in namespace {namespace}; Katib would get:\n"
                + yaml.safe_dump(body, sort_keys=False) + "nothing was started")

    def create(self, spec: ExperimentSpec, source: str, user_ns: dict | None = None, replace: bool = False) -> None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="kf-tune-") as tmp:
            namespace, secret, body, meta = self._plan(spec, source, user_ns or {}, Path(tmp))
            labels = self._namespace_labels(namespace)
            webhook_rules.check(body, labels)
            if replace:
                self.delete(spec.name, namespace)
            elif (self._find(spec.name, namespace) is not None
                  or (self.folder(spec.name, namespace) / "status.json").exists()):
                raise AlreadyExists(f"experiment {spec.name!r} exists in namespace {namespace!r}: pick another --name, "
                                    f"or %kf_experiment_delete {spec.name} (or --replace) first")
            self._create_objects(spec.name, namespace, secret, body)
            folder = config.private_dir(self.folder(spec.name, namespace))
            for part in _KEPT:
                if (Path(tmp) / part).exists():
                    shutil.copyfile(Path(tmp) / part, folder / part)
            config.write_private(folder / "experiment.json", json.dumps(meta))

    def _create_objects(self, name: str, namespace: str, secret: dict, body: dict) -> None:
        """The bundle Secret, then the Experiment, then the Secret owned by it (deleted with it); undone on failure."""
        core, custom = self.jobs._api("CoreV1Api"), self.jobs._api("CustomObjectsApi")
        call = self.jobs.cluster.call
        secret_name = secret["metadata"]["name"]
        call(core.create_namespaced_secret, namespace, secret, what=f"Secret {secret_name}")
        try:
            created = call(custom.create_namespaced_custom_object, GROUP, VERSION, namespace, "experiments", body,
                           what=f"Experiment {name}")
            owner = {"apiVersion": API_VERSION, "kind": "Experiment", "name": name,
                     "uid": created["metadata"]["uid"], "controller": False, "blockOwnerDeletion": False}
            call(core.patch_namespaced_secret, secret_name, namespace, {"metadata": {"ownerReferences": [owner]}},
                 what=f"Secret {secret_name}")
        except BaseException:
            call(core.delete_namespaced_secret, secret_name, namespace)
            raise

    def _namespace_labels(self, namespace: str) -> dict | None:
        core = self.jobs._api("CoreV1Api")
        try:
            ns = self.jobs.cluster.call(core.read_namespace, namespace, what=f"namespace {namespace}")
        except KfError:
            return None  # not allowed to read namespaces: the webhook will say
        return dict(ns.metadata.labels or {})

    # -- following the search ---------------------------------------------------------------------------
    def start(self, name: str, user_ns: dict, on_update=None) -> "KatibWatch":
        """Follow the search from this process (Katib runs it): ``on_update`` gets each new status."""
        current = _WATCHES.get(name)
        if current is not None and current.alive:
            current.on_update = on_update or current.on_update
            return current
        return KatibWatch(self, name, on_update).start()

    def active(self, name: str) -> "KatibWatch | None":
        watch = _WATCHES.get(name)
        return watch if watch is not None and watch.alive else None

    def source(self, name: str) -> str:
        return ""  # the code is in the Experiment's bundle: nothing to bind again after a restart

    # -- reading ----------------------------------------------------------------------------------------
    def _find(self, name: str, namespace: str | None = None) -> dict | None:
        custom = self.jobs._api("CustomObjectsApi")
        namespace = namespace or self.jobs.cluster.namespace
        try:
            return self.jobs.cluster.call(custom.get_namespaced_custom_object, GROUP, VERSION, namespace,
                                          "experiments", name, what=f"Experiment {name}")
        except NotFound:
            return None

    def _get(self, name: str) -> dict:
        body = self._find(name)
        if body is None:
            raise NotFound(f"experiment {name!r} not found in namespace {self.jobs.cluster.namespace!r} "
                           "(%kf_experiments lists them)")
        return body

    def _stopped(self, name: str) -> dict | None:
        """What a stopped search left here (its Experiment is gone from the cluster)."""
        path = self.folder(name) / "status.json"
        return json.loads(path.read_text()) if path.exists() else None

    def spec(self, name: str) -> ExperimentSpec:
        stopped = self._stopped(name)
        body = stopped["experiment"] if stopped else self._get(name)
        return spec_of(name, body["spec"])

    def status(self, name: str) -> ExperimentStatus:
        stopped = self._stopped(name)
        if stopped is not None:
            return ExperimentStatus.from_dict(stopped["status"])
        body = self._get(name)
        return self._explained(status_of(body, self._trials(body)))

    def _explained(self, status: ExperimentStatus) -> ExperimentStatus:
        """Failed trials say the cell's error (read once from the trial job's results), and a failed search its
        first one."""
        from jupyter_kf.experiments.backends.local import failure_message

        for trial in status.trials:
            if trial.phase == "Failed":
                if trial.name not in self._failures:
                    try:
                        self._failures[trial.name] = failure_message(self.trial_job(trial.name, status.name))
                    except KfError:
                        self._failures[trial.name] = ""
                trial.message = self._failures[trial.name] or trial.message
        failed = next((t for t in status.trials if t.phase == "Failed" and t.message), None)
        if status.phase == "Failed" and status.best is None and failed is not None:
            status.message = f"{status.message}; {failed.name}: {failed.message}"
        return status

    def _trials(self, body: dict) -> list[dict]:
        custom = self.jobs._api("CustomObjectsApi")
        listed = self.jobs.cluster.call(custom.list_namespaced_custom_object, GROUP, VERSION,
                                        body["metadata"]["namespace"], "trials",
                                        label_selector=f"{EXPERIMENT_LABEL}={body['metadata']['name']}")
        return listed.get("items", [])

    def list(self) -> list[ExperimentStatus]:
        custom = self.jobs._api("CustomObjectsApi")
        namespace = self.jobs.cluster.namespace
        listed = self.jobs.cluster.call(custom.list_namespaced_custom_object, GROUP, VERSION, namespace, "experiments")
        trials: dict[str, list[dict]] = {}  # one read of every Trial, by experiment
        for trial in self.jobs.cluster.call(custom.list_namespaced_custom_object, GROUP, VERSION, namespace,
                                            "trials", label_selector=EXPERIMENT_LABEL).get("items", []):
            trials.setdefault(trial["metadata"]["labels"][EXPERIMENT_LABEL], []).append(trial)
        found = [status_of(b, trials.get(b["metadata"]["name"], [])) for b in listed.get("items", [])]
        names = {s.name for s in found}
        root = config.state_root() / "katib" / namespace  # searches stopped here, gone from the cluster
        for path in sorted(root.glob("*/status.json")):
            if path.parent.name not in names:
                found.append(ExperimentStatus.from_dict(json.loads(path.read_text())["status"]))
        return sorted(found, key=lambda s: -(s.created or 0))

    # -- a trial's job, as a %%kf_train job ---------------------------------------------------------------
    def trial_job(self, trial: str, experiment: str):
        """The training backend's ``Job`` for a trial, its record written from the experiment's bundle."""
        from jupyter_kf.training.api import Job
        from jupyter_kf.training.backends.kubernetes import RESULT_KEY_FILE

        source = self.folder(experiment)
        record = self.jobs.record(trial)
        if not (record / "meta.json").exists():
            if not (source / "experiment.json").exists():
                raise KfError(f"experiment {experiment!r} was started from another machine: the results of {trial} "
                              "can only be brought back where it was started")
            meta = json.loads((source / "experiment.json").read_text())
            key, workers = meta.pop("result_key"), meta.pop("workers", 1)
            meta["spec"] = {**(meta.get("spec") or {}), "name": trial, "workers": workers}
            config.private_dir(record)
            if (source / "payload.bin").exists():
                shutil.copyfile(source / "payload.bin", record / "payload.bin")
            config.write_private(record / RESULT_KEY_FILE, key)
            config.write_private(record / "meta.json", json.dumps(meta))
        return Job(trial, self.jobs)

    # -- actions ----------------------------------------------------------------------------------------
    def cancel(self, name: str) -> ExperimentStatus:
        """Keep the status and the best trial's results here, then delete the Experiment (and so every trial's
        job): Katib has no pause."""
        stopped = self._stopped(name)
        if stopped is not None:
            return ExperimentStatus.from_dict(stopped["status"])
        body = self._get(name)
        status = status_of(body, self._trials(body))
        watch = self.active(name)
        if watch is not None:
            watch.stop()
        if status.best is not None:
            try:
                self.trial_job(status.best.name, name).load_results()  # fetched before the job goes
            except KfError:
                pass
        if not status.done:
            now = time.time()
            for trial in status.trials:
                if not trial.done:
                    trial.phase, trial.finished, trial.message = "Cancelled", now, "the search was stopped"
            status.phase, status.message = "Cancelled", "stopped: the Experiment and its trials' jobs were deleted"
        folder = config.private_dir(self.folder(name))
        config.write_private(folder / "status.json", json.dumps({"status": status.to_dict(), "experiment": body}))
        self._delete_experiment(name, body["metadata"]["namespace"])
        return status

    def _delete_experiment(self, name: str, namespace: str) -> None:
        custom = self.jobs._api("CustomObjectsApi")
        try:
            self.jobs.cluster.call(custom.delete_namespaced_custom_object, GROUP, VERSION, namespace, "experiments",
                                   name, propagation_policy="Foreground", what=f"Experiment {name}")
        except NotFound:
            pass

    def delete(self, name: str, namespace: str | None = None) -> None:
        """The Experiment with its trials and their jobs, and everything kept here about it."""
        namespace = namespace or self.jobs.cluster.namespace
        watch = self.active(name)
        if watch is not None:
            watch.stop()
        stopped = self._stopped(name) if namespace == self.jobs.cluster.namespace else None
        body = self._find(name, namespace)
        trials = [t["metadata"]["name"] for t in self._trials(body)] if body else []
        if stopped:
            trials += [t["name"] for t in stopped["status"]["trials"]]
        self._delete_experiment(name, namespace)
        for trial in trials:
            shutil.rmtree(self.jobs.record(trial, namespace), ignore_errors=True)
        shutil.rmtree(self.folder(name, namespace), ignore_errors=True)


_WATCHES: dict[str, "KatibWatch"] = {}


class KatibWatch:
    """Follows a Katib search from the kernel: reads its status until it ends, hands each change to the view."""

    POLL = 0.5  # seconds between reads of the Experiment and its Trials

    def __init__(self, store: KatibExperiments, name: str, on_update=None):
        self.store, self.name, self.on_update = store, name, on_update
        self.status: ExperimentStatus | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"kf-katib-{name}", daemon=True)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def start(self) -> "KatibWatch":
        _WATCHES[self.name] = self
        self.thread.start()
        return self

    def _run(self) -> None:
        seen = None
        try:
            while not self._stop.is_set():
                self.status = self.store.status(self.name)
                shown = json.dumps(self.status.to_dict(), sort_keys=True, default=str)
                if shown != seen and self.on_update is not None:
                    self.on_update(self.status)
                seen = shown
                if self.status.done:
                    return
                self._stop.wait(self.POLL)
        except BaseException as err:  # the wait reports it
            self.error = err

    def wait(self, timeout: float | None = None) -> ExperimentStatus | None:
        self.thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.status

    def stop(self) -> None:
        self._stop.set()


def spec_of(name: str, body: dict) -> ExperimentSpec:
    params = {p["name"]: _form(p) for p in body["parameters"]}
    objective = body["objective"]
    return ExperimentSpec.create(name=name, params=params, objective=objective["objectiveMetricName"],
                                 goal=objective["type"], trials=body.get("maxTrialCount", 1),
                                 parallel=body.get("parallelTrialCount", 1), target=objective.get("goal"),
                                 max_failed=body.get("maxFailedTrialCount"),
                                 algorithm=body["algorithm"]["algorithmName"], backend="kubernetes")


def _form(param: dict) -> str:
    space, kind = param["feasibleSpace"], param["parameterType"]
    if kind in ("categorical", "discrete"):
        return f"{'choice' if kind == 'categorical' else 'discrete'}({','.join(space['list'])})"
    step = f",{space['step']}" if "step" in space else ""
    if kind == "int":
        return f"int({space['min']},{space['max']}{step})"
    log = space.get("distribution") == "logUniform"
    return f"{'loguniform' if log else 'uniform'}({space['min']},{space['max']}{'' if log else step})"


def _true(conditions: list[dict] | None) -> dict:
    return {c.get("type"): c for c in conditions or [] if c.get("status") == "True"}


def _phase(conditions: list[dict] | None, order) -> str:
    true = _true(conditions)
    return next((p for p in order if p in true), "Pending")


def _epoch(text: str | None) -> float | None:
    from jupyter_kf.kube.watch import epoch

    return epoch(text) if text else None


def trial_of(number: int, trial: dict, metric: str, strategy: str) -> TrialStatus:
    """A Trial as the search's row: parameters as text, phase, objective by its strategy, times, why it ended."""
    status = trial.get("status") or {}
    params = {a["name"]: a["value"] for a in (trial.get("spec") or {}).get("parameterAssignments") or []}
    value = None
    for m in (status.get("observation") or {}).get("metrics") or []:
        if m.get("name") == metric:
            text = m.get(strategy, "unavailable")
            try:
                value = float(m.get("latest") if text == "unavailable" else text)
            except (TypeError, ValueError):
                value = None
    phase = _phase(status.get("conditions"), _TRIAL_PHASES)
    ended = _true(status.get("conditions")).get(phase) or {}
    phase = {"Created": "Pending", "Killed": "Cancelled"}.get(phase, phase)
    message = ended.get("message", "") if phase in ("Failed", "MetricsUnavailable") else ""
    if phase == "MetricsUnavailable":
        message = f"{metric} was never printed as {metric}=<number> ({message})"
    return TrialStatus(number, trial["metadata"]["name"], params, phase=phase, objective=value,
                       started=_epoch(status.get("startTime")), finished=_epoch(status.get("completionTime")),
                       message=message)


def status_of(body: dict, trials: list[dict]) -> ExperimentStatus:
    """The search's status from the Experiment's conditions and its Trials."""
    spec, st = body.get("spec") or {}, body.get("status") or {}
    phase = _phase(st.get("conditions"), ("Succeeded", "Failed", "Running", "Restarting", "Created"))
    ended = _true(st.get("conditions")).get(phase) or {}
    phase = {"Created": "Pending", "Restarting": "Running"}.get(phase, phase)
    objective = spec["objective"]
    metric, goal = objective["objectiveMetricName"], objective["type"]
    out = ExperimentStatus(body["metadata"]["name"], phase, "kubernetes", metric, goal, spec.get("maxTrialCount", 0),
                           spec.get("parallelTrialCount", 3), spec["algorithm"]["algorithmName"],
                           namespace=body["metadata"].get("namespace"),
                           created=_epoch(body["metadata"].get("creationTimestamp")) or time.time())
    strategy = "min" if goal == "minimize" else "max"
    ordered = sorted(trials, key=lambda t: (t["metadata"].get("creationTimestamp", ""), t["metadata"]["name"]))
    out.trials = [trial_of(i, t, metric, strategy) for i, t in enumerate(ordered)]
    if phase in ("Succeeded", "Failed"):
        out.message = f"{ended.get('reason', phase)}: {ended.get('message', '')}".rstrip(": ")
        unavailable = out.count("MetricsUnavailable")
        if out.best is None and unavailable:
            out.message = (f"no trial printed {metric}=<number> ({unavailable} trials ended MetricsUnavailable; "
                           f"{out.message})")
    return out
