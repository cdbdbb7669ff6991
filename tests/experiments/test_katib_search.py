"""A search on the emulator with Katib installed: Katib's controllers make Trials and their jobs, the simulating
mode's controllers and kubelet run our runner for each, the collector reads the ``name=value`` lines; jupyter_kf
follows the Experiment and brings the best trial back (``simulated_katib``). Tests that run nothing take Katib's
install and webhooks alone (``katib``)."""
import re

import pytest
from kubernetes import client

from jupyter_kf.experiments import api
from jupyter_kf.experiments.webhook_rules import INJECTION_LABEL
from tests.support.fake_katib import COLLECTOR
from tests.support.k8s_emulator.webhook_katib import install_katib

QUADRATIC = "offset = 0.5\nloss = (x - offset) ** 2 + k\nprint(f'epoch=1 loss={loss + 1}')\nprint(f'epoch=2 loss={loss}')"


@pytest.fixture
def katib(kf_cluster, k8s_api_client):
    install_katib(kf_cluster)
    client.CoreV1Api(k8s_api_client).patch_namespace("default", {"metadata": {"labels": {INJECTION_LABEL: "enabled"}}})
    return kf_cluster


@pytest.fixture
def simulated_katib(simulator, k8s_api_client):
    """Katib on the simulating mode (the simulator installs it and starts its controllers), suggestions seeded."""
    simulator.katib.seed = 3
    client.CoreV1Api(k8s_api_client).patch_namespace("default", {"metadata": {"labels": {INJECTION_LABEL: "enabled"}}})
    return simulator.emu


def trials_of(emu, name):
    return [t for t in emu.list_objects("kubeflow.org", "v1beta1", "trials", "default")
            if t["metadata"]["labels"]["katib.kubeflow.org/experiment"] == name]


PRIMARY = {"job": ("train", 1), "trainjob": ("node", 2), "pytorchjob": ("pytorch", 2)}  # primary container, workers


@pytest.mark.parametrize("kind", sorted(PRIMARY))
def test_search_on_katib_finds_the_best_trial_and_brings_it_back(simulated_katib, kind):
    katib, ns = simulated_katib, {}
    experiment = api.tune(QUADRATIC, params=["x=uniform(-2,2)", "k=int(0,1)"], objective="loss", trials=5,
                          parallel=2, algorithm="random", name="quad", backend="kubernetes", user_ns=ns,
                          kind=kind, workers=PRIMARY[kind][1])
    status = experiment.status()
    assert status.phase == "Succeeded" and len(status.trials) == 5
    assert "ExperimentMaxTrialsReached" in status.message
    expected = {t.name: (float(t.params["x"]) - 0.5) ** 2 + int(t.params["k"]) for t in status.trials}
    best_name = min(expected, key=expected.get)
    best = experiment.best
    assert best.trial == best_name and best.objective == pytest.approx(expected[best_name])
    body = katib.get_object("kubeflow.org", "v1beta1", "experiments", "default", "quad")
    assert body["status"]["currentOptimalTrial"]["bestTrialName"] == best_name
    assert body["status"]["trialsSucceeded"] == 5
    _, (loaded, changed) = experiment.apply(ns)
    assert ns["loss"] == pytest.approx(expected[best_name]) and ns["x"] == float(best.params["x"])
    assert ns["k"] == best.params["k"] and isinstance(ns["k"], int)
    pods = sorted((p for p in katib.list_objects("", "v1", "pods", "default")
                   if p["metadata"]["labels"].get("katib.kubeflow.org/trial") == best_name),
                  key=lambda p: p["metadata"]["name"])
    primary, workers = PRIMARY[kind]
    assert [[c["name"] for c in p["spec"]["containers"]] for p in pods] == [[primary, COLLECTOR]] + [[primary]] * (
        workers - 1)  # the sidecar on the primary pod only
    assert not katib.logs.lines("default", pods[0]["metadata"]["name"], primary)  # Katib sends it to the sidecar
    lines = list(experiment.backend.trial_job(best_name, "quad").logs())
    last = [f"epoch=1 loss={expected[best_name] + 1}", f"epoch=2 loss={expected[best_name]}"]
    for rank in range(workers):
        assert [line.removeprefix(f"[{rank}] ") for line in lines if workers == 1 or line.startswith(f"[{rank}]")
                ][-2:] == last


