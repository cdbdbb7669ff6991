"""Small helpers for tests that drive the emulator through the official client."""
from __future__ import annotations

import json
import time
from typing import Any, Callable


def error_body(exc) -> dict:
    """The Status body of a ``kubernetes.client.ApiException`` as a dict."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode()
    return json.loads(body) if body else {}


def eventually(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Call ``check`` until it returns something truthy (returned) or ``timeout`` passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last result: {result!r})")
        time.sleep(interval)


def raw(api_client, method: str, path: str, body: Any = None, content_type: str | None = None,
        query: list | None = None) -> Any:
    """A request the typed APIs cannot express, through the client's own transport and error handling.

    Returns the decoded JSON (or text) body; non-2xx answers raise ``ApiException`` like any API call.
    """
    headers = {"Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    method, url, headers, body, _ = api_client.param_serialize(method, path, query_params=query or [],
                                                               header_params=headers, body=body,
                                                               auth_settings=["BearerToken"])
    response = api_client.call_api(method, url, headers, body)
    response.read()
    return api_client.response_deserialize(response, {"2XX": "object"}).data


class WatchCollector:
    """Runs ``kubernetes.watch.Watch().stream(func, *args, **kwargs)`` in a thread and records events.

    ``events`` holds ``(type, raw_object)`` pairs; ``error`` the exception that ended the stream, if any.
    """

    def __init__(self, func: Callable, *args, **kwargs):
        import threading

        from kubernetes import watch

        self.watch = watch.Watch()
        self.events: list[tuple[str, dict]] = []
        self.error: BaseException | None = None
        self.done = threading.Event()

        def run():
            try:
                for event in self.watch.stream(func, *args, **kwargs):
                    self.events.append((event["type"], event["raw_object"]))
            except BaseException as e:  # noqa: BLE001 - reported to the test
                self.error = e
            finally:
                self.done.set()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, dict]]:
        eventually(lambda: len(self.events) >= count or self.done.is_set(), timeout)
        assert len(self.events) >= count, (self.events, self.error)
        return list(self.events)

    def stop(self, timeout: float = 5.0) -> None:
        self.watch.stop()
        self.thread.join(timeout)
