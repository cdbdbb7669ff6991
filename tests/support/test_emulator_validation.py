"""Kubernetes API emulator: CRD installation and schema validation of custom and built-in resources."""
import copy

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.support.helpers import REFERENCE_MANIFESTS
from tests.support.k8s_emulator import crds as crd_files
from tests.support.k8s_emulator.testing import error_body, raw

MANIFESTS = REFERENCE_MANIFESTS
INVALID = {  # manifests README: 9x- files are invalid on purpose
    "notebook/90-notebook-missing-image.yaml": (422, "spec.template.spec.containers[0].image: Required value"),
    "trainer-v2/90-kueue-doc-runtime-old-field.yaml": (
        400, 'strict decoding error: unknown field "spec.mlPolicy.torch.numProcPerNode"'),
    "trainer-v2/91-trainjob-v21-podTemplateOverrides.yaml": (
        400, 'strict decoding error: unknown field "spec.labels", unknown field "spec.podTemplateOverrides"'),
}
TRAINER = ("trainer.kubeflow.org", "v1alpha1")


def _create(api_client, doc, strict=True):
    """POST a manifest document to its collection (namespace from the document or 'team-a')."""
    group, _, version = doc["apiVersion"].rpartition("/")
    resources = raw(api_client, "GET", f"/apis/{group}/{version}" if group else f"/api/{version}")["resources"]
    entry = next(r for r in resources if r["kind"] == doc["kind"] and "/" not in r["name"])
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    ns = doc["metadata"].get("namespace", "team-a")
    path = f"{prefix}/namespaces/{ns}/{entry['name']}" if entry["namespaced"] else f"{prefix}/{entry['name']}"
    return raw(api_client, "POST", path, body=doc, query=[("fieldValidation", "Strict")] if strict else [])


def _manifest_cases():
    return sorted(str(p.relative_to(MANIFESTS)) for p in MANIFESTS.glob("*/*.yaml"))


@pytest.mark.parametrize("relpath", _manifest_cases())
def test_reference_manifests(relpath, k8s_api_client, k8s_emulator):
    docs = [d for d in yaml.safe_load_all((MANIFESTS / relpath).read_text()) if d]
    for namespace in {"team-a"} | {d["metadata"]["namespace"] for d in docs if d["metadata"].get("namespace")}:
        k8s_emulator.create_namespace(namespace)
    results = []
    for doc in docs:
        try:
            results.append((201, _create(k8s_api_client, doc)))
        except ApiException as e:
            results.append((e.status, error_body(e)))
    if relpath in INVALID:
        code, message = INVALID[relpath]
        assert results[-1][0] == code, results[-1]
        assert results[-1][1]["message"].endswith(message)
    else:
        assert [r[0] for r in results] == [201] * len(docs), results
        assert all(r[1]["metadata"]["uid"] for r in results)


def test_real_crds_are_installed_with_kustomize_patch(k8s_api_client):
    ext = client.ApiextensionsV1Api(k8s_api_client)
    names = {c.metadata.name for c in ext.list_custom_resource_definition().items}
    assert {"trainjobs.trainer.kubeflow.org", "trainingruntimes.trainer.kubeflow.org",
            "clustertrainingruntimes.trainer.kubeflow.org", "pytorchjobs.kubeflow.org", "notebooks.kubeflow.org",
            "inferenceservices.serving.kserve.io", "clusterqueues.kueue.x-k8s.io", "localqueues.kueue.x-k8s.io",
            "resourceflavors.kueue.x-k8s.io", "workloads.kueue.x-k8s.io"} <= names
    nb = ext.read_custom_resource_definition("notebooks.kubeflow.org")
    containers = nb.spec.versions[0].schema.open_apiv3_schema.properties["spec"].properties["template"] \
        .properties["spec"].properties["containers"]
    assert containers.min_items == 1 and containers.items["required"] == ["name", "image"]
    established = {c.type: c.status for c in nb.status.conditions}
    assert established == {"NamesAccepted": "True", "Established": "True"}


