"""REST handlers: request parsing, one ``jupyter_kf`` call (or a cached listing), JSON.

Every route is authenticated and authorized by jupyter_server's ``Authorizer`` on the resource
``jupyter_kf``: ``read`` for GET, ``execute`` for what runs code (creating jobs, notebook servers and
models, starting a server, predicting, a server's URL with its token), ``write`` for cancel, stop and
delete (jobs, searches, datasets and their versions, volumes). Writes (POST, DELETE) are XSRF-checked by
``APIHandler`` as all jupyter_server writes are. A notebook server's token is only ever sent by
``notebooks/<name>/url``; names in paths are checked before anything is looked up. Listings come from
the ``KfManager`` snapshots (``manager.py``): a ready snapshot is sent straight from the event loop, with
no I/O. Other calls block (files, subprocesses,
the Kubernetes client), so they run in a worker thread. A ``KfError`` becomes its ``http_status`` with
``{"message": <its one line>, "reason": <its class>}``. The API is described in ``docs/openapi.yaml``.
"""
from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Callable

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.iostream import StreamClosedError

from jupyter_kf.errors import InvalidSpec, KfError
from jupyter_kf.server import sections
from jupyter_kf.server.manager import KfManager, without_token
from jupyter_kf.server.tailers import Tailers
from jupyter_kf.training.spec import check_name

NAMESPACE = "jupyter-kf/api"
MANAGER_KEY = "jupyter_kf_manager"
TAILERS_KEY = "jupyter_kf_tailers"
AUTH_RESOURCE = "jupyter_kf"
_NAME = r"(?P<name>[^/]+)"
_RUN_ID = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,126}[A-Za-z0-9])?$")
LOG_POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15.0
NOTEBOOK, MODEL = "notebook server name", "model name"
SOURCE_LIMIT = 2**20  # a cell's source sent over REST; data belongs in files the cell loads, not in its code


def valid(name: str, what: str) -> str:
    """A name from the path, checked before it reaches a folder or a cluster call (400 otherwise)."""
    if what == "pipeline run id":
        if not _RUN_ID.match(name) or ".." in name:
            raise InvalidSpec(
                f"pipeline run id {name[:80]!r} is invalid: use the id the listing shows (letters, digits, "
                "'-', '_' and '.')"
            )
        return name
    if len(name) > 63:  # the line names it without echoing all of it
        raise InvalidSpec(f"{what} {name[:40]!r}... is {len(name)} characters long: use at most 63")
    return check_name(name, what)


class KfAPIHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

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
        except RecursionError:
            raise InvalidSpec("the request body is nested too deeply: send a flat JSON object") from None
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
        """Act on a job only once its name is valid and its namespace is known to be allowed."""
        valid(name, "job name")
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
    @authorized("read")
    async def get(self) -> None:
        await self.call(self.manager.info)


# -- jobs -------------------------------------------------------------------------------------------
class JobsHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("read")
    async def get(self) -> None:
        await self.listing("jobs")

    @tornado.web.authenticated
    @authorized("execute")
    async def post(self) -> None:
        await self.call(
            lambda: sections.create_job(self._checked(self.body()), *self.where()), invalidate="jobs", status=201
        )

    @staticmethod
    def _checked(body: dict) -> dict:
        source = body.get("source")
        size = len(source.encode("utf-8", "surrogatepass")) if isinstance(source, str) else 0
        if size > SOURCE_LIMIT:
            raise InvalidSpec(f"'source' is {size / 2**20:.1f} MiB: a cell sent over REST may be at most "
                              f"{SOURCE_LIMIT // 2**20} MiB of code; load data inside the cell instead of pasting it")
        return body


class JobHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("read")
    async def get(self, name: str) -> None:
        await self.call(lambda: self._guarded(sections.get_job, name))

    @tornado.web.authenticated
    @authorized("write")
    async def delete(self, name: str) -> None:
        await self.call(lambda: self._guarded(sections.delete_job, name), invalidate="jobs")


class CancelJobHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("write")
    async def post(self, name: str) -> None:
        await self.call(lambda: self._guarded(sections.cancel_job, name), invalidate="jobs")


class JobLogsHandler(KfAPIHandler):
    """Server-sent events: ``lines`` (a JSON list of new lines), ``pending`` (each worker's line still being
    redrawn, ``[[rank, text], ...]``: a progress bar), ``status`` (the job), ``end`` (no more lines).

    Every client of one job reads from one shared ``JobTail`` (``tailers.py``), which reads the backend's log
    cursor (the same reads as ``Job.logs(follow=True)``) once for all: a client never gets a line twice,
    and 200 clients cost what one does. The stream ends when the job has ended and its last lines are
    sent. ``?follow=0`` sends what there is and ends.
    """

    _closed = False

    def on_connection_close(self) -> None:
        self._closed = True

    async def send(self, event: str, data: Any) -> None:
        self.write(f"event: {event}\ndata: {json.dumps(data)}\n\n")
        await self.flush()

    @tornado.web.authenticated
    @authorized("read")
    async def get(self, name: str) -> None:
        from jupyter_kf.training import api

        try:
            valid(name, "job name")
            backend, _ = self.where()
            job = await asyncio.to_thread(api.job, name, backend)
            status = self.allowed((await asyncio.to_thread(job.status)).to_dict())
        except KfError as err:
            self.fail(err)
            return
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # proxies must not hold the stream back
        tailers = self.settings[TAILERS_KEY]
        tail = tailers.join((job.backend.name, name), job)
        try:
            await self.send("status", status)
            follow = self.get_query_argument("follow", "1").lower() not in ("0", "false", "no")
            await self._stream(tail, status, follow)
        except StreamClosedError:
            return
        finally:
            tailers.leave(tail)
        if not self._closed:
            self.finish()

    async def _stream(self, tail, status: dict, follow: bool) -> None:
        """Send what the tail has that this client has not seen, each time it changes, until the job ends."""
        prefix = (status.get("resources") or {}).get("workers", 1) > 1
        position, seen, phase, pending = 0, -1, status["phase"], []
        while not self._closed:
            version = await tail.wait(seen, KEEPALIVE_SECONDS)
            if version == seen:
                self.write(": keepalive\n\n")
                await self.flush()
                continue
            seen = version
            lines, position, missed = tail.since(position)
            if missed:
                note = f"... {missed} earlier lines not kept here: %kf_logs {tail.job.name} has them"
                await self.send("lines", [note])
            if lines:
                await self.send("lines", [f"[{rank}] {line}" if prefix else line for rank, line in lines])
            if tail.pending != pending:
                pending = tail.pending
                await self.send("pending", [[rank, text] for rank, text in pending])
            current = tail.status
            if current is not None and current.phase != phase:
                phase = current.phase
                await self.send("status", current.to_dict())
            if tail.error is not None:
                await self.send("error", {"message": str(tail.error), "reason": type(tail.error).__name__})
                return
            if (tail.ended or not follow) and current is not None and position == tail.total:
                await self.send("end", {"phase": current.phase})
                return


# -- notebook servers -------------------------------------------------------------------------------
class NotebooksHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("read")
    async def get(self) -> None:
        await self.listing("notebooks")

    @tornado.web.authenticated
    @authorized("execute")
    async def post(self) -> None:
        await self.call(
            lambda: without_token(sections.create_notebook(self.body(), *self.where())),
            invalidate="notebooks",
            status=201,
        )


class NotebookHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("read")
    async def get(self, name: str) -> None:
        await self.call(lambda: without_token(sections.notebook_action("get", valid(name, NOTEBOOK), *self.where())))

    @tornado.web.authenticated
    @authorized("write")
    async def delete(self, name: str) -> None:
        await self.call(lambda: sections.delete_notebook(valid(name, NOTEBOOK), self._keep_workspace(), *self.where()),
                        invalidate="notebooks")

    def _keep_workspace(self) -> bool:
        keep = self.get_query_argument("keep_workspace", None)
        if keep is None:
            raise InvalidSpec("say what happens to the workspace: ?keep_workspace=true keeps it, "
                              "?keep_workspace=false deletes its files")
        return keep.lower() in ("1", "true", "yes")


