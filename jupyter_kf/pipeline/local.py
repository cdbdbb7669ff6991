"""The pipeline's DAG on the local backend: each step a local job, independent steps at once.

What runs is the IR itself: each task's container command and arguments, with KFP's placeholders
resolved to files under the run's folder, executed by the local backend's supervisor (so the steps
show in ``%kf_jobs`` and ``jupyter kf logs``). The notebook is only read, never written.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import string
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from jupyter_kf import config
from jupyter_kf.errors import KfError
from jupyter_kf.pipeline.conversion import Conversion, convert
from jupyter_kf.pipeline.model import PipelineError, PipelineFailed
from jupyter_kf.training.spec import TrainSpec

_PLACEHOLDER = re.compile(r"\{\{\$(?:\.(inputs|outputs)\.(parameters|artifacts)\['([^']+)'\](\.path)?)?\}\}")
DONE = frozenset({"Succeeded", "Failed", "Cancelled", "Skipped"})


@dataclass
class StepRun:
    """One step's outcome in a local run."""

    name: str
    task: str
    job: str = ""
    phase: str = "Pending"
    started: float | None = None
    finished: float | None = None
    error: dict | None = None
    saved: dict = field(default_factory=dict)  # output -> format
    metrics: dict = field(default_factory=dict)
    reason: str = ""

    @property
    def seconds(self) -> float | None:
        return None if self.started is None or self.finished is None else self.finished - self.started

    def to_dict(self) -> dict:
        return {"name": self.name, "task": self.task, "job": self.job, "phase": self.phase, "seconds": self.seconds,
                "error": self.error, "saved": self.saved, "metrics": self.metrics, "reason": self.reason}


@dataclass
class PipelineRun:
    """A finished (or failed) local run: each step's outcome, and the values passed between steps."""

    id: str
    folder: Path
    conversion: Conversion
    steps: dict = field(default_factory=dict)  # step name -> StepRun
    parameters: dict = field(default_factory=dict)
    phase: str = "Running"
    seconds: float = 0.0

    @property
    def metrics(self) -> dict:
        merged = {}
        for step in self.steps.values():
            merged.update(step.metrics)
        return merged

    def artifact(self, name: str, step: str | None = None) -> Path:
        """The file holding value ``name`` as ``step`` (default: the last step that passed it on) saved it."""
        holders = [s for s in self.steps.values() if name in s.saved and (step is None or s.name == step)]
        if not holders:
            kept = sorted({n for s in self.steps.values() for n in s.saved})
            raise KfError(f"run {self.id} kept no value {name!r}" + (f" from step {step!r}" if step else "") +
                          f": only values passed between steps are kept ({', '.join(kept) or 'none'})")
        return self.folder / "artifacts" / holders[-1].task / name

    def load(self, name: str, step: str | None = None):
        """A value passed between steps, read back (numpy arrays as arrays, and so on)."""
        from jupyter_kf.pipeline.step_runner import load_value

        return load_value(str(self.artifact(name, step)))

    def values(self) -> dict:
        """The last saved version of every value passed between steps."""
        names = dict.fromkeys(n for s in self.steps.values() for n in s.saved)
        return {name: self.load(name) for name in names}

    def summary(self) -> str:
        width = max(len(n) for n in self.steps)
        lines = [f"run {self.id}: {self.phase} in {self.seconds:.1f} s ({self.folder})"]
        for step in self.steps.values():
            took = f"{step.seconds:6.2f} s" if step.seconds is not None else "      -  "
            detail = step.reason or ("passed " + ", ".join(step.saved) if step.saved else "")
            lines.append(f"  {step.name:<{width}}  {step.phase:<9} {took}  {detail}".rstrip())
        if self.metrics:
            lines.append("metrics: " + ", ".join(f"{k}={v:.6g}" for k, v in self.metrics.items()))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        import html

        from jupyter_kf.pipeline import render

        phases = {s.name: s.phase for s in self.steps.values()}
        return (f"<div class='kf-pipeline-run'>{render.svg(self.conversion.pipeline, phases)}"
                f"<pre>{html.escape(self.summary())}</pre></div>")


