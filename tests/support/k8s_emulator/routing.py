"""Request and response shapes, and URL → :class:`RequestInfo` as the apiserver's RequestInfoFactory does.

``/api/v1/namespaces/ns/pods/p/log`` becomes group "", version v1, namespace ns, resource pods,
name p, subresource log, verb get; a collection GET is ``list`` or ``watch``; a collection DELETE is
``deletecollection``. RBAC, faults and the request log all speak these verbs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import unquote

_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass
class RequestInfo:
    path: str
    verb: str
    is_resource: bool = False
    group: str = ""
    version: str = ""
    namespace: str | None = None
    resource: str = ""
    name: str = ""
    subresource: str = ""
    valid: bool = True  # False: a resource path with too many segments
    selector_name: str = ""  # metadata.name=x of a list/watch: what RBAC messages name

    @property
    def rbac_name(self) -> str:
        return self.name or self.selector_name


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Any
    body: bytes
    info: RequestInfo | None = None

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("true", "1")


@dataclass
class Response:
    code: int
    body: Any = None                           # dict (JSON) or bytes
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)
    stream: Iterator[bytes] | None = None      # chunked body, for watch and follow
    cut_after: int | None = None               # fault: close after this many body bytes
    tunnel: tuple[int, bytes] | None = None    # (local port, request head): replay the head there, then relay raw
                                               # bytes both ways (a websocket through the notebook proxy)

    def payload(self) -> bytes:
        if isinstance(self.body, (bytes, bytearray)):
            return bytes(self.body)
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()


def parse(method: str, path: str, query: dict[str, str]) -> RequestInfo:
    parts = [unquote(p) for p in path.split("/") if p]
    lower = method.lower()
    if len(parts) < 2 or parts[0] not in ("api", "apis") or (parts[0] == "apis" and len(parts) < 3):
        return RequestInfo(path, lower)
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return RequestInfo(path, lower, group=group, version=version)
    watch_path = rest[0] == "watch"
    if watch_path:
        rest = rest[1:]
    namespace = None
    if len(rest) > 2 and rest[0] == "namespaces" and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return RequestInfo(path, lower, is_resource=True, group=group, version=version, valid=False)
    info = RequestInfo(path, "", True, group, version, namespace, rest[0],
                       rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else "", valid=len(rest) <= 3)
    if method in ("GET", "HEAD"):
        if info.name:
            info.verb = "watch" if watch_path else "get"
        else:
            info.verb = "watch" if watch_path or query.get("watch", "").lower() in ("true", "1") else "list"
            selector = query.get("fieldSelector", "")
            if selector.startswith("metadata.name=") and "," not in selector:
                info.selector_name = selector.split("=", 1)[1].lstrip("=")
    elif method == "DELETE":
        info.verb = "delete" if info.name else "deletecollection"
    else:
        info.verb = _METHOD_VERBS.get(method, lower)
    return info
