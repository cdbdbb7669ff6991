"""REST semantics of resource endpoints: get, list, watch, create, update, patch, delete, logs, access reviews.

Each handler takes a routed :class:`~.routing.Request` and the :class:`~.resources.Resource` it names,
holds the store lock across read-modify-write, and returns a :class:`~.routing.Response` or raises
:class:`~.errors.ApiError`. Server-owned metadata (uid, creationTimestamp, resourceVersion,
generation), optimistic concurrency, status-subresource rules and paging live here.
"""
from __future__ import annotations

import base64
import json
from typing import Callable

import yaml

from tests.support.k8s_emulator import builtin_schemas, crds, defaults, proto, scaling, tables, validation, webhooks
from tests.support.k8s_emulator import logs as podlogs
from tests.support.k8s_emulator import watch as watching
from tests.support.k8s_emulator.deletion import POLICIES, Deleter
from tests.support.k8s_emulator.errors import (
    STALE_OBJECT,
    ApiError,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    gone,
    invalid,
    method_not_allowed,
    not_found,
    resource_not_found,
    success_status,
    unsupported_media_type,
)
from tests.support.k8s_emulator.logs import LogOptions, LogStore
from tests.support.k8s_emulator.meta import generate_name, new_uid, rfc3339
from tests.support.k8s_emulator.patch import (
    PatchError,
    SchemaNav,
    apply_merge,
    json_patch,
    merge_patch,
    strategic_merge,
)
from tests.support.k8s_emulator.rbac import Rbac
from tests.support.k8s_emulator.resources import Registry, Resource
from tests.support.k8s_emulator.routing import Request, Response
from tests.support.k8s_emulator.schema import FieldError, GoLiteral
from tests.support.k8s_emulator.selectors import FieldSelector, LabelSelector
from tests.support.k8s_emulator.store import Store, clone

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
BODY_TYPES = ("application/json", "application/yaml", proto.CONTENT_TYPE)
CUSTOM_BODY_TYPES = ("application/json", "application/yaml")  # no protobuf codec for custom resources
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")
SSAR_KEY = ("authorization.k8s.io", "selfsubjectaccessreviews")
_CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent list result. You can start "
                     "a new list without the continue parameter, or use the continue token in this response to "
                     "retrieve the remainder of the results. Continuing with the provided token results in an "
                     "inconsistent list - objects that were created, modified, or deleted between the time the first "
                     "chunk was returned and now may show up in the list.")


ROOT_CA_DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
                       "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
                       "guaranteed across distributions of Kubernetes clusters.")
EMULATOR_CA = ("-----BEGIN CERTIFICATE-----\n"
               "MIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhrOHMtZW11bGF0\n"
               "b3Itc2VydmVyLWNhMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAwMFowIzEhMB8G\n"
               "-----END CERTIFICATE-----\n")  # a placeholder: the emulator serves plain HTTP


def _without_rv(obj: dict) -> dict:
    return {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k not in ("resourceVersion",
                                                                                     "managedFields")}}