def test_install_crd_through_the_api(k8s_api_client, k8s_emulator):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                    "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                                  "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                      "spec": {"type": "object", "required": ["size"], "properties": {
                                          "size": {"type": "integer", "minimum": 1, "maximum": 10},
                                          "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast"},
                                          "port": {"x-kubernetes-int-or-string": True,
                                                   "anyOf": [{"type": "integer"}, {"type": "string"}]},
                                          "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                          "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                                                       "properties": {"spec": {"type": "object"}}},
                                          "tags": {"type": "array", "items": {"type": "string"},
                                                   "x-kubernetes-list-type": "set"}}},
                                      "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]}}
    ext = client.ApiextensionsV1Api(k8s_api_client)
    created = ext.create_custom_resource_definition(crd)
    assert created.metadata.name == "widgets.example.com"
    resources = raw(k8s_api_client, "GET", "/apis/example.com/v1")["resources"]
    assert resources[0]["name"] == "widgets" and resources[0]["shortNames"] == ["wd"]
    api = client.CustomObjectsApi(k8s_api_client)

    def widget(spec, name="w"):
        return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}

    ok = api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget(
        {"size": 3, "port": "http", "extra": {"anything": {"goes": 1}}, "unknown": 1,
         "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t", "bogus": 1}, "spec": {"a": 1}}}))
    assert ok["spec"]["mode"] == "fast"  # schema default
    assert "unknown" not in ok["spec"]  # pruned
    assert ok["spec"]["extra"] == {"anything": {"goes": 1}}  # preserved
    assert ok["spec"]["template"]["kind"] == "Pod" and ok["spec"]["template"]["metadata"] == {"name": "t"}
    assert ok["spec"]["template"]["spec"] == {}  # structural object without properties prunes its fields
    with pytest.raises(ApiException) as e:
        api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget(
            {"size": 11, "mode": "warp", "port": 1.5, "tags": ["a", "a"]}, "bad"))
    body = error_body(e.value)
    assert e.value.status == 422
    assert {c["field"]: c["reason"] for c in body["details"]["causes"]} == {
        "spec.size": "FieldValueInvalid", "spec.mode": "FieldValueNotSupported",
        "spec.port": "FieldValueTypeInvalid", "spec.tags[1]": "FieldValueDuplicate"}
    messages = {c["field"]: c["message"] for c in body["details"]["causes"]}
    assert messages["spec.size"] == "Invalid value: 11: spec.size in body should be less than or equal to 10"
    assert messages["spec.mode"] == 'Unsupported value: "warp": supported values: "fast", "slow"'
    with pytest.raises(ApiException) as e:
        api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget({}, "empty"))
    assert error_body(e.value)["details"]["causes"] == [{"reason": "FieldValueRequired", "message": "Required value",
                                                         "field": "spec.size"}]
    ext.delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(ApiException) as e:
        api.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert e.value.status == 404


def test_invalid_crd_is_rejected(k8s_api_client):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "wrong.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "things", "kind": "Thing"},
                    "versions": [{"name": "v1", "served": True, "storage": False}]}}
    with pytest.raises(ApiException) as e:
        client.ApiextensionsV1Api(k8s_api_client).create_custom_resource_definition(crd)
    fields = {c["field"] for c in error_body(e.value)["details"]["causes"]}
    assert e.value.status == 422 and fields == {"spec.versions", "metadata.name"}


