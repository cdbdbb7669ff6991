"""A small Kubeflow Pipelines API server on loopback: the v2beta1 runs endpoints as KFP's ml-pipeline serves them.

``GET /apis/v2beta1/runs`` (namespace, experiment_id, page_size, page_token, sort_by), ``GET .../runs/{id}``,
``POST .../runs/{id}:terminate`` (the run goes CANCELING, then CANCELED on the next read, as the
persistence agent reports it), errors as KFP writes them ({"error", "code", "message"}), and an optional
bearer token. Every request is recorded so that tests can see what the client asked.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PREFIX = "/apis/v2beta1/runs"


class FakeKfp:
    def __init__(self, token: str | None = None, max_page: int = 100):
        self.token = token
        self.max_page = max_page  # a server may return fewer runs than asked: clients follow next_page_token
        self.runs: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, query)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def add_run(self, run_id: str, name: str, state: str, created_at: str, *, experiment_id: str = "exp-1",
                namespace: str = "kubeflow-user", finished_at: str | None = None, error: dict | None = None) -> dict:
        run = {"run_id": run_id, "display_name": name, "experiment_id": experiment_id, "state": state,
               "storage_state": "AVAILABLE", "created_at": created_at, "scheduled_at": created_at,
               "finished_at": finished_at or "1970-01-01T00:00:00Z", "_namespace": namespace,
               "pipeline_spec": {"pipelineInfo": {"name": name.split(" ")[0]}}}
        if error:
            run["error"] = error
        self.runs[run_id] = run
        return run

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # -- the API ---------------------------------------------------------------------------------
    def list_runs(self, query: dict) -> tuple[int, dict]:
        runs = [r for r in self.runs.values()
                if (not query.get("namespace") or r["_namespace"] == query["namespace"])
                and (not query.get("experiment_id") or r["experiment_id"] == query["experiment_id"])]
        field, _, order = (query.get("sort_by") or "created_at").partition(" ")
        if field not in ("created_at", "name", "id"):
            return 400, _error(3, f"invalid sorting field: {field!r}")
        key = {"created_at": "created_at", "name": "display_name", "id": "run_id"}[field]
        runs.sort(key=lambda r: r[key], reverse=order == "desc")
        size = min(int(query.get("page_size") or 20), self.max_page)
        start = int(query.get("page_token") or 0)
        page = runs[start:start + size]
        body = {"runs": [self._public(r) for r in page], "total_size": len(runs)}
        if start + size < len(runs):
            body["next_page_token"] = str(start + size)
        if not page:
            body.pop("runs")  # grpc-gateway leaves empty lists out
        return 200, body

    def get_run(self, run_id: str) -> tuple[int, dict]:
        run = self.runs.get(run_id)
        if run is None:
            return 404, _error(5, f"Failed to get run: ResourceNotFoundError: Run {run_id} not found")
        if run["state"] == "CANCELING":  # the persistence agent catches up between two reads
            run["state"] = "CANCELED"
        return 200, self._public(run)

    def terminate(self, run_id: str) -> tuple[int, dict]:
        run = self.runs.get(run_id)
        if run is None:
            return 404, _error(5, f"Failed to terminate run {run_id}: ResourceNotFoundError: Run {run_id} not found")
        if run["state"] in ("SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"):
            return 400, _error(9, f"Failed to terminate run {run_id}: run is already in a final state")
        run["state"] = "CANCELING"
        return 200, {}

    @staticmethod
    def _public(run: dict) -> dict:
        return {k: v for k, v in run.items() if not k.startswith("_")}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, code: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str):
                url = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                with fake._lock:
                    fake.requests.append((method, url.path, query))
                    if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                        return self._reply(401, _error(16, "Unauthenticated: request has no valid token"))
                    if method == "GET" and url.path == PREFIX:
                        return self._reply(*fake.list_runs(query))
                    if url.path.startswith(PREFIX + "/"):
                        rest = url.path[len(PREFIX) + 1:]
                        if method == "GET" and "/" not in rest and ":" not in rest:
                            return self._reply(*fake.get_run(rest))
                        if method == "POST" and rest.endswith(":terminate"):
                            return self._reply(*fake.terminate(rest[: -len(":terminate")]))
                    return self._reply(404, _error(5, f"Not Found: {method} {url.path}"))

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._route("POST")

        return Handler


def _error(code: int, message: str) -> dict:
    return {"error": message, "code": code, "message": message, "details": []}
