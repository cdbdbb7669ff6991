"""Fault injection: make the next N matching requests fail, hang, or have their stream cut.

Rules match on the Kubernetes verb (``get``, ``list``, ``watch``, ``create``, ``update``, ``patch``,
``delete``, ``deletecollection``; ``*`` for any) and a regular expression searched in the URL path.
They are consumed in the order they were added.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from tests.support.k8s_emulator.errors import ApiError

_STATUS = {
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "the server was unable to return a response in the time allotted, but may still be "
                     "processing the request"),
}


@dataclass
class Fault:
    verb: str
    path: str
    times: int
    status: int | None = None          # answer with this error
    retry_after: int | None = None     # seconds, for 429/503
    message: str | None = None
    hang: float | None = None          # sleep this long before answering normally
    cut_after: int | None = None       # close the connection after this many body bytes
    hits: int = field(default=0)
    _regex: re.Pattern = field(init=False, repr=False)

    def __post_init__(self):
        self._regex = re.compile(self.path)

    def matches(self, verb: str, path: str) -> bool:
        return self.verb in ("*", verb) and bool(self._regex.search(path))

    def error(self) -> ApiError:
        reason, message = _STATUS.get(self.status, ("InternalError", f"injected status {self.status}"))
        details = {}
        headers = {}
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
            headers["Retry-After"] = str(self.retry_after)
        return ApiError(self.status, reason, self.message or message, details, headers)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._rules.append(fault)
        return fault

    def take(self, verb: str, path: str) -> Fault | None:
        """The first live rule matching this request, with one use consumed."""
        with self._lock:
            for rule in self._rules:
                if rule.times > 0 and rule.matches(verb, path):
                    rule.times -= 1
                    rule.hits += 1
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