def test_field_validation_modes(k8s_api_client, k8s_emulator):
    body = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"name": "tj"},
            "spec": {"runtimeRef": {"name": "torch-distributed"}, "foo": 1, "trainer": {"numNodes": 1, "bar": 2}}}
    path = "/apis/trainer.kubeflow.org/v1alpha1/namespaces/default/trainjobs"
    with pytest.raises(ApiException) as e:
        raw(k8s_api_client, "POST", path, body=body, query=[("fieldValidation", "Strict")])
    assert e.value.status == 400
    assert error_body(e.value) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                   "message": 'strict decoding error: unknown field "spec.foo", unknown field '
                                              '"spec.trainer.bar"', "reason": "BadRequest", "code": 400}
    api = client.CustomObjectsApi(k8s_api_client)
    _, status, headers = api.create_namespaced_custom_object_with_http_info(
        *TRAINER, "default", "trainjobs", body)  # default: Warn
    assert status == 201
    assert headers.get("Warning") == ('299 - "unknown field \\"spec.foo\\"", '
                                      '299 - "unknown field \\"spec.trainer.bar\\""')
    stored = api.get_namespaced_custom_object(*TRAINER, "default", "trainjobs", "tj")
    assert "foo" not in stored["spec"] and "bar" not in stored["spec"]["trainer"]
    body["metadata"]["name"] = "tj2"
    created = raw(k8s_api_client, "POST", path, body=body, query=[("fieldValidation", "Ignore")])
    assert "foo" not in created["spec"]
    with pytest.raises(ApiException) as e:
        raw(k8s_api_client, "POST", path, body=body, query=[("fieldValidation", "Loud")])
    assert e.value.status == 400


def test_custom_resource_type_errors_and_field_paths(k8s_api_client):
    api = client.CustomObjectsApi(k8s_api_client)
    doc = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"name": "tj"},
           "spec": {"runtimeRef": {"name": "torch-distributed"}, "trainer": {"numNodes": "two"}}}
    with pytest.raises(ApiException) as e:
        api.create_namespaced_custom_object(*TRAINER, "default", "trainjobs", doc)
    body = error_body(e.value)
    assert body["message"] == ('TrainJob.trainer.kubeflow.org "tj" is invalid: spec.trainer.numNodes: Invalid value: '
                               '"string": spec.trainer.numNodes in body must be of type integer: "string"')
    assert body["details"]["causes"][0]["field"] == "spec.trainer.numNodes"
    assert body["details"]["kind"] == "TrainJob" and body["details"]["group"] == "trainer.kubeflow.org"
    nb = {"apiVersion": "kubeflow.org/v1", "kind": "Notebook", "metadata": {"name": "nb"},
          "spec": {"template": {"spec": {"containers": []}}}}
    with pytest.raises(ApiException) as e:
        api.create_namespaced_custom_object("kubeflow.org", "v1", "default", "notebooks", nb)
    assert error_body(e.value)["details"]["causes"][0]["field"] == "spec.template.spec.containers"


def test_cel_rules_of_real_crds(k8s_api_client):
    api = client.CustomObjectsApi(k8s_api_client)
    doc = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": {"name": "1-bad"},
           "spec": {"runtimeRef": {"name": "torch-distributed"}}}
    with pytest.raises(ApiException) as e:  # TrainJob names must be RFC 1035 labels
        api.create_namespaced_custom_object(*TRAINER, "default", "trainjobs", doc)
    assert error_body(e.value)["message"] == ('TrainJob.trainer.kubeflow.org "1-bad" is invalid: <nil>: Invalid value: '
                                              '"object": metadata.name must match RFC 1035 DNS label format')
    doc["metadata"]["name"] = "good"
    api.create_namespaced_custom_object(*TRAINER, "default", "trainjobs", doc)
    with pytest.raises(ApiException) as e:  # spec.runtimeRef: self == oldSelf
        api.patch_namespaced_custom_object(*TRAINER, "default", "trainjobs", "good",
                                           {"spec": {"runtimeRef": {"name": "other"}}})
    assert error_body(e.value)["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec.runtimeRef",
                                                         "message": 'Invalid value: "object": field is immutable'}]


