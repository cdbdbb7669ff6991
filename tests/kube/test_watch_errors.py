"""Background loops say what they caught: logged, and kept where a job's status shows it."""
import logging
import threading

from jupyter_kf.kube.watch import Informer


class _Broken:
    host, context = "https://example.invalid", "test"


def test_an_informer_logs_and_keeps_what_it_retried_past(caplog):
    calls = threading.Event()

    def list_fn(*args, **kwargs):
        calls.set()
        raise ConnectionRefusedError("connection refused")

    with caplog.at_level(logging.WARNING, logger="jupyter_kf.watch"):
        informer = Informer(_Broken(), list_fn, ("v1", "team-a", "pods"), "a=b", threading.Condition())
        try:
            assert calls.wait(10)
            for _ in range(3):  # several retries: the same failure is logged once
                calls.clear()
                assert calls.wait(30)
        finally:
            informer.stopped = True
    assert informer.last_error == "watching pods in namespace team-a: ConnectionRefusedError: connection refused"
    logged = [r.getMessage() for r in caplog.records if "ConnectionRefusedError" in r.getMessage()]
    assert logged == ["watching pods in namespace team-a: ConnectionRefusedError: connection refused (retrying)"]
