"""Plays Katib v0.19's controllers on the Kubernetes emulator, so ``%%kf_tune --backend kubernetes`` is tested end
to end: Experiment -> Trials -> jobs -> pods -> metrics -> Trial and Experiment status.

Written from kubeflow/katib (pkg/controller.v1beta1/experiment: ``experiment_controller_util.getTrialInstance``,
``util/status_util.go`` (trial summary, ``currentOptimalTrial``, completion reasons and their order);
pkg/controller.v1beta1/trial: ``trial_controller_util.UpdateTrialStatusCondition`` (reasons ``TrialSucceeded.
Job reason: ...``), ``getMetrics`` (min/max keep the reported text); manifest/generator.go (text substitution of
``${trialParameters.X}``, job named like its Trial, the Trial as controller owner); the pod webhook (Trial labels
and ``katib.kubeflow.org/trial`` on pods, ``KATIB_TRIAL_NAME`` in the primary container) and the StdOut file
collector (``name=value`` lines of the primary container, read once the job ended). Facts, not code: this is our
own, smaller program. The suggestion service is a seeded random (or, for ``grid``, an ordered grid) search.

Early stopping: the medianstop service's rule; the sidecar's live check is the simulated collector's
(k8s_emulator/simulate/katib_collector.py), whose "early stopped" line stands for its report to Katib.
Not played: the Suggestion object and its Deployment, finalizers, resume policies, Killed trials. Jobs and pods
are the simulating mode's (k8s_emulator/simulate), which starts these controllers.
"""
from __future__ import annotations

import itertools
import json
import math
import random
import re

from tests.support.fake_controller import FakeController
from tests.support.helpers import KINDS as JOB_KINDS
from tests.support.k8s_emulator.meta import rfc3339

G, V = "kubeflow.org", "v1beta1"
EXPERIMENT_LABEL, TRIAL_LABEL = "katib.kubeflow.org/experiment", "katib.kubeflow.org/trial"
NAME_LETTERS = "bcdfghjklmnpqrstvwxz2456789"  # Katib's trial-name alphabet (suggestionclient.go)
UNAVAILABLE = "unavailable"
METRIC_LINE = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")
_CONDITION_PATH = re.compile(r'^status\.conditions\.#\(type=="(\w+)"\)#\|#\(status=="True"\)#$')
_PLACEHOLDER = re.compile(r"\$\{trialParameters\.([^}]+)\}")
COLLECTOR = "metrics-logger-and-collector"
EARLY_STOPPED = "Training container is early stopped"  # the simulated sidecar's line (simulate/katib_collector.py)
KLOG_HEADER = re.compile(r"^I\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ main\.go:\d+\] ")
TRIAL_DONE = ("Succeeded", "Failed", "Killed", "EarlyStopped", "MetricsUnavailable")


def condition(obj: dict, ctype: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == ctype), None)


def is_true(obj: dict, ctype: str) -> bool:
    found = condition(obj, ctype)
    return found is not None and found["status"] == "True"


def set_condition(status: dict, ctype: str, value: str, reason: str, message: str) -> None:
    """``setCondition``: replaced (moved to the end) unless status and reason are the same."""
    conditions = status.setdefault("conditions", [])
    current = next((c for c in conditions if c["type"] == ctype), None)
    if current is not None and current["status"] == value and current["reason"] == reason:
        return
    now = rfc3339()
    moved = current["lastTransitionTime"] if current is not None and current["status"] == value else now
    conditions[:] = [c for c in conditions if c["type"] != ctype]
    conditions.append({"type": ctype, "status": value, "reason": reason, "message": message,
                       "lastUpdateTime": now, "lastTransitionTime": moved})


def mark_done(status: dict, ctype: str, reason: str, message: str) -> None:
    """``MarkTrialStatus{Succeeded,Failed,MetricsUnavailable}`` / ``MarkExperimentStatus{Succeeded,Failed}``:
    Running flips to False (keeping its reason), the final condition is added."""
    running = next((c for c in status.get("conditions") or [] if c["type"] == "Running"), None)
    if running is not None:
        set_condition(status, "Running", "False", running["reason"], running["message"])
    set_condition(status, ctype, "True", reason, message)


def matches(path: str, job: dict) -> dict | None:
    """The job's condition a success/failure GJSON path names, when it is True (only the shape Katib's defaults
    and jupyter_kf use: ``status.conditions.#(type=="X")#|#(status=="True")#``)."""
    found = _CONDITION_PATH.match(path)
    if found is None:
        raise ValueError(f"the fake Katib reads only status.conditions paths, not {path!r}")
    wanted = condition(job, found.group(1))
    return wanted if wanted is not None and wanted["status"] == "True" else None