def test_builtin_validation(k8s_api_client):
    batch = client.BatchV1Api(k8s_api_client)
    path = "/apis/batch/v1/namespaces/default/jobs"
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
           "spec": {"backoffLimit": "three", "template": {"spec": {"restartPolicy": "Never",
                                                                   "containers": [{"name": "c", "image": "i"}]}}}}
    with pytest.raises(ApiException) as e:
        raw(k8s_api_client, "POST", path, body=job)
    assert e.value.status == 400
    assert error_body(e.value)["message"] == ('Job in version "v1" cannot be handled as a Job: json: cannot unmarshal '
                                              'string into Go struct field JobSpec.spec.backoffLimit of type int32')
    good = copy.deepcopy(job)
    good["spec"]["backoffLimit"] = 0
    no_image = copy.deepcopy(good)
    no_image["spec"]["template"]["spec"]["containers"] = [{"name": "c"}]
    with pytest.raises(ApiException) as e:
        batch.create_namespaced_job("default", no_image)
    assert error_body(e.value)["message"] == 'Job.batch "j" is invalid: spec.template.spec.containers[0].image: Required value'
    always = copy.deepcopy(good)
    del always["spec"]["template"]["spec"]["restartPolicy"]
    with pytest.raises(ApiException) as e:
        batch.create_namespaced_job("default", always)
    assert error_body(e.value)["details"]["causes"] == [{
        "reason": "FieldValueNotSupported", "field": "spec.template.spec.restartPolicy",
        "message": 'Unsupported value: "Always": supported values: "OnFailure", "Never"'}]
    nameless = copy.deepcopy(good)
    nameless["spec"]["template"]["spec"]["containers"] = [{"image": "i"}]
    with pytest.raises(ApiException) as e:
        raw(k8s_api_client, "POST", path, body=nameless)
    assert error_body(e.value)["details"]["causes"][0]["field"] == "spec.template.spec.containers[0].name"
    unknown = copy.deepcopy(good)
    unknown["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    with pytest.raises(ApiException) as e:
        raw(k8s_api_client, "POST", path, body=unknown, query=[("fieldValidation", "Strict")])
    assert error_body(e.value)["message"] == ('strict decoding error: unknown field '
                                              '"spec.template.spec.containers[0].imagePullPolice"')
    created = raw(k8s_api_client, "POST", path, body=unknown)  # default Warn: pruned
    assert "imagePullPolice" not in created["spec"]["template"]["spec"]["containers"][0]
    with pytest.raises(ApiException) as e:
        client.CoreV1Api(k8s_api_client).create_namespaced_config_map("default", client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="c", labels={"bad": "has space"})))
    assert error_body(e.value)["details"]["causes"][0]["field"] == "metadata.labels"


def test_install_crd_control_from_file_and_dict(k8s_emulator, k8s_api_client):
    k8s_emulator.reset(crds="none")
    groups = {g.name for g in client.ApisApi(k8s_api_client).get_api_versions().groups}
    assert "trainer.kubeflow.org" not in groups
    source = crd_files.default_crds_dir() / "trainer-v2" / "trainer.kubeflow.org_trainjobs.yaml"
    assert k8s_emulator.install_crd(source) == ["trainjobs.trainer.kubeflow.org"]
    assert k8s_emulator.install_crd(crd_files.default_crds_dir() / "notebooks") == ["notebooks.kubeflow.org"]
    custom = yaml.safe_load(source.read_text())
    custom["metadata"]["name"] = "trainjobs.copy.example.com"
    custom["spec"]["group"] = "copy.example.com"
    assert k8s_emulator.install_crd(custom) == ["trainjobs.copy.example.com"]
    groups = {g.name for g in client.ApisApi(k8s_api_client).get_api_versions().groups}
    assert {"trainer.kubeflow.org", "kubeflow.org", "copy.example.com"} <= groups
    k8s_emulator.uninstall_crd("trainjobs.copy.example.com")
    groups = {g.name for g in client.ApisApi(k8s_api_client).get_api_versions().groups}
    assert "copy.example.com" not in groups
