"""The real kubectl binary against the Kubernetes API emulator: the typed commands a person tries first on a
cluster must work as on a real API server, so the emulator can stand in for one (issue 15).

Skipped only where kubectl is not installed, or is older than the 1.28 these commands are checked with (Debian
12's own package is 1.20). Each command's output is checked, not just its exit code.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

MIN_MINOR = 28


def kubectl_minor() -> int | None:
    """kubectl's client minor version, or None when there is no kubectl."""
    if shutil.which("kubectl") is None:
        return None
    out = subprocess.run(["kubectl", "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=60)
    try:
        return int(json.loads(out.stdout)["clientVersion"]["minor"].rstrip("+"))
    except (ValueError, KeyError):
        return 0


pytestmark = pytest.mark.skipif((kubectl_minor() or 0) < MIN_MINOR,
                                reason=f"kubectl 1.{MIN_MINOR}+ is not installed (PATH has {shutil.which('kubectl')})")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One discovery/OpenAPI cache per module: a fresh one per call would refetch everything each time."""
    return tmp_path_factory.mktemp("kubectl-cache")


@pytest.fixture
def kubectl(k8s_emulator, kubeconfig_path, cache_dir):
    """Run kubectl against the emulator; returns the finished process (text output)."""
    def run(*args: str, check: bool = True, timeout: float = 60, stdin: str | None = None):
        proc = subprocess.run(["kubectl", f"--kubeconfig={kubeconfig_path}", f"--cache-dir={cache_dir}", *args],
                              capture_output=True, text=True, timeout=timeout, input=stdin)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc
    return run


def test_typed_create_commands_send_protobuf_and_work(kubectl, k8s_emulator):
    """kubectl's generators send protobuf bodies (client-go falls back to JSON only for CBOR): each creates the
    object it names, with the content it was given."""
    assert kubectl("create", "namespace", "team-a").stdout.strip() == "namespace/team-a created"
    assert k8s_emulator.requests_matching(verb="create", resource="namespaces")[-1].content_type == \
        "application/vnd.kubernetes.protobuf"
    out = kubectl("create", "configmap", "settings", "--from-literal=lr=0.01", "-n", "team-a").stdout
    assert out.strip() == "configmap/settings created"
    out = kubectl("create", "secret", "generic", "token", "--from-literal=key=s3cret", "-n", "team-a").stdout
    assert out.strip() == "secret/token created"
    out = kubectl("create", "job", "once", "--image=busybox:1.36", "-n", "team-a", "--", "echo", "hi").stdout
    assert out.strip() == "job.batch/once created"
    out = kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "-n", "team-a").stdout
    assert out.strip() == "deployment.apps/web created"

    assert k8s_emulator.get_object("", "v1", "configmaps", "team-a", "settings")["data"] == {"lr": "0.01"}
    assert k8s_emulator.get_object("", "v1", "secrets", "team-a", "token")["data"] == {"key": "czNjcmV0"}
    job = k8s_emulator.get_object("batch", "v1", "jobs", "team-a", "once")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"], container["command"]) == ("once", "busybox:1.36", ["echo", "hi"])
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "stdin" not in container and "generation" not in job["spec"]["template"]["metadata"]
    deploy = k8s_emulator.get_object("apps", "v1", "deployments", "team-a", "web")
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    # Go's protobuf writes the empty strategy struct; defaulting still fills it, as after Go's decoding
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"


def test_create_answers_already_exists_like_a_real_server(kubectl):
    kubectl("create", "namespace", "dup")
    proc = kubectl("create", "namespace", "dup", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == 'Error from server (AlreadyExists): namespaces "dup" already exists'


def test_auth_can_i_asks_a_self_subject_access_review(kubectl, k8s_emulator):
    assert kubectl("auth", "can-i", "create", "pods", "-n", "default").stdout.strip() == "yes"
    k8s_emulator.deny("create", "pods", namespace="default")
    proc = kubectl("auth", "can-i", "create", "pods", "-n", "default", check=False)
    assert (proc.returncode, proc.stdout.strip()) == (1, "no")
    assert kubectl("auth", "can-i", "list", "pods", "-n", "default").stdout.strip() == "yes"
    review = k8s_emulator.requests_matching(verb="create", resource="selfsubjectaccessreviews")[-1]
    assert review.status == 201


def test_custom_resources_refuse_protobuf_and_do_not_list_it(k8s_emulator, k8s_api_client):
    """A real server has no protobuf codec for custom resources: its 415 lists only what it accepts."""
    from kubernetes.client.exceptions import ApiException

    from tests.support.k8s_emulator.testing import error_body, raw

    with pytest.raises(ApiException) as err:
        raw(k8s_api_client, "POST", "/apis/trainer.kubeflow.org/v1alpha1/namespaces/default/trainjobs",
            body=b"k8s\x00", content_type="application/vnd.kubernetes.protobuf")
    assert err.value.status == 415
    assert error_body(err.value)["message"] == ("the body of the request was in an unknown format - accepted media "
                                                "types include: application/json, application/yaml")
    assert json.dumps(error_body(err.value)).count("protobuf") == 0


def _table(proc) -> list[list[str]]:
    """kubectl's column output split into cells (columns are separated by at least two spaces)."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in proc.stdout.strip().splitlines()]


def test_get_prints_crd_printer_columns(kubectl, k8s_emulator):
    """The server converts to a Table with each CRD's additionalPrinterColumns: TrainJob STATE from its last
    condition, InferenceService URL and READY from status; kubectl only lays them out."""
    k8s_emulator.create_object({"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
                                "metadata": {"name": "mnist", "namespace": "default"},
                                "spec": {"runtimeRef": {"name": "torch-distributed"}}})
    k8s_emulator.set_condition("trainer.kubeflow.org", "v1alpha1", "trainjobs", "default", "mnist", "Complete",
                               reason="JobSetCompleted", message="done")
    k8s_emulator.create_object({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                                "metadata": {"name": "iris", "namespace": "default"},
                                "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                                                 "storageUri": "gs://kfserving-examples/iris"}}}})
    k8s_emulator.set_status("serving.kserve.io", "v1beta1", "inferenceservices", "default", "iris",
                            {"url": "http://iris.default.example.com",
                             "conditions": [{"type": "PredictorReady", "status": "True"},
                                            {"type": "Ready", "status": "True"}]})

    rows = _table(kubectl("get", "trainjobs"))
    assert rows[0] == ["NAME", "STATE", "AGE"]
    assert rows[1][:2] == ["mnist", "Complete"]
    rows = _table(kubectl("get", "inferenceservices"))
    assert rows[0][:3] == ["NAME", "URL", "READY"]
    assert rows[1][:3] == ["iris", "http://iris.default.example.com", "True"]
    table = k8s_emulator.requests_matching(verb="list", resource="inferenceservices")[-1]
    assert table.status == 200


def test_get_prints_builtin_columns_for_pods_and_jobs(kubectl, k8s_emulator):
    k8s_emulator.make_pod("default", "trainer-0", phase="Running")
    k8s_emulator.make_pod("default", "trainer-1", phase="Pending")
    k8s_emulator.set_container_waiting("default", "trainer-1", "ImagePullBackOff", "Back-off pulling image")
    rows = _table(kubectl("get", "pods"))
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows[1][:4] == ["trainer-0", "1/1", "Running", "0"]
    assert rows[2][:4] == ["trainer-1", "0/1", "ImagePullBackOff", "0"]
    wide = _table(kubectl("get", "pods", "-o", "wide"))
    assert wide[0][5:7] == ["IP", "NODE"] and wide[1][6] == "emulator-node"

    kubectl("create", "job", "once", "--image=busybox:1.36", "--", "true")
    rows = _table(kubectl("get", "jobs"))
    assert rows[0] == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert rows[1][:3] == ["once", "Running", "0/1"]
    k8s_emulator.set_condition("batch", "v1", "jobs", "default", "once", "Complete")
    assert _table(kubectl("get", "job", "once"))[1][:2] == ["once", "Complete"]


def test_deprecated_crd_version_warns_on_every_request(kubectl, k8s_emulator):
    """apiextensions answers requests to a deprecated version with ``Warning: 299 - "..."``, which kubectl prints;
    without its own deprecationWarning the text names the newest served version to use instead."""
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    k8s_emulator.install_crd({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema},
                              {"name": "v1beta1", "served": True, "storage": False, "deprecated": True,
                               "schema": schema},
                              {"name": "v1alpha1", "served": True, "storage": False, "deprecated": True,
                               "deprecationWarning": "example.com/v1alpha1 Widget is gone in 2.0", "schema": schema}]}})
    proc = kubectl("get", "widgets.v1beta1.example.com")
    assert "Warning: example.com/v1beta1 Widget is deprecated; use example.com/v1 Widget" in proc.stderr
    proc = kubectl("get", "widgets.v1alpha1.example.com")
    assert "Warning: example.com/v1alpha1 Widget is gone in 2.0" in proc.stderr
    assert "Warning" not in kubectl("get", "widgets.v1.example.com").stderr
    proc = kubectl("get", "localqueues.v1beta1.kueue.x-k8s.io")  # Kueue v0.19's own CRD, as shipped
    assert "Warning: This version is deprecated. Use v1beta2 instead." in proc.stderr


def test_scale_writes_through_the_scale_subresource(kubectl, k8s_emulator, k8s_api_client):
    """kubectl scale PATCHes ``<kind>/scale``: a Deployment's spec.replicas, a PyTorchJob's CRD specReplicasPath
    (its Worker replicas); a negative count gets the real 422."""
    from kubernetes.client.exceptions import ApiException

    from tests.support.k8s_emulator.testing import error_body, raw

    kubectl("create", "deployment", "web", "--image=nginx:1.27")
    assert kubectl("scale", "deployment", "web", "--replicas=3").stdout.strip() == "deployment.apps/web scaled"
    web = k8s_emulator.get_object("apps", "v1", "deployments", "default", "web")
    assert (web["spec"]["replicas"], web["metadata"]["generation"]) == (3, 2)
    scale = raw(k8s_api_client, "GET", "/apis/apps/v1/namespaces/default/deployments/web/scale")
    assert (scale["kind"], scale["spec"], scale["status"]["selector"]) == ("Scale", {"replicas": 3}, "app=web")

    container = {"name": "pytorch", "image": "busybox:1.36"}
    replica = {"replicas": 1, "template": {"spec": {"containers": [container]}}}
    k8s_emulator.create_object({"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                                "metadata": {"name": "ddp", "namespace": "default"},
                                "spec": {"pytorchReplicaSpecs": {"Master": replica, "Worker": replica}}})
    assert kubectl("scale", "pytorchjob", "ddp", "--replicas=4").stdout.strip() == "pytorchjob.kubeflow.org/ddp scaled"
    job = k8s_emulator.get_object("kubeflow.org", "v1", "pytorchjobs", "default", "ddp")
    assert (job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"],
            job["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"]) == (4, 1)

    with pytest.raises(ApiException) as err:
        raw(k8s_api_client, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale",
            body={"spec": {"replicas": -1}}, content_type="application/merge-patch+json")
    assert (err.value.status, error_body(err.value)["message"]) == (
        422, 'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0')


def test_discovery_advertises_only_served_subresources(k8s_emulator, k8s_api_client):
    from tests.support.k8s_emulator.testing import raw

    names = {r["name"] for r in raw(k8s_api_client, "GET", "/apis/apps/v1")["resources"]}
    assert {"deployments/scale", "deployments/status", "statefulsets/scale"} <= names
    for sub in ("pods/exec", "pods/attach", "pods/portforward", "pods/eviction"):
        assert sub not in {r["name"] for r in raw(k8s_api_client, "GET", "/api/v1")["resources"]}


def test_explain_reads_openapi_v3_schemas(kubectl):
    """kubectl explain finds each kind's schema in /openapi/v3 by x-kubernetes-group-version-kind: CRD fields with
    their descriptions and required marks, ObjectMeta through its $ref, built-ins from their definitions."""
    out = kubectl("explain", "trainjob.spec.runtimeRef").stdout
    assert "KIND:       TrainJob" in out and "VERSION:    v1alpha1" in out
    assert "runtimeRef is the reference to the training runtime." in out
    assert "name\t<string> -required-" in out
    out = kubectl("explain", "inferenceservice.metadata.name").stdout
    assert "Name must be unique within a namespace." in out
    out = kubectl("explain", "pods.spec.restartPolicy").stdout
    assert "FIELD: restartPolicy <string>" in out and "One of Always, OnFailure," in out


def test_logs_of_a_job_finds_its_pod_by_the_controller_labels(kubectl, k8s_emulator):
    """kubectl logs job/x lists pods by the Job's selector (batch.kubernetes.io/controller-uid): the API server
    adds it and the template labels, and the job controller's pods carry them."""
    kubectl("create", "job", "once", "--image=busybox:1.36", "--", "echo", "hi")
    job = k8s_emulator.get_object("batch", "v1", "jobs", "default", "once")
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    k8s_emulator.make_pod("default", "once-x7k2p", owner=job, phase="Running")
    labels = k8s_emulator.get_object("", "v1", "pods", "default", "once-x7k2p")["metadata"]["labels"]
    assert labels == {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "once",
                      "controller-uid": uid, "job-name": "once"}
    k8s_emulator.write_log("default", "once-x7k2p", "hi\n")
    assert kubectl("logs", "job/once", timeout=30).stdout == "hi\n"


def test_wait_for_condition_returns_once_the_condition_is_set(kubectl, k8s_emulator):
    kubectl("create", "job", "once", "--image=busybox:1.36", "--", "true")
    waiter = subprocess.Popen(["kubectl", f"--kubeconfig={k8s_emulator.kubeconfig_path}", "wait",
                               "--for=condition=Complete", "job/once", "--timeout=30s"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        k8s_emulator.wait_for_requests(timeout=20, verb="watch", resource="jobs")
        k8s_emulator.set_condition("batch", "v1", "jobs", "default", "once", "Complete")
        out, err = waiter.communicate(timeout=30)
    finally:
        waiter.kill()
    assert (waiter.returncode, out.strip()) == (0, "job.batch/once condition met"), err


def test_delete_cascade_foreground_waits_for_finalizers(kubectl, k8s_emulator):
    """Foreground deletion takes the Job's pods first; the Job itself stays, marked deleting, while another
    finalizer holds it, and goes when that finalizer is removed (kubectl delete --wait sees it go)."""
    kubectl("create", "job", "once", "--image=busybox:1.36", "--", "true")
    k8s_emulator.update_object("batch", "v1", "jobs", "default", "once",
                               lambda o: o["metadata"].__setitem__("finalizers", ["example.com/keep"]))
    job = k8s_emulator.get_object("batch", "v1", "jobs", "default", "once")
    k8s_emulator.make_pod("default", "once-abcde", owner=job, phase="Running")
    out = kubectl("delete", "job", "once", "--cascade=foreground", "--wait=false").stdout
    assert out.strip() == 'job.batch "once" deleted'
    assert k8s_emulator.get_object("", "v1", "pods", "default", "once-abcde") is None
    held = k8s_emulator.get_object("batch", "v1", "jobs", "default", "once")
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["finalizers"] == ["example.com/keep"]
    assert _table(kubectl("get", "job", "once"))[1][:2] == ["once", "Terminating"]

    deleter = subprocess.Popen(["kubectl", f"--kubeconfig={k8s_emulator.kubeconfig_path}", "delete", "job", "once",
                                "--cascade=foreground", "--timeout=30s"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        k8s_emulator.wait_for_requests(timeout=20, verb="watch", resource="jobs")
        k8s_emulator.update_object("batch", "v1", "jobs", "default", "once",
                                   lambda o: o["metadata"].__setitem__("finalizers", []))
        out, err = deleter.communicate(timeout=30)
    finally:
        deleter.kill()
    assert deleter.returncode == 0, err
    assert k8s_emulator.get_object("batch", "v1", "jobs", "default", "once") is None


def test_get_watch_streams_table_rows(k8s_emulator, kubeconfig_path):
    """kubectl get -w asks for Tables on the watch too: each event's row has the same columns as the list."""
    import queue
    import threading

    k8s_emulator.make_pod("default", "first", phase="Running")
    watcher = subprocess.Popen(["kubectl", f"--kubeconfig={kubeconfig_path}", "get", "pods", "-w"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in watcher.stdout], daemon=True).start()
    try:
        k8s_emulator.wait_for_requests(timeout=20, verb="watch", resource="pods")
        k8s_emulator.make_pod("default", "second", phase="Pending")
        seen = []
        while not any(x.startswith("second") for x in seen):
            seen.append(lines.get(timeout=20))
    finally:
        watcher.kill()
    rows = [x.split() for x in seen]
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows[1][:3] == ["first", "1/1", "Running"]
    assert rows[-1][:2] == ["second", "0/1"] and rows[-1][2] in ("Pending", "ContainerCreating")
    assert all(len(r) == 5 for r in rows)


def test_auth_can_i_list_and_whoami(kubectl, k8s_emulator):
    """can-i --list asks a SelfSubjectRulesReview, whoami a SelfSubjectReview: both answer from the same rules and
    user as every request."""
    rows = _table(kubectl("auth", "can-i", "--list", "-n", "default"))
    assert rows[0] == ["Resources", "Non-Resource URLs", "Resource Names", "Verbs"]
    assert rows[1] == ["*.*", "[]", "[]", "[*]"]
    k8s_emulator.deny("delete", "trainjobs", group="trainer.kubeflow.org", namespace="default")
    rows = {r[0]: r[-1] for r in _table(kubectl("auth", "can-i", "--list", "-n", "default"))[1:]}
    assert rows["trainjobs.trainer.kubeflow.org"] == "[create deletecollection get list patch update watch]"
    assert rows["pods"] == "[create delete deletecollection get list patch update watch]"
    who = _table(kubectl("auth", "whoami"))
    assert who[1] == ["Username", "system:serviceaccount:default:default"]


def test_get_events_services_and_claims_print_their_columns(kubectl, k8s_emulator):
    """What a newcomer looks at when a pod will not start: events (LAST SEEN ... MESSAGE), services, claims."""
    k8s_emulator.make_pod("default", "trainer-0", phase="Pending")
    k8s_emulator.mark_unschedulable("default", "trainer-0", "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.")
    rows = _table(kubectl("get", "events"))
    assert rows[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert rows[-1][1:] == ["Warning", "FailedScheduling", "pod/trainer-0",
                            "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."]
    assert rows[-1][0].endswith("s")  # an age, e.g. 0s

    kubectl("create", "service", "clusterip", "web", "--tcp=80:8080")
    rows = _table(kubectl("get", "services", "web"))
    assert rows[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert rows[1][:2] == ["web", "ClusterIP"] and rows[1][3:5] == ["<none>", "80/TCP"]
    k8s_emulator.create_object({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "ws"},
                                "spec": {"accessModes": ["ReadWriteOnce"],
                                         "resources": {"requests": {"storage": "1Gi"}}}})
    rows = _table(kubectl("get", "pvc", "ws"))
    assert rows[0][:3] == ["NAME", "STATUS", "VOLUME"] and rows[1][:2] == ["ws", "Pending"]


def test_job_from_cronjob_round_trips_every_protobuf_shape(kubectl, k8s_emulator):
    """kubectl create job --from=cronjob/x reads the CronJob (JSON) and sends the Job it builds as protobuf: its pod
    template (quantities, int-or-string ports, maps, explicit false/0 pointers, an empty env value) must come out
    as the JSON it went in as."""
    container = {"name": "rich", "image": "busybox:1.36", "args": ["sleep", "1"],
                 "env": [{"name": "A", "value": "1"}, {"name": "EMPTY"},
                         {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "token", "key": "key"}}}],
                 "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True}],
                 "resources": {"limits": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"},
                               "requests": {"cpu": "250m"}},
                 "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                 "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                 "livenessProbe": {"tcpSocket": {"port": 8080}},
                 "securityContext": {"privileged": False, "runAsUser": 0}}
    pod_spec = {"restartPolicy": "Never", "nodeSelector": {"gpu": "a100"}, "automountServiceAccountToken": False,
                "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                "volumes": [{"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420}}],
                "containers": [container]}
    k8s_emulator.create_object({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
                                "spec": {"schedule": "0 0 * * *", "jobTemplate": {"spec": {
                                    "backoffLimit": 0, "template": {"spec": pod_spec}}}}})
    kubectl("create", "job", "manual", "--from=cronjob/nightly")
    assert k8s_emulator.requests_matching(verb="create", resource="jobs")[-1].content_type == \
        "application/vnd.kubernetes.protobuf"
    job = k8s_emulator.get_object("batch", "v1", "jobs", "default", "manual")
    assert job["spec"]["backoffLimit"] == 0  # an explicit 0 pointer survives
    spec, c = job["spec"]["template"]["spec"], job["spec"]["template"]["spec"]["containers"][0]
    assert (spec["nodeSelector"], spec["automountServiceAccountToken"]) == ({"gpu": "a100"}, False)
    assert (spec["tolerations"], spec["volumes"]) == (pod_spec["tolerations"], pod_spec["volumes"])
    for key in ("args", "env", "volumeMounts", "resources", "ports", "readinessProbe", "livenessProbe", "securityContext"):
        assert c[key] == container[key], key
    assert job["metadata"]["annotations"] == {"cronjob.kubernetes.io/instantiate": "manual"}


def test_get_cronjobs_prints_schedule_and_suspend(kubectl):
    kubectl("create", "cronjob", "nightly", "--image=busybox:1.36", "--schedule=0 0 * * *", "--", "true")
    rows = _table(kubectl("get", "cronjobs"))
    assert rows[0] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"]
    assert rows[1][:6] == ["nightly", "0 0 * * *", "<none>", "False", "0", "<none>"]
