"""The calls behind each section of the panel, one public ``jupyter_kf`` API call each (plus the JSON shape).

Models go through ``jupyter_kf.serving.api`` (``kf.models()``, ``kf.deploy``, ``kf.model(name)``,
``kf.undeploy``) and notebook servers through ``jupyter_kf.notebooks``. Pipeline runs have no listing
call in the core yet: their records (``<state>/pipelines/<run>/run.json``, written when a run ends)
and their steps' local jobs are read here.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from jupyter_kf import notebooks
from jupyter_kf.errors import KfError
from jupyter_kf.serving import api as serving


def as_dict(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return value


# -- jobs --------------------------------------------------------------------------------------
def get_job(name: str, backend: str) -> dict:
    from jupyter_kf.training import api

    return api.job(name, backend=backend).status().to_dict()


def cancel_job(name: str, backend: str) -> dict:
    from jupyter_kf.training import api

    job = api.job(name, backend=backend)
    job.cancel()
    return job.status().to_dict()


def delete_job(name: str, backend: str) -> dict:
    from jupyter_kf.training import api

    api.job(name, backend=backend).delete()
    return {"deleted": name}


def create_job(body: dict, backend: str, namespace: str | None) -> dict:
    """``kf.train`` from a cell's source; the server has no kernel namespace, so the cell must be self-contained
    (the panel's form runs ``%%kf_train`` in the notebook's kernel instead, which ships the cell's inputs)."""
    from jupyter_kf.errors import InvalidSpec
    from jupyter_kf.training import api
    from jupyter_kf.training.spec import OPTION_NAMES

    source = body.get("source")
    if not isinstance(source, str) or not source.strip():
        raise InvalidSpec("'source' must be the cell's code, a non-empty string")
    options = {k: v for k, v in body.items() if k in OPTION_NAMES and k not in ("backend", "namespace")}
    job = api.train(source, backend=backend, namespace=namespace, user_ns={}, replace=bool(body.get("replace")),
                    **options)
    return job.status().to_dict()


# -- notebook servers ----------------------------------------------------------------------------
NOTEBOOK_OPTIONS = ("image", "cpu", "memory", "gpus", "workspace", "data_volumes", "data", "env", "kind")


def create_notebook(body: dict, backend: str, namespace: str | None) -> dict:
    from jupyter_kf.errors import InvalidSpec

    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidSpec("'name' is required: a DNS-1123 label such as 'gpu-lab'")
    options = {k: body[k] for k in NOTEBOOK_OPTIONS if body.get(k) not in (None, "")}
    status = notebooks.create(name, backend=backend, namespace=namespace, wait=False, **options)
    return status.to_dict()


def notebook_action(action: str, name: str, backend: str, namespace: str | None) -> dict:
    if action == "stop":
        return notebooks.stop(name, backend=backend, namespace=namespace).to_dict()
    if action == "start":
        return notebooks.start(name, backend=backend, namespace=namespace, wait=False).to_dict()
    if action == "url":
        link = notebooks.url(name, backend=backend, namespace=namespace)
        return {"name": name, "url": str(link), "hint": getattr(link, "hint", "")}
    return notebooks.get(name, backend=backend, namespace=namespace).to_dict()


def delete_notebook(name: str, keep_workspace: bool, backend: str, namespace: str | None) -> dict:
    kept = notebooks.delete(name, keep_workspace=keep_workspace, backend=backend, namespace=namespace)
    return {"deleted": name, "workspace_kept": kept}


# -- models ---------------------------------------------------------------------------------------
def list_models(backend: str, namespace: str | None) -> list[dict]:
    return [as_dict(m) for m in serving.models(backend=backend, namespace=namespace)]


MODEL_OPTIONS = ("format", "protocol", "runtime", "cpu", "memory", "gpus", "min_replicas", "max_replicas")


def deploy_model(body: dict, backend: str, namespace: str | None) -> dict:
    """``kf.deploy(name, uri, ...)`` without waiting: the listing shows it becoming Ready."""
    from jupyter_kf.errors import InvalidSpec

    name, uri = body.get("name"), body.get("uri")
    if not isinstance(name, str) or not name:
        raise InvalidSpec("'name' is required: a DNS-1123 label such as 'iris'")
    if not isinstance(uri, str) or not uri:
        raise InvalidSpec("'uri' is required: where the model is, e.g. s3://bucket/models/iris or pvc://claim/path")
    options = {k: body[k] for k in MODEL_OPTIONS if body.get(k) not in (None, "")}
    deployed = serving.deploy(name, uri, backend=backend, namespace=namespace, wait=False, **options)
    return _model_dict(deployed)


def _model_dict(value) -> dict:
    if hasattr(value, "status") and callable(value.status):
        value = value.status()
    return as_dict(value)


def get_model(name: str, backend: str, namespace: str | None) -> dict:
    return _model_dict(serving.model(name, backend=backend, namespace=namespace))


def undeploy_model(name: str, backend: str, namespace: str | None) -> dict:
    serving.undeploy(name, backend=backend, namespace=namespace)
    return {"deleted": name}


# -- pipeline runs --------------------------------------------------------------------------------
def _pipelines_dir() -> Path:
    from jupyter_kf import config

    return Path(config.get().state_dir).expanduser() / "pipelines"


def list_pipeline_runs(jobs: list[dict] | None = None) -> list[dict]:
    """Local pipeline runs: finished ones from their record, running ones from their steps' jobs.

    ``jobs``: the local jobs' statuses (with their ``pipeline`` key) when the caller has them cached."""
    root = _pipelines_dir()
    if not root.is_dir():
        return []
    if jobs is None:
        jobs = _local_jobs_with_steps()
    steps_of: dict[str, list[dict]] = {}
    for status in jobs:
        step = status.get("pipeline")
        if step:
            steps_of.setdefault(step.get("run", ""), []).append(
                {"name": step.get("step", ""), "job": status["name"], "phase": status["phase"],
                 "started": status.get("started"), "finished": status.get("finished")})
    runs = []
    for folder in root.iterdir():
        if not (folder / "pipeline.yaml").is_file():
            continue
        created = _iso((folder / "pipeline.yaml").stat().st_mtime)
        record_file = folder / "run.json"
        jobs = {s["name"]: s for s in steps_of.get(folder.name, [])}
        if record_file.is_file():
            try:
                record = json.loads(record_file.read_text())
            except ValueError:
                continue
            steps = [{**step, "job": step.get("job") or jobs.get(name, {}).get("job", ""), "name": name}
                     for name, step in record.get("steps", {}).items()]
            runs.append({"id": record.get("id", folder.name), "pipeline": record.get("pipeline", ""),
                         "notebook": record.get("notebook", ""), "phase": record.get("phase", "Failed"),
                         "created": created, "seconds": record.get("seconds"), "steps": steps,
                         "parameters": record.get("parameters", {}), "backend": "local"})
        else:
            runs.append(
                {
                    "id": folder.name,
                    "pipeline": _pipeline_name(folder),
                    "notebook": "",
                    "phase": "Running",
                    "created": created,
                    "seconds": None,
                    "steps": sorted(jobs.values(), key=lambda s: s["started"] or ""),
                    "parameters": {},
                    "backend": "local",
                }
            )
    return sorted(runs, key=lambda r: r["created"], reverse=True)


def _local_jobs_with_steps() -> list[dict]:
    """The local jobs that are pipeline steps (finished ones from the backend's index, not their folders)."""
    from jupyter_kf import config
    from jupyter_kf.training.backends.local import LocalBackend

    return [status for status in LocalBackend(config.get().jobs_dir).list_dicts() if status.get("pipeline")]


def list_kfp_runs(namespace: str | None) -> tuple[list[dict], str | None]:
    """Runs submitted to Kubeflow Pipelines, when an endpoint is configured, and the line saying why
    they could not be listed (the local runs are listed all the same)."""
    from jupyter_kf.pipeline import kfp_rest

    try:
        kfp_rest.endpoint()
    except KfError:
        return [], None  # no KFP configured: only local runs
    try:
        return [run.to_dict() for run in kfp_rest.runs(namespace=namespace)], None
    except KfError as err:
        return [], str(err)


def cancel_pipeline_run(run_id: str) -> dict:
    """Cancel a running run's active steps (its driver then ends the run as Cancelled); a run not on this
    machine is terminated through Kubeflow Pipelines when an endpoint is configured."""
    from jupyter_kf.training import api

    run = next((r for r in list_pipeline_runs() if r["id"] == run_id), None)
    if run is None:
        from jupyter_kf.errors import NotFound
        from jupyter_kf.pipeline import kfp_rest

        try:
            kfp_rest.endpoint()
        except KfError:
            raise NotFound(f"no pipeline run {run_id!r} on this machine") from None
        return kfp_rest.cancel(run_id).to_dict()
    for step in run["steps"]:
        if step.get("job") and step.get("phase") in ("Pending", "Running"):
            api.job(step["job"], backend="local").cancel()
    return next((r for r in list_pipeline_runs() if r["id"] == run_id), run)


def _pipeline_name(folder: Path) -> str:
    try:
        for line in (folder / "pipeline.yaml").read_text().splitlines():
            if line.strip().startswith("name:"):
                return line.split(":", 1)[1].strip().strip("'\"")
    except OSError:
        pass
    return folder.name.rsplit("-", 1)[0]


def _iso(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# -- experiments (searches) -----------------------------------------------------------------------
def _experiments_backend(backend: str, namespace: str | None) -> str:
    """The experiments API lists a cluster's searches in the kubeconfig's namespace only (it takes no namespace):
    another namespace is refused here rather than answered with the wrong one's searches."""
    if backend == "kubernetes" and namespace:
        from jupyter_kf.errors import InvalidSpec
        from jupyter_kf.kube.client import connect

        home = connect().namespace
        if namespace != home:
            raise InvalidSpec(f"experiments are shown for namespace {home!r} only (the kubeconfig's), "
                              f"not {namespace!r}: choose {home} in the panel")
    return backend


def experiment_summary(status) -> dict:
    """One search as a row shows it: progress, the best value so far, no trials."""
    best = status.best
    failed = next((t.name for t in sorted(status.trials, key=lambda t: t.number) if t.phase == "Failed"), None)
    return {
        "name": status.name, "phase": status.phase, "backend": status.backend, "namespace": status.namespace,
        "objective": status.objective, "goal": status.goal, "algorithm": status.algorithm,
        "max_trials": status.max_trials, "parallel": status.parallel, "completed": status.completed,
        "running": status.running, "failed": status.count("Failed"), "progress": status.progress(),
        "created": _iso(status.created) if status.created else None, "message": status.message,
        "best": None if best is None else {"trial": best.name, "objective": best.objective, "params": best.params},
        "first_failed": failed,  # whose log says why, when nothing succeeded
    }


def list_experiments(backend: str, namespace: str | None) -> list[dict]:
    from jupyter_kf.experiments import api as experiments

    return [experiment_summary(s) for s in experiments.experiments(_experiments_backend(backend, namespace))]


def get_experiment(name: str, backend: str, namespace: str | None) -> dict:
    """A search with its trials (parameters as they travel, status, objective, seconds), oldest first."""
    from jupyter_kf.experiments import api as experiments

    status = experiments.experiment(name, _experiments_backend(backend, namespace)).status()
    trials = [{**t.to_dict(), "duration": t.duration} for t in sorted(status.trials, key=lambda t: t.number)]
    return {**experiment_summary(status), "trials": trials}


def cancel_experiment(name: str, backend: str, namespace: str | None) -> dict:
    from jupyter_kf.experiments import api as experiments

    status = experiments.experiment(name, _experiments_backend(backend, namespace)).stop()
    return experiment_summary(status)


def delete_experiment(name: str, backend: str, namespace: str | None) -> dict:
    from jupyter_kf.experiments import api as experiments

    experiments.experiment(name, _experiments_backend(backend, namespace)).delete()
    return {"deleted": name}


# -- datasets and volumes ---------------------------------------------------------------------------
_ARROWS = {"<-": "wrote", "->": "read"}


def list_datasets() -> list[dict]:
    """Every dataset with all its versions and its lineage (``kf.data.list`` then ``kf.data.show`` each)."""
    from jupyter_kf import datasets

    return [{**dataset_detail(row["name"]), "where": row["where"]} for row in datasets.list().rows]


def dataset_detail(name: str) -> dict:
    from jupyter_kf import datasets
    from jupyter_kf.display import format_size

    detail = datasets.show(name)
    versions = [{"version": v.version, "ref": v.ref, "digest": v.digest, "files": v.files, "size": v.size,
                 "size_text": format_size(v.size), "created": v.created or None, "kind": v.kind, "format": v.format,
                 "producer": v.producer} for v in detail.versions]
    lineage = [{"version": version, "direction": _ARROWS.get(arrow, arrow), "text": text}
               for version, arrow, text in detail.lineage]
    latest = versions[-1] if versions else None
    return {"name": detail.name, "versions": versions, "latest": latest["ref"] if latest else None,
            "created": latest["created"] if latest else None, "lineage": lineage}


def delete_dataset(name: str, version: int | None, force: bool) -> dict:
    """One version (``name@N``) or the whole dataset; a version a job still reads is refused (409) unless forced."""
    from jupyter_kf import datasets

    ref = name if version is None else f"{name}@{version}"
    return {"deleted": ref, "message": datasets.delete(ref, force=force)}


def list_volumes(backend: str, namespace: str | None) -> dict:
    """The namespace's PersistentVolumeClaims with the pods that mount each; none on the local backend."""
    from jupyter_kf.datasets import volumes

    if backend != "kubernetes":
        return {"volumes": [], "note": "Volumes are PersistentVolumeClaims on a cluster: the local backend has none."}
    from jupyter_kf.errors import KfError

    rows = volumes.list(namespace=namespace, backend=backend).rows
    try:
        mounts, note = _claim_mounts(namespace), ""
    except KfError as err:  # e.g. no right to list pods: the claims are still worth showing
        mounts, note = None, f"who mounts each volume is unknown: {err}"
    return {"volumes": [{**row, "mounted_by": None if mounts is None else mounts.get(row["name"], [])}
                        for row in rows], "note": note}


def _claim_mounts(namespace: str | None) -> dict[str, list[str]]:
    """Which pods mount each claim (adapter: ``kf.data.volumes`` does not say; read from the namespace's pods)."""
    from jupyter_kf.kube.client import ClusterClient

    client = ClusterClient()
    core = client._api("CoreV1Api")
    namespace = namespace or client.cluster.namespace
    reply = client.cluster.call(core.list_namespaced_pod, namespace, what=f"pods in namespace {namespace}",
                                _preload_content=False)
    mounts: dict[str, list[str]] = {}
    for pod in (json.loads(reply.data) if reply.data else {}).get("items", []):
        meta = pod.get("metadata", {})
        owner = next(iter(meta.get("ownerReferences") or []), None)
        who = f"pod {meta.get('name')}" + (f" ({owner.get('kind')} {owner.get('name')})" if owner else "")
        for volume in pod.get("spec", {}).get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim and who not in mounts.setdefault(claim, []):
                mounts[claim].append(who)
    return mounts


def delete_volume(name: str, force: bool, backend: str, namespace: str | None) -> dict:
    from jupyter_kf.datasets import volumes

    return {"deleted": name, "message": volumes.delete(name, force=force, namespace=namespace, backend=backend)}
