"""Runs on a Kubeflow Pipelines endpoint, through its v2beta1 REST API: list, get, cancel (terminate).

Plain HTTP with the standard library, not the ``kfp`` client: listing what runs must work in any
kernel, and kfp pins its dependencies exactly. The endpoint and token are found as kfp finds them:
``host`` > ``$KF_PIPELINES_ENDPOINT`` > ``c.KfConfig.kfp_host``; the token given, else
``$KF_PIPELINES_TOKEN``, else the service-account token Kubeflow mounts into notebook pods.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib import error as urlerror
from urllib import parse, request

from jupyter_kf.errors import KfError

API = "/apis/v2beta1/runs"
TOKEN_PATH = "/var/run/secrets/kubeflow/pipelines/token"  # the "access-ml-pipeline" PodDefault mounts it
_PHASES = {"PENDING": "Pending", "RUNNING": "Running", "SUCCEEDED": "Succeeded", "SKIPPED": "Skipped",
           "FAILED": "Failed", "CANCELING": "Cancelling", "CANCELED": "Cancelled", "PAUSED": "Paused",
           "RUNTIME_STATE_UNSPECIFIED": "Unknown"}
_UNSET_TIME = "1970-01-01T00:00:00Z"  # KFP's zero time for a run not finished


@dataclass
class KfpRun:
    """One KFP run as the panel and ``%kf_pipeline runs`` show it."""

    id: str
    name: str
    phase: str  # Pending, Running, Succeeded, Failed, Cancelling, Cancelled, Skipped, Paused, Unknown
    state: str  # KFP's own word (RUNNING...)
    experiment_id: str
    created: str
    finished: str | None
    error: str
    url: str

    def to_dict(self) -> dict:
        """The shape the panel's pipeline runs have (``backend`` kfp), plus KFP's link."""
        return {"id": self.id, "pipeline": self.name, "notebook": "", "phase": self.phase, "created": self.created,
                "finished": self.finished, "seconds": None, "steps": [], "parameters": {}, "backend": "kfp",
                "url": self.url, "state": self.state, "experiment_id": self.experiment_id, "error": self.error}


def endpoint(host: str | None = None) -> str:
    from jupyter_kf import config

    found = host or os.environ.get("KF_PIPELINES_ENDPOINT") or config.get().kfp_host
    if not found:
        raise KfError("no Kubeflow Pipelines endpoint: give --host (e.g. http://localhost:8080), or set "
                      "KF_PIPELINES_ENDPOINT or c.KfConfig.kfp_host")
    if not found.startswith(("http://", "https://")):
        found = "http://" + found
    return found.rstrip("/")


def _token(token: str | None) -> str | None:
    if token:
        return token
    if os.environ.get("KF_PIPELINES_TOKEN"):
        return os.environ["KF_PIPELINES_TOKEN"]
    path = Path(os.environ.get("KF_PIPELINES_SA_TOKEN_PATH", TOKEN_PATH))
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _call(method: str, url: str, token: str | None, what: str, timeout: float = 15) -> dict:
    req = request.Request(url, method=method, data=b"{}" if method == "POST" else None,
                          headers={"Accept": "application/json", "Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    host = url.split("/apis/")[0]
    try:
        with request.urlopen(req, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urlerror.HTTPError as err:
        try:
            body = json.loads(err.read() or b"{}")
            reason = body.get("message") or body.get("error") or err.reason
        except ValueError:
            reason = err.reason
        hint = " (sign in, or give --token)" if err.code in (401, 403) else ""
        raise KfError(f"Kubeflow Pipelines at {host} could not {what}: HTTP {err.code}: {reason}{hint}") from None
    except (urlerror.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise KfError(f"Kubeflow Pipelines at {host} could not {what}: {reason} (check --host or "
                      "KF_PIPELINES_ENDPOINT)") from None


def _run(data: dict, host: str) -> KfpRun:
    state = data.get("state") or "RUNTIME_STATE_UNSPECIFIED"
    finished = data.get("finished_at")
    error = data.get("error") or {}
    return KfpRun(id=data.get("run_id", ""), name=data.get("display_name", ""), phase=_PHASES.get(state, state.title()),
                  state=state, experiment_id=data.get("experiment_id", ""), created=data.get("created_at", ""),
                  finished=None if not finished or finished == _UNSET_TIME else finished,
                  error=error.get("message", "") if isinstance(error, dict) else str(error),
                  url=f"{host}/#/runs/details/{data.get('run_id', '')}")


def runs(host: str | None = None, *, namespace: str | None = None, experiment_id: str | None = None,
         token: str | None = None, limit: int = 50) -> list[KfpRun]:
    """The newest ``limit`` runs (in ``namespace`` on multi-user installs), newest first."""
    if limit < 1:
        raise KfError(f"limit {limit} is not a positive number of runs: give e.g. 20")
    base, token = endpoint(host), _token(token)
    found: list[KfpRun] = []
    page = ""
    while len(found) < limit:
        query = {"page_size": min(limit - len(found), 100), "sort_by": "created_at desc"}
        query.update({k: v for k, v in (("namespace", namespace), ("experiment_id", experiment_id),
                                        ("page_token", page)) if v})
        body = _call("GET", f"{base}{API}?{parse.urlencode(query)}", token, "list runs")
        found += [_run(item, base) for item in body.get("runs", [])]
        page = body.get("next_page_token") or ""
        if not page:
            break
    return found[:limit]


def get(run_id: str, host: str | None = None, *, token: str | None = None) -> KfpRun:
    base = endpoint(host)
    return _run(_call("GET", f"{base}{API}/{parse.quote(run_id, safe='')}", _token(token), f"get run {run_id}"),
                base)


def cancel(run_id: str, host: str | None = None, *, token: str | None = None) -> KfpRun:
    """Terminate a run (KFP stops its pods); the run as KFP reports it afterwards."""
    base, token = endpoint(host), _token(token)
    _call("POST", f"{base}{API}/{parse.quote(run_id, safe='')}:terminate", token, f"cancel run {run_id}")
    return get(run_id, base, token=token)


def table(found: list[KfpRun]) -> str:
    """Runs as aligned text for the terminal and the notebook."""
    if not found:
        return "no runs"
    rows = [("RUN", "NAME", "PHASE", "CREATED", "LINK")] + [
        (r.id, r.name, r.phase, r.created, r.url) for r in found]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
                     for row in rows).rstrip()
