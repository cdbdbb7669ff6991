"""Serving on a cluster: the official client over HTTP to the Kubernetes emulator (InferenceServices
validated strictly against KServe's CRD), uploads to a real S3-compatible server on loopback (moto), and
predictions over real HTTP to a model server the status URL points at (jupyter_kf/serving/backends/kubernetes.py)."""
import io
import json
import threading

import joblib
import numpy as np
import pytest

from jupyter_kf import config
from jupyter_kf.errors import InvalidSpec
from jupyter_kf.serving import api
from jupyter_kf.serving.backends.local import LocalServing
from jupyter_kf.serving.errors import ModelNotFound, NoStore, NotReady, PredictionError
from jupyter_kf.training.backends import kubernetes as kubernetes_backend
from tests.support.fake_kserve import FakeKServe, predictor_service_name

G, V, P = "serving.kserve.io", "v1beta1", "inferenceservices"


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=500).fit(X, y), DecisionTreeClassifier(max_depth=1).fit(X, y), X


@pytest.fixture(scope="module")
def moto_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_server, monkeypatch):
    """A fresh bucket on the loopback S3 server; boto3 only to look inside it (jupyter_kf does not use it)."""
    import secrets

    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    bucket = f"models-{secrets.token_hex(4)}"
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    client.bucket = bucket
    client.keys = lambda: sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))
    return client


@pytest.fixture
def cluster(kf_cluster):
    return kf_cluster


