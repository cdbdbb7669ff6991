"""Kubernetes ``Status`` error bodies, built the way k8s.io/apimachinery/pkg/api/errors builds them.

The official client 37.x picks its deserializer by HTTP status code and the code under test reads
``ApiException.body``, so every failure must carry the exact code, reason, message and details a real
apiserver sends. Handlers raise :class:`ApiError`; the HTTP layer turns it into a response.
"""
from __future__ import annotations

from typing import Any, Iterable


class ApiError(Exception):
    """An error answered with a ``Status`` body (``code`` is also the HTTP status)."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def success_status(details: dict) -> dict:
    """The body of a DELETE on a kind whose registry does not return the deleted object."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def qualified(plural: str, group: str) -> str:
    """``jobs.batch`` / ``pods``: how apiserver messages name a resource."""
    return f"{plural}.{group}" if group else plural


def _details(name: str | None, group: str, kind: str, **extra) -> dict:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = kind
    details.update(extra)
    return details


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(plural, group)} "{name}" not found',
                    _details(name, group, plural))


def resource_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(plural, group)} "{name}" already exists',
                    _details(name, group, plural))


def conflict(plural: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
                    _details(name, group, plural))


STALE_OBJECT = "the object has been modified; please apply your changes to the latest version and try again"


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def unsupported_media_type(content_type: str, accepted: Iterable[str]) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: "
                    f"{', '.join(accepted)}", {})


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]})


def invalid(kind: str, group: str, name: str, errors: list) -> ApiError:
    """422 Invalid from a list of :class:`~.schema.FieldError` (``errors.NewInvalid``)."""
    gk = f"{kind}.{group}" if group else kind
    if len(errors) == 1:
        summary = str(errors[0])
    else:
        summary = "[" + ", ".join(str(e) for e in errors) + "]"
    causes = [{"reason": e.type, "message": e.body(), "field": e.field} for e in errors]
    details = _details(name, group, kind, causes=causes)
    return ApiError(422, "Invalid", f'{gk} "{name}" is invalid: {summary}', details)


def forbidden(plural: str, group: str, name: str | None, why: str) -> ApiError:
    res = qualified(plural, group)
    target = f'{res} "{name}"' if name else res
    return ApiError(403, "Forbidden", f"{target} is forbidden: {why}", _details(name, group, plural))