def test_the_goal_ends_the_search_early(simulated_katib):
    experiment = api.tune(QUADRATIC, params=["x=uniform(-2,2)", "k=int(0,1)"], objective="loss", trials=12,
                          parallel=1, algorithm="random", target=5.0, name="goal", backend="kubernetes",
                          user_ns={}, kind="job")
    status = experiment.status()
    assert status.phase == "Succeeded" and "ExperimentGoalReached" in status.message
    assert len(status.trials) < 12 and experiment.best.objective <= 5.0
    assert all(t.objective > 5.0 for t in status.trials if t.name != experiment.best.trial)


def test_failed_trials_count_against_max_failed(simulated_katib):
    cell = "if k >= 0:\n    raise ValueError(f'diverged at x={x}')\nprint('loss=1')"
    experiment = api.tune(cell, params=["x=uniform(-2,2)", "k=int(0,1)"], objective="loss", trials=6, parallel=1,
                          algorithm="random", max_failed=2, name="fails", backend="kubernetes", user_ns={},
                          kind="job")
    status = experiment.status()
    assert status.phase == "Failed" and "ExperimentFailed" in status.message and "max failed" in status.message
    assert [t.phase for t in status.trials] == ["Failed", "Failed"]
    first = status.trials[0]
    assert first.message == f"ValueError: diverged at x={first.params['x']} at cell line 2"
    assert status.message.endswith(f"; {first.name}: {first.message}")
    body = simulated_katib.get_object("kubeflow.org", "v1beta1", "experiments", "default", "fails")
    assert body["status"]["trialsFailed"] == 2 and "currentOptimalTrial" not in body["status"]


def test_an_objective_never_printed_is_said_once(simulated_katib):
    experiment = api.tune("print(f'accuracy={x}')", params=["x=uniform(0,1)"], objective="loss", trials=2,
                          parallel=2, algorithm="random", name="silent", backend="kubernetes", user_ns={},
                          kind="job")
    status = experiment.status()
    assert [t.phase for t in status.trials] == ["MetricsUnavailable"] * 2
    assert status.message.startswith("no trial printed loss=<number> (2 trials ended MetricsUnavailable")
    assert experiment.best is None


def wait_until(check, timeout=30.0):
    """Wait on the cluster's state (each change of the emulator's store wakes the check)."""
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def workloads(emu):
    return [j["metadata"]["name"] for j in emu.list_objects("batch", "v1", "jobs", "default")]


def test_cancel_deletes_the_trials_and_their_jobs_and_keeps_the_status(simulated_katib, tmp_path):
    from jupyter_kf.errors import NotFound
    from tests.support.helpers import waits_for

    katib = simulated_katib  # the trials run until cancelled: their cell waits on a file never made
    experiment = api.tune(waits_for(tmp_path / "never", QUADRATIC), params=["x=uniform(-2,2)", "k=int(0,1)"],
                          objective="loss", trials=6, parallel=2, algorithm="random", name="stopme",
                          backend="kubernetes", user_ns={}, kind="job", wait=False)
    wait_until(lambda: experiment.status().running == 2 and len(workloads(katib)) == 2, timeout=60)
    running = [t.name for t in experiment.status().trials]
    assert sorted(workloads(katib)) == sorted(running)
    status = experiment.stop()
    assert status.phase == "Cancelled" and [t.phase for t in status.trials] == ["Cancelled", "Cancelled"]
    wait_until(lambda: katib.get_object("kubeflow.org", "v1beta1", "experiments", "default", "stopme") is None,
               timeout=60)  # a foreground delete: gone once its trials' pods have ended
    assert trials_of(katib, "stopme") == [] and workloads(katib) == []
    wait_until(lambda: not [p for p in katib.list_objects("", "v1", "pods", "default")
                            if p["metadata"]["name"].startswith("stopme")], timeout=60)  # their processes ended
    assert [s["metadata"]["name"] for s in katib.list_objects("", "v1", "secrets", "default")
            if s["metadata"]["name"].startswith("stopme")] == []
    again = api.experiment("stopme", backend="kubernetes")
    assert again.status().phase == "Cancelled" and "stopme" in [s.name for s in api.experiments("kubernetes")]
    again.delete()
    with pytest.raises(NotFound, match="stopme"):
        api.experiment("stopme", backend="kubernetes")