def parse_parameters(declared: dict, given) -> dict:
    """``{"lr": 0.2}`` or ``["lr=0.2"]`` checked against the pipeline's parameters and typed like them."""
    values = {name: p.value for name, p in declared.items()}
    items = given.items() if isinstance(given, dict) else (_split(g) for g in given or ())
    for name, value in items:
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise PipelineError(
                f"parameter {name!r} is not a pipeline parameter: the pipeline's parameters are {known}"
            )
        values[name] = _typed(name, value, declared[name].type)
    return values


def _split(item: str) -> tuple[str, str]:
    name, sep, value = str(item).partition("=")
    if not sep or not name:
        raise PipelineError(f"parameter {item!r} has no '=': use NAME=VALUE, e.g. --param lr=0.1")
    return name.strip(), value


def _typed(name, value, kind):
    if not isinstance(value, str):
        return value
    try:
        if kind == "NUMBER_INTEGER":
            return int(value)
        if kind == "NUMBER_DOUBLE":
            return float(value)
        if kind == "BOOLEAN":
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        if kind in ("LIST", "STRUCT"):
            parsed = json.loads(value)
            if not isinstance(parsed, list if kind == "LIST" else dict):
                raise ValueError(value)
            return parsed
    except ValueError:
        accepted = {
            "NUMBER_INTEGER": "a whole number",
            "NUMBER_DOUBLE": "a number",
            "BOOLEAN": "true or false",
            "LIST": "a JSON list",
            "STRUCT": "a JSON object",
        }[kind]
        raise PipelineError(
            f"parameter {name}={value!r} is not {accepted}, as its default in the notebook is"
        ) from None
    return value


