"""Kubernetes API emulator: pod logs, lifecycle controls, fault injection, request log, standalone mode."""
import datetime as dt
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.support.k8s_emulator.testing import WatchCollector, error_body, eventually, raw

REPO = Path(__file__).resolve().parents[2]


def _log_error(v1, pod, **kwargs):
    with pytest.raises(ApiException) as e:
        v1.read_namespaced_pod_log(pod, "default", **kwargs)
    return e.value.status, error_body(e.value)["message"]


# -- logs -------------------------------------------------------------------------------------------

def test_pod_log_options(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    k8s_emulator.make_pod("default", "p", phase="Running")
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)
    k8s_emulator.write_log("default", "p", "one\ntwo\n", timestamp=old)
    k8s_emulator.write_log("default", "p", "three\nfour\n")
    assert v1.read_namespaced_pod_log("p", "default") == "one\ntwo\nthree\nfour\n"
    assert v1.read_namespaced_pod_log("p", "default", tail_lines=1) == "four\n"
    assert v1.read_namespaced_pod_log("p", "default", limit_bytes=6) == "one\ntw"
    assert v1.read_namespaced_pod_log("p", "default", since_seconds=60) == "three\nfour\n"
    assert k8s_emulator.requests[-1].query == {"sinceSeconds": "60"}
    text = v1.read_namespaced_pod_log("p", "default", timestamps=True, tail_lines=2)
    assert re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (three|four)\n){2}", text)
    since = (old + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")  # the typed API has no sinceTime
    path = "/api/v1/namespaces/default/pods/p/log"
    assert raw(k8s_api_client, "GET", path, query=[("sinceTime", since)]) == "three\nfour\n"
    assert _log_error(v1, "p", tail_lines=-1) == (422, 'PodLogOptions "p" is invalid: tailLines: Invalid value: -1: '
                                                       "must be greater than or equal to 0")
    with pytest.raises(ApiException) as e:
        raw(k8s_api_client, "GET", path, query=[("sinceTime", since), ("sinceSeconds", "5")])
    assert error_body(e.value)["details"]["causes"][0]["message"] == (
        "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified")
    assert _log_error(v1, "ghost") == (404, 'pods "ghost" not found')
    response = v1.read_namespaced_pod_log("p", "default", _preload_content=False)
    assert response.getheader("Content-Type") == "text/plain"


def test_log_container_selection(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    k8s_emulator.make_pod("default", "multi", containers=("trainer", "sidecar"), init_containers=("setup",),
                          phase="Running")
    assert _log_error(v1, "multi") == (400, "a container name must be specified for pod multi, choose one of: "
                                            "[setup trainer sidecar]")
    assert _log_error(v1, "multi", container="nope") == (400, "container nope is not valid for pod multi")
    k8s_emulator.write_log("default", "multi", "from trainer\n", container="trainer")
    assert v1.read_namespaced_pod_log("multi", "default", container="trainer") == "from trainer\n"
    assert v1.read_namespaced_pod_log("multi", "default", container="sidecar") == ""


def test_logs_of_pods_not_running(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    k8s_emulator.make_pod("default", "creating", phase="Pending")
    status, message = _log_error(v1, "creating")
    assert (status, message) == (400, 'container "main" in pod "creating" is waiting to start: ContainerCreating')
    with pytest.raises(ApiException) as e:
        v1.read_namespaced_pod_log("creating", "default")
    assert error_body(e.value)["reason"] == "BadRequest" and error_body(e.value)["details"] == {
        "name": "creating", "kind": "pods"}
    k8s_emulator.fail_image_pull("default", "creating")
    assert _log_error(v1, "creating")[1] == 'container "main" in pod "creating" is waiting to start: trying and failing to pull image'
    k8s_emulator.make_pod("default", "queued", phase="Pending")
    k8s_emulator.mark_unschedulable("default", "queued")
    assert v1.read_namespaced_pod_log("queued", "default") == ""  # no node: the apiserver answers empty
    k8s_emulator.make_pod("default", "done", phase="Running")
    k8s_emulator.write_log("default", "done", "bye\n")
    k8s_emulator.set_pod_phase("default", "done", "Succeeded")
    assert v1.read_namespaced_pod_log("done", "default") == "bye\n"
    assert _log_error(v1, "done", previous=True)[1] == 'previous terminated container "main" in pod "done" not found'
    k8s_emulator.make_pod("default", "crashy", phase="Running")
    k8s_emulator.write_log("default", "crashy", "attempt 1\n")
    k8s_emulator.restart_container("default", "crashy", exit_code=137, reason="OOMKilled")
    k8s_emulator.write_log("default", "crashy", "attempt 2\n")
    assert v1.read_namespaced_pod_log("crashy", "default", previous=True) == "attempt 1\n"
    assert v1.read_namespaced_pod_log("crashy", "default") == "attempt 2\n"
    cs = v1.read_namespaced_pod("crashy", "default").status.container_statuses[0]
    assert cs.restart_count == 1 and cs.last_state.terminated.reason == "OOMKilled"


def test_follow_streams_until_container_ends(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    k8s_emulator.make_pod("default", "p", phase="Running")
    k8s_emulator.write_log("default", "p", "first\n")
    lines, done = [], threading.Event()

    def follow():
        for line in watch.Watch().stream(v1.read_namespaced_pod_log, "p", "default"):
            lines.append(line)
        done.set()

    threading.Thread(target=follow, daemon=True).start()
    eventually(lambda: lines == ["first"])
    k8s_emulator.write_log("default", "p", "second\nthird\n")
    eventually(lambda: lines == ["first", "second", "third"])
    assert not done.is_set()
    follow_request = k8s_emulator.requests_matching(resource="pods", path="/log$")[-1]
    assert follow_request.query == {"follow": "true"} and follow_request.status == 200
    k8s_emulator.write_log("default", "p", "last\n")
    k8s_emulator.set_pod_phase("default", "p", "Failed", exit_code=3)
    assert done.wait(5) and lines[-1] == "last"
    response = v1.read_namespaced_pod_log("p", "default", follow=True, _preload_content=False)
    assert response.getheader("Transfer-Encoding") == "chunked" and response.getheader("Content-Type") == "text/plain"
    assert b"".join(response.stream()) == b"first\nsecond\nthird\nlast\n"  # ends at once: container terminated


def test_follow_ends_when_pod_is_deleted(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    k8s_emulator.make_pod("default", "p", phase="Running")
    response = v1.read_namespaced_pod_log("p", "default", follow=True, limit_bytes=100, _preload_content=False)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(response.stream()), daemon=True)
    reader.start()
    k8s_emulator.write_log("default", "p", "x\n")
    eventually(lambda: chunks)
    v1.delete_namespaced_pod("p", "default")
    reader.join(5)
    assert not reader.is_alive() and b"".join(chunks) == b"x\n"


# -- lifecycle controls -----------------------------------------------------------------------------

def test_pod_phases_and_states(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    owner = client.BatchV1Api(k8s_api_client).create_namespaced_job("default", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}})
    k8s_emulator.make_pod("default", "j-0", owner=owner, labels={"job-name": "j"})
    pod = v1.read_namespaced_pod("j-0", "default")
    assert pod.metadata.owner_references[0].uid == owner.metadata.uid and pod.metadata.owner_references[0].controller
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    k8s_emulator.set_pod_phase("default", "j-0", "Running")
    pod = v1.read_namespaced_pod("j-0", "default")
    conditions = {c.type: c.status for c in pod.status.conditions}
    assert conditions == {"PodScheduled": "True", "Initialized": "True", "ContainersReady": "True", "Ready": "True"}
    assert pod.status.container_statuses[0].state.running.started_at and pod.status.pod_ip
    k8s_emulator.set_pod_phase("default", "j-0", "Failed", exit_code=137, reason="OOMKilled")
    pod = v1.read_namespaced_pod("j-0", "default")
    terminated = pod.status.container_statuses[0].state.terminated
    assert pod.status.phase == "Failed" and (terminated.exit_code, terminated.reason) == (137, "OOMKilled")
    assert {c.type: c.reason for c in pod.status.conditions}["Ready"] == "PodCompleted"
    k8s_emulator.set_status("batch", "v1", "jobs", "default", "j", {"failed": 1, "conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the "
         "specified backoff limit"}]})
    job = client.BatchV1Api(k8s_api_client).read_namespaced_job("j", "default")
    assert job.status.failed == 1 and job.status.conditions[0].reason == "BackoffLimitExceeded"
    k8s_emulator.set_condition("batch", "v1", "jobs", "default", "j", "Failed", "True", reason="DeadlineExceeded")
    job = client.BatchV1Api(k8s_api_client).read_namespaced_job("j", "default")
    assert [c.reason for c in job.status.conditions] == ["DeadlineExceeded"]


def test_unschedulable_and_image_pull_events(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    k8s_emulator.make_pod("default", "gpu", phase="Pending", image="registry.example.com/train:1")
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    k8s_emulator.mark_unschedulable("default", "gpu", message)
    pod = v1.read_namespaced_pod("gpu", "default")
    scheduled = next(c for c in pod.status.conditions if c.type == "PodScheduled")
    assert (scheduled.status, scheduled.reason, scheduled.message) == ("False", "Unschedulable", message)
    assert pod.spec.node_name is None and pod.status.container_statuses is None
    events = v1.list_namespaced_event("default", field_selector="involvedObject.name=gpu").items
    assert [(e.type, e.reason, e.message, e.source.component) for e in events] == [
        ("Warning", "FailedScheduling", message, "default-scheduler")]
    assert events[0].involved_object.uid == pod.metadata.uid and events[0].involved_object.kind == "Pod"
    k8s_emulator.make_pod("default", "pull", phase="Pending", image="registry.example.com/missing:1")
    k8s_emulator.fail_image_pull("default", "pull")
    state = v1.read_namespaced_pod("pull", "default").status.container_statuses[0].state.waiting
    assert state.reason == "ImagePullBackOff" and "missing:1" in state.message
    reasons = [e.reason for e in v1.list_namespaced_event("default", field_selector="involvedObject.name=pull").items]
    assert sorted(reasons) == ["BackOff", "Failed", "Failed", "Failed"]
    k8s_emulator.set_container_waiting("default", "pull", "CrashLoopBackOff", "back-off 10s restarting")
    assert v1.read_namespaced_pod("pull", "default").status.container_statuses[0].state.waiting.reason == \
        "CrashLoopBackOff"


def test_generic_object_controls(k8s_emulator):
    k8s_emulator.create_namespace("team-a", labels={"team": "a"})
    created = k8s_emulator.create_object({"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": "c", "namespace": "team-a"}, "data": {"a": "1"}})
    assert created["metadata"]["uid"]
    with pytest.raises(Exception) as e:  # admission path: validation applies to controls too
        k8s_emulator.create_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad"}})
    assert getattr(e.value, "code", None) == 422
    updated = k8s_emulator.update_object("", "v1", "configmaps", "team-a", "c", lambda o: o["data"].update(b="2"))
    assert updated["data"] == {"a": "1", "b": "2"}
    assert [o["metadata"]["name"] for o in k8s_emulator.list_objects("", "v1", "configmaps", "team-a")] == [
        "c", "kube-root-ca.crt"]  # the second: what the root-ca-cert-publisher puts in every new namespace
    k8s_emulator.delete_object("", "v1", "configmaps", "team-a", "c")
    assert k8s_emulator.get_object("", "v1", "configmaps", "team-a", "c") is None


# -- faults -----------------------------------------------------------------------------------------

@pytest.fixture
def no_retry_client(k8s_emulator):
    """A client whose urllib3 pool does not retry, so injected failures surface as they are sent."""
    configuration = k8s_emulator.client_configuration()
    configuration.retries = False
    with client.ApiClient(configuration) as api_client:
        yield api_client


def test_injected_error_statuses(no_retry_client, k8s_emulator):
    v1 = client.CoreV1Api(no_retry_client)
    k8s_emulator.fail_next("list", r"/configmaps$", status=429, retry_after=2)
    with pytest.raises(ApiException) as e:
        v1.list_namespaced_config_map("default")
    assert e.value.status == 429 and e.value.headers["Retry-After"] == "2"
    assert error_body(e.value) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                   "message": "Too many requests, please try again later.",
                                   "reason": "TooManyRequests", "details": {"retryAfterSeconds": 2}, "code": 429}
    assert v1.list_namespaced_config_map("default").items == []  # only the next one
    fault = k8s_emulator.fail_next("*", r"/namespaces/default/pods", status=503, times=2)
    for _ in range(2):
        with pytest.raises(ApiException) as e:
            v1.list_namespaced_pod("default")
        assert e.value.status == 503 and error_body(e.value)["reason"] == "ServiceUnavailable"
    assert v1.list_namespaced_pod("default").items == [] and fault.hits == 2
    k8s_emulator.fail_next("create", ".*", status=500)
    assert v1.list_namespaced_service("default").items == []  # verb does not match
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_config_map("default", {"metadata": {"name": "x"}})
    assert e.value.status == 500 and error_body(e.value)["reason"] == "InternalError"


