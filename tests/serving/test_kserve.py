"""Serving against KServe's own rules: the emulator refuses what the apiserver and KServe's validating webhook
refuse (tests/support/k8s_emulator/webhook_kserve.py), and a fake KServe controller (tests/support/fake_kserve.py) writes the
status objects KServe v0.20 writes, in Standard and Knative mode, from the Deployments it really makes."""
import json

import pytest

from jupyter_kf.serving import api
from jupyter_kf.serving import manifests as m
from jupyter_kf.serving.errors import NotReady
from tests.support.fake_kserve import FakeKServe
from tests.support.k8s_emulator.testing import error_body, raw

G, V, P = "serving.kserve.io", "v1beta1", "inferenceservices"
NS = "default"
URI1, URI2, URI3 = "s3://models/iris/v1", "s3://models/iris/v2", "s3://models/iris/v3"
RENAME = ('admission webhook "inferenceservice.kserve-webhook-server.validator" denied the request: '
          "predictor.name change requires a model change (e.g. storageUri)")


@pytest.fixture
def cluster(kf_cluster):
    return kf_cluster


@pytest.fixture
def kserve(cluster):
    return FakeKServe(cluster)


def isvc(emu, name="iris"):
    return emu.get_object(G, V, P, NS, name)


def deployments(emu):
    return sorted(d["metadata"]["name"] for d in emu.list_objects("apps", "v1", "deployments", NS))


def serve(kserve, deployment, name="iris"):
    """KServe reconciles the edit, the Deployment's pods come up, KServe reconciles again."""
    kserve.reconcile(name)
    kserve.roll_out(deployment)
    return kserve.reconcile(name)


def send(client, method, path, body) -> tuple[int, dict]:
    """(HTTP status, body) of a request through the official client's transport."""
    from kubernetes.client.rest import ApiException

    try:
        return 200, raw(client, method, path, body=body)
    except ApiException as err:
        return err.status, error_body(err)


def put(client, obj):
    """A PUT of the whole object, as ``kubectl replace`` sends it."""
    return send(client, "PUT", f"/apis/{G}/{V}/namespaces/{NS}/{P}/{obj['metadata']['name']}", obj)


# -- what the apiserver refuses ------------------------------------------------------------------
def test_the_emulator_refuses_requests_above_limits_as_kubernetes_does(k8s_emulator, k8s_api_client):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": NS},
           "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {
               "requests": {"cpu": "2000m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}}]}}
    code, body = send(k8s_api_client, "POST", f"/api/v1/namespaces/{NS}/pods", pod)
    assert code == 422
    assert body["message"] == ('Pod "p" is invalid: spec.containers[0].resources.requests: Invalid value: '
                                                '"2": must be less than or equal to cpu limit of 1')
    gpu = {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "2"}}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": NS},
                  "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {
                      "metadata": {"labels": {"app": "d"}},
                      "spec": {"containers": [{"name": "c", "image": "busybox", "resources": gpu}]}}}}
    code, body = send(k8s_api_client, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment)
    assert code == 422
    assert body["message"] == (
        'Deployment.apps "d" is invalid: spec.template.spec.containers[0].resources.requests: Invalid value: "1": '
        "must be equal to nvidia.com/gpu limit of 2")
    for ok in ({"requests": {"cpu": "500m"}, "limits": {"cpu": "0.5"}}, {"limits": {"nvidia.com/gpu": "1"}},
               {"requests": {"cpu": "1"}}):
        deployment["metadata"]["name"] = f"d{len(str(ok))}"
        deployment["spec"]["template"]["spec"]["containers"][0]["resources"] = ok
        assert send(k8s_api_client, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment)[0] == 200


def test_kserves_webhook_refuses_a_predictor_rename_without_a_model_change(cluster, k8s_api_client):
    old = m.build_inferenceservice("iris", NS, m.model_block("sklearn", URI1, "v1"), "Knative", dict(m.MANAGED_BY),
                                   {"version": "v1"})
    old["metadata"]["annotations"][m.MODE_ANNOTATION] = "Standard"  # as jupyter_kf made them before: unnamed
    cluster.create_object(old)
    renamed = isvc(cluster)
    renamed["spec"]["predictor"]["name"] = "v1"
    code, body = put(k8s_api_client, renamed)
    assert (code, body["reason"], body["message"]) == (403, "Forbidden", RENAME)
    renamed["spec"]["predictor"]["model"]["storageUri"] = URI2  # with a new model: a new stable Deployment
    assert put(k8s_api_client, renamed)[0] == 200