def parse_metrics(lines: list[str], names: list[str]) -> list[dict]:
    """The StdOut collector and ``getMetrics``: lines naming a metric, every ``name=value`` match; min and max keep
    the reported text, non-numbers only move ``latest``."""
    metrics = {n: {"name": n, "min": UNAVAILABLE, "max": UNAVAILABLE, "latest": UNAVAILABLE} for n in names}
    for line in lines:
        if not any(n in line for n in names):
            continue
        for found in METRIC_LINE.finditer(line):
            metric = metrics.get(found.group(1))
            if metric is None:
                continue
            text = found.group(2)
            metric["latest"] = text
            try:
                value = float(text)
            except ValueError:
                continue
            if metric["min"] == UNAVAILABLE or value < float(metric["min"]):
                metric["min"] = text
            if metric["max"] == UNAVAILABLE or value > float(metric["max"]):
                metric["max"] = text
    return list(metrics.values())


def objective_value(trial: dict) -> str:
    """``getObjectiveMetricValue``: the objective by its strategy, ``latest`` when min/max is unavailable."""
    objective = trial["spec"]["objective"]
    name = objective["objectiveMetricName"]
    strategy = next((s["value"] for s in objective.get("metricStrategies") or [] if s["name"] == name), "latest")
    for metric in ((trial.get("status") or {}).get("observation") or {}).get("metrics") or []:
        if metric["name"] == name:
            value = metric.get(strategy, metric["latest"]) if strategy in ("min", "max") else metric["latest"]
            return metric["latest"] if value == UNAVAILABLE else value
    return UNAVAILABLE


