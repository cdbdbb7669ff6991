"""REST handlers: request parsing, one ``jupyter_kf`` call (or a cached listing), JSON.

Every route is authenticated; writes (POST, DELETE) are XSRF-checked by ``APIHandler`` as all
jupyter_server writes are. Listings come from the ``KfManager`` snapshots (``manager.py``): a ready
snapshot is sent straight from the event loop, with no I/O. Other calls block (files, subprocesses,
the Kubernetes client), so they run in a worker thread. A ``KfError`` becomes its ``http_status`` with
``{"message": <its one line>, "reason": <its class>}``. The API is described in ``docs/openapi.yaml``.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.iostream import StreamClosedError

from jupyter_kf.errors import InvalidSpec, KfError

from . import sections
from .manager import KfManager

NAMESPACE = "jupyter-kf/api"
MANAGER_KEY = "jupyter_kf_manager"
_NAME = r"(?P<name>[^/]+)"
LOG_POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0


class KfAPIHandler(APIHandler):
    @property
    def manager(self) -> KfManager:
        return self.settings[MANAGER_KEY]

    def fail(self, err: KfError) -> None:
        self.set_status(getattr(err, "http_status", 400))
        self.log.info("jupyter_kf: %s", err)
        self.finish({"message": str(err), "reason": type(err).__name__})

    def where(self) -> tuple[str, str | None]:
        """The backend and (cluster) namespace the request names, the namespace checked against the allow-list."""
        backend = self.manager.backend_name(self.get_query_argument("backend", None) or None)
        return backend, self.manager.namespace(backend, self.get_query_argument("namespace", None) or None)

    def body(self) -> dict:
        if not self.request.body:
            return {}
        try:
            data = json.loads(self.request.body)
        except ValueError:
            raise InvalidSpec("the request body must be JSON") from None
        if not isinstance(data, dict):
            raise InvalidSpec("the request body must be a JSON object")
        return data

    def allowed(self, status: dict) -> dict:
        """Refuse to show or touch an object in a namespace outside the allow-list."""
        namespace = status.get("namespace")
        if namespace and status.get("backend") == "kubernetes":
            self.manager.namespace("kubernetes", namespace)
        return status

    def _guarded(self, action: Callable[[str, str], Any], name: str) -> Any:
        """Act on a job only once its namespace is known to be allowed."""
        backend, _ = self.where()
        self.allowed(sections.get_job(name, backend))
        return action(name, backend)

    async def call(self, work: Callable[[], Any], invalidate: str | None = None, status: int = 200) -> None:
        """Parse the request and do the work off the event loop; reply with the result or the KfError's line."""
        try:
            result = await asyncio.to_thread(work)
        except KfError as err:
            self.fail(err)
            return
        if invalidate:
            self.manager.invalidate(invalidate)
        self.set_status(status)
        self.finish(json.dumps(result))

    async def listing(self, section: str) -> None:
        try:
            backend, namespace = self.where()
            snapshot = self.manager.peek(section, backend, namespace)
            if snapshot is None:
                snapshot = await asyncio.to_thread(self.manager.listing, section, backend, namespace)
        except KfError as err:
            self.fail(err)
            return
        self.set_header("Content-Type", "application/json")
        self.set_header("X-Kf-Version", str(snapshot.version))
        self.finish(snapshot.body)


class InfoHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.call(self.manager.info)


# -- jobs -------------------------------------------------------------------------------------------
class JobsHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.listing("jobs")

    @tornado.web.authenticated
    async def post(self) -> None:
        await self.call(lambda: sections.create_job(self.body(), *self.where()), invalidate="jobs", status=201)


class JobHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        await self.call(lambda: self._guarded(sections.get_job, name))

    @tornado.web.authenticated
    async def delete(self, name: str) -> None:
        await self.call(lambda: self._guarded(sections.delete_job, name), invalidate="jobs")


class CancelJobHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        await self.call(lambda: self._guarded(sections.cancel_job, name), invalidate="jobs")