def _spec_part(obj: dict) -> dict:
    """What bumps metadata.generation: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _warning_headers(warnings: list[str]) -> dict:
    """One ``Warning: 299 - "..."`` header per dropped unknown field (fieldValidation=Warn)."""
    return {"Warning": [f"299 - {json.dumps(w)}" for w in warnings]} if warnings else {}


def _with_deprecation(headers: dict, resource: Resource) -> dict:
    """Every request to a deprecated CRD version carries its ``Warning: 299 - "..."``, as apiextensions sends."""
    if not resource.deprecation_warning:
        return headers
    existing = headers.get("Warning") or []
    existing = existing if isinstance(existing, list) else [existing]
    return {**headers, "Warning": [f"299 - {json.dumps(resource.deprecation_warning)}"] + existing}


class Api:
    def __init__(self, store: Store, registry: Registry, logs: LogStore, rbac: Rbac,
                 stopping: Callable[[], bool], bookmark_interval: Callable[[], float]):
        self.store = store
        self.registry = registry
        self.logs = logs
        self.rbac = rbac
        self.stopping = stopping
        self.bookmark_interval = bookmark_interval
        self.deleter = Deleter(store, registry, logs)
        self.namespace_controllers = True  # new namespaces get a default ServiceAccount and kube-root-ca.crt

    # -- dispatch -------------------------------------------------------------------------------------
    def handle(self, req: Request, resource: Resource) -> Response:
        info = req.info
        sub = info.subresource
        if not info.valid or (sub and sub not in resource.subresources):
            raise resource_not_found()
        if info.namespace is not None and not resource.namespaced:
            raise resource_not_found()
        if sub == "log":
            allowed = ("get",)
        elif sub:
            allowed = ("get", "update", "patch")
        else:
            allowed = resource.verbs
        if info.verb not in allowed:
            raise method_not_allowed()
        if resource.namespaced and info.namespace is None and info.verb not in ("list", "watch"):
            if info.name:
                raise resource_not_found()
            raise method_not_allowed()
        if resource.key == SSAR_KEY:
            return self.access_review(req)
        if resource.key == ("authorization.k8s.io", "selfsubjectrulesreviews"):
            return self.rules_review(req)
        if resource.key == ("authentication.k8s.io", "selfsubjectreviews"):
            return Response(201, {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                                  "metadata": {"creationTimestamp": None},
                                  "status": {"userInfo": self.rbac.user_info()}})
        if sub == "log":
            return self.pod_log(req, resource)
        if sub == "scale":
            return self.scale(req, resource)
        handler = {"get": self.get, "list": self.list, "watch": self.watch, "create": self.create,
                   "update": self.update, "patch": self.patch, "delete": self.delete,
                   "deletecollection": self.delete_collection}[info.verb]
        try:
            response = handler(req, resource)
        except ApiError as e:
            e.headers = _with_deprecation(e.headers, resource)
            raise
        response.headers = _with_deprecation(response.headers, resource)
        return response

    # -- helpers --------------------------------------------------------------------------------------
    @staticmethod
    def _ns(req: Request, resource: Resource) -> str:
        return (req.info.namespace or "") if resource.namespaced else ""

    def _existing(self, resource: Resource, namespace: str, name: str) -> dict:
        obj = self.store.get(resource.key, namespace, name)
        if obj is None:
            raise not_found(resource.plural, resource.group, name)
        return obj

    @staticmethod
    def _parse_body(req: Request, resource: Resource | None = None):
        custom = resource is not None and resource.is_custom
        if req.content_type == proto.CONTENT_TYPE and not custom:
            try:
                return proto.decode(req.body)
            except proto.ProtobufError as e:
                raise bad_request(str(e))
        if req.content_type not in ("", "*/*", "application/json", "application/yaml"):
            raise unsupported_media_type(req.content_type, CUSTOM_BODY_TYPES if custom else BODY_TYPES)
        text = req.body.decode("utf-8", "replace")
        try:
            if req.content_type == "application/yaml":
                return yaml.safe_load(text)
            return json.loads(text)
        except (ValueError, yaml.YAMLError) as e:
            raise bad_request(f"couldn't get version/kind; json parse error: {e}")

    @staticmethod
    def _check_type(resource: Resource, body) -> None:
        if not isinstance(body, dict):
            raise bad_request(f"couldn't get version/kind; json parse error: json: cannot unmarshal "
                              f"{type(body).__name__} into Go value of type struct")
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if kind and kind != resource.kind:
            raise bad_request(f"the object provided is unrecognized (must be of type {resource.kind}): "
                              f"object kind {kind} does not match {resource.kind}")
        if api_version and kind and api_version != resource.api_version:
            raise bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                              f"version ({resource.api_version})")

    def _check_namespace_open(self, resource: Resource, namespace: str, name: str) -> None:
        ns = self.store.get(("", "namespaces"), "", namespace)
        if ns is None:
            raise not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise forbidden(resource.plural, resource.group, name, f"unable to create new content in namespace "
                                                                   f"{namespace} because it is being terminated")

    # -- reads ----------------------------------------------------------------------------------------
    def get(self, req: Request, resource: Resource) -> Response:
        obj = self._existing(resource, self._ns(req, resource), req.info.name)
        table = tables.wants_table(req.headers.get("Accept"))
        if table:
            return Response(200, tables.to_table(resource, [resource.served(obj)], table, req.query, None))
        return Response(200, resource.served(obj))

    def _selectors(self, req: Request, resource: Resource) -> tuple[LabelSelector, FieldSelector]:
        return LabelSelector(req.query.get("labelSelector")), FieldSelector(req.query.get("fieldSelector"), resource)

    def list(self, req: Request, resource: Resource) -> Response:
        labels, fields = self._selectors(req, resource)
        namespace = req.info.namespace if resource.namespaced else None
        token = req.query.get("continue")
        limit = req.query.get("limit")
        try:
            limit = int(limit) if limit else 0
        except ValueError:
            raise bad_request(f'invalid value for limit: strconv.ParseInt: parsing "{limit}": invalid syntax')
        with self.store.cond:
            if token:
                rv, start = self._decode_continue(token)
                if rv < self.store.compacted_rv:
                    raise gone(_CONTINUE_EXPIRED)
                items = self.store.snapshot(resource.key, rv)
            else:
                rv, start = self.store.rv, None
                items = self.store.items(resource.key)
        selected = [o for o in items
                    if (namespace is None or o["metadata"].get("namespace") == namespace)
                    and (start is None or _sort_key(o) > start)
                    and labels.matches(o["metadata"].get("labels")) and fields.matches(o)]
        meta: dict = {"resourceVersion": str(rv)}
        if limit and len(selected) > limit:
            rest = len(selected) - limit
            selected = selected[:limit]
            meta["continue"] = self._encode_continue(rv, _sort_key(selected[-1]))
            if not labels and not fields:
                meta["remainingItemCount"] = rest
        table = tables.wants_table(req.headers.get("Accept"))
        if table:
            return Response(200, tables.to_table(resource, [resource.served(o) for o in selected], table, req.query,
                                                 meta))
        strip = not resource.is_custom  # typed lists carry no apiVersion/kind per item
        out = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} if strip else resource.served(o)
               for o in selected]
        return Response(200, {"kind": resource.list_kind, "apiVersion": resource.api_version, "metadata": meta,
                              "items": out})

    @staticmethod
    def _encode_continue(rv: int, start: tuple) -> str:
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": f"{start[0]}/{start[1]}\u0000"})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def _decode_continue(token: str) -> tuple[int, tuple]:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            ns, _, name = data["start"].rstrip("\u0000").partition("/")
            return int(data["rv"]), (ns, name)
        except (ValueError, KeyError, TypeError) as e:
            raise bad_request(f"continue key is not valid: {e}")

    def watch(self, req: Request, resource: Resource) -> Response:
        labels, fields = self._selectors(req, resource)
        rv_text = req.query.get("resourceVersion", "")
        try:
            rv = int(rv_text) if rv_text else None
        except ValueError:
            raise bad_request(f'invalid resource version: strconv.ParseUint: parsing "{rv_text}": invalid syntax')
        timeout = req.query.get("timeoutSeconds")
        send_initial = req.flag("sendInitialEvents")
        if send_initial and not req.flag("allowWatchBookmarks"):
            raise invalid("ListOptions", "", "", [FieldError(
                "FieldValueForbidden", "allowWatchBookmarks",
                detail="allowWatchBookmarks must be set to true when sendInitialEvents is set")])
        spec = watching.WatchSpec(
            resource=resource, namespace=req.info.namespace if resource.namespaced else None, labels=labels,
            fields=fields, resource_version=rv, timeout=float(timeout) if timeout else None,
            bookmarks=req.flag("allowWatchBookmarks"), bookmark_interval=self.bookmark_interval(),
            send_initial_events=send_initial, name=req.info.name or None)
        table = tables.wants_table(req.headers.get("Accept"))
        if table:
            spec.transform = lambda obj: tables.to_table(resource, [obj], table, req.query, None)
        return Response(200, stream=watching.stream(self.store, spec, self.stopping))

    # -- writes ---------------------------------------------------------------------------------------
    def create(self, req: Request, resource: Resource) -> Response:
        body = self._parse_body(req, resource)
        self._check_type(resource, body)
        return self.create_object(resource, self._ns(req, resource), body, req.query.get("fieldValidation"),
                                  req.query.get("dryRun") == "All")[1]

    def create_object(self, resource: Resource, namespace: str, body: dict, field_validation: str | None = None,
                      dry_run: bool = False) -> tuple[dict, Response]:
        obj, warnings = validation.decode(resource, body, field_validation)
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if resource.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise ApiError(500, "InternalError", "Internal error occurred: resourceVersion should not be set on "
                                                 "objects to be created",
                           {"causes": [{"message": "resourceVersion should not be set on objects to be created"}]})
        for server_field in ("uid", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"):
            meta.pop(server_field, None)
        with self.store.cond:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = generate_name(meta["generateName"])
                while self.store.get(resource.key, namespace, meta["name"]) is not None:
                    meta["name"] = generate_name(meta["generateName"])
            meta["uid"] = new_uid()
            meta["creationTimestamp"] = rfc3339()
            if resource.has_generation:
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            defaults.apply_create_defaults(resource, obj)
            if resource.key == CRD_KEY:
                errs = crds.validate_crd(obj)
                if errs:
                    raise invalid(resource.kind, resource.group, meta.get("name", ""), errs)
            validation.validate(resource, obj)
            webhooks.admit(resource, self.store, obj, None)
            if resource.namespaced:
                self._check_namespace_open(resource, namespace, meta["name"])
            existing = self.store.get(resource.key, namespace, meta["name"])
            if existing is not None:
                err = already_exists(resource.plural, resource.group, meta["name"])
                if existing["metadata"].get("deletionTimestamp"):  # the generic registry's prefix
                    err = ApiError(err.code, err.reason, f"object is being deleted: {err.message}", err.details)
                raise err
            if dry_run:
                return obj, Response(201, obj, headers=_warning_headers(warnings))
            stored = self.store.put(resource.key, obj)
            if resource.key == CRD_KEY:
                self.register_crd(stored)
            if resource.key == ("", "namespaces") and self.namespace_controllers:
                self._populate_namespace(meta["name"])
            return stored, Response(201, resource.served(stored), headers=_warning_headers(warnings))

    def _populate_namespace(self, namespace: str) -> None:
        """What the serviceaccount and root-ca-cert-publisher controllers add to a new namespace."""
        for key, obj in ((("", "serviceaccounts"), {"apiVersion": "v1", "kind": "ServiceAccount",
                                                    "metadata": {"name": "default"}}),
                         (("", "configmaps"), {"apiVersion": "v1", "kind": "ConfigMap",
                                               "metadata": {"name": "kube-root-ca.crt", "annotations": {
                                                   "kubernetes.io/description": ROOT_CA_DESCRIPTION}},
                                               "data": {"ca.crt": EMULATOR_CA}})):
            obj["metadata"].update(namespace=namespace, uid=new_uid(), creationTimestamp=rfc3339())
            if self.store.get(key, namespace, obj["metadata"]["name"]) is None:
                self.store.put(key, obj)

    def register_crd(self, crd: dict) -> None:
        """Serve a stored CRD's resources and mark it Established, as the apiextensions controllers do."""
        with self.store.cond:
            self.registry.set_crd(crd["metadata"]["name"], crds.crd_resources(crd))
            if crd.get("status", {}).get("acceptedNames") != crd["spec"]["names"]:
                established = dict(crd, metadata=dict(crd["metadata"]), status=crds.established_status(crd))
                self.store.put(CRD_KEY, established)

    def update(self, req: Request, resource: Resource) -> Response:
        body = self._parse_body(req, resource)
        self._check_type(resource, body)
        return self._apply_write(req, resource, lambda current: body, unconditional_ok=True)

    def patch(self, req: Request, resource: Resource) -> Response:
        ctype = req.content_type
        accepted = [JSON_PATCH, MERGE_PATCH] + ([] if resource.is_custom else [STRATEGIC_PATCH]) + [APPLY_PATCH]
        if ctype not in accepted:
            raise unsupported_media_type(ctype, accepted)
        text = req.body.decode("utf-8", "replace")
        try:
            patch_doc = yaml.safe_load(text) if ctype == APPLY_PATCH else json.loads(text)
        except (ValueError, yaml.YAMLError) as e:
            raise bad_request(f"error decoding patch: {e}")
        if ctype == APPLY_PATCH:
            if not req.query.get("fieldManager"):
                raise bad_request("PATCH requests must specify a fieldManager")
            if not isinstance(patch_doc, dict):
                raise bad_request("error decoding YAML: the apply patch must be an object")
            with self.store.cond:
                if self.store.get(resource.key, self._ns(req, resource), req.info.name) is None:
                    body = clone(patch_doc)
                    body.setdefault("metadata", {}).setdefault("name", req.info.name)
                    self._check_type(resource, body)
                    return self.create_object(resource, self._ns(req, resource), body,
                                              req.query.get("fieldValidation"),
                                              req.query.get("dryRun") == "All")[1]

        def patched(current: dict) -> dict:
            try:
                if ctype == JSON_PATCH:
                    return json_patch(current, patch_doc)
                if ctype == MERGE_PATCH:
                    if not isinstance(patch_doc, dict):
                        raise PatchError(400, f"json: cannot unmarshal {type(patch_doc).__name__} into Go value of "
                                              "type map[string]interface {}")
                    return merge_patch(current, patch_doc)
                if ctype == STRATEGIC_PATCH:
                    return strategic_merge(current, patch_doc, SchemaNav(builtin_schemas.resolve),
                                           builtin_schemas.root_schema(resource.group, resource.version,
                                                                       resource.kind))
                if resource.is_custom:
                    return apply_merge(current, patch_doc, SchemaNav(None, strategic=False), resource.schema)
                return apply_merge(current, patch_doc, SchemaNav(builtin_schemas.resolve),
                                   builtin_schemas.root_schema(resource.group, resource.version, resource.kind))
            except PatchError as e:
                if e.code == 422:
                    raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request",
                                   {"causes": [{"message": e.message}]})
                raise bad_request(e.message)

        return self._apply_write(req, resource, patched, unconditional_ok=False)

    def _apply_write(self, req: Request, resource: Resource, make: Callable[[dict], dict],
                     unconditional_ok: bool) -> Response:
        """Shared tail of PUT and PATCH: preconditions, status rules, validation, commit."""
        namespace, name, sub = self._ns(req, resource), req.info.name, req.info.subresource
        with self.store.cond:
            old = self._existing(resource, namespace, name)
            candidate = make(clone(resource.served(old)))
            if not isinstance(candidate, dict) or not isinstance(candidate.get("metadata", {}), dict):
                raise bad_request("the object must be a JSON object with object metadata")
            meta = candidate.setdefault("metadata", {})
            if meta.get("name", name) != name:
                raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                                  f"({name})")
            if resource.namespaced and meta.get("namespace", namespace) != namespace:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                                  "request")
            obj, warnings = validation.decode(resource, candidate, req.query.get("fieldValidation"))
            rv = obj["metadata"].get("resourceVersion")
            if not rv and unconditional_ok and not resource.allow_unconditional_update:
                raise invalid(resource.kind, resource.group, name, [FieldError(
                    "FieldValueInvalid", "metadata.resourceVersion", GoLiteral("0x0"),
                    "must be specified for an update")])
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(resource.plural, resource.group, name, STALE_OBJECT)
            uid = obj["metadata"].get("uid")
            if uid and uid != old["metadata"].get("uid"):
                raise conflict(resource.plural, resource.group, name,
                               f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                               f"{old['metadata'].get('uid')}")
            new = self._merge_server_fields(resource, old, obj, sub)
            if old["metadata"].get("deletionTimestamp"):
                added = [f for f in new["metadata"].get("finalizers") or []
                         if f not in (old["metadata"].get("finalizers") or [])]
                if added:
                    raise invalid(resource.kind, resource.group, name, [FieldError(
                        "FieldValueForbidden", "metadata.finalizers",
                        detail=f"no new finalizers can be added if the object is being deleted, found new "
                               f"finalizers []string{{{', '.join(json.dumps(f) for f in added)}}}")])
            validation.validate(resource, new, old)
            if sub != "status":
                webhooks.admit(resource, self.store, new, old)
            headers = _warning_headers(warnings)
            if _without_rv(new) == _without_rv(resource.served(old)):
                return Response(200, resource.served(old), headers=headers)
            if req.query.get("dryRun") == "All":
                return Response(200, new, headers=headers)
            if self.deleter.finish_if_released(resource.key, new):
                return Response(200, new, headers=headers)
            stored = self.store.put(resource.key, new)
            if resource.key == CRD_KEY:
                self.register_crd(stored)
            return Response(200, resource.served(stored), headers=headers)

    @staticmethod
    def _merge_server_fields(resource: Resource, old: dict, obj: dict, subresource: str) -> dict:
        if subresource == "status":
            new = clone(old)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            new["apiVersion"], new["kind"] = resource.api_version, resource.kind
            return new
        new = obj
        new["apiVersion"], new["kind"] = resource.api_version, resource.kind
        meta, old_meta = new["metadata"], old["metadata"]
        for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace",
                      "generation", "resourceVersion"):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        if resource.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if resource.has_generation and _spec_part(new) != _spec_part(old):
            meta["generation"] = old_meta.get("generation", 0) + 1
        return new

    # -- deletion -------------------------------------------------------------------------------------
    def _delete_options(self, req: Request) -> dict:
        opts = {}
        if req.body.strip():
            body = self._parse_body(req)
            if isinstance(body, dict):
                opts = body
        if req.query.get("propagationPolicy"):
            opts["propagationPolicy"] = req.query["propagationPolicy"]
        if req.query.get("orphanDependents"):
            opts["orphanDependents"] = req.query["orphanDependents"].lower() == "true"
        if req.query.get("dryRun"):
            opts["dryRun"] = [req.query["dryRun"]]
        if req.query.get("gracePeriodSeconds"):
            try:
                opts["gracePeriodSeconds"] = int(req.query["gracePeriodSeconds"])
            except ValueError:
                raise bad_request(f'strconv.ParseInt: parsing "{req.query["gracePeriodSeconds"]}": invalid syntax')
        return opts

    @staticmethod
    def _policy(resource: Resource, opts: dict) -> str:
        policy = opts.get("propagationPolicy")
        if policy is None and opts.get("orphanDependents") is not None:
            policy = "Orphan" if opts["orphanDependents"] else "Background"
        policy = policy or resource.default_gc
        if policy not in POLICIES:
            raise invalid("DeleteOptions", "", "", [FieldError(
                "FieldValueNotSupported", "propagationPolicy", policy,
                'supported values: "Foreground", "Background", "Orphan", "nil"')])
        return policy

    def delete(self, req: Request, resource: Resource) -> Response:
        opts = self._delete_options(req)
        policy = self._policy(resource, opts)
        namespace, name = self._ns(req, resource), req.info.name
        if resource.key == ("", "namespaces") and name in IMMORTAL_NAMESPACES:  # NamespaceLifecycle admission
            raise forbidden("namespaces", "", name, "this namespace may not be deleted")
        with self.store.cond:
            obj = self._existing(resource, namespace, name)
            pre = opts.get("preconditions") or {}
            meta = obj["metadata"]
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise conflict(resource.plural, resource.group, name,
                               f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
                               f"{meta.get('uid')}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
                raise conflict(resource.plural, resource.group, name,
                               f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                               f"ResourceVersion in object meta: {meta.get('resourceVersion')}")
            if "All" in (opts.get("dryRun") or []):
                return Response(200, resource.served(obj))
            gone_now, state = self.deleter.delete(resource, obj, policy, opts.get("gracePeriodSeconds"))
        if gone_now and not resource.return_deleted:
            return Response(200, success_status({"name": name, "group": resource.group, "kind": resource.plural,
                                                 "uid": meta.get("uid")} if resource.group else
                                                {"name": name, "kind": resource.plural, "uid": meta.get("uid")}))
        code = 202 if not gone_now and opts.get("orphanDependents") is False else 200
        return Response(code, resource.served(state))

    def delete_collection(self, req: Request, resource: Resource) -> Response:
        labels, fields = self._selectors(req, resource)
        opts = self._delete_options(req)
        policy = self._policy(resource, opts)
        namespace = req.info.namespace if resource.namespaced else None
        deleted = []
        with self.store.cond:
            for obj in self.store.items(resource.key, namespace):
                if labels.matches(obj["metadata"].get("labels")) and fields.matches(obj):
                    deleted.append(resource.served(self.deleter.delete(resource, obj, policy)[1]))
            rv = self.store.rv
        return Response(200, {"kind": resource.list_kind, "apiVersion": resource.api_version,
                              "metadata": {"resourceVersion": str(rv)}, "items": deleted})

    # -- subresources and virtual resources ----------------------------------------------------------
    def pod_log(self, req: Request, resource: Resource) -> Response:
        namespace, name = self._ns(req, resource), req.info.name
        opts = LogOptions.from_query(req.query, name)
        with self.store.cond:
            pod = self._existing(resource, namespace, name)
            container = podlogs.select_container(pod, opts.container)
            if not (pod.get("spec") or {}).get("nodeName"):
                return Response(200, b"", content_type="text/plain")
            podlogs.check_started(pod, container, opts.previous)
            lines = self.logs.lines(namespace, name, container, previous=opts.previous) or []
        if opts.follow and not opts.previous:
            stream = podlogs.follow(self.store, self.logs, namespace, name, container, opts, self.stopping)
            return Response(200, content_type="text/plain", stream=stream)
        return Response(200, podlogs.render(lines, opts), content_type="text/plain")

    def scale(self, req: Request, resource: Resource) -> Response:
        """GET, PUT or PATCH of an autoscaling/v1 Scale: the replica count lives in the parent object."""
        namespace, name = self._ns(req, resource), req.info.name
        with self.store.cond:
            obj = self._existing(resource, namespace, name)
            current = scaling.to_scale(resource, obj)
            if req.info.verb == "get":
                return Response(200, current)
            if req.info.verb == "update":
                wanted = self._parse_body(req)
                if not isinstance(wanted, dict):
                    raise bad_request("the object provided is unrecognized (must be of type Scale)")
            else:
                wanted = self._patch_scale(req, current)
            rv = (wanted.get("metadata") or {}).get("resourceVersion")
            if rv and rv != obj["metadata"]["resourceVersion"]:
                raise conflict(resource.plural, resource.group, name, STALE_OBJECT)
            updated = scaling.apply_scale(resource, obj, wanted)
            if _spec_part(updated) == _spec_part(obj):
                return Response(200, current)
            if resource.has_generation:
                updated["metadata"]["generation"] = obj["metadata"].get("generation", 0) + 1
            if req.query.get("dryRun") == "All":
                return Response(200, scaling.to_scale(resource, updated))
            stored = self.store.put(resource.key, updated)
            return Response(200, scaling.to_scale(resource, stored))

    @staticmethod
    def _patch_scale(req: Request, current: dict) -> dict:
        ctype = req.content_type
        if ctype not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH):
            raise unsupported_media_type(ctype, [JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH])
        try:
            doc = json.loads(req.body.decode("utf-8", "replace"))
            if ctype == JSON_PATCH:
                return json_patch(current, doc)
            if not isinstance(doc, dict):
                raise bad_request(f"json: cannot unmarshal {type(doc).__name__} into Go value of type "
                                  "map[string]interface {}")
            return merge_patch(current, doc)  # a Scale has no lists: strategic merge is a merge patch
        except ValueError as e:
            raise bad_request(f"error decoding patch: {e}")
        except PatchError as e:
            raise bad_request(e.message)

    def rules_review(self, req: Request) -> Response:
        """What the user may do in ``spec.namespace`` (``kubectl auth can-i --list``): everything until a test
        denies something; then, per served resource, the verbs left."""
        body = self._parse_body(req)
        namespace = ((body or {}).get("spec") or {}).get("namespace") or ""
        if not namespace:
            raise invalid("SelfSubjectRulesReview", "authorization.k8s.io", "", [FieldError(
                "FieldValueRequired", "spec.namespace")])
        status = {"resourceRules": self.rbac.rules(self.registry.all(), namespace),
                  "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}
        return Response(201, {"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
                              "metadata": {"creationTimestamp": None}, "spec": {"namespace": namespace},
                              "status": status})

    def access_review(self, req: Request) -> Response:
        body = self._parse_body(req)
        spec = (body or {}).get("spec") or {}
        attrs, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if bool(attrs) == bool(non_resource):
            raise invalid("SelfSubjectAccessReview", "authorization.k8s.io", "", [FieldError(
                "FieldValueInvalid", "spec.resourceAttributes", GoLiteral('"null"'),
                "exactly one of nonResourceAttributes or resourceAttributes must be specified")])
        review = {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                  "metadata": {"creationTimestamp": None}, "spec": spec, "status": self.rbac.review(attrs)}
        return Response(201, review)


def _sort_key(obj: dict) -> tuple:
    return (obj["metadata"].get("namespace") or "", obj["metadata"]["name"])

