"""Kubernetes API emulator: routing, discovery, CRUD, server-set metadata, concurrency, status, RBAC.

Everything goes through the official ``kubernetes`` client over real HTTP.
"""
import re

import pytest
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from tests.support.k8s_emulator.testing import error_body, raw

TRAINER = ("trainer.kubeflow.org", "v1alpha1")


def _cm(name, data=None, labels=None, **meta):
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels, **meta), data=data or {"a": "1"})


def _trainjob(name, num_nodes=1):
    return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"name": name},
            "spec": {"runtimeRef": {"name": "torch-distributed"}, "trainer": {"numNodes": num_nodes}}}


# -- version and discovery ---------------------------------------------------------------------------

def test_version_with_and_without_slash(k8s_api_client, k8s_emulator):
    info = client.VersionApi(k8s_api_client).get_code()  # GET /version/
    assert info.major == "1" and re.fullmatch(r"v1\.\d+\.0", info.git_version)
    assert info.platform == "linux/amd64" and info.go_version and info.build_date
    doc = raw(k8s_api_client, "GET", "/version")
    assert doc["gitVersion"] == info.git_version
    assert [r.path for r in k8s_emulator.requests if r.path.startswith("/version")] == ["/version/", "/version"]


def test_discovery_core_and_groups(k8s_api_client):
    core = client.CoreApi(k8s_api_client).get_api_versions()
    assert core.versions == ["v1"]
    resources = {r.name: r for r in client.CoreV1Api(k8s_api_client).get_api_resources().resources}
    assert {"namespaces", "pods", "pods/log", "pods/status", "services", "configmaps", "secrets", "events",
            "persistentvolumeclaims", "serviceaccounts"} <= set(resources)
    assert resources["pods"].namespaced and resources["pods"].kind == "Pod" and resources["pods"].short_names == ["po"]
    assert not resources["namespaces"].namespaced
    assert resources["pods/log"].verbs == ["get"]
    assert set(resources["pods"].verbs) == {"create", "delete", "deletecollection", "get", "list", "patch",
                                            "update", "watch"}
    groups = {g.name: g for g in client.ApisApi(k8s_api_client).get_api_versions().groups}
    assert {"batch", "apps", "apiextensions.k8s.io", "authorization.k8s.io", "trainer.kubeflow.org",
            "kubeflow.org", "serving.kserve.io", "kueue.x-k8s.io"} <= set(groups)
    assert groups["kueue.x-k8s.io"].preferred_version.version == "v1beta2"
    assert groups["kubeflow.org"].preferred_version.version == "v1"
    assert [v.version for v in groups["kubeflow.org"].versions] == ["v1", "v1beta1", "v1alpha1"]
    batch = {r.name: r for r in client.BatchV1Api(k8s_api_client).get_api_resources().resources}
    assert batch["jobs"].kind == "Job" and "jobs/status" in batch
    apps = {r.name for r in client.AppsV1Api(k8s_api_client).get_api_resources().resources}
    assert {"deployments", "statefulsets"} <= apps


def test_discovery_reflects_installed_crds(k8s_api_client, k8s_emulator):
    trainer = raw(k8s_api_client, "GET", "/apis/trainer.kubeflow.org/v1alpha1")
    by_name = {r["name"]: r for r in trainer["resources"]}
    assert by_name["trainjobs"]["kind"] == "TrainJob" and by_name["trainjobs"]["namespaced"] is True
    assert by_name["clustertrainingruntimes"]["namespaced"] is False
    assert "trainjobs/status" in by_name
    isvc = raw(k8s_api_client, "GET", "/apis/serving.kserve.io/v1beta1")
    assert isvc["resources"][0]["shortNames"] == ["isvc"]
    k8s_emulator.reset(crds="training-operator-v1")  # a cluster with only Training Operator v1
    names = {g.name for g in client.ApisApi(k8s_api_client).get_api_versions().groups}
    assert "kubeflow.org" in names and "trainer.kubeflow.org" not in names and "serving.kserve.io" not in names
    with pytest.raises(ApiException) as e:
        raw(k8s_api_client, "GET", "/apis/trainer.kubeflow.org/v1alpha1")
    assert e.value.status == 404