class JobLogsHandler(KfAPIHandler):
    """Server-sent events: ``lines`` (a JSON list of new lines), ``status`` (the job), ``end`` (no more lines).

    Lines come from the backend's log cursor (the same reads as ``Job.logs(follow=True)``), so a client
    never gets a line twice; the stream ends when the job has ended and its last lines are sent.
    ``?follow=0`` sends what there is and ends.
    """

    _closed = False

    def on_connection_close(self) -> None:
        self._closed = True

    async def send(self, event: str, data: Any) -> None:
        self.write(f"event: {event}\ndata: {json.dumps(data)}\n\n")
        await self.flush()

    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        from jupyter_kf import api

        try:
            backend, _ = self.where()
            job = await asyncio.to_thread(api.job, name, backend)
            status = self.allowed((await asyncio.to_thread(job.status)).to_dict())
        except KfError as err:
            self.fail(err)
            return
        follow = self.get_query_argument("follow", "1").lower() not in ("0", "false", "no")
        prefix = (status.get("resources") or {}).get("workers", 1) > 1
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # proxies must not hold the stream back
        loop = asyncio.get_running_loop()
        cursor, phase, quiet_since = None, None, loop.time()
        try:
            await self.send("status", status)
            phase = status["phase"]
            while not self._closed:
                current = await asyncio.to_thread(job.status)
                done = current.done
                lines, cursor = await asyncio.to_thread(job.backend.read_logs, name, cursor)
                if done and hasattr(job.backend, "read_tail"):
                    lines += await asyncio.to_thread(job.backend.read_tail, name)
                if lines:
                    await self.send("lines", [f"[{rank}] {line}" if prefix else line for rank, line in lines])
                    quiet_since = loop.time()
                if current.phase != phase:
                    phase = current.phase
                    await self.send("status", current.to_dict())
                if done or not follow:
                    await self.send("end", {"phase": current.phase})
                    break
                if loop.time() - quiet_since > KEEPALIVE_SECONDS:
                    self.write(": keepalive\n\n")
                    await self.flush()
                    quiet_since = loop.time()
                await asyncio.sleep(LOG_POLL_SECONDS)
        except StreamClosedError:
            return
        except KfError as err:  # the job went away mid-stream
            try:
                await self.send("error", {"message": str(err), "reason": type(err).__name__})
            except StreamClosedError:
                return
        if not self._closed:
            self.finish()


# -- notebook servers -------------------------------------------------------------------------------
class NotebooksHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.listing("notebooks")

    @tornado.web.authenticated
    async def post(self) -> None:
        await self.call(lambda: sections.create_notebook(self.body(), *self.where()), invalidate="notebooks", status=201)


class NotebookHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        await self.call(lambda: sections.notebook_action("get", name, *self.where()))

    @tornado.web.authenticated
    async def delete(self, name: str) -> None:
        await self.call(lambda: sections.delete_notebook(name, self._keep_workspace(), *self.where()), invalidate="notebooks")

    def _keep_workspace(self) -> bool:
        keep = self.get_query_argument("keep_workspace", None)
        if keep is None:
            raise InvalidSpec("say what happens to the workspace: ?keep_workspace=true keeps it, "
                              "?keep_workspace=false deletes its files")
        return keep.lower() in ("1", "true", "yes")


class NotebookActionHandler(KfAPIHandler):
    """POST notebooks/<name>/stop and /start."""

    @tornado.web.authenticated
    async def post(self, name: str, action: str) -> None:
        await self.call(lambda: sections.notebook_action(action, name, *self.where()), invalidate="notebooks")


class NotebookUrlHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        await self.call(lambda: sections.notebook_action("url", name, *self.where()))


# -- models -------------------------------------------------------------------------------------------
class ModelsHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.listing("models")

    @tornado.web.authenticated
    async def post(self) -> None:
        await self.call(lambda: sections.deploy_model(self.body(), *self.where()), invalidate="models", status=201)


class ModelHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        await self.call(lambda: sections.get_model(name, *self.where()))

    @tornado.web.authenticated
    async def delete(self, name: str) -> None:
        await self.call(lambda: sections.undeploy_model(name, *self.where()), invalidate="models")


# -- pipeline runs ------------------------------------------------------------------------------------
class PipelineRunsHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.listing("pipelines")


class CancelPipelineRunHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        await self.call(lambda: sections.cancel_pipeline_run(name), invalidate="pipelines")


def setup_handlers(web_app, manager: KfManager) -> None:
    web_app.settings[MANAGER_KEY] = manager
    base_url = web_app.settings["base_url"]

    def route(path: str) -> str:
        return url_path_join(base_url, NAMESPACE, path)

    web_app.add_handlers(
        ".*$",
        [
            (route("info"), InfoHandler),
            (route("jobs"), JobsHandler),
            (route(f"jobs/{_NAME}"), JobHandler),
            (route(f"jobs/{_NAME}/cancel"), CancelJobHandler),
            (route(f"jobs/{_NAME}/logs"), JobLogsHandler),
            (route("notebooks"), NotebooksHandler),
            (route(f"notebooks/{_NAME}"), NotebookHandler),
            (route(f"notebooks/{_NAME}/(?P<action>stop|start)"), NotebookActionHandler),
            (route(f"notebooks/{_NAME}/url"), NotebookUrlHandler),
            (route("models"), ModelsHandler),
            (route(f"models/{_NAME}"), ModelHandler),
            (route("pipelines/runs"), PipelineRunsHandler),
            (route(f"pipelines/runs/{_NAME}/cancel"), CancelPipelineRunHandler),
        ],
    )
