"""The admission path of a write: decode (prune or reject unknown fields), then validate.

Mirrors the apiserver's order: decoding happens on the raw body (``fieldValidation=Strict`` → 400
``strict decoding error``; a built-in type mismatch → 400 ``cannot be handled as a``), the registry
strategy then adjusts the object (status, defaults; done by the caller), and validation of the
result produces one 422 ``Invalid`` listing every field error: metadata rules, the schema (custom
resources), the CRD's CEL rules that :mod:`.cel` understands, and a few Go rules of built-in kinds.
"""
from __future__ import annotations

from tests.support.k8s_emulator import builtin_schemas, cel, quantity
from tests.support.k8s_emulator.errors import bad_request, invalid
from tests.support.k8s_emulator.meta import validate_labels_and_annotations, validate_name
from tests.support.k8s_emulator.resources import Resource
from tests.support.k8s_emulator.schema import FieldError, Walk

FIELD_VALIDATION_MODES = ("Ignore", "Warn", "Strict")


def _schema_for(resource: Resource) -> dict | None:
    if resource.is_custom:
        return resource.schema
    return builtin_schemas.root_schema(resource.group, resource.version, resource.kind)


def _walk(resource: Resource, **options) -> Walk:
    return Walk(resolve=builtin_schemas.resolve, builtin=not resource.is_custom,
                object_meta=builtin_schemas.object_meta() if resource.is_custom else None,
                root_kind=resource.kind, root_version=resource.version, **options)


def decode(resource: Resource, body: dict, field_validation: str | None) -> tuple[dict, list[str]]:
    """Prune unknown fields and apply CRD defaults; returns the object and the Warning texts."""
    mode = field_validation or "Warn"
    if mode not in FIELD_VALIDATION_MODES:
        raise bad_request(f'fieldValidation parameter must be one of "Ignore", "Warn", or "Strict", got "{mode}"')
    schema = _schema_for(resource)
    if schema is None:
        return body, []
    walk = _walk(resource)
    obj = walk.run(body, schema)
    if walk.decode_error:
        raise bad_request(walk.decode_error)
    unknown = [f'unknown field "{p}"' for p in walk.unknown]
    if unknown and mode == "Strict":
        raise bad_request("strict decoding error: " + ", ".join(unknown))
    return obj, unknown if mode == "Warn" else []


def validate(resource: Resource, obj: dict, old: dict | None = None) -> None:
    """Raise 422 Invalid when the object (after the registry's strategy) breaks any rule."""
    meta = obj.get("metadata") or {}
    errors: list[FieldError] = []
    if not meta.get("name"):
        errors.append(FieldError("FieldValueRequired", "metadata.name",
                                 detail="name or generateName is required"))
    else:
        errors += validate_name(meta["name"], resource.name_rule)
    errors += validate_labels_and_annotations(meta)
    schema = _schema_for(resource)
    if schema is not None:
        walk = _walk(resource, prune=False, defaults=False, report_unknown=False, collect_rules=True)
        walk.run(obj, schema)
        errors += walk.errors
        if resource.is_custom:
            errors += cel.check_rules(walk.rules, old)
    if not resource.is_custom:
        errors += _builtin_rules(resource, obj)
    if errors:
        raise invalid(resource.kind, resource.group, meta.get("name", ""), errors)


def _pod_spec_errors(spec: dict, path: str) -> list[FieldError]:
    errs = []
    seen = set()
    for list_name in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(list_name) or []):
            if not isinstance(c, dict):
                continue
            where = f"{path}.{list_name}[{i}]"
            if not c.get("image"):
                errs.append(FieldError("FieldValueRequired", f"{where}.image"))
            if c.get("name") in seen:
                errs.append(FieldError("FieldValueDuplicate", f"{where}.name", c["name"]))
            seen.add(c.get("name"))
            errs += _resource_errors(c.get("resources"), f"{where}.resources")
    if isinstance(spec.get("containers"), list) and not spec["containers"]:
        errs.append(FieldError("FieldValueRequired", f"{path}.containers"))
    return errs


def _overcommit_allowed(name: str) -> bool:
    """``IsOvercommitAllowed``: native resources (cpu, memory, ...) but hugepages; never nvidia.com/gpu."""
    native = "/" not in name or name.startswith("kubernetes.io/")
    return native and not name.startswith("hugepages-")


def _resource_errors(res, path: str) -> list[FieldError]:
    """``ValidateContainerResourceRequirements``: a request above its limit, an extended resource whose
    request differs from its limit or has none (requests by resource name: Go's map order is random)."""
    if not isinstance(res, dict):
        return []
    requests = res.get("requests") if isinstance(res.get("requests"), dict) else {}
    limits = res.get("limits") if isinstance(res.get("limits"), dict) else {}
    errs = []
    for name in sorted(requests):
        try:
            asked = quantity.value(requests[name])
            limit = quantity.value(limits[name]) if name in limits else None
        except quantity.QuantityError:
            continue  # the schema's quantity check reports it
        if limit is not None:
            shown, cap = quantity.canonical(requests[name]), quantity.canonical(limits[name])
            if asked != limit and not _overcommit_allowed(name):
                errs.append(FieldError("FieldValueInvalid", f"{path}.requests", shown, f"must be equal to {name} limit of {cap}"))
            elif asked > limit:
                errs.append(FieldError("FieldValueInvalid", f"{path}.requests", shown,
                                       f"must be less than or equal to {name} limit of {cap}"))
        elif not _overcommit_allowed(name):
            errs.append(FieldError("FieldValueRequired", f"{path}.limits",
                                   detail="Limit must be set for non overcommitable resources"))
    return errs


def _builtin_rules(resource: Resource, obj: dict) -> list[FieldError]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    if resource.key == ("", "pods"):
        return _pod_spec_errors(spec, "spec")
    template = spec.get("template") if isinstance(spec.get("template"), dict) else None
    if template is None or not isinstance(template.get("spec"), dict):
        return []
    errs = _pod_spec_errors(template["spec"], "spec.template.spec")
    if resource.key == ("batch", "jobs"):
        policy = template["spec"].get("restartPolicy")
        if policy not in ("OnFailure", "Never"):
            errs.append(FieldError("FieldValueNotSupported", "spec.template.spec.restartPolicy", policy,
                                   'supported values: "OnFailure", "Never"'))
    return errs
