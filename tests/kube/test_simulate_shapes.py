"""jupyter_kf's status parsers read the shapes the real controllers write (captured from the simulating emulator,
whose statuses follow the controllers' sources: tests/data/controller_shapes.md)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

SHAPES = Path(__file__).resolve().parents[1] / "data" / "controller_shapes"

TRAINING = {
    "trainjob-succeeded.json": ("Succeeded", "", ["Succeeded", "Succeeded"]),
    "trainjob-failed.json": ("Failed", "jobset failed due to one or more job failures", None),
    "trainjob-pending-gpu.json": ("Pending", "unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
                                  ["Pending"]),
    "pytorchjob-succeeded.json": ("Succeeded", "", ["Succeeded", "Succeeded"]),
    "pytorchjob-failed.json": ("Failed", "PyTorchJob shape-pytorchjob-failed is failed because 1 Worker replica(s) failed.",
                               None),
    "job-succeeded.json": ("Succeeded", "", ["Succeeded", "Succeeded"]),
    "job-failed.json": ("Failed", "Job has reached the specified backoff limit", None),
}


def shape(name: str) -> dict:
    return json.loads((SHAPES / name).read_text())


@pytest.mark.parametrize("name", sorted(TRAINING))
def test_training_status_parser_reads_the_controllers_shapes(name):
    from jupyter_kf.training.backends.kubernetes_status import build_status

    captured = shape(name)
    status = build_status(captured["source"], captured["object"], captured["pods"])
    phase, message, workers = TRAINING[name]
    assert (status.phase, status.message) == (phase, message)
    if workers is not None:
        assert [w.phase for w in status.workers] == workers
    if phase == "Succeeded":
        assert [w.exit_code for w in status.workers] == [0] * len(workers)


def test_failed_workers_keep_their_exit_codes():
    from jupyter_kf.training.backends.kubernetes_status import build_status

    captured = shape("pytorchjob-failed.json")
    status = build_status("pytorchjob", captured["object"], captured["pods"])
    assert {w.rank: w.exit_code for w in status.workers if w.phase == "Failed"} == {1: 3}


@pytest.mark.parametrize("name,phase,message", [("notebook-ready.json", "Ready", ""),
                                                 ("notebook-stopped.json", "Stopped", "its workspace is kept")])
def test_notebook_status_parser_reads_the_controllers_shapes(name, phase, message):
    from jupyter_kf.notebooks.backends.kubernetes import build_status

    captured = shape(name)
    status = build_status("notebook", captured["object"], captured["pods"], [], "default")
    assert (status.phase, status.message) == (phase, message)


def test_captured_shapes_carry_the_controllers_reasons():
    """The files themselves say what the sources say (a re-capture that drifted fails here)."""
    def condition(name, ctype):
        return next(c for c in shape(name)["object"]["status"]["conditions"] if c["type"] == ctype)

    assert condition("jobset-succeeded.json", "Completed")["reason"] == "AllJobsCompleted"
    assert condition("trainjob-succeeded.json", "Complete")["message"] == "jobset completed successfully"
    assert condition("job-succeeded.json", "SuccessCriteriaMet")["reason"] == "CompletionsReached"
    assert condition("job-failed.json", "FailureTarget")["reason"] == "BackoffLimitExceeded"
    assert condition("pytorchjob-succeeded.json", "Running")["status"] == "False"
    assert condition("pytorchjob-succeeded.json", "Created")["reason"] == "PyTorchJobCreated"
    assert shape("notebook-stopped.json")["object"]["status"] == {"conditions": [], "containerState": {},
                                                                   "readyReplicas": 0}


def test_serving_status_parser_reads_kserves_shapes():
    from jupyter_kf.serving.backends.kubernetes import KubernetesServing

    ready = KubernetesServing._status(None, shape("inferenceservice-ready.json")["object"], pods=False)
    assert (ready.phase, ready.reasons) == ("Ready", [])
    assert ready.url.endswith("/serving/default/iris")  # read from status.url, never built
    waiting = KubernetesServing._status(None, shape("inferenceservice-no-model.json")["object"], pods=False)
    assert waiting.phase == "Pending" and waiting.url == ""
    assert "PredictorReady: MinimumReplicasUnavailable Deployment does not have minimum availability." in waiting.reasons
    crashed = shape("inferenceservice-no-model.json")["pods"][0]["status"]["containerStatuses"][0]
    assert crashed["restartCount"] >= 1 and crashed["lastState"]["terminated"]["exitCode"] == 1


def test_experiment_status_parser_reads_katibs_shapes():
    from jupyter_kf.experiments.backends.kubernetes import status_of

    captured = shape("experiment-succeeded.json")
    status = status_of(captured["object"], captured["trials"])
    assert status.phase == "Succeeded"
    assert status.message == "ExperimentMaxTrialsReached: Experiment has succeeded because max trial count has reached"
    assert [t.phase for t in status.trials] == ["Succeeded"] * 3
    for trial in status.trials:  # the objective is what the trial printed: (x - 0.5) ** 2
        assert trial.objective == pytest.approx((float(trial.params["x"]) - 0.5) ** 2)
    best = captured["object"]["status"]["currentOptimalTrial"]["bestTrialName"]
    assert min(status.trials, key=lambda t: t.objective).name == best


@pytest.mark.parametrize("name,phase", [("trainjob-failed.json", "Failed"), ("trainjob-succeeded.json", "Succeeded")])
def test_an_ended_job_whose_pods_are_gone_shows_its_workers_ended_not_pending(name, phase):
    """Pods go with a finished TrainJob's JobSet (or by hand): its workers ended with it, they are not waiting."""
    from jupyter_kf.training.backends.kubernetes_status import build_status

    captured = shape(name)
    status = build_status("trainjob", captured["object"], [])
    assert status.phase == phase and status.workers
    assert {(w.phase, w.message) for w in status.workers} == {(phase, "its pod is gone")}