def test_dynamic_client_resolves_kinds(k8s_api_client, k8s_emulator):
    k8s_emulator.create_namespace("team-a")
    dyn = dynamic.DynamicClient(k8s_api_client)
    trainjobs = dyn.resources.get(api_version="trainer.kubeflow.org/v1alpha1", kind="TrainJob")
    created = trainjobs.create(body=_trainjob("dyn-job"), namespace="team-a")
    assert created.metadata.namespace == "team-a"
    assert [i.metadata.name for i in trainjobs.get(namespace="team-a").items] == ["dyn-job"]
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    assert pods.namespaced and pods.get(namespace="team-a").items == []


# -- CRUD, metadata, status codes -------------------------------------------------------------------

def test_create_sets_server_metadata(k8s_api_client):
    v1 = client.CoreV1Api(k8s_api_client)
    cm = v1.create_namespaced_config_map("default", _cm("conf"))
    assert cm.metadata.namespace == "default"
    assert re.fullmatch(r"[0-9a-f-]{36}", cm.metadata.uid)
    assert cm.metadata.creation_timestamp.tzinfo is not None
    assert int(cm.metadata.resource_version) > 0
    assert cm.metadata.generation is None  # ConfigMaps do not track generation
    job = client.BatchV1Api(k8s_api_client).create_namespaced_job("default", client.V1Job(
        metadata=client.V1ObjectMeta(generate_name="train-"),
        spec=client.V1JobSpec(template=client.V1PodTemplateSpec(spec=client.V1PodSpec(
            restart_policy="Never", containers=[client.V1Container(name="c", image="busybox")])))))
    assert re.fullmatch(r"train-[bcdfghjklmnpqrstvwxz2456789]{5}", job.metadata.name)
    assert job.metadata.generation == 1
    assert int(job.metadata.resource_version) > int(cm.metadata.resource_version)
    assert job.spec.template.metadata.labels["job-name"] == job.metadata.name
    assert job.spec.backoff_limit == 6 and job.spec.selector.match_labels


def test_creation_timestamp_is_rfc3339_z(k8s_api_client):
    doc = raw(k8s_api_client, "POST", "/api/v1/namespaces/default/configmaps", body={"metadata": {"name": "x"}})
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["metadata"]["creationTimestamp"])
    assert doc["apiVersion"] == "v1" and doc["kind"] == "ConfigMap"


def test_create_custom_resource_returns_201_object(k8s_api_client, k8s_emulator):
    api = client.CustomObjectsApi(k8s_api_client)
    job = api.create_namespaced_custom_object(*TRAINER, "default", "trainjobs", _trainjob("tj"))
    assert job is not None and job["metadata"]["generation"] == 1
    assert job["spec"]["runtimeRef"] == {"name": "torch-distributed", "apiGroup": "trainer.kubeflow.org",
                                         "kind": "ClusterTrainingRuntime"}  # CRD schema defaults
    assert [r.status for r in k8s_emulator.requests if r.verb == "create"] == [201]


def test_missing_namespace_is_404(k8s_api_client):
    with pytest.raises(ApiException) as e:
        client.CoreV1Api(k8s_api_client).create_namespaced_config_map("nowhere", _cm("x"))
    assert e.value.status == 404
    assert error_body(e.value) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                   "message": 'namespaces "nowhere" not found', "reason": "NotFound",
                                   "details": {"name": "nowhere", "kind": "namespaces"}, "code": 404}