def test_default_client_retries_retry_after(k8s_api_client, k8s_emulator):
    """urllib3 in the official client honours Retry-After on 429/503 by itself (3 retries by default)."""
    v1 = client.CoreV1Api(k8s_api_client)
    k8s_emulator.fail_next("list", r"/configmaps$", status=429, retry_after=1)
    start = time.monotonic()
    assert v1.list_namespaced_config_map("default").items == []
    assert time.monotonic() - start >= 0.9
    assert [r.status for r in k8s_emulator.requests_matching(verb="list", resource="configmaps")] == [429, 200]
    k8s_emulator.fail_next("list", r"/configmaps$", status=503, retry_after=0, times=10)
    with pytest.raises(ApiException) as e:  # after 3 retries the last answer surfaces
        v1.list_namespaced_config_map("default")
    assert e.value.status == 503
    assert [r.status for r in k8s_emulator.requests_matching(verb="list", resource="configmaps")][2:] == [503] * 4


def test_hang_past_client_timeout(no_retry_client, k8s_api_client, k8s_emulator):
    k8s_emulator.hang_next("get", "/version", seconds=1.0)
    start = time.monotonic()
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        client.VersionApi(no_retry_client).get_code(_request_timeout=0.2)
    assert time.monotonic() - start < 0.9
    assert client.CoreV1Api(no_retry_client).list_namespace(_request_timeout=2).items  # next one is served
    fault = k8s_emulator.hang_next("get", "/version", seconds=0.5, times=10)  # the default client retries reads
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        client.VersionApi(k8s_api_client).get_code(_request_timeout=0.1)
    assert fault.hits == 4


