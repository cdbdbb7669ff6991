"""REST handlers: request parsing, one ``jupyter_kf.api`` call, JSON.

Every route is authenticated; POSTs are XSRF-checked by ``APIHandler`` as all jupyter_server writes
are. API calls block (files, subprocesses, the Kubernetes client), so they run in a worker thread and
never stall the server's event loop. A ``KfError`` becomes a 4xx reply ``{"message": <its one line>}``.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from jupyter_kf.errors import KfError

NAMESPACE = "jupyter-kf/api"
_JOB_NAME = r"(?P<name>[^/]+)"


def _list_jobs(backend: str | None) -> dict[str, Any]:
    from jupyter_kf import api

    return {"jobs": [status.to_dict() for status in api.jobs(backend=backend)]}


def _get_job(name: str) -> dict[str, Any]:
    from jupyter_kf import api

    return api.job(name).status().to_dict()


def _cancel_job(name: str) -> dict[str, Any]:
    from jupyter_kf import api

    job = api.job(name)
    job.cancel()
    return job.status().to_dict()


class KfAPIHandler(APIHandler):
    async def call(self, fn: Callable[..., dict[str, Any]], *args: Any) -> None:
        """Run ``fn(*args)`` off the event loop and reply with its result, or with the KfError's line."""
        try:
            result = await asyncio.to_thread(fn, *args)
        except KfError as err:
            self.set_status(getattr(err, "http_status", 400))
            self.log.info("jupyter_kf: %s", err)
            self.finish({"message": str(err), "reason": type(err).__name__})
            return
        self.finish(result)


class JobsHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.call(_list_jobs, self.get_query_argument("backend", None) or None)


class JobHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        await self.call(_get_job, name)


class CancelJobHandler(KfAPIHandler):
    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        await self.call(_cancel_job, name)


def setup_handlers(web_app) -> None:
    base_url = web_app.settings["base_url"]

    def route(path: str) -> str:
        return url_path_join(base_url, NAMESPACE, path)

    web_app.add_handlers(
        ".*$",
        [
            (route("jobs"), JobsHandler),
            (route(f"jobs/{_JOB_NAME}"), JobHandler),
            (route(f"jobs/{_JOB_NAME}/cancel"), CancelJobHandler),
        ],
    )