@pytest.mark.parametrize("change, message", [
    (lambda o: o["metadata"]["annotations"].update({m.MODE_ANNOTATION: "Knative"}),
     "canary is only supported in Standard deployment mode"),
    (lambda o: o["spec"]["canary"][0]["predictor"].update(name="v1"),
     'canary predictor.name "v1" conflicts with stable predictor name'),
    (lambda o: o["spec"]["canary"].append({"trafficPercent": 95, "predictor": {"name": "v3", "model": {
        "name": "kserve-container", "modelFormat": {"name": "sklearn"}, "storageUri": URI3}}}),
     "sum of canary trafficPercent values (105) must be <= 100"),
    (lambda o: o["spec"]["canary"][0]["predictor"].update(maxReplicas=3),
     'canary "v2" must not set maxReplicas (canary uses fixed replicas)'),
    (lambda o: o["spec"]["predictor"]["model"].update(name="iris"), "the 'name' field is not allowed in standard predictor"),
])
def test_kserves_webhook_canary_rules(cluster, change, message):
    from tests.support.k8s_emulator.errors import ApiError

    base = m.build_inferenceservice("iris", NS, m.model_block("sklearn", URI1, "v1"), "Standard", {}, {"version": "v1"})
    body = m.with_canary(base, m.model_block("sklearn", URI2, "v1"), 10, {"version": "v2"})
    cluster.create_object(body)
    cluster.delete_object(G, V, P, NS, "iris")
    change(body)
    with pytest.raises(ApiError) as err:
        cluster.create_object(body)
    assert (err.value.code, err.value.message) == (
        403, f'admission webhook "inferenceservice.kserve-webhook-server.validator" denied the request: {message}')


# -- 2. a Standard canary keeps the stable predictor's name ---------------------------------------
def test_standard_canary_is_accepted_and_keeps_the_stable_deployment(cluster, kserve):
    api.deploy("iris", URI1, format="sklearn", wait=False)
    assert isvc(cluster)["spec"]["predictor"]["name"] == "v1"  # named when created
    serve(kserve, "iris-v1-predictor")
    api.deploy("iris", URI2, format="sklearn", canary=20, wait=False)  # the webhook lets it through
    obj = isvc(cluster)
    assert obj["spec"]["predictor"]["name"] == "v1" and obj["spec"]["canary"][0]["predictor"]["name"] == "v2"
    serve(kserve, "iris-v2-predictor")
    assert deployments(cluster) == ["iris-v1-predictor", "iris-v2-predictor"]
    assert api.model("iris").status().traffic == "80% v1 / 20% v2 (canary)"
    api.model("iris").promote()  # a new model: the canary's name comes with it, its Deployment stays
    assert isvc(cluster)["spec"]["predictor"]["name"] == "v2"
    kserve.reconcile("iris")
    assert deployments(cluster) == ["iris-v2-predictor"]


def test_a_service_made_unnamed_gets_a_canary_too(cluster, kserve):
    body = m.build_inferenceservice("iris", NS, m.model_block("sklearn", URI1, "v1"), "Knative",
                                    m.model_labels("iris", "ana"), {"version": "v1", "format": "sklearn", "protocol": "v1"})
    body["metadata"]["annotations"][m.MODE_ANNOTATION] = "Standard"
    cluster.create_object(body)
    api.deploy("iris", URI2, format="sklearn", canary=10, wait=False)
    obj = isvc(cluster)
    assert "name" not in obj["spec"]["predictor"] and obj["spec"]["canary"][0]["predictor"]["name"] == "v2"
    serve(kserve, "iris-predictor")
    assert deployments(cluster) == ["iris-predictor", "iris-v2-predictor"]


def test_promoting_a_canary_of_the_same_files_keeps_the_stable_name(cluster, kserve):
    api.deploy("iris", URI1, format="sklearn", wait=False)
    api.deploy("iris", URI1, format="sklearn", cpu="2", canary=10, wait=False)
    api.model("iris").promote()  # no model change: a rename would be refused
    predictor = isvc(cluster)["spec"]["predictor"]
    assert predictor["name"] == "v1" and predictor["model"]["resources"]["requests"]["cpu"] == "2"


# -- 3. a CPU request comes with its limit -------------------------------------------------------
def test_cpu_request_survives_the_runtimes_limit(cluster, kserve):
    api.deploy("iris", URI1, format="sklearn", cpu="2", memory="4Gi", wait=False)
    serve(kserve, "iris-v1-predictor")
    container = cluster.get_object("apps", "v1", "deployments", NS, "iris-v1-predictor")["spec"]["template"]["spec"][
        "containers"][0]
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    assert api.model("iris").status().phase == "Ready"


def test_a_request_above_the_runtimes_limit_is_reported_as_kserve_reports_it(cluster, kserve):
    """The shape of the bug: a CPU request, no CPU limit; KServe's Deployment is refused by the apiserver."""
    model = m.model_block("sklearn", URI1, "v1")
    model["resources"] = {"requests": {"cpu": "2"}}
    body = m.build_inferenceservice("iris", NS, model, "Standard", m.model_labels("iris", "ana"),
                                    {"version": "v1", "format": "sklearn", "protocol": "v1"})
    body["spec"]["predictor"]["name"] = "v1"
    cluster.create_object(body)
    status = kserve.reconcile("iris")
    expected = ('fails to reconcile predictor: Deployment.apps "iris-v1-predictor" is invalid: '
                'spec.template.spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal '
                'to cpu limit of 1')
    assert {c["type"]: (c["status"], c.get("reason"), c.get("message")) for c in status["conditions"]}["PredictorReady"] == (
        "False", "ReconcileFailed", expected)
    assert deployments(cluster) == []
    model_status = api.model("iris").status()
    assert model_status.phase == "Failed" and f"PredictorReady: ReconcileFailed {expected}" in model_status.reasons