def test_not_found_and_already_exists(k8s_api_client):
    batch = client.BatchV1Api(k8s_api_client)
    with pytest.raises(ApiException) as e:
        batch.read_namespaced_job("ghost", "default")
    assert error_body(e.value) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                   "message": 'jobs.batch "ghost" not found', "reason": "NotFound",
                                   "details": {"name": "ghost", "group": "batch", "kind": "jobs"}, "code": 404}
    v1 = client.CoreV1Api(k8s_api_client)
    v1.create_namespaced_config_map("default", _cm("dup"))
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_config_map("default", _cm("dup"))
    body = error_body(e.value)
    assert e.value.status == 409 and body["reason"] == "AlreadyExists"
    assert body["message"] == 'configmaps "dup" already exists'
    assert body["details"] == {"name": "dup", "kind": "configmaps"}


def test_unknown_resource_and_empty_list(k8s_api_client):
    with pytest.raises(ApiException) as e:
        raw(k8s_api_client, "GET", "/apis/batch/v1/namespaces/default/cronjobz")
    assert e.value.status == 404
    assert error_body(e.value)["message"] == "the server could not find the requested resource"
    jobs = client.BatchV1Api(k8s_api_client).list_namespaced_job("default")
    assert jobs.items == [] and jobs.metadata.resource_version


def test_name_and_generate_name_rules(k8s_api_client):
    v1 = client.CoreV1Api(k8s_api_client)
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta()))
    body = error_body(e.value)
    assert e.value.status == 422 and body["reason"] == "Invalid"
    assert body["message"] == 'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    assert body["details"]["causes"] == [{"reason": "FieldValueRequired", "field": "metadata.name",
                                          "message": "Required value: name or generateName is required"}]
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_service("default", client.V1Service(metadata=client.V1ObjectMeta(name="1svc")))
    assert e.value.status == 422 and "a DNS-1035 label must consist" in error_body(e.value)["message"]


def test_body_namespace_must_match_url(k8s_api_client, k8s_emulator):
    k8s_emulator.create_namespace("team-a")
    with pytest.raises(ApiException) as e:
        client.CoreV1Api(k8s_api_client).create_namespaced_config_map("default", _cm("x", namespace="team-a"))
    assert e.value.status == 400 and error_body(e.value)["reason"] == "BadRequest"
    assert error_body(e.value)["message"] == ("the namespace of the provided object does not match the namespace "
                                              "sent on the request")


def test_cluster_scoped_resources(k8s_api_client):
    v1 = client.CoreV1Api(k8s_api_client)
    ns = v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="team-b")))
    assert ns.status.phase == "Active" and ns.metadata.labels == {"kubernetes.io/metadata.name": "team-b"}
    assert "team-b" in [n.metadata.name for n in v1.list_namespace().items]
    api = client.CustomObjectsApi(k8s_api_client)
    runtime = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "ClusterTrainingRuntime",
               "metadata": {"name": "torch"}, "spec": {"mlPolicy": {"numNodes": 1, "torch": {}}}}
    created = api.create_cluster_custom_object(*TRAINER, "clustertrainingruntimes", runtime)
    assert "namespace" not in created["metadata"]
    assert api.get_cluster_custom_object(*TRAINER, "clustertrainingruntimes", "torch")["metadata"]["uid"]
    cq = {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue", "metadata": {"name": "cq"},
          "spec": {"namespaceSelector": {}}}
    api.create_cluster_custom_object("kueue.x-k8s.io", "v1beta2", "clusterqueues", cq)
    # the same object read through the other served version
    old = api.get_cluster_custom_object("kueue.x-k8s.io", "v1beta1", "clusterqueues", "cq")
    assert old["apiVersion"] == "kueue.x-k8s.io/v1beta1"


def test_method_not_allowed(k8s_api_client):
    with pytest.raises(ApiException) as e:  # create needs a namespace in the path
        raw(k8s_api_client, "POST", "/apis/batch/v1/jobs", body={"metadata": {"name": "x"}})
    assert e.value.status == 405 and error_body(e.value)["reason"] == "MethodNotAllowed"
    with pytest.raises(ApiException) as e:  # the log subresource is read-only
        raw(k8s_api_client, "DELETE", "/api/v1/namespaces/default/pods/p/log")
    assert e.value.status == 405