def placeholder_text(value) -> str:
    """A parameter as KFP substitutes it into a command line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def new_run_id(pipeline_name: str) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return f"{pipeline_name[:40].rstrip('-')}-{''.join(secrets.choice(alphabet) for _ in range(5))}"


def run(notebook, *, parameters=None, name: str | None = None, image: str | None = None, parallel: int | None = None,
        timeout=None, on_line: Callable[[str], None] | None = print, raise_on_failure: bool = True,
        sequential: bool | None = None, install_packages: bool | None = None) -> PipelineRun:
    """Run the notebook's pipeline on this machine; ``on_line`` gets every log and progress line.

    Raises ``PipelineFailed`` (with ``.run``) when a step fails, after the independent steps finished.
    """
    conversion = notebook if isinstance(notebook, Conversion) else convert(
        notebook, name=name, image=image, sequential=sequential, install_packages=install_packages)
    values = parse_parameters(conversion.pipeline.parameters, parameters)
    source = conversion.pipeline.source
    workdir = str(Path(source).resolve().parent) if source else os.getcwd()
    run_id = new_run_id(conversion.name)
    folder = Path(config.get().state_dir).expanduser() / "pipelines" / run_id
    (folder / "artifacts").mkdir(parents=True)
    (folder / "pipeline.yaml").write_text(conversion.yaml(), encoding="utf-8")
    runner = _LocalRun(conversion, run_id, folder, values, workdir, parallel, timeout, on_line or (lambda line: None))
    result = runner.execute()
    if result.phase != "Succeeded" and raise_on_failure:
        raise PipelineFailed(failure_line(result), run=result)
    return result


def leaf_tasks(spec: dict) -> dict:
    """The IR's container tasks with sub-DAGs (notebook: steps) opened: every input traced to a root parameter
    or to the leaf task that writes it, every dependency to leaf tasks, as if the DAG were flat."""
    components = spec["components"]

    def is_dag(task):
        return "dag" in components[task["componentRef"]["name"]]

    def leaves(tasks, name):
        if not is_dag(tasks[name]):
            return [name]
        inner = components[tasks[name]["componentRef"]["name"]]["dag"]["tasks"]
        return [leaf for sub in inner for leaf in leaves(inner, sub)]

    def output(tasks, name, key):
        if not is_dag(tasks[name]):
            return name, key
        dag = components[tasks[name]["componentRef"]["name"]]["dag"]
        selector = dag["outputs"]["artifacts"][key]["artifactSelectors"][0]
        return output(dag["tasks"], selector["producerSubtask"], selector["outputArtifactKey"])

    flat: dict = {}

    def walk(tasks, params, artifacts, inherited):
        for name, task in tasks.items():
            inputs = task.get("inputs", {})
            own_params = {k: params.get(v["componentInputParameter"], v["componentInputParameter"])
                          for k, v in inputs.get("parameters", {}).items()}
            own_artifacts = {}
            for key, value in inputs.get("artifacts", {}).items():
                if "componentInputArtifact" in value:
                    own_artifacts[key] = artifacts[value["componentInputArtifact"]]
                else:
                    source = value["taskOutputArtifact"]
                    own_artifacts[key] = output(tasks, source["producerTask"], source["outputArtifactKey"])
            deps = set(inherited) | {leaf for up in task.get("dependentTasks", []) for leaf in leaves(tasks, up)}
            if is_dag(task):
                walk(components[task["componentRef"]["name"]]["dag"]["tasks"], own_params, own_artifacts, deps)
                continue
            flat[name] = dict(task, dependentTasks=sorted(deps), inputs={
                "parameters": {k: {"componentInputParameter": v} for k, v in own_params.items()},
                "artifacts": {k: {"taskOutputArtifact": {"producerTask": t, "outputArtifactKey": o}}
                              for k, (t, o) in own_artifacts.items()}})

    walk(spec["root"]["dag"]["tasks"], {}, {}, set())
    return flat


def failure_line(result: PipelineRun) -> str:
    """One line for a run that did not succeed: the first failure, and what it kept from running."""
    failed = [s for s in result.steps.values() if s.phase in ("Failed", "Cancelled")]
    skipped = [s.name for s in result.steps.values() if s.phase == "Skipped"]
    first = failed[0] if failed else None
    what = first.reason if first else "a step did not succeed"
    tail = f"; not run: {', '.join(skipped)}" if skipped else ""
    return f"pipeline run {result.id} failed: {what}{tail} (jupyter kf logs {first.job if first else result.id})"


class _LocalRun:
    def __init__(self, conversion, run_id, folder, values, workdir, parallel, timeout, emit):
        from jupyter_kf.training.backends.local import LocalBackend

        self.conversion, self.id, self.folder, self.values = conversion, run_id, folder, values
        self.workdir, self.timeout, self.emit = workdir, timeout, emit
        self.parallel = parallel or max(2, os.cpu_count() or 2)
        self.backend = LocalBackend()
        spec = conversion.spec
        self.tasks = leaf_tasks(spec)
        self.executors = spec["deploymentSpec"]["executors"]
        self.components = spec["components"]
        platform = (conversion.platform or {}).get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {})
        self.platform = platform.get("executors", {})
        self.order = [s.task for s in conversion.pipeline.steps]
        self.steps = {task: StepRun(name=self.tasks[task]["taskInfo"]["name"], task=task) for task in self.order}
        self.cursors: dict[str, dict] = {}
        self.result = PipelineRun(id=run_id, folder=folder, conversion=conversion,
                                  steps={s.name: s for s in self.steps.values()}, parameters=values)

    # -- placeholders ----------------------------------------------------------------------------
    def resolve(self, task: str, arg: str) -> str:
        def sub(match):
            io_, kind, key, path = match.groups()
            if io_ is None:
                return json.dumps(self.executor_input(task))
            if io_ == "inputs" and kind == "parameters":
                source = self.tasks[task]["inputs"]["parameters"][key]["componentInputParameter"]
                return placeholder_text(self.values[source])
            if io_ == "inputs" and kind == "artifacts":
                source = self.tasks[task]["inputs"]["artifacts"][key]["taskOutputArtifact"]
                return str(self.folder / "artifacts" / source["producerTask"] / source["outputArtifactKey"])
            if io_ == "outputs" and kind == "artifacts":
                return str(self.folder / "artifacts" / task / key)
            raise PipelineError(f"task {task!r} uses placeholder {match.group(0)}, which local runs do not resolve")

        return _PLACEHOLDER.sub(sub, arg)

    def executor_input(self, task: str) -> dict:
        component = self.components[self.tasks[task]["componentRef"]["name"]]
        outputs = component.get("outputDefinitions", {}).get("artifacts", {})
        artifacts = {key: {"artifacts": [{"name": key, "type": {"schemaTitle": d["artifactType"]["schemaTitle"]},
                                          "uri": str(self.folder / "artifacts" / task / key), "metadata": {}}]}
                     for key, d in outputs.items()}
        params = {key: self.values[v["componentInputParameter"]]
                  for key, v in self.tasks[task].get("inputs", {}).get("parameters", {}).items()}
        return {
            "inputs": {"parameterValues": params},
            "outputs": {
                "artifacts": artifacts,
                "outputFile": str(self.folder / "executor" / task / "executor_output.json"),
            },
        }

    # -- one step --------------------------------------------------------------------------------
    def start(self, task: str) -> None:
        step = self.steps[task]
        label = self.components[self.tasks[task]["componentRef"]["name"]]["executorLabel"]
        container = self.executors[label]["container"]
        command = container["command"]
        if command[:3] != ["python3", "-u", "-c"] or len(command) != 4:
            raise PipelineError(f"task {task!r} does not run a jupyter_kf step program: local runs only run pipelines "
                                "that jupyter_kf converted")
        args = [self.resolve(task, a) for a in container.get("args", [])]
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        env["KF_STEP_WORKDIR"] = self.workdir
        env["KF_PIPELINE_RUN"] = self.id
        for entry in self.platform.get(label, {}).get("secretAsEnv", []):
            for pair in entry.get("keyToEnv", []):
                if pair["envVar"] not in os.environ:
                    self.emit(f"[{step.name}] note: secret {entry['secretName']}/{pair['secretKey']} is not available "
                              f"locally: set {pair['envVar']} in your environment to give it to the step")
        resources = container.get("resources", {})
        gpus = int(resources.get("accelerator", {}).get("resourceCount", 0) or 0)
        step.job = self.job_name(task)
        spec = TrainSpec.create(
            name=step.job,
            cpu=resources.get("resourceCpuLimit") or resources.get("resourceCpuRequest"),
            memory=resources.get("resourceMemoryLimit") or resources.get("resourceMemoryRequest"),
            gpus=gpus,
            env=env,
            timeout=self.timeout,
            backend="local",
        )
        bundle = self.backend.prepare(spec)
        try:
            (bundle / "runner.py").write_text(command[3], encoding="utf-8")
            (bundle / "step-args.json").write_text(json.dumps(args), encoding="utf-8")
            meta = {"spec": spec.to_dict(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "created_ts": time.time(), "python": "%d.%d" % sys.version_info[:2], "executable": sys.executable,
                    "source": "", "code": "", "modules": {}, "inputs": [], "deleted": [],
                    "pipeline": {"run": self.id, "step": step.name, "task": task, "folder": str(self.folder)}}
            (bundle / "meta.json.tmp").write_text(json.dumps(meta))
            os.replace(bundle / "meta.json.tmp", bundle / "meta.json")
            self.backend.submit(spec, bundle)
        except BaseException:
            self.backend.discard(spec, bundle)
            raise
        step.phase, step.started = "Running", time.time()
        self.emit(f"[{step.name}] started (job {step.job})")

    def job_name(self, task: str) -> str:
        name = f"{self.id}-{task}"
        if len(name) > 63:
            name = f"{self.id}-s{self.order.index(task) + 1}"
        return name

    def poll(self, task: str) -> bool:
        """Print new log lines; True when the step's job has ended (its outcome recorded)."""
        step = self.steps[task]
        status = self.backend.status(step.job)
        self.drain(task)
        if not status.done:
            return False
        self.drain(task)
        for _, line in self.backend.read_tail(step.job):
            self.emit(f"[{step.name}] {line}")
        step.finished = time.time()
        result = self._result(step.job)
        step.saved = result.get("saved", {})
        step.metrics = result.get("metrics", {})
        if status.phase == "Succeeded":
            step.phase = "Succeeded"
            self.emit(f"[{step.name}] succeeded in {step.seconds:.2f} s")
        else:
            step.phase = "Cancelled" if status.phase == "Cancelled" else "Failed"
            step.error = result.get("error") or {"kind": "crashed", "message": status.message}
            if step.error.get("kind") in ("terminated", "crashed") and status.message:  # timed out, killed, cancelled
                message = f"step {step.name!r} {status.message.replace('cancelled by the user', 'was cancelled')}"
            else:
                message = step.error.get("message") or status.message or f"step {step.name!r} failed"
            step.reason = message
            self.emit(f"[{step.name}] {step.phase.lower()}: {message}")
        return True

    def drain(self, task: str) -> None:
        step = self.steps[task]
        lines, self.cursors[task] = self.backend.read_logs(step.job, self.cursors.get(task))
        for _, line in lines:
            self.emit(f"[{step.name}] {line}")

    def _result(self, job: str) -> dict:
        try:
            return json.loads((self.backend.result_dir(job) / "result.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError, KfError):
            return {}

    # -- the DAG ---------------------------------------------------------------------------------
    def execute(self) -> PipelineRun:
        began = time.time()
        steps = self.conversion.pipeline.steps
        self.emit(f"pipeline {self.conversion.name!r}: run {self.id}, {len(steps)} step(s) on the local backend")
        running: list[str] = []
        pending = list(self.order)
        delay = 0.005
        try:
            while pending or running:
                for task in list(pending):
                    ups = self.tasks[task].get("dependentTasks", [])
                    blocked = [u for u in ups if self.steps[u].phase in ("Failed", "Cancelled", "Skipped")]
                    if blocked:
                        step = self.steps[task]
                        step.phase, step.reason = (
                            "Skipped",
                            f"not run: {self.steps[blocked[0]].name} {self.steps[blocked[0]].phase.lower()}",
                        )
                        pending.remove(task)
                        self.emit(f"[{step.name}] {step.reason}")
                    elif all(self.steps[u].phase == "Succeeded" for u in ups) and len(running) < self.parallel:
                        self.start(task)
                        pending.remove(task)
                        running.append(task)
                        delay = 0.005
                ended = [task for task in running if self.poll(task)]
                for task in ended:
                    running.remove(task)
                if ended:
                    delay = 0.005
                    continue
                time.sleep(delay)
                delay = min(delay * 1.5, 0.1)
        except KeyboardInterrupt:
            cancelled = []
            for task in running:
                self.backend.cancel(self.steps[task].job)
                self.steps[task].phase = "Cancelled"
                cancelled.append(self.steps[task].name)
            self.finish(began)
            raise KfError(
                f"pipeline run {self.id} interrupted" + (f": cancelled {', '.join(cancelled)}" if cancelled else "")
            ) from None
        return self.finish(began)

    def finish(self, began: float) -> PipelineRun:
        result = self.result
        result.seconds = time.time() - began
        phases = {s.phase for s in self.steps.values()}
        result.phase = "Succeeded" if phases == {"Succeeded"} else ("Cancelled" if "Cancelled" in phases else "Failed")
        record = {"id": self.id, "pipeline": self.conversion.name, "notebook": self.conversion.pipeline.source,
                  "phase": result.phase, "seconds": result.seconds, "parameters": self.values,
                  "steps": {s.name: s.to_dict() for s in self.steps.values()}}
        tmp = self.folder / "run.json.tmp"
        tmp.write_text(json.dumps(record, indent=1, default=str))
        os.replace(tmp, self.folder / "run.json")
        self.emit(result.summary())
        return result