# -- 5. Standard readiness does not hang on observedGeneration ------------------------------------
def test_standard_model_is_ready_after_a_canary_and_a_promote(cluster, kserve):
    api.deploy("iris", URI1, format="sklearn", wait=False)
    serve(kserve, "iris-v1-predictor")
    assert api.model("iris").wait(timeout=5).ready
    api.deploy("iris", URI2, format="sklearn", canary=10, wait=False)
    status = serve(kserve, "iris-v2-predictor")
    assert status["observedGeneration"] < isvc(cluster)["metadata"]["generation"]  # the stable Deployment's
    assert api.model("iris").wait(timeout=5).traffic == "90% v1 / 10% v2 (canary)"
    api.model("iris").promote()
    status = kserve.reconcile("iris")
    assert (status["observedGeneration"], isvc(cluster)["metadata"]["generation"]) == (1, 3)
    assert api.model("iris").wait(timeout=5).traffic == "100% v2"


def test_knative_status_is_read_against_its_generation(cluster):
    kserve = FakeKServe(cluster, default_mode="Knative")
    config_mode(cluster, "Serverless")
    api.deploy("iris", URI1, format="sklearn", wait=False)
    kserve.reconcile("iris")
    kserve.revision_ready("iris")
    kserve.reconcile("iris")
    assert api.model("iris").status().ready
    api.deploy("iris", URI2, format="sklearn", canary=10, wait=False)
    assert api.model("iris").status().phase == "Pending"  # Ready still speaks of the last generation
    status = kserve.reconcile("iris")
    assert status["components"]["predictor"]["traffic"][1] == {
        "revisionName": "iris-predictor-00001", "latestRevision": False, "percent": 90, "tag": "prev"}
    assert api.model("iris").status().phase == "Pending"  # the new revision is not ready
    kserve.revision_ready("iris")
    kserve.reconcile("iris")
    assert api.model("iris").wait(timeout=5).ready


def config_mode(emu, mode):
    emu.create_namespace("kserve")
    emu.create_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "inferenceservice-config",
                                                                             "namespace": "kserve"},
                       "data": {"deploy": json.dumps({"defaultDeploymentMode": mode})}})


# -- 7. a broken Standard canary is not Ready --------------------------------------------------
def test_a_broken_standard_canary_is_not_ready(cluster, kserve):
    api.deploy("iris", URI1, format="sklearn", wait=False)
    serve(kserve, "iris-v1-predictor")
    api.deploy("iris", URI2, format="sklearn", canary=10, wait=False)
    kserve.reconcile("iris")
    assert api.model("iris").status().phase == "Pending"
    kserve.crash("iris-v2-predictor")
    status = kserve.reconcile("iris")
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Ready"] == "True" and conditions["CanaryPredictorReady"] == "False"  # KServe's Ready ignores it
    assert status["canaryStatuses"] == [{"name": "v2", "ready": False, "trafficPercent": 10}]
    model = api.model("iris").status()
    assert model.phase == "Failed"
    assert "canary v2 not ready (CanariesNotReady)" in model.reasons
    assert any("keeps crashing (CrashLoopBackOff): ModuleNotFoundError" in r for r in model.reasons)
    with pytest.raises(NotReady, match="canary v2 not ready"):
        api.model("iris").wait(timeout=0.2)
    api.model("iris").rollback()
    kserve.reconcile("iris")
    assert api.model("iris").status().ready and deployments(cluster) == ["iris-v1-predictor"]


# -- a stopped InferenceService ----------------------------------------------------------------
@pytest.mark.parametrize("mode", ["Standard", "Knative"])
def test_a_stopped_inferenceservice_shows_stopped(cluster, mode):
    kserve = FakeKServe(cluster, default_mode=mode)
    if mode == "Knative":
        config_mode(cluster, "Serverless")
    api.deploy("iris", URI1, format="sklearn", wait=False)
    if mode == "Standard":
        serve(kserve, "iris-v1-predictor")
    else:
        kserve.reconcile("iris")
        kserve.revision_ready("iris")
        kserve.reconcile("iris")
    cluster.update_object(G, V, P, NS, "iris", lambda o: o["metadata"]["annotations"].update({"serving.kserve.io/stop": "true"}))
    status = kserve.reconcile("iris")
    assert {c["type"]: (c["status"], c.get("reason")) for c in status["conditions"]} == {
        "PredictorReady": ("False", "Stopped"), "IngressReady": ("False", "Stopped"), "Ready": ("False", "Stopped"),
        "Stopped": ("True", None)}
    model = api.model("iris").status()
    assert (model.phase, model.url) == ("Stopped", "")
    listed = api.models()
    assert [s.phase for s in listed] == ["Stopped"]
    with pytest.raises(NotReady, match=r"^iris is stopped: the annotation serving.kserve.io/stop=true"):
        api.model("iris").wait(timeout=30)  # at once: it will not become Ready by itself