def test_unsupported_create_content_type(k8s_api_client):
    with pytest.raises(ApiException) as e:
        raw(k8s_api_client, "POST", "/api/v1/namespaces/default/configmaps", body="name: x", content_type="text/plain")
    assert e.value.status == 415 and error_body(e.value)["reason"] == "UnsupportedMediaType"


def test_list_across_namespaces_and_typed_items(k8s_api_client, k8s_emulator):
    k8s_emulator.create_namespace("team-a")
    v1 = client.CoreV1Api(k8s_api_client)
    v1.create_namespaced_config_map("default", _cm("one"))
    v1.create_namespaced_config_map("team-a", _cm("two"))
    names = [(c.metadata.namespace, c.metadata.name) for c in v1.list_config_map_for_all_namespaces().items]
    assert ("default", "one") in names and ("team-a", "two") in names
    # kube-root-ca.crt: the root-ca-cert-publisher puts it in every new namespace
    assert [c.metadata.name for c in v1.list_namespaced_config_map("team-a").items] == ["kube-root-ca.crt", "two"]
    doc = raw(k8s_api_client, "GET", "/api/v1/namespaces/team-a/configmaps")
    assert doc["kind"] == "ConfigMapList" and "kind" not in doc["items"][0]  # typed lists strip item kinds


