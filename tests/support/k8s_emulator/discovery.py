"""Discovery documents (``/version``, ``/api``, ``/apis``, ``/apis/<group>/<version>``) built from the registry.

jupyter_kf tells Trainer v2 from Training Operator v1, KServe, Kueue and Notebooks apart through
these, and ``kubectl``/``kubernetes.dynamic`` need them to resolve kinds, so they reflect the CRDs
installed at this moment.
"""
from __future__ import annotations

import hashlib
import json

from tests.support.k8s_emulator.errors import resource_not_found
from tests.support.k8s_emulator.resources import Registry, Resource

GIT_VERSION = "v1.37.0"

def version_info(minor: str) -> dict:
    """All nine fields kubernetes>=35's pydantic VersionInfo requires, plus emulation/compatibility."""
    return {"major": "1", "minor": minor, "emulationMajor": "1", "emulationMinor": minor,
            "minCompatibilityMajor": "1", "minCompatibilityMinor": str(int(minor) - 1),
            "gitVersion": f"v1.{minor}.0", "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.0",
            "compiler": "gc", "platform": "linux/amd64"}


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group_doc(name: str, versions: list[str]) -> dict:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> dict:
    groups = [_group_doc(g, vs) for g, vs in registry.group_versions().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict:
    versions = registry.group_versions().get(group)
    if not versions or not group:
        raise resource_not_found()
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def _entry(r: Resource) -> dict:
    doc = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
           "verbs": sorted(r.verbs)}
    if r.short_names:
        doc["shortNames"] = list(r.short_names)
    if r.categories:
        doc["categories"] = list(r.categories)
    doc["storageVersionHash"] = hashlib.sha256(f"{r.group}/{r.storage_version or r.version}/{r.kind}".encode()
                                               ).hexdigest()[:11]
    return doc


def _subresource_entries(r: Resource) -> list[dict]:
    out = []
    for sub in r.subresources:
        entry = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced, "kind": r.kind,
                 "verbs": ["get", "patch", "update"]}
        if sub == "log":
            entry["verbs"] = ["get"]
        elif sub == "scale":
            entry.update(group="autoscaling", version="v1", kind="Scale")
        out.append(entry)
    return out


def resource_list(registry: Registry, group: str, version: str) -> dict:
    served = sorted((r for r in registry.all() if r.group == group and r.version == version), key=lambda r: r.plural)
    if not served:
        raise resource_not_found()
    resources = []
    for r in served:
        resources.append(_entry(r))
        resources.extend(_subresource_entries(r))
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def openapi_v3_root(registry: Registry) -> dict:
    """``/openapi/v3``: one document per group-version. kubectl reads it to learn that the server
    validates fields itself (``fieldValidation``), and then skips its own schema download."""
    paths = {}
    for group, versions in registry.group_versions().items():
        for v in versions:
            gv = f"apis/{group}/{v}" if group else f"api/{v}"
            paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={_gv_hash(registry, group, v)}"}
    return {"paths": paths}


def _gv_hash(registry: Registry, group: str, version: str) -> str:
    kinds = ",".join(sorted(f"{r.plural}:{r.kind}" for r in registry.all()
                            if r.group == group and r.version == version))
    return hashlib.sha256(kinds.encode()).hexdigest()[:16].upper()


def openapi_v3_group_version(registry: Registry, group: str, version: str) -> dict:
    """An OpenAPI 3 document for one group-version: the write paths of each kind with their query parameters
    (what kubectl's query-parameter verifier looks for) and ``components.schemas``: each CRD version's
    ``openAPIV3Schema`` (named and wired to ObjectMeta as the apiserver publishes it) and the built-ins'
    definitions, so ``kubectl explain`` works.
    """
    served = [r for r in registry.all() if r.group == group and r.version == version]
    if not served:
        raise resource_not_found()
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    params = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
              for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
    paths, schemas = {}, {}
    for r in served:
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        name = _add_schema(schemas, r)
        ref = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}} if name else {}
        base = f"{prefix}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{prefix}/{r.plural}"
        op = {"x-kubernetes-group-version-kind": gvk, "parameters": params,
              "responses": {"200": {"description": "OK", **ref}}}
        paths[base] = {"post": op}
        paths[f"{base}/{{name}}"] = {"put": op, "patch": op, "get": {**op, "parameters": []}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": GIT_VERSION}, "paths": paths,
            "components": {"schemas": schemas}}


_META_DOC = ("Standard object's metadata. More info: "
             "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")


def _crd_schema_name(r: Resource) -> str:
    """``io.kubeflow.trainer.v1alpha1.TrainJob`` for trainer.kubeflow.org/v1alpha1 TrainJob, as apiextensions names it."""
    return ".".join(reversed(r.group.split("."))) + f".{r.version}.{r.kind}"


def _v3(node):
    """A kubernetes-validate (JSON Schema) definition as OpenAPI 3: refs into components, no ``null`` types."""
    if isinstance(node, list):
        return [_v3(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = "#/components/schemas/" + value.rsplit("/", 1)[-1]
        elif key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            if kinds:
                out[key] = kinds[0]
        else:
            out[key] = _v3(value)
    return out


def _add_builtin(schemas: dict, name: str) -> None:
    from tests.support.k8s_emulator import builtin_schemas

    todo = [name]
    while todo:
        current = todo.pop()
        if current in schemas:
            continue
        try:
            definition = builtin_schemas.resolve(current)
        except KeyError:
            continue
        schemas[current] = _v3(definition)
        todo += [ref.rsplit("/", 1)[-1] for ref in _refs(definition)]


def _refs(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _add_schema(schemas: dict, r: Resource) -> str | None:
    from tests.support.k8s_emulator import builtin_schemas

    if not r.is_custom:
        root = builtin_schemas.root_schema(r.group, r.version, r.kind)
        if root is None:
            return None
        name = root["$ref"].rsplit("/", 1)[-1]
        _add_builtin(schemas, name)
        return name
    name = _crd_schema_name(r)
    schema = json.loads(json.dumps(r.schema or {"type": "object"}))
    props = schema.setdefault("properties", {})
    props["metadata"] = {"allOf": [{"$ref": f"#/components/schemas/{builtin_schemas.OBJECT_META}"}],
                         "description": _META_DOC}
    schema["x-kubernetes-group-version-kind"] = [{"group": r.group, "version": r.version, "kind": r.kind}]
    schemas[name] = schema
    _add_builtin(schemas, builtin_schemas.OBJECT_META)
    return name