@pytest.fixture
def store(cluster, s3, moto_server):
    cfg = config.get()
    cfg.store, cfg.store_endpoint, cfg.store_secret = f"s3://{s3.bucket}/kf", moto_server, "s3-creds"
    cluster.create_object({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-creds", "namespace": "default"},
                           "stringData": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret"}})
    return s3


@pytest.fixture
def model_server(tmp_path, iris):
    """A real model server on loopback standing in for KServe's predictor; the tests point status.url at it."""
    servers = LocalServing()  # in the state folder, where the client finds its token
    started = []

    def start(name, model):
        from jupyter_kf.serving.spec import ServingSpec

        status = servers.deploy(ServingSpec.create(name, protocol="v1"), model)
        started.append(name)
        return status.url
    yield start
    for name in started:
        servers.delete(name)


def isvc(emu, name="iris"):
    return emu.get_object(G, V, P, "default", name)


def become_ready(kserve, name="iris"):
    """KServe (tests/support/fake_kserve.py) reconciles the last edit and its pods come up: Ready as KServe writes it."""
    isvc = kserve.emu.get_object(G, V, P, "default", name)
    kserve.reconcile(name)
    if kserve._mode(None, isvc["metadata"].get("annotations") or {}) == "Knative":
        kserve.revision_ready(name)
    else:
        for canary in [{"predictor": isvc["spec"]["predictor"]}] + (isvc["spec"].get("canary") or []):
            kserve.roll_out(predictor_service_name(name, canary["predictor"].get("name", "")))
    return kserve.reconcile(name)


def knative(emu):
    emu.create_namespace("kserve")
    emu.create_object({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "inferenceservice-config", "namespace": "kserve"},
                       "data": {"deploy": json.dumps({"defaultDeploymentMode": "Serverless"})}})


@pytest.mark.parametrize("mode", ["Standard", "Knative"])
def test_deploy_predict_canary_promote_rollback_undeploy(cluster, store, model_server, iris, mode):
    clf, stump, X = iris
    if mode == "Knative":
        knative(cluster)
    model = api.deploy("iris", clf, wait=False)
    obj = isvc(cluster)
    assert obj["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == mode
    predictor = obj["spec"]["predictor"]
    uri = predictor["model"]["storageUri"]
    assert uri.startswith(f"s3://{store.bucket}/kf/models/default/iris/v1-")
    assert predictor["model"]["modelFormat"] == {"name": "sklearn"} and predictor["model"]["protocolVersion"] == "v1"
    # the upload: a real joblib file in the bucket; credentials referenced by a ServiceAccount, never inlined
    key = uri.split("/", 3)[3] + "/model.joblib"
    assert store.keys() == [key]
    saved = joblib.load(io.BytesIO(store.get_object(Bucket=store.bucket, Key=key)["Body"].read()))
    np.testing.assert_array_equal(saved.predict(X[:5]), clf.predict(X[:5]))
    assert predictor["serviceAccountName"] == "kf-store-s3-creds"
    sa = cluster.get_object("", "v1", "serviceaccounts", "default", "kf-store-s3-creds")
    assert sa["secrets"] == [{"name": "s3-creds"}]
    secret = cluster.get_object("", "v1", "secrets", "default", "s3-creds")
    assert secret["metadata"]["annotations"]["serving.kserve.io/s3-endpoint"] == config.get().store_endpoint.split("//")[1]
    assert "testing-secret" not in json.dumps(obj) and "AWS_" not in json.dumps(obj)

    status = model.status()
    assert status.phase == "Pending" and status.url == ""
    with pytest.raises(NotReady, match="iris has no URL yet"):
        model.predict(X[:2])
    url = model_server("iris", clf)
    kserve = FakeKServe(cluster, default_mode=mode, url=url)
    become_ready(kserve)
    status = model.status()
    assert status.ready and status.url == url and status.traffic == "100% v1"
    np.testing.assert_array_equal(api.model("iris").predict(X[:5]), clf.predict(X[:5]))

    # canary: the mechanism of the cluster's mode
    api.deploy("iris", stump, canary=10, wait=False)
    obj = isvc(cluster)
    if mode == "Knative":
        assert obj["spec"]["predictor"]["canaryTrafficPercent"] == 10 and "canary" not in obj["spec"]
        canary_uri = obj["spec"]["predictor"]["model"]["storageUri"]
    else:
        assert "canaryTrafficPercent" not in obj["spec"]["predictor"] and obj["spec"]["predictor"]["name"] == "v1"
        [entry] = obj["spec"]["canary"]
        assert entry["trafficPercent"] == 10 and entry["predictor"]["name"] == "v2"
        assert obj["spec"]["predictor"]["model"]["storageUri"] == uri
        canary_uri = entry["predictor"]["model"]["storageUri"]
    assert "/iris/v2-" in canary_uri and len(store.keys()) == 2
    assert api.model("iris").status().traffic == "90% v1 / 10% v2 (canary)"
    become_ready(kserve)  # from KServe's status now
    status = api.model("iris").status()
    assert status.ready and status.traffic == "90% v1 / 10% v2 (canary)"

    status = api.model("iris").promote()
    obj = isvc(cluster)
    assert "canary" not in obj["spec"] and "canaryTrafficPercent" not in obj["spec"]["predictor"]
    assert obj["spec"]["predictor"]["model"]["storageUri"] == canary_uri and status.traffic == "100% v2"
    assert store.keys() == [canary_uri.split("/", 3)[3] + "/model.joblib"]  # v1's copy went with it
    status = become_ready(kserve)
    assert api.model("iris").wait(timeout=5).traffic == "100% v2"

    api.deploy("iris", clf, canary=50, wait=False)
    third = store.keys()
    api.model("iris").rollback()
    obj = isvc(cluster)
    assert "canary" not in obj["spec"] and "canaryTrafficPercent" not in obj["spec"]["predictor"]
    assert obj["spec"]["predictor"]["model"]["storageUri"] == canary_uri and len(third) == 2
    assert store.keys() == [canary_uri.split("/", 3)[3] + "/model.joblib"]

    [listed] = api.models()
    assert listed.name == "iris" and listed.traffic == "100% v2"
    api.undeploy("iris")
    assert isvc(cluster) is None and store.keys() == []
    with pytest.raises(ModelNotFound) as err:
        api.undeploy("iris")
    assert str(err.value) == "no model named 'iris' in namespace 'default': %kf_models lists the deployed models"


def test_mode_from_config_wins_and_knative_traffic_from_status(cluster, store, iris):
    knative(cluster)
    config.get().serving_mode = "RawDeployment"
    api.deploy("iris", iris[0], wait=False)
    assert isvc(cluster)["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    status = become_ready(FakeKServe(cluster))
    assert status["deploymentMode"] == "Standard" and api.model("iris").status().traffic == "100% v1"


def test_knative_traffic_is_read_from_the_status(cluster):
    knative(cluster)
    kserve = FakeKServe(cluster, default_mode="Knative")
    api.deploy("iris", "s3://models/iris/v1", format="sklearn", wait=False)
    become_ready(kserve)
    api.deploy("iris", "s3://models/iris/v2", format="sklearn", canary=25, wait=False)
    status = become_ready(kserve)
    assert [(t["percent"], t["revisionName"]) for t in status["components"]["predictor"]["traffic"]] == [
        (25, "iris-predictor-00002"), (75, "iris-predictor-00001")]
    assert api.model("iris").status().traffic == "75% v1 / 25% v2 (canary)"


def test_uri_models_are_used_as_given_with_resources(cluster):
    api.deploy("llm", "hf://org/model", format="huggingface", gpus=1, memory="24Gi", min_replicas=1, max_replicas=2,
               wait=False)
    obj = isvc(cluster, "llm")
    model = obj["spec"]["predictor"]["model"]
    assert model["storageUri"] == "hf://org/model" and model["modelFormat"] == {"name": "huggingface"}
    assert model["resources"]["limits"] == {"memory": "24Gi", "nvidia.com/gpu": "1"}
    assert (obj["spec"]["predictor"]["minReplicas"], obj["spec"]["predictor"]["maxReplicas"]) == (1, 2)
    assert "serviceAccountName" not in obj["spec"]["predictor"]
    api.deploy("net", "s3://bucket/models/net", format="onnx", runtime="kserve-tritonserver", wait=False)
    model = isvc(cluster, "net")["spec"]["predictor"]["model"]
    assert (model["runtime"], model["protocolVersion"]) == ("kserve-tritonserver", "v2")


def test_in_memory_model_without_a_store_creates_nothing(cluster, iris):
    with pytest.raises(NoStore) as err:
        api.deploy("iris", iris[0], wait=False)
    assert str(err.value).startswith("no store is configured for a model from the notebook: set c.KfConfig.store = ")
    assert cluster.list_objects(G, V, P, "default") == []


def test_a_rejected_create_removes_the_upload(cluster, store, iris):
    cluster.deny("create", "inferenceservices", group=G, namespace="default")
    with pytest.raises(Exception, match="not allowed to create inferenceservices"):
        api.deploy("iris", iris[0], wait=False)
    assert store.keys() == [] and cluster.list_objects(G, V, P, "default") == []


def test_bad_input_creates_nothing(cluster, store, iris):
    with pytest.raises(InvalidSpec, match="--format 'keras' is unknown"):
        api.deploy("iris", iris[0], format="keras", wait=False)
    with pytest.raises(InvalidSpec, match=r"iris \(LogisticRegression\) cannot be saved as xgboost|the xgboost format needs"):
        api.deploy("iris", iris[0], format="xgboost", wait=False, what="iris")
    with pytest.raises(ModelNotFound, match="--canary needs a deployed model"):
        api.deploy("iris", iris[0], canary=10, wait=False)
    assert store.keys() == [] and cluster.list_objects(G, V, P, "default") == []


def test_waits_for_ready_then_predicts_over_http(cluster, store, model_server, iris):
    clf, _, X = iris
    url = model_server("iris", clf)

    updates, waiting = [], threading.Event()

    def on_update(status):
        updates.append(status)
        waiting.set()

    def controller():  # KServe acts once the wait has seen the InferenceService Pending
        if waiting.wait(timeout=20):
            become_ready(FakeKServe(cluster, url=url))
    thread = threading.Thread(target=controller, daemon=True)
    thread.start()
    try:
        model = api.deploy("iris", clf, timeout=20, on_update=on_update)
    finally:
        thread.join(timeout=20)
    assert updates[0].phase == "Pending" and updates[-1].ready and updates[-1].url == url
    np.testing.assert_array_equal(model.predict(X[:3], protocol="v2"), clf.predict(X[:3]))
    with pytest.raises(PredictionError) as err:
        model.predict(X[:2, :2])
    assert "refused the request (HTTP 400): X has 2 features, but LogisticRegression is expecting 4 features" in str(err.value)


def test_not_ready_in_time_says_why(cluster, store, iris):
    api.deploy("iris", iris[0], wait=False)
    labels = {"serving.kserve.io/inferenceservice": "iris"}
    cluster.make_pod("default", "iris-predictor-a", labels=labels, containers=("kserve-container",),
                     init_containers=("storage-initializer",), image="kserve/sklearnserver:v0.20.0")
    cluster.fail_image_pull("default", "iris-predictor-a")

    def init_failed(pod):
        pod["status"]["initContainerStatuses"] = [{
            "name": "storage-initializer", "image": "kserve/storage-initializer", "imageID": "", "ready": False,
            "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                         "message": "RuntimeError: Failed to fetch model. No model found in s3://models/iris."}}}]
    cluster.make_pod("default", "iris-predictor-b", labels=labels, containers=("kserve-container",))
    cluster.update_object("", "v1", "pods", "default", "iris-predictor-b", init_failed)
    cluster.make_pod("default", "iris-predictor-c", labels=labels, containers=("kserve-container",), phase="Running")
    cluster.restart_container("default", "iris-predictor-c", reason="OOMKilled", exit_code=137)
    cluster.set_condition(G, V, P, "default", "iris", "PredictorReady", "False", reason="RevisionMissing",
                          message="Revision iris-predictor-00001 has not become ready")
    with pytest.raises(NotReady) as err:
        api.model("iris").wait(timeout=0.3)
    text = str(err.value)
    assert text.startswith("iris is not Ready after 0 s: PredictorReady: RevisionMissing Revision iris-predictor-00001 "
                           "has not become ready; ")
    assert "container kserve-container: image pull failed (ImagePullBackOff): Back-off pulling image \"kserve/sklearnserver:v0.20.0\"" in text
    assert ("storage initializer (downloads the model) failing: keeps crashing (CrashLoopBackOff): RuntimeError: "
            "Failed to fetch model. No model found in s3://models/iris.") in text
    assert "container kserve-container: out of memory (OOMKilled): give it more with --memory" in text
    assert text.endswith("it stays deployed: %kf_models shows it, %kf_undeploy iris removes it") and "\n" not in text
    assert api.model("iris").status().phase == "Failed"


def test_kserve_missing_is_one_line(cluster, iris):
    cluster.uninstall_crd("inferenceservices.serving.kserve.io")
    kubernetes_backend.reset()
    with pytest.raises(Exception) as err:
        api.deploy("llm", "hf://org/model", wait=False)
    assert "KServe is not installed on the cluster" in str(err.value)


def test_creates_and_updates_ask_for_strict_validation(cluster, store, iris):
    api.deploy("iris", iris[0], wait=False)
    api.deploy("iris", iris[1], canary=10, wait=False)
    writes = [r for r in cluster.requests if r.verb in ("create", "update") and r.resource == "inferenceservices"]
    assert [r.verb for r in writes] == ["create", "update"]
    assert all("Strict" in str(r.query.get("fieldValidation")) for r in writes)


def test_a_foreign_inferenceservice_is_left_alone(cluster, iris):
    foreign = {"apiVersion": f"{G}/{V}", "kind": "InferenceService", "metadata": {"name": "iris", "namespace": "default"},
               "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://b/iris"}}}}
    cluster.create_object(foreign)
    from jupyter_kf.serving.errors import ModelExists

    with pytest.raises(ModelExists, match="^an InferenceService named 'iris' that jupyter_kf did not make exists"):
        api.deploy("iris", "gs://b/iris2", format="sklearn", canary=10, wait=False)
    with pytest.raises(ModelExists, match="^the InferenceService 'iris' in namespace 'default' was not made by jupyter_kf"):
        api.undeploy("iris")
    assert isvc(cluster)["spec"] == foreign["spec"] and api.models() == []