BUILTIN_OBJECTS = {
    ("", "v1", "secrets"): {"metadata": {"name": "s"}, "stringData": {"token": "abc"}},
    ("", "v1", "serviceaccounts"): {"metadata": {"name": "sa"}},
    ("", "v1", "services"): {"metadata": {"name": "svc"}, "spec": {"selector": {"app": "a"},
                                                                 "ports": [{"name": "http", "port": 80}]}},
    ("", "v1", "persistentvolumeclaims"): {"metadata": {"name": "pvc"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}},
    ("", "v1", "events"): {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"},
                           "reason": "R", "message": "m", "type": "Normal"},
    ("apps", "v1", "statefulsets"): {"metadata": {"name": "sts"}, "spec": {
        "serviceName": "sts", "selector": {"matchLabels": {"app": "a"}},
        "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
    ("apps", "v1", "replicasets"): {"metadata": {"name": "rs"}, "spec": {
        "selector": {"matchLabels": {"app": "a"}},
        "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
    ("apps", "v1", "daemonsets"): {"metadata": {"name": "ds"}, "spec": {
        "selector": {"matchLabels": {"app": "a"}},
        "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
    ("batch", "v1", "cronjobs"): {"metadata": {"name": "cj"}, "spec": {"schedule": "*/5 * * * *", "jobTemplate": {
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}}},
}


@pytest.mark.parametrize("gvr", sorted(BUILTIN_OBJECTS), ids=lambda g: g[2])
def test_builtin_kinds_round_trip(gvr, k8s_api_client):
    group, version, plural = gvr
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    body = BUILTIN_OBJECTS[gvr]
    created = raw(k8s_api_client, "POST", f"{prefix}/namespaces/default/{plural}", body=body,
                  query=[("fieldValidation", "Strict")])
    name = body["metadata"]["name"]
    assert created["metadata"]["name"] == name and created["metadata"]["namespace"] == "default"
    fetched = raw(k8s_api_client, "GET", f"{prefix}/namespaces/default/{plural}/{name}")
    assert fetched == created
    assert [i["metadata"]["name"] for i in raw(k8s_api_client, "GET", f"{prefix}/{plural}")["items"]] == [name]
    raw(k8s_api_client, "DELETE", f"{prefix}/namespaces/default/{plural}/{name}")
    assert raw(k8s_api_client, "GET", f"{prefix}/namespaces/default/{plural}")["items"] == []
    if plural == "secrets":
        assert created["data"] == {"token": "YWJj"} and "stringData" not in created and created["type"] == "Opaque"
    if plural == "services":
        assert created["spec"]["clusterIP"] and created["spec"]["ports"][0]["targetPort"] == 80


# -- update, generation, concurrency, status subresource --------------------------------------------

def test_optimistic_concurrency_conflict(k8s_api_client):
    v1 = client.CoreV1Api(k8s_api_client)
    cm = v1.create_namespaced_config_map("default", _cm("c"))
    stale = cm.metadata.resource_version
    cm.data = {"a": "2"}
    updated = v1.replace_namespaced_config_map("c", "default", cm)
    assert int(updated.metadata.resource_version) > int(stale)
    cm.data = {"a": "3"}
    cm.metadata.resource_version = stale
    with pytest.raises(ApiException) as e:
        v1.replace_namespaced_config_map("c", "default", cm)
    body = error_body(e.value)
    assert e.value.status == 409 and body["reason"] == "Conflict"
    assert body["message"] == ('Operation cannot be fulfilled on configmaps "c": the object has been modified; '
                               "please apply your changes to the latest version and try again")
    with pytest.raises(ApiException) as e:  # a resourceVersion in a patch is a precondition too
        v1.patch_namespaced_config_map("c", "default", {"metadata": {"resourceVersion": stale}, "data": {"b": "1"}})
    assert e.value.status == 409
    cm.metadata.resource_version = None  # unconditional PUT is allowed for built-ins
    assert v1.replace_namespaced_config_map("c", "default", cm).data == {"a": "3"}


def test_custom_resource_put_requires_resource_version(k8s_api_client):
    api = client.CustomObjectsApi(k8s_api_client)
    api.create_namespaced_custom_object(*TRAINER, "default", "trainjobs", _trainjob("tj"))
    body = _trainjob("tj", num_nodes=2)
    with pytest.raises(ApiException) as e:
        api.replace_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj", body)
    assert e.value.status == 422
    assert error_body(e.value)["message"] == ('TrainJob.trainer.kubeflow.org "tj" is invalid: '
                                              "metadata.resourceVersion: Invalid value: 0x0: must be specified for "
                                              "an update")


def test_generation_and_noop_updates(k8s_api_client):
    api = client.CustomObjectsApi(k8s_api_client)
    job = api.create_namespaced_custom_object(*TRAINER, "default", "trainjobs", _trainjob("tj"))
    rv = job["metadata"]["resourceVersion"]
    same = api.patch_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj", {"spec": {"trainer": {"numNodes": 1}}})
    assert same["metadata"]["resourceVersion"] == rv  # no-op: no new resourceVersion
    labelled = api.patch_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj", {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 1 and labelled["metadata"]["resourceVersion"] != rv
    suspended = api.patch_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj", {"spec": {"suspend": True}})
    assert suspended["metadata"]["generation"] == 2
    status = api.patch_namespaced_custom_object_status(*TRAINER, "default", "trainjobs", "tj",
                                                       {"status": {"conditions": [{"type": "Created", "status": "True",
                                                        "reason": "r", "message": "m",
                                                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
    assert status["metadata"]["generation"] == 2 and status["status"]["conditions"][0]["type"] == "Created"


def test_status_subresource_semantics(k8s_api_client):
    api = client.CustomObjectsApi(k8s_api_client)
    body = _trainjob("tj")
    body["status"] = {"conditions": []}
    created = api.create_namespaced_custom_object(*TRAINER, "default", "trainjobs", body)
    assert "status" not in created  # dropped on create
    with_status = api.patch_namespaced_custom_object_status(
        *TRAINER, "default", "trainjobs", "tj", {"spec": {"trainer": {"numNodes": 5}}, "status": {"jobsStatus": []}})
    assert with_status["spec"]["trainer"]["numNodes"] == 1 and with_status["status"] == {"jobsStatus": []}
    main = api.patch_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj",
                                              {"spec": {"suspend": True}, "status": None})
    assert main["status"] == {"jobsStatus": []} and main["spec"]["suspend"] is True
    pod_api = client.CoreV1Api(k8s_api_client)
    pod = pod_api.create_namespaced_pod("default", client.V1Pod(
        metadata=client.V1ObjectMeta(name="p"), spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="i")]),
        status=client.V1PodStatus(phase="Running")))
    assert pod.status.phase == "Pending"  # PrepareForCreate resets status
    read = pod_api.read_namespaced_pod_status("p", "default")
    assert read.metadata.name == "p"
    patched = pod_api.patch_namespaced_pod_status("p", "default", {"status": {"phase": "Running"}})
    assert patched.status.phase == "Running"


# -- RBAC and access reviews ------------------------------------------------------------------------

def test_rbac_denial_is_exact_403(k8s_api_client, k8s_emulator):
    k8s_emulator.create_namespace("team-a")
    k8s_emulator.user = "system:serviceaccount:team-a:default-editor"
    k8s_emulator.deny("list", "pods", namespace="team-a")
    v1 = client.CoreV1Api(k8s_api_client)
    with pytest.raises(ApiException) as e:
        v1.list_namespaced_pod("team-a")
    assert e.value.status == 403
    assert error_body(e.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods is forbidden: User "system:serviceaccount:team-a:default-editor" cannot list resource '
                   '"pods" in API group "" in the namespace "team-a"',
        "reason": "Forbidden", "details": {"kind": "pods"}, "code": 403}
    assert v1.list_namespaced_pod("default").items == []  # other namespaces unaffected
    k8s_emulator.deny("create", "trainjobs", group="trainer.kubeflow.org")
    with pytest.raises(ApiException) as e:
        client.CustomObjectsApi(k8s_api_client).create_namespaced_custom_object(*TRAINER, "team-a", "trainjobs",
                                                                                _trainjob("x"))
    body = error_body(e.value)
    assert body["message"].startswith('trainjobs.trainer.kubeflow.org is forbidden: User "system:serviceaccount:'
                                      'team-a:default-editor" cannot create resource "trainjobs" in API group '
                                      '"trainer.kubeflow.org" in the namespace "team-a"')
    assert body["details"] == {"group": "trainer.kubeflow.org", "kind": "trainjobs"}
    k8s_emulator.deny("get", "pods/log", namespace="team-a")
    with pytest.raises(ApiException) as e:
        v1.read_namespaced_pod_log("p", "team-a")
    assert error_body(e.value)["message"] == ('pods "p" is forbidden: User "system:serviceaccount:team-a:default-'
                                              'editor" cannot get resource "pods/log" in API group "" in the '
                                              'namespace "team-a"')
    k8s_emulator.deny("list", "nodes")
    with pytest.raises(ApiException) as e:
        v1.list_node()
    assert error_body(e.value)["message"].endswith('cannot list resource "nodes" in API group "" at the cluster scope')
    k8s_emulator.allow()
    assert v1.list_namespaced_pod("team-a").items == []


def test_self_subject_access_review(k8s_api_client, k8s_emulator):
    auth = client.AuthorizationV1Api(k8s_api_client)

    def review(verb, resource, group="", namespace="team-a"):
        body = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(verb=verb, resource=resource, group=group,
                                                            namespace=namespace)))
        return auth.create_self_subject_access_review(body).status.allowed

    assert review("create", "trainjobs", "trainer.kubeflow.org") is True
    k8s_emulator.deny("create", "trainjobs", group="trainer.kubeflow.org", namespace="team-a")
    assert review("create", "trainjobs", "trainer.kubeflow.org") is False
    assert review("create", "trainjobs", "trainer.kubeflow.org", namespace="team-b") is True
    assert review("list", "trainjobs", "trainer.kubeflow.org") is True
    with pytest.raises(ApiException) as e:
        auth.create_self_subject_access_review(client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec()))
    assert e.value.status == 422