def test_delete_removes_a_finished_search_with_its_jobs(simulated_katib, kf_state_dir):
    from jupyter_kf.errors import NotFound

    experiment = api.tune(QUADRATIC, params=["x=uniform(-2,2)", "k=int(0,1)"], objective="loss", trials=2,
                          parallel=2, algorithm="random", name="gone", backend="kubernetes", user_ns={}, kind="job")
    experiment.apply({})
    assert len(workloads(simulated_katib)) == 2  # retain: true keeps finished trials' jobs (and logs)
    experiment.delete()
    assert trials_of(simulated_katib, "gone") == [] and workloads(simulated_katib) == []
    assert not list(kf_state_dir.rglob("gone*"))
    with pytest.raises(NotFound):
        api.experiment("gone", backend="kubernetes")


BAD = {  # what was wrong -> words the one line must carry
    "malformed param": ({"params": ["lr=loguniform(0.1)"]}, "lr"),
    "min not below max": ({"params": ["lr=uniform(0.5,0.1)"]}, "lr"),
    "unknown form": ({"params": ["lr=gauss(0,1)"]}, "gauss"),
    "unknown algorithm": ({"algorithm": "annealing"}, "annealing"),
    "parallel above trials": ({"parallel": 9, "trials": 4}, "--parallel 9"),
    "name too long": ({"name": "a" * 41}, "at most 40"),
    "grid on a continuous space": ({"algorithm": "grid"}, "grid"),
    "goal": ({"goal": "lowest"}, "minimize or maximize"),
    "bayesianoptimization from zero": ({"algorithm": "bayesianoptimization", "params": ["x=uniform(0,1)"]},
                                       "positive low bound"),
    "several workers as a Job": ({"workers": 2, "kind": "job"}, "--kind trainjob or --kind pytorchjob"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_creates_nothing(katib, kf_state_dir, case):
    from jupyter_kf.errors import InvalidSpec

    change, words = BAD[case]
    options = dict(params=["x=uniform(-2,2)", "k=int(0,1)"], objective="loss", trials=4, parallel=2,
                   algorithm="random", name="bad", backend="kubernetes", user_ns={}, kind="job", wait=False)
    options.update(change)
    secrets_before = katib.list_objects("", "v1", "secrets", "default")
    with pytest.raises(InvalidSpec) as err:
        api.tune(QUADRATIC, **options)
    assert "\n" not in str(err.value) and words in str(err.value)
    assert katib.list_objects("kubeflow.org", "v1beta1", "experiments", "default") == []
    assert katib.list_objects("", "v1", "secrets", "default") == secrets_before
    assert not (kf_state_dir / "katib").exists()


def test_a_name_taken_on_the_cluster_is_refused_before_anything_is_created(katib):
    from jupyter_kf.errors import AlreadyExists

    options = dict(params=["x=uniform(-2,2)", "k=int(0,1)"], objective="loss", trials=2, parallel=1,
                   algorithm="random", name="taken", backend="kubernetes", user_ns={}, kind="job", wait=False)
    api.tune(QUADRATIC, **options)
    secrets_before = katib.list_objects("", "v1", "secrets", "default")
    with pytest.raises(AlreadyExists, match="experiment 'taken' exists"):
        api.tune(QUADRATIC, **options)
    assert katib.list_objects("", "v1", "secrets", "default") == secrets_before


def test_the_list_shows_each_search_with_its_trials_and_best(simulated_katib):
    for name in ("first", "second"):
        api.tune(QUADRATIC, params=["x=uniform(-2,2)", "k=int(0,1)"], objective="loss", trials=2, parallel=2,
                 algorithm="random", name=name, backend="kubernetes", user_ns={}, kind="job")
    listed = {s.name: s for s in api.experiments("kubernetes")}
    assert set(listed) == {"first", "second"}
    for name, status in listed.items():
        assert sorted(t.name for t in status.trials) == sorted(t["metadata"]["name"]
                                                               for t in trials_of(simulated_katib, name))
        assert status.completed == 2 and status.best is not None
        assert status.best.name == simulated_katib.get_object("kubeflow.org", "v1beta1", "experiments", "default",
                                                              name)["status"]["currentOptimalTrial"]["bestTrialName"]


def test_dry_run_without_a_cluster_shows_what_katib_would_get(katib, tmp_path, monkeypatch):
    from jupyter_kf.training.backends import kubernetes as kubernetes_backend

    options = dict(params=["x=uniform(-2,2)", "k=int(0,1)"], objective="loss", trials=4, parallel=2,
                   algorithm="random", name="offline", backend="kubernetes", user_ns={}, kind="trainjob",
                   dry_run=True)
    online = api.tune(QUADRATIC, **options)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    kubernetes_backend.reset()
    offline = api.tune(QUADRATIC, **options)
    kubernetes_backend.reset()
    header = offline.splitlines()[:3]
    assert header[0].startswith("# offline dry run: no cluster configured") and "Katib v0.19" in header[2]
    assert offline.split("\n", 3)[3] == online  # what Katib on the emulator would get


def test_grid_on_katib_runs_every_point_once(simulated_katib):
    cell = "loss = abs(x - 0.5) + (1 if opt == 'sgd' else 0)\nprint(f'loss={loss}')"
    experiment = api.tune(cell, params=["x=uniform(0,1,0.5)", "opt=choice(adam,sgd)"], objective="loss",
                          trials=6, parallel=3, algorithm="grid", name="grid", backend="kubernetes", user_ns={},
                          kind="job")
    status = experiment.status()
    points = sorted((float(t.params["x"]), t.params["opt"]) for t in status.trials)
    assert points == [(x, opt) for x in (0.0, 0.5, 1.0) for opt in ("adam", "sgd")]
    assert experiment.best.params == {"x": 0.5, "opt": "adam"} and experiment.best.objective == 0.0


def test_a_command_word_the_collector_would_split_is_refused():
    from jupyter_kf.experiments.manifests import experiment_from_plan
    from jupyter_kf.experiments.spec import ExperimentSpec
    from jupyter_kf.experiments.webhook_rules import problems
    from jupyter_kf.training.manifests import TrainPlan
    from jupyter_kf.training.spec import TrainSpec

    spec = ExperimentSpec.create(name="words", params=["x=uniform(0,1)"], objective="loss", trials=2, parallel=1)
    plan = TrainPlan(spec=TrainSpec.create(name="words"), namespace="default", image="python:3.11-slim",
                     bundle="kf-bundle-words")
    for kind in ("job", "trainjob", "pytorchjob"):
        body = experiment_from_plan(spec, plan, kind)
        assert problems(body) == []
        job = body["spec"]["trialTemplate"]["trialSpec"]
        container = job["spec"]["trainer"] if kind == "trainjob" else (
            job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0] if kind == "pytorchjob"
            else job["spec"]["template"]["spec"]["containers"][0])
        container["command"] = [*container["command"], "/data/my folder"]
        assert any("'/data/my folder'" in p and "unquoted" in p for p in problems(body)), (kind, problems(body))
        container["command"] = ["sh", "-c", "python -u run.py > out.txt"]
        assert problems(body) == []


def test_the_fake_katib_writes_katibs_status_shapes(simulated_katib):
    """What jupyter_kf reads is what Katib v0.19's controllers write (status_util.go, trial_controller_util.go)."""
    katib = simulated_katib
    api.tune(QUADRATIC, params=["x=uniform(-2,2)", "k=int(0,1)"], objective="loss", trials=2, parallel=1,
             algorithm="random", name="shapes", backend="kubernetes", user_ns={}, kind="job")
    experiment = katib.get_object("kubeflow.org", "v1beta1", "experiments", "default", "shapes")
    conditions = [(c["type"], c["status"], c["reason"], c["message"]) for c in experiment["status"]["conditions"]]
    assert conditions == [
        ("Created", "True", "ExperimentCreated", "Experiment is created"),
        ("Running", "False", "ExperimentRunning", "Experiment is running"),
        ("Succeeded", "True", "ExperimentMaxTrialsReached", "Experiment has succeeded because max trial count has reached")]
    st = experiment["status"]
    assert (st["trials"], st["trialsSucceeded"], st["trialsFailed"], st["trialsRunning"], st["trialsPending"]) == (
        2, 2, 0, 0, 0)
    assert sorted(st["succeededTrialList"]) == sorted(t["metadata"]["name"] for t in trials_of(katib, "shapes"))
    assert "runningTrialList" not in st and st["startTime"] and st["completionTime"]
    for trial in trials_of(katib, "shapes"):
        name = trial["metadata"]["name"]
        assert re.fullmatch(r"shapes-[bcdfghjklmnpqrstvwxz2456789]{8}", name)
        assert trial["metadata"]["ownerReferences"][0]["kind"] == "Experiment" and \
            trial["metadata"]["ownerReferences"][0]["controller"] is True
        assert trial["metadata"]["labels"]["katib.kubeflow.org/experiment"] == "shapes"
        assert [(c["type"], c["status"], c["reason"]) for c in trial["status"]["conditions"]] == [
            ("Created", "True", "TrialCreated"), ("Running", "False", "TrialRunning"),
            ("Succeeded", "True", "TrialSucceeded. Job reason: CompletionsReached")]  # Kubernetes 1.31+'s Job
        metric = trial["status"]["observation"]["metrics"][0]
        assert metric["name"] == "loss" and float(metric["max"]) == float(metric["min"]) + 1  # epoch 1 printed loss+1
        job = katib.get_object("batch", "v1", "jobs", "default", name)
        assert job["metadata"]["ownerReferences"][0] == {**job["metadata"]["ownerReferences"][0], "kind": "Trial",
                                                         "name": name, "uid": trial["metadata"]["uid"]}
        assert job["metadata"]["labels"]["jupyter-kf.io/job"] == name
        env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        values = {a["name"]: a["value"] for a in trial["spec"]["parameterAssignments"]}
        assert env["KF_PARAM_x"] == values["x"] and env["KF_PARAM_k"] == values["k"] and env["KF_JOB_NAME"] == name
    best = st["currentOptimalTrial"]
    chosen = min(trials_of(katib, "shapes"), key=lambda t: float(t["status"]["observation"]["metrics"][0]["min"]))
    assert best["bestTrialName"] == chosen["metadata"]["name"]
    assert best["parameterAssignments"] == chosen["spec"]["parameterAssignments"]
    assert best["observation"] == chosen["status"]["observation"]


def test_medianstop_on_katib_ends_the_trials_behind_the_rule(simulated_katib):
    katib = simulated_katib
    cell = ("import time\nfor epoch in range(6):\n    print(f'epoch={epoch} loss={10 * x + 1 / (epoch + 1)}')\n"
            "    time.sleep(0.3)")
    experiment = api.tune(cell, params=["x=uniform(0,1)"], objective="loss", trials=8, parallel=1,
                          algorithm="random", early_stopping="medianstop", name="median", backend="kubernetes",
                          user_ns={}, kind="job")
    status = experiment.status()
    assert status.phase == "Succeeded" and status.completed == 8
    averages, stopped = [], []
    for trial in status.trials:  # in creation order, one at a time: each new trial got the rule of those before
        x = float(trial.params["x"])
        first_four = [10 * x + 1 / (epoch + 1) for epoch in range(4)]
        rule = sum(averages) / len(averages) if len(averages) >= 3 else None
        expected = "EarlyStopped" if rule is not None and min(first_four) > rule else "Succeeded"
        assert trial.phase == expected, (trial.name, x, rule)
        if expected == "Succeeded":
            averages.append(sum(first_four) / 4)
            assert trial.objective == pytest.approx(10 * x + 1 / 6)
        else:
            stopped.append(trial.name)
            assert trial.objective == pytest.approx(min(first_four))  # the values seen before the stop
    assert stopped, "the seed gives no trial behind the rule: the test checks nothing"
    body = katib.get_object("kubeflow.org", "v1beta1", "experiments", "default", "median")
    assert body["status"]["trialsEarlyStopped"] == len(stopped)


def test_katibs_defaults_are_stored_as_its_mutating_webhook_does(katib):
    from tests.experiments.test_katib import reference

    body = reference("tpe.yaml")
    body["metadata"]["namespace"] = "default"
    for key in ("parallelTrialCount", "resumePolicy", "metricsCollectorSpec"):
        body["spec"].pop(key, None)
    body["spec"]["objective"].pop("metricStrategies", None)
    template = body["spec"]["trialTemplate"]
    template.pop("successCondition", None), template.pop("failureCondition", None)
    client.CustomObjectsApi(client.ApiClient(katib.client_configuration())).create_namespaced_custom_object(
        "kubeflow.org", "v1beta1", "default", "experiments", body)
    stored = katib.get_object("kubeflow.org", "v1beta1", "experiments", "default", body["metadata"]["name"])["spec"]
    objective = stored["objective"]
    strategy = {"minimize": "min", "maximize": "max"}[objective["type"]]
    assert objective["metricStrategies"] == [{"name": m, "value": strategy} for m in
                                             [objective["objectiveMetricName"], *objective.get("additionalMetricNames", [])]]
    assert stored["parallelTrialCount"] == 3 and stored["resumePolicy"] == "Never"
    assert stored["metricsCollectorSpec"] == {"collector": {"kind": "StdOut"}}
    kind = stored["trialTemplate"]["trialSpec"]["kind"]
    done = "Complete" if kind in ("Job", "TrainJob") else "Succeeded"
    assert stored["trialTemplate"]["successCondition"] == f'status.conditions.#(type=="{done}")#|#(status=="True")#'
    assert all(p["feasibleSpace"]["distribution"] for p in stored["parameters"])