class NotebookActionHandler(KfAPIHandler):
    """POST notebooks/<name>/stop and /start."""

    action = ""

    async def act(self, name: str) -> None:
        await self.call(
            lambda: without_token(sections.notebook_action(self.action, valid(name, NOTEBOOK), *self.where())),
            invalidate="notebooks",
        )


class NotebookStopHandler(NotebookActionHandler):
    action = "stop"

    @tornado.web.authenticated
    @authorized("write")
    async def post(self, name: str) -> None:
        await self.act(name)


class NotebookStartHandler(NotebookActionHandler):
    action = "start"  # the server runs code: execute

    @tornado.web.authenticated
    @authorized("execute")
    async def post(self, name: str) -> None:
        await self.act(name)


class NotebookUrlHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("execute")
    async def get(self, name: str) -> None:
        await self.call(lambda: sections.notebook_action("url", valid(name, NOTEBOOK), *self.where()))


# -- models -------------------------------------------------------------------------------------------
class ModelsHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("read")
    async def get(self) -> None:
        await self.listing("models")

    @tornado.web.authenticated
    @authorized("execute")
    async def post(self) -> None:
        await self.call(lambda: sections.deploy_model(self.body(), *self.where()), invalidate="models", status=201)


class ModelHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("read")
    async def get(self, name: str) -> None:
        await self.call(lambda: sections.get_model(valid(name, MODEL), *self.where()))

    @tornado.web.authenticated
    @authorized("write")
    async def delete(self, name: str) -> None:
        await self.call(lambda: sections.undeploy_model(valid(name, MODEL), *self.where()), invalidate="models")


class ModelPredictHandler(KfAPIHandler):
    """POST models/<name>/predict ``{"instances": [[...], ...], "protocol": "v1"|"v2"}``: the panel's way to a
    model, through ``kf.model(name).predict`` (which holds the model server's credentials)."""

    @tornado.web.authenticated
    @authorized("execute")
    async def post(self, name: str) -> None:
        await self.call(lambda: self._predict(valid(name, MODEL)))

    def _predict(self, name: str) -> dict:
        from jupyter_kf.serving import api as serving

        body = self.body()
        instances, protocol = body.get("instances"), body.get("protocol") or None
        if not isinstance(instances, list) or not instances:
            raise InvalidSpec("'instances' must be a non-empty list of rows, e.g. [[5.1, 3.5, 1.4, 0.2]]")
        if protocol not in (None, "v1", "v2"):
            raise InvalidSpec(f"'protocol' {str(protocol)[:20]!r} is unknown: use v1 or v2")
        backend, namespace = self.where()
        predictions = serving.model(name, backend=backend, namespace=namespace).predict(instances, protocol=protocol)
        return {"name": name, "predictions": predictions.tolist()}


# -- pipeline runs ------------------------------------------------------------------------------------
class PipelineRunsHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("read")
    async def get(self) -> None:
        await self.listing("pipelines")


class CancelPipelineRunHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("write")
    async def post(self, name: str) -> None:
        await self.call(lambda: sections.cancel_pipeline_run(valid(name, "pipeline run id")), invalidate="pipelines")


# -- experiments (searches) ------------------------------------------------------------------------
EXPERIMENT, DATASET, VOLUME = "experiment name", "dataset name", "volume name"


class ExperimentsHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("read")
    async def get(self) -> None:
        await self.listing("experiments")


class ExperimentHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("read")
    async def get(self, name: str) -> None:
        await self.call(lambda: sections.get_experiment(valid(name, EXPERIMENT), *self.where()))

    @tornado.web.authenticated
    @authorized("write")
    async def delete(self, name: str) -> None:
        await self.call(lambda: sections.delete_experiment(valid(name, EXPERIMENT), *self.where()),
                        invalidate="experiments")


class CancelExperimentHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("write")
    async def post(self, name: str) -> None:
        await self.call(lambda: sections.cancel_experiment(valid(name, EXPERIMENT), *self.where()),
                        invalidate="experiments")


# -- datasets and volumes ---------------------------------------------------------------------------
class ForceMixin:
    def force(self) -> bool:
        """``?force=true`` deletes what something still refers to; anything but a yes/no is refused."""
        value = (self.get_query_argument("force", "false") or "false").lower()
        if value not in ("1", "true", "yes", "0", "false", "no"):
            raise InvalidSpec(f"force={value[:20]!r} is invalid: use force=true or force=false")
        return value in ("1", "true", "yes")


class DatasetsHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("read")
    async def get(self) -> None:
        await self.listing("data")


class DatasetHandler(ForceMixin, KfAPIHandler):
    @tornado.web.authenticated
    @authorized("read")
    async def get(self, name: str) -> None:
        await self.call(lambda: sections.dataset_detail(valid(name, DATASET)))

    @tornado.web.authenticated
    @authorized("write")
    async def delete(self, name: str) -> None:
        await self.call(lambda: sections.delete_dataset(valid(name, DATASET), None, self.force()), invalidate="data")


class DatasetVersionHandler(ForceMixin, KfAPIHandler):
    """DELETE data/<name>/versions/<N>: refused (409, DatasetInUse) while a job still there read it, unless forced."""

    @tornado.web.authenticated
    @authorized("write")
    async def delete(self, name: str, version: str) -> None:
        await self.call(lambda: sections.delete_dataset(valid(name, DATASET), self._number(version), self.force()),
                        invalidate="data")

    @staticmethod
    def _number(version: str) -> int:
        if not version.isdigit() or int(version) < 1 or len(version) > 9:
            raise InvalidSpec(f"dataset version {version[:20]!r} is invalid: use a version number N >= 1, e.g. 2")
        return int(version)


class VolumesHandler(KfAPIHandler):
    @tornado.web.authenticated
    @authorized("read")
    async def get(self) -> None:
        await self.listing("volumes")


class VolumeHandler(ForceMixin, KfAPIHandler):
    @tornado.web.authenticated
    @authorized("write")
    async def delete(self, name: str) -> None:
        await self.call(lambda: sections.delete_volume(valid(name, VOLUME), self.force(), *self.where()),
                        invalidate="volumes")


def setup_handlers(web_app, manager: KfManager) -> None:
    web_app.settings[MANAGER_KEY] = manager
    web_app.settings[TAILERS_KEY] = Tailers(LOG_POLL_SECONDS)
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
            (route(f"notebooks/{_NAME}/stop"), NotebookStopHandler),
            (route(f"notebooks/{_NAME}/start"), NotebookStartHandler),
            (route(f"notebooks/{_NAME}/url"), NotebookUrlHandler),
            (route("models"), ModelsHandler),
            (route(f"models/{_NAME}"), ModelHandler),
            (route(f"models/{_NAME}/predict"), ModelPredictHandler),
            (route("pipelines/runs"), PipelineRunsHandler),
            (route(f"pipelines/runs/{_NAME}/cancel"), CancelPipelineRunHandler),
            (route("experiments"), ExperimentsHandler),
            (route(f"experiments/{_NAME}"), ExperimentHandler),
            (route(f"experiments/{_NAME}/cancel"), CancelExperimentHandler),
            (route("data"), DatasetsHandler),
            (route(f"data/{_NAME}"), DatasetHandler),
            (route(f"data/{_NAME}/versions/(?P<version>[^/]+)"), DatasetVersionHandler),
            (route("volumes"), VolumesHandler),
            (route(f"volumes/{_NAME}"), VolumeHandler),
        ],
    )