class Suggestions:
    """The suggestion service: seeded random points, or ``grid``'s points in order (numpy.arange-like)."""

    def __init__(self, experiment: dict, seed: int):
        spec = experiment["spec"]
        self.parameters = spec["parameters"]
        settings = {s["name"]: s["value"] for s in spec["algorithm"].get("algorithmSettings") or []}
        self.random = random.Random(int(settings.get("random_state", seed)))
        self.grid = None
        if spec["algorithm"]["algorithmName"] == "grid":
            self.grid = itertools.product(*(self._grid(p) for p in self.parameters))

    @staticmethod
    def _grid(param: dict) -> list[str]:
        space = param["feasibleSpace"]
        if param["parameterType"] in ("categorical", "discrete"):
            return list(space["list"])
        low, high = float(space["min"]), float(space["max"])
        step = float(space.get("step") or 1)
        count = int(math.floor((high - low) / step + 1e-9)) + 1
        values = [low + i * step for i in range(count)]
        return [str(int(v)) if param["parameterType"] == "int" else repr(v) for v in values]

    def _one(self, param: dict) -> str:
        space, kind = param["feasibleSpace"], param["parameterType"]
        if kind in ("categorical", "discrete"):
            return self.random.choice(space["list"])
        low, high = float(space["min"]), float(space["max"])
        if kind == "int":
            step = int(space.get("step") or 1)
            return str(int(low) + step * self.random.randint(0, (int(high) - int(low)) // step))
        if space.get("distribution") == "logUniform":
            return repr(math.exp(self.random.uniform(math.log(low), math.log(high))))
        if space.get("step"):
            step = float(space["step"])
            return repr(low + step * self.random.randint(0, int((high - low) / step + 1e-9)))
        return repr(self.random.uniform(low, high))

    def next(self) -> list[dict] | None:
        if self.grid is not None:
            point = next(self.grid, None)
            if point is None:
                return None
            return [{"name": p["name"], "value": v} for p, v in zip(self.parameters, point)]
        return [{"name": p["name"], "value": self._one(p)} for p in self.parameters]


class FakeKatib(FakeController):
    """Katib's experiment and trial controllers, reconciling in a thread while started (``with FakeKatib(emu):``).

    The emulator's simulating mode starts it: the cluster's own controllers and kubelet run each trial's job; the
    pod webhook's labels and env go on the job's pod templates, the collector sidecar is injected into the primary
    pod (k8s_emulator/webhook_katib_pods.py) and the metrics come from its log. ``errors``: what went wrong in the
    controller (a test should find it empty).
    """

    name = "fake-katib"

    def __init__(self, emulator, seed: int = 0):
        super().__init__(emulator)
        self.seed = seed
        self.suggestions: dict[str, Suggestions] = {}

    # -- the experiment controller -------------------------------------------------------------------
    def reconcile(self) -> None:
        for experiment in self.emu.list_objects(G, V, "experiments"):
            if not experiment["metadata"].get("deletionTimestamp"):
                self.reconcile_experiment(experiment)

    def trials(self, namespace: str, name: str) -> list[dict]:
        found = [t for t in self.emu.list_objects(G, V, "trials", namespace)
                 if (t["metadata"].get("labels") or {}).get(EXPERIMENT_LABEL) == name]
        return sorted(found, key=lambda t: (t["metadata"]["creationTimestamp"], int(t["metadata"]["resourceVersion"])))

    def reconcile_experiment(self, experiment: dict) -> None:
        meta, spec = experiment["metadata"], experiment["spec"]
        namespace, name = meta["namespace"], meta["name"]
        status = json.loads(json.dumps(experiment.get("status") or {}))
        if condition(experiment, "Created") is None:
            set_condition(status, "Created", "True", "ExperimentCreated", "Experiment is created")
            status["startTime"] = rfc3339()
        for trial in self.trials(namespace, name):
            self.reconcile_trial(trial)
        trials = self.trials(namespace, name)
        goal_reached = summarize(status, spec, trials)
        completed = any(c["type"] in ("Succeeded", "Failed") and c["status"] == "True"
                        for c in status.get("conditions") or [])
        if not completed:
            completed = update_condition(status, spec, goal_reached)
        if not completed:
            self.add_trials(experiment, status, trials)
        if status != (experiment.get("status") or {}):
            status["lastReconcileTime"] = rfc3339()
            self.emu.set_status(G, V, "experiments", namespace, name, status)

    def add_trials(self, experiment: dict, status: dict, trials: list[dict]) -> None:
        """``ReconcileTrials``: keep ``parallelTrialCount`` active, never past ``maxTrialCount``."""
        spec = experiment["spec"]
        parallel = spec.get("parallelTrialCount", 3)
        active = status["trialsPending"] + status["trialsRunning"]
        completed = len(trials) - active
        required = parallel
        if spec.get("maxTrialCount") is not None and completed + parallel > spec["maxTrialCount"]:
            required = spec["maxTrialCount"] - completed
        key = f"{experiment['metadata']['namespace']}/{experiment['metadata']['name']}/{experiment['metadata']['uid']}"
        suggestions = self.suggestions.setdefault(key, Suggestions(experiment, self.seed))
        rules = self.median_stop_rules(experiment, trials)
        for _ in range(max(0, required - active)):
            assignments = suggestions.next()
            if assignments is None:
                return
            self.create_trial(experiment, assignments, rules)

    def median_stop_rules(self, experiment: dict, trials: list[dict]) -> list[dict]:
        """The medianstop service: once ``min_trials_required`` trials Succeeded, one rule whose value is the mean
        of their first ``start_step`` objective values' averages (the mean, despite the name; katib.md §8)."""
        stopping = experiment["spec"].get("earlyStopping")
        if not stopping or stopping.get("algorithmName") != "medianstop":
            return []
        settings = {s["name"]: int(s["value"]) for s in stopping.get("algorithmSettings") or []}
        required, start = settings.get("min_trials_required", 3), settings.get("start_step", 4)
        objective = experiment["spec"]["objective"]
        averages = []
        for trial in trials:
            lines = self.primary_log(trial) if is_true(trial, "Succeeded") else []
            values = [float(m.group(2)) for line in lines for m in METRIC_LINE.finditer(line)
                      if m.group(1) == objective["objectiveMetricName"]][:start]
            if len(values) == start:
                averages.append(sum(values) / start)
        if len(averages) < required:
            return []
        return [{"name": objective["objectiveMetricName"], "value": repr(sum(averages) / len(averages)),
                 "comparison": "greater" if objective["type"] == "minimize" else "less", "startStep": start}]

    def create_trial(self, experiment: dict, assignments: list[dict], rules: list[dict] = ()) -> dict:
        """``getTrialInstance``: Experiment labels plus the experiment label, controller owner, a copy of the
        objective, the rendered job as ``runSpec``."""
        meta, spec = experiment["metadata"], experiment["spec"]
        template = spec["trialTemplate"]
        name = f"{meta['name']}-{''.join(random.choice(NAME_LETTERS) for _ in range(8))}"
        run_spec = render_job(template, assignments, name, meta["namespace"])
        trial_spec = {"objective": spec["objective"], "parameterAssignments": assignments, "runSpec": run_spec,
                      "retainRun": template.get("retain", False),
                      "metricsCollector": spec.get("metricsCollectorSpec") or {"collector": {"kind": "StdOut"}},
                      "primaryContainerName": template["primaryContainerName"],
                      "successCondition": template["successCondition"],
                      "failureCondition": template["failureCondition"]}
        if template.get("primaryPodLabels"):
            trial_spec["primaryPodLabels"] = template["primaryPodLabels"]
        if spec.get("earlyStopping"):
            trial_spec["earlyStoppingRules"] = list(rules)
        return self.emu.create_object({
            "apiVersion": f"{G}/{V}", "kind": "Trial",
            "metadata": {"name": name, "namespace": meta["namespace"],
                         "labels": {**(meta.get("labels") or {}), EXPERIMENT_LABEL: meta["name"]},
                         "ownerReferences": [owner_reference(experiment)]},
            "spec": trial_spec})

    # -- the trial controller ------------------------------------------------------------------------
    def reconcile_trial(self, trial: dict) -> None:
        meta = trial["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        if meta.get("deletionTimestamp") or any(is_true(trial, c) for c in TRIAL_DONE):
            return
        status = json.loads(json.dumps(trial.get("status") or {}))
        if condition(trial, "Created") is None:
            set_condition(status, "Created", "True", "TrialCreated", "Trial is created")
            status["startTime"] = rfc3339()
        job = self.job(trial)
        if job is None:
            self.create_job(trial)
        else:
            self.follow_job(trial, job, status)
        if status != (trial.get("status") or {}):
            status["lastReconcileTime"] = rfc3339()

            def apply(current):  # under the store's lock: the sidecar may have ended the trial meanwhile
                if not any(is_true(current, c) for c in TRIAL_DONE):
                    current["status"] = status
            self.emu.update_object(G, V, "trials", namespace, name, apply)

    def job(self, trial: dict) -> dict | None:
        group, version = trial["spec"]["runSpec"]["apiVersion"].rpartition("/")[::2]
        plural = next(p for g, v, p in JOB_KINDS.values() if g == group and v == version)
        return self.emu.get_object(group, version, plural, trial["metadata"]["namespace"], trial["metadata"]["name"])

    def create_job(self, trial: dict) -> None:
        from tests.support.k8s_emulator.errors import ApiError

        job = json.loads(json.dumps(trial["spec"]["runSpec"]))
        job["metadata"] = {**job["metadata"], "ownerReferences": [owner_reference(trial)]}
        label_trial_pods(job, trial)
        try:
            self.emu.create_object(job)
        except ApiError as err:  # the Trial stays Created, as Katib's does, with an event saying why
            self.emu.emit_event(trial["metadata"]["namespace"], trial, "ReconcileError", str(err), type="Warning",
                                source="trial-controller")
            return
        self.emu.emit_event(trial["metadata"]["namespace"], trial, "JobCreated",
                            f"Job {trial['metadata']['name']} has been created", source="trial-controller")

    def follow_job(self, trial: dict, job: dict, status: dict) -> None:
        """``UpdateTrialStatusCondition``: failure first, then success with the objective (else
        MetricsUnavailable), else Running."""
        spec = trial["spec"]
        if collector_said_early_stopped(self.emu, trial):
            objective = spec["objective"]
            names = [objective["objectiveMetricName"], *(objective.get("additionalMetricNames") or [])]
            status["observation"] = {"metrics": parse_metrics(primary_pod_log(self.emu, trial), names)}
            mark_done(status, "EarlyStopped", "TrialEarlyStopped", "Trial is early stopped")
            status["completionTime"] = rfc3339()
            return
        failed = matches(spec["failureCondition"], job)
        succeeded = None if failed else matches(spec["successCondition"], job)
        if failed is None and succeeded is None:
            set_condition(status, "Running", "True", "TrialRunning", "Trial is running")
            return
        done = failed or succeeded
        job_reason = f". Job reason: {done['reason']}" if done.get("reason") else ""
        job_message = f". Job message: {done['message']}" if done.get("message") else ""
        status["completionTime"] = rfc3339()
        if failed is not None:
            mark_done(status, "Failed", "TrialFailed" + job_reason, "Trial has failed" + job_message)
            return
        objective = spec["objective"]
        names = [objective["objectiveMetricName"], *(objective.get("additionalMetricNames") or [])]
        metrics = parse_metrics(self.primary_log(trial), names)
        if metrics[0]["latest"] != UNAVAILABLE:
            status["observation"] = {"metrics": metrics}
            mark_done(status, "Succeeded", "TrialSucceeded" + job_reason, "Trial has succeeded" + job_message)
        else:
            mark_done(status, "MetricsUnavailable", "MetricsUnavailable" + job_reason,
                      "Metrics are not available" + job_message)

    def primary_log(self, trial: dict) -> list[str]:
        """The metrics lines of the trial's first primary pod, which the collector parses once the job ended."""
        return primary_pod_log(self.emu, trial)


# The label each job controller puts on its pods naming the job (Katib trial jobs are named as their Trial).
JOB_POD_LABELS = ("job-name", "jobset.sigs.k8s.io/jobset-name", "training.kubeflow.org/job-name")


def label_trial_pods(job: dict, trial: dict) -> None:
    """What Katib's pod webhook adds to a trial's pods (Trial labels, KATIB_TRIAL_NAME in the primary container),
    put on the job's pod templates for a cluster whose controllers make the pods."""
    labels = {**(trial["metadata"].get("labels") or {}), TRIAL_LABEL: trial["metadata"]["name"]}
    env = [{"name": "KATIB_TRIAL_NAME", "value": trial["metadata"]["name"]}]
    primary = trial["spec"].get("primaryContainerName")
    spec = job["spec"]
    if "trainer" in spec:  # a TrainJob: its pod template is the runtime patch's
        spec["trainer"]["env"] = [*(spec["trainer"].get("env") or []), *env]
        for patch in spec.get("runtimePatches") or []:
            for rjob in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]:
                meta = rjob["template"]["spec"]["template"].setdefault("metadata", {})
                meta["labels"] = {**(meta.get("labels") or {}), **labels}
        return
    templates = [r["template"] for r in spec.get("pytorchReplicaSpecs", {}).values()] or [spec["template"]]
    for template in templates:
        template.setdefault("metadata", {})["labels"] = {**(template["metadata"].get("labels") or {}), **labels}
        for container in template["spec"]["containers"]:
            if container["name"] == primary:
                container["env"] = [*(container.get("env") or []), *env]


def primary_pod_log(emulator, trial: dict) -> list[str]:
    """The metrics lines of the trial job's first primary pod: what its collector sidecar printed (the pod webhook
    sent the primary container's output there), else the primary container's own log."""
    for pod in _primary_pods(emulator, trial):
        lines = _collector_lines(emulator, pod)
        if lines is None:
            lines = [line.text.rstrip("\n") for line in emulator.logs.lines(
                pod["metadata"]["namespace"], pod["metadata"]["name"], trial["spec"].get("primaryContainerName")) or []]
        if lines:
            return [line for line in lines if line != EARLY_STOPPED]
    return []


def collector_said_early_stopped(emulator, trial: dict) -> bool:
    """The sidecar reported an early stop (Katib's early-stopping service would then mark the Trial)."""
    return any(EARLY_STOPPED in (_collector_lines(emulator, pod) or []) for pod in _primary_pods(emulator, trial))


def _primary_pods(emulator, trial: dict) -> list[dict]:
    namespace, name = trial["metadata"]["namespace"], trial["metadata"]["name"]
    primary = trial["spec"].get("primaryContainerName")
    return sorted((p for p in emulator.list_objects("", "v1", "pods", namespace)
                   if any((p["metadata"].get("labels") or {}).get(key) == name for key in JOB_POD_LABELS)
                   and any(c["name"] == primary for c in p["spec"]["containers"])), key=lambda p: p["metadata"]["name"])


def _collector_lines(emulator, pod: dict) -> list[str] | None:
    """The sidecar's lines without their klog headers; None for a pod without the sidecar."""
    if not any(c["name"] == COLLECTOR for c in pod["spec"]["containers"]):
        return None
    lines = emulator.logs.lines(pod["metadata"]["namespace"], pod["metadata"]["name"], COLLECTOR) or []
    return [KLOG_HEADER.sub("", line.text.rstrip("\n")) for line in lines]


def breaks(best: float, rule: dict) -> bool:
    """An early-stopping rule holds against the best so far (``less``: stop when below, ``greater``: above)."""
    value = float(rule["value"])
    return {"less": best < value, "greater": best > value, "equal": best == value}[rule["comparison"]]


def summarize(status: dict, spec: dict, trials: list[dict]) -> bool:
    """``updateTrialsSummary``: the lists and counts, ``currentOptimalTrial`` over every trial with an objective
    (running ones included); True when the goal is reached."""
    lists = {k: [] for k in ("killed", "failed", "succeeded", "earlyStopped", "running", "metricsUnavailable",
                             "pending")}
    objective = spec["objective"]
    goal, minimize = objective.get("goal"), objective["type"] == "minimize"
    best, best_value, reached = None, None, False
    for trial in trials:
        state = next((k for k, c in (("killed", "Killed"), ("failed", "Failed"), ("succeeded", "Succeeded"),
                                     ("earlyStopped", "EarlyStopped"), ("running", "Running"),
                                     ("metricsUnavailable", "MetricsUnavailable")) if is_true(trial, c)), "pending")
        lists[state].append(trial["metadata"]["name"])
        text = objective_value(trial)
        if text == UNAVAILABLE:
            continue
        try:
            value = float(text)
        except ValueError:
            best = trial  # a non-numeric objective makes its trial "best", as upstream
            continue
        if best is None or (value < best_value if minimize else value > best_value):
            best, best_value = trial, value
        if goal is not None and best_value is not None and (best_value <= goal if minimize else best_value >= goal):
            reached = True
    status["trials"] = len(trials)
    for key, names in lists.items():
        status[f"{key}TrialList"] = names or None
    for key, field in (("running", "trialsRunning"), ("pending", "trialsPending"), ("succeeded", "trialsSucceeded"),
                       ("failed", "trialsFailed"), ("killed", "trialsKilled"), ("earlyStopped", "trialsEarlyStopped"),
                       ("metricsUnavailable", "trialMetricsUnavailable")):
        status[field] = len(lists[key])
    if best is not None:
        status["currentOptimalTrial"] = {
            "bestTrialName": best["metadata"]["name"],
            "parameterAssignments": list(best["spec"]["parameterAssignments"]),
            "observation": {"metrics": list(((best.get("status") or {}).get("observation") or {}).get("metrics")
                                            or [])}}
    for key in [k for k, v in status.items() if v is None]:
        del status[key]
    return reached


def update_condition(status: dict, spec: dict, goal_reached: bool) -> bool:
    """``UpdateExperimentStatusCondition``: goal, then failed count, then completed count; True once completed."""
    completed = sum(status[k] for k in ("trialsSucceeded", "trialsFailed", "trialsKilled", "trialsEarlyStopped",
                                        "trialMetricsUnavailable"))
    failed = status["trialsFailed"] + status["trialMetricsUnavailable"]
    if goal_reached:
        ending = ("Succeeded", "ExperimentGoalReached", "Experiment has succeeded because Objective goal has reached")
    elif spec.get("maxFailedTrialCount") is not None and failed and failed >= spec["maxFailedTrialCount"]:
        ending = ("Failed", "ExperimentFailed", "Experiment has failed because max failed count has reached")
    elif spec.get("maxTrialCount") is not None and completed >= spec["maxTrialCount"]:
        ending = ("Succeeded", "ExperimentMaxTrialsReached",
                  "Experiment has succeeded because max trial count has reached")
    else:
        set_condition(status, "Running", "True", "ExperimentRunning", "Experiment is running")
        return False
    mark_done(status, *ending)
    status["completionTime"] = rfc3339()
    return True


def render_job(template: dict, assignments: list[dict], trial: str, namespace: str) -> dict:
    """``GetRunSpecWithHyperParameters``: the trialSpec as JSON text, each ``${trialParameters.X}`` replaced by
    the value (not escaped) or the trial's metadata; then the job's name and namespace are the Trial's."""
    values = {a["name"]: a["value"] for a in assignments}
    spec = template["trialSpec"]
    meta = spec.get("metadata") or {}
    by_name = {}
    for param in template["trialParameters"]:
        reference = param["reference"]
        if reference in values:
            by_name[param["name"]] = values[reference]
            continue
        found = re.fullmatch(r"\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Labels|Annotations)(?:\[(.+)\])?\}",
                             reference)
        if found is None:
            raise ValueError(f"trial parameter {param['name']!r} references {reference!r}, which is no parameter")
        field, key = found.groups()
        by_name[param["name"]] = {"Name": trial, "Namespace": namespace, "Kind": spec["kind"],
                                  "APIVersion": spec["apiVersion"]}.get(field) or (meta.get(field.lower()) or {})[key]
    text = _PLACEHOLDER.sub(lambda m: by_name[m.group(1)], json.dumps(spec))
    job = json.loads(text)
    job.setdefault("metadata", {}).update(name=trial, namespace=namespace)
    return job


def owner_reference(owner: dict) -> dict:
    meta = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}