def test_cut_streams(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    v1.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    v1.create_namespaced_config_map("default", {"metadata": {"name": "b"}})
    k8s_emulator.cut_next("watch", "configmaps", after_bytes=40)
    collector = WatchCollector(v1.list_namespaced_config_map, "default", timeout_seconds=5)
    assert collector.done.wait(5)
    assert collector.events == [] and isinstance(collector.error, urllib3.exceptions.ProtocolError)
    k8s_emulator.make_pod("default", "p", phase="Running")
    k8s_emulator.write_log("default", "p", "0123456789\n" * 3)
    k8s_emulator.cut_next("get", "/log$", after_bytes=15)
    response = v1.read_namespaced_pod_log("p", "default", follow=True, _preload_content=False)
    received = b""
    with pytest.raises(urllib3.exceptions.ProtocolError):
        for chunk in response.stream():
            received += chunk
    assert received == b"0123456789\n0123"
    k8s_emulator.cut_next("list", "configmaps", after_bytes=10)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        v1.list_namespaced_config_map("default")


# -- request log, compaction, reset ---------------------------------------------------------------

def test_request_log(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    k8s_emulator.clear_requests()
    assert k8s_emulator.requests == []
    v1.list_namespaced_pod("default", label_selector="app=x", limit=5)
    with pytest.raises(ApiException):
        v1.read_namespaced_pod("ghost", "default")
    first, second = k8s_emulator.requests
    assert (first.verb, first.path, first.query, first.status) == (
        "list", "/api/v1/namespaces/default/pods", {"labelSelector": "app=x", "limit": "5"}, 200)
    assert (second.verb, second.name, second.status, second.method) == ("get", "ghost", 404, "GET")
    assert k8s_emulator.requests_matching(verb="list", resource="pods") == [first]


def test_reset_restores_a_fresh_cluster(k8s_api_client, k8s_emulator):
    v1 = client.CoreV1Api(k8s_api_client)
    k8s_emulator.create_namespace("team-a")
    k8s_emulator.deny("list", "pods")
    k8s_emulator.fail_next("get", "/version", status=500)
    rv = k8s_emulator.resource_version
    k8s_emulator.reset()
    assert sorted(n.metadata.name for n in v1.list_namespace().items) == [
        "default", "kube-node-lease", "kube-public", "kube-system"]
    assert v1.list_namespaced_pod("default").items == []
    assert client.VersionApi(k8s_api_client).get_code().major == "1"
    assert k8s_emulator.resource_version > rv  # resourceVersions never go back


def test_unexpected_error_is_a_500_status(k8s_api_client, k8s_emulator, monkeypatch):
    def broken(req, resource):
        raise RuntimeError("boom")

    monkeypatch.setattr(k8s_emulator.api, "get", broken)
    v1 = client.CoreV1Api(k8s_api_client)
    with pytest.raises(ApiException) as e:
        v1.read_namespace("default")
    assert e.value.status == 500 and error_body(e.value)["message"] == "Internal error occurred: RuntimeError: boom"
    assert v1.list_namespace().items  # the connection and the server survive


def test_kubeconfig_fixture(kubeconfig_path, k8s_emulator):
    assert Path(os.environ["KUBECONFIG"]) == kubeconfig_path
    api_client = config.new_client_from_config()  # reads $KUBECONFIG like code under test would
    with api_client:
        assert api_client.configuration.host == k8s_emulator.url
        assert [n.metadata.name for n in client.CoreV1Api(api_client).list_namespace(
            field_selector="metadata.name=default").items] == ["default"]
    assert k8s_emulator.requests[-1].query == {"fieldSelector": "metadata.name=default"}


# -- standalone -------------------------------------------------------------------------------------

def test_standalone_command(tmp_path):
    kubeconfig = tmp_path / "kf-emulator.kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.k8s_emulator", "--port", "0", "--kubeconfig",
                             str(kubeconfig), "--crds", "trainer,kueue", "--namespace", "team-a"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        while not any(line.startswith("kubeconfig:") for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", "".join(lines)).group(1)
        assert lines[-1].strip() == f"kubeconfig: {kubeconfig}"
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        assert configuration.host == url
        with client.ApiClient(configuration) as api_client:
            names = [n.metadata.name for n in client.CoreV1Api(api_client).list_namespace().items]
            groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
        assert "team-a" in names and "default" in names
        assert {"trainer.kubeflow.org", "kueue.x-k8s.io"} <= groups and "serving.kserve.io" not in groups
        _, active_context = config.list_kube_config_contexts(config_file=str(kubeconfig))
        assert active_context["context"]["namespace"] == "team-a"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "stopped" in out
