"""The request pipeline between the HTTP layer and the handlers.

route → record → injected fault? → RBAC → discovery or resource handler. Every request lands in the
request log with its Kubernetes verb and final status, so tests can assert what the code under test
asked for (``no list per request``, ``no request at all``...).
"""
from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass, field
from typing import Callable

from tests.support.k8s_emulator import discovery, routing
from tests.support.k8s_emulator.api import Api
from tests.support.k8s_emulator.errors import ApiError, internal, resource_not_found
from tests.support.k8s_emulator.faults import Faults
from tests.support.k8s_emulator.rbac import Rbac
from tests.support.k8s_emulator.resources import Registry
from tests.support.k8s_emulator.routing import Request, Response


@dataclass(frozen=True)
class RecordedRequest:
    verb: str            # get, list, watch, create, update, patch, delete, deletecollection (or HTTP verb)
    path: str
    query: dict
    status: int
    method: str = ""
    namespace: str | None = None
    resource: str = ""
    name: str = ""
    subresource: str = ""
    group: str = ""
    content_type: str = ""
    body: bytes = field(default=b"", repr=False)


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def add(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class App:
    def __init__(self, api: Api, registry: Registry, rbac: Rbac, faults: Faults, requests: RequestLog,
                 server_address: Callable[[], str], version_minor: str, wait: Callable[[float], bool]):
        self.api = api
        self.registry = registry
        self.rbac = rbac
        self.faults = faults
        self.requests = requests
        self.server_address = server_address
        self.version_minor = version_minor
        self.wait = wait  # sleeps, returning early (True) when the server stops

    def __call__(self, req: Request) -> Response:
        info = routing.parse(req.method, req.path, req.query)
        req.info = info
        epoch = self.api.store.epoch
        try:
            response = self._serve(req, info)
        except ApiError as e:
            response = Response(e.code, e.status(), headers=e.headers)
        except Exception as e:  # never drop a connection: answer like the apiserver's panic handler
            traceback.print_exc()
            err = internal(f"{type(e).__name__}: {e}")
            response = Response(err.code, err.status())
        if self.api.store.epoch != epoch:
            return response  # it straddled a reset: belongs to the previous test's log
        self.requests.add(RecordedRequest(
            info.verb, req.path, dict(req.query), response.code, req.method, info.namespace, info.resource,
            info.name, info.subresource, info.group, req.content_type, req.body))
        return response

    def _serve(self, req: Request, info: routing.RequestInfo) -> Response:
        fault = self.faults.take(info.verb, req.path)
        if fault is not None:
            if fault.hang:
                self.wait(fault.hang)
            if fault.status:
                raise fault.error()
        response = self._dispatch(req, info)
        if fault is not None and fault.cut_after is not None:
            response.cut_after = fault.cut_after
        return response

    def _dispatch(self, req: Request, info: routing.RequestInfo) -> Response:
        if not info.is_resource:
            return self._non_resource(req, info)
        resource = self.registry.lookup(info.group, info.version, info.resource)
        if resource is None:
            raise resource_not_found()
        self.rbac.check(info.verb, info.group, info.resource, info.subresource, info.namespace,
                        info.rbac_name or None)
        return self.api.handle(req, resource)

    def _non_resource(self, req: Request, info: routing.RequestInfo) -> Response:
        if req.method not in ("GET", "HEAD"):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                           {})
        path = req.path.rstrip("/") or "/"
        if path == "/version":
            return Response(200, discovery.version_info(self.version_minor))
        if path in ("/healthz", "/readyz", "/livez"):
            return Response(200, b"ok", content_type="text/plain")
        if path == "/api":
            return Response(200, discovery.api_versions(self.server_address()))
        if path == "/apis":
            return Response(200, discovery.api_group_list(self.registry))
        if info.version:
            return Response(200, discovery.resource_list(self.registry, info.group, info.version))
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["openapi", "v3"]:
            return self._openapi(parts[2:])
        if len(parts) == 2 and parts[0] == "apis":
            return Response(200, discovery.api_group(self.registry, parts[1]))
        raise resource_not_found()

    def _openapi(self, rest: list[str]) -> Response:
        if not rest:
            return Response(200, discovery.openapi_v3_root(self.registry))
        if rest[0] == "api" and len(rest) == 2:
            return Response(200, discovery.openapi_v3_group_version(self.registry, "", rest[1]))
        if rest[0] == "apis" and len(rest) == 3:
            return Response(200, discovery.openapi_v3_group_version(self.registry, rest[1], rest[2]))
        raise resource_not_found()
