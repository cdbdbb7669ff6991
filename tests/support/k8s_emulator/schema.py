"""One walk over an object and its OpenAPI schema that validates, prunes and defaults it.

The apiserver decodes a body (dropping or rejecting unknown fields), applies schema defaults, then
validates. This module does all three in one pass, over either a CRD's structural
``openAPIV3Schema`` or the built-in kinds' schemas shipped by kubernetes-validate (which use ``$ref``).
Two modes mirror the two code paths of a real server:

* custom resources (``builtin=False``): kube-openapi validation; every problem is a field error that
  becomes a 422 ``Invalid`` with ``details.causes``; object schemas without ``properties`` prune
  everything unless ``x-kubernetes-preserve-unknown-fields``;
* built-in kinds (``builtin=True``): Go JSON decoding; a type mismatch is a 400 ``BadRequest``
  (``json: cannot unmarshal string into Go struct field JobSpec.spec.backoffLimit of type int32``),
  only ``required`` becomes a 422, ``null`` is always accepted (Go pointers), enums are not checked.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

_TYPE_NAMES = {"Required": "Required value", "Invalid": "Invalid value", "TypeInvalid": "Invalid value",
               "NotSupported": "Unsupported value", "Duplicate": "Duplicate value", "TooLong": "Too long",
               "TooMany": "Too many", "Forbidden": "Forbidden", "NotFound": "Not found"}
_NO_VALUE = object()


class GoLiteral(str):
    """A bad value printed verbatim (``0x0``), for messages Go renders with %#v."""


def go_value(value: Any) -> str:
    """Render a value the way ``field.Error`` prints it with %v / %q / %#v."""
    if isinstance(value, GoLiteral):
        return str(value)
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)}:{_go_inner(v)}" for k, v in sorted(value.items()))
        return "map[string]interface {}{" + inner + "}"
    return "[]interface {}{" + ", ".join(_go_inner(v) for v in value) + "}"


def _go_inner(v: Any) -> str:
    return "interface {}(nil)" if v is None else go_value(v)


def number(n: Any) -> str:
    if isinstance(n, float) and n.is_integer():
        return str(int(n))
    return str(n)


@dataclass
class FieldError:
    """k8s.io/apimachinery/pkg/util/validation/field.Error: ``type`` is the cause reason."""
    type: str  # FieldValueRequired, FieldValueInvalid, FieldValueTypeInvalid, FieldValueNotSupported...
    field: str
    value: Any = _NO_VALUE
    detail: str = ""

    def body(self) -> str:
        short = self.type.replace("FieldValue", "")
        text = _TYPE_NAMES.get(short, short)
        if short not in ("Required", "Forbidden", "TooLong") and self.value is not _NO_VALUE:
            text = f"{text}: {go_value(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def format_path(path: tuple | list) -> str:
    """``spec.containers[0].image``; the root is ``<nil>`` as a nil field.Path prints."""
    if not path:
        return "<nil>"
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _go_field_path(path) -> str:
    return ".".join(p for p in path if isinstance(p, str))


def json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _is_type(v: Any, t: str) -> bool:
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "integer":
        return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "null":
        return v is None
    return True


@dataclass(frozen=True)
class MapKey:
    """A step into a ``x-kubernetes-list-type: map`` list, by key values rather than by index."""
    keys: dict

    def __hash__(self) -> int:
        return hash(json.dumps(self.keys, sort_keys=True))


@dataclass
class RuleSite:
    """A value whose schema carries ``x-kubernetes-validations`` (CEL rules)."""
    path: tuple
    corr: tuple | None
    value: Any
    rules: list


@dataclass
class Walk:
    """Options and results of one walk; see the module docstring for the two modes."""
    resolve: Callable[[str], dict] | None = None
    builtin: bool = False
    prune: bool = True
    defaults: bool = True
    report_unknown: bool = True
    object_meta: dict | None = None  # schema used for ``metadata`` of a root or embedded resource
    root_kind: str = ""
    root_version: str = ""
    collect_rules: bool = False  # gather x-kubernetes-validations sites for .cel
    errors: list = field(default_factory=list)
    rules: list = field(default_factory=list)
    unknown: list = field(default_factory=list)
    decode_error: str | None = None

    # -- entry point -------------------------------------------------------------------------------
    def run(self, value: Any, schema: dict, path: tuple = ()) -> Any:
        return self._walk(value, schema, path, embedded_root=not path, corr=path)

    # -- helpers -----------------------------------------------------------------------------------
    def _deref(self, schema: dict) -> tuple[dict, str | None]:
        ref_name = None
        while "$ref" in schema:
            ref_name = schema["$ref"].rsplit("/", 1)[-1]
            schema = self.resolve(ref_name)
        return schema, ref_name

    def _sub(self) -> "Walk":
        return Walk(resolve=self.resolve, builtin=self.builtin, prune=False, defaults=False, report_unknown=False,
                    object_meta=self.object_meta, root_kind=self.root_kind, root_version=self.root_version)

    def _error(self, kind: str, path, value: Any = _NO_VALUE, detail: str = "") -> None:
        self.errors.append(FieldError(kind, format_path(path), value, detail))

    def _type_error(self, path, value, expected: str, parent_ref: str | None, schema: dict) -> None:
        actual = json_type(value)
        if self.builtin:
            if self.decode_error is None:
                go_actual = {"integer": "number", "boolean": "bool"}.get(actual, actual)
                struct = parent_ref.rsplit(".", 1)[-1] if parent_ref else self.root_kind
                self.decode_error = (f'{self.root_kind} in version "{self.root_version}" cannot be handled as a '
                                     f"{self.root_kind}: json: cannot unmarshal {go_actual} into Go struct field "
                                     f"{struct}.{_go_field_path(path)} of type {self._go_type(schema)}")
            return
        p = format_path(path)
        self._error("FieldValueTypeInvalid", path, actual, f'{p} in body must be of type {expected}: "{actual}"')

    def _go_type(self, schema: dict) -> str:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            parts = name.split(".")
            return f"{parts[-2]}.{parts[-1]}"
        types = schema.get("type")
        t = [x for x in types if x != "null"][0] if isinstance(types, list) else types
        if t == "integer":
            return schema.get("format", "int64")
        if t == "number":
            return "float64"
        if t == "boolean":
            return "bool"
        if t == "array":
            return "[]" + self._go_type(schema.get("items", {}))
        if t == "object":
            return "map[string]" + self._go_type(schema.get("additionalProperties") or {"type": "string"})
        return t or "interface {}"

    # -- the walk ----------------------------------------------------------------------------------
    def _walk(self, value: Any, schema: dict, path: tuple, parent_ref: str | None = None,
              embedded_root: bool = False, corr: tuple | None = None) -> Any:
        """``corr`` locates the same value in the old object (None: not correlatable, as in atomic lists)."""
        raw_schema = schema
        schema, ref = self._deref(schema)
        if value is None:
            if self.builtin or schema.get("nullable"):
                return None
            types = schema.get("type")
            if isinstance(types, list) and "null" in types:
                return None
        if schema.get("x-kubernetes-int-or-string"):
            if not (_is_type(value, "integer") or _is_type(value, "string")):
                self._type_error(path, value, "integer,string", parent_ref, raw_schema)
            return value
        types = schema.get("type")
        if types:
            wanted = [t for t in (types if isinstance(types, list) else [types]) if t != "null"]
            if wanted and not any(_is_type(value, t) for t in wanted):
                self._type_error(path, value, ",".join(wanted), parent_ref, raw_schema)
                return value
        if not self.builtin:
            self._check_value(value, schema, path)
        if self.collect_rules and schema.get("x-kubernetes-validations"):
            self.rules.append(RuleSite(path, corr, value, schema["x-kubernetes-validations"]))
        for keyword in ("allOf", "anyOf", "oneOf", "not"):
            if keyword in schema:
                self._check_composition(keyword, value, schema[keyword], path)
        if isinstance(value, dict):
            embedded = embedded_root or schema.get("x-kubernetes-embedded-resource", False)
            return self._walk_object(value, schema, path, ref or parent_ref, embedded, corr)
        if isinstance(value, list):
            return self._walk_list(value, schema, path, parent_ref, corr)
        return value

    def _walk_object(self, value: dict, schema: dict, path: tuple, struct_ref: str | None, embedded: bool,
                     corr: tuple | None) -> dict:
        props = schema.get("properties") or {}
        addl = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        free_form = self.builtin and not props and addl is None
        out: dict = {}
        for key, child in value.items():
            cpath = path + (key,)
            ccorr = corr + (key,) if corr is not None else None
            if embedded and key == "metadata" and self.object_meta is not None:
                out[key] = self._walk(child, self.object_meta, cpath, struct_ref, corr=ccorr)
            elif key in props:
                out[key] = self._walk(child, props[key], cpath, struct_ref, corr=ccorr)
            elif isinstance(addl, dict):
                out[key] = self._walk(child, addl, cpath, struct_ref, corr=ccorr)
            elif addl is True or free_form or preserve or (embedded and key in ("apiVersion", "kind")):
                out[key] = child
            else:
                if self.report_unknown:
                    self.unknown.append(format_path(cpath))
                if not self.prune:
                    out[key] = child
        if self.defaults and not self.builtin:
            for key, sub in props.items():
                sub = self._deref(sub)[0]
                if key not in out and "default" in sub:
                    out[key] = copy.deepcopy(sub["default"])
        for key in schema.get("required") or ():
            if key not in out:
                self._error("FieldValueRequired", path + (key,), detail="")
        return out

    def _walk_list(self, value: list, schema: dict, path: tuple, parent_ref, corr: tuple | None) -> list:
        items = schema.get("items")
        map_keys = schema.get("x-kubernetes-list-map-keys") if schema.get("x-kubernetes-list-type") == "map" else None
        out = []
        for i, v in enumerate(value):
            ccorr = None
            if corr is not None and map_keys and isinstance(v, dict):
                ccorr = corr + (MapKey({k: v.get(k) for k in map_keys}),)
            out.append(self._walk(v, items, path + (i,), parent_ref, corr=ccorr) if isinstance(items, dict) else v)
        if not self.builtin:
            self._check_list_type(out, schema, path)
        return out

    # -- value validations (kube-openapi messages) -------------------------------------------------
    def _check_value(self, value: Any, s: dict, path: tuple) -> None:
        p = format_path(path)
        if "enum" in s and value not in s["enum"]:
            allowed = ", ".join(go_value(v) for v in s["enum"])
            self._error("FieldValueNotSupported", path, value, f"supported values: {allowed}")
        if isinstance(value, str):
            if "maxLength" in s and len(value) > s["maxLength"]:
                self._error("FieldValueTooLong", path, value, f"may not be more than {s['maxLength']} bytes")
            if "minLength" in s and len(value) < s["minLength"]:
                self._error("FieldValueInvalid", path, value,
                            f"{p} in body should be at least {s['minLength']} chars long")
            if "pattern" in s and not re.search(s["pattern"], value):
                self._error("FieldValueInvalid", path, value, f"{p} in body should match '{s['pattern']}'")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            lo, hi = s.get("minimum"), s.get("maximum")
            if lo is not None:
                if s.get("exclusiveMinimum") is True and value <= lo:
                    self._error("FieldValueInvalid", path, value, f"{p} in body should be greater than {number(lo)}")
                elif value < lo:
                    self._error("FieldValueInvalid", path, value,
                                f"{p} in body should be greater than or equal to {number(lo)}")
            if hi is not None:
                if s.get("exclusiveMaximum") is True and value >= hi:
                    self._error("FieldValueInvalid", path, value, f"{p} in body should be less than {number(hi)}")
                elif value > hi:
                    self._error("FieldValueInvalid", path, value,
                                f"{p} in body should be less than or equal to {number(hi)}")
            if s.get("multipleOf") and value % s["multipleOf"]:
                self._error("FieldValueInvalid", path, value,
                            f"{p} in body should be a multiple of {number(s['multipleOf'])}")
        elif isinstance(value, list):
            if "maxItems" in s and len(value) > s["maxItems"]:
                self._error("FieldValueTooMany", path, len(value), f"must have at most {s['maxItems']} items")
            if "minItems" in s and len(value) < s["minItems"]:
                self._error("FieldValueInvalid", path, value,
                            f"{p} in body should have at least {s['minItems']} items")
        elif isinstance(value, dict):
            if "maxProperties" in s and len(value) > s["maxProperties"]:
                self._error("FieldValueTooMany", path, len(value), f"must have at most {s['maxProperties']} items")
            if "minProperties" in s and len(value) < s["minProperties"]:
                self._error("FieldValueInvalid", path, value,
                            f"{p} in body should have at least {s['minProperties']} properties")

    def _check_list_type(self, value: list, s: dict, path: tuple) -> None:
        kind = s.get("x-kubernetes-list-type")
        if kind == "set":
            seen = []
            for i, v in enumerate(value):
                if v in seen:
                    self._error("FieldValueDuplicate", path + (i,), v)
                seen.append(v)
        elif kind == "map":
            keys = s.get("x-kubernetes-list-map-keys") or []
            seen = set()
            for i, v in enumerate(value):
                if isinstance(v, dict):
                    k = tuple(json.dumps(v.get(key)) for key in keys)
                    if k in seen:
                        self._error("FieldValueDuplicate", path + (i,), {key: v.get(key) for key in keys if key in v})
                    seen.add(k)

    def _check_composition(self, keyword: str, value: Any, sub: Any, path: tuple) -> None:
        branches = sub if isinstance(sub, list) else [sub]
        results = []
        for branch in branches:
            w = self._sub()
            w._walk(value, branch, path)
            results.append(w.errors + ([w.decode_error] if w.decode_error else []))
        passed = sum(1 for r in results if not r)
        p = format_path(path)
        if keyword == "allOf":
            for r in results:
                if self.builtin and r:
                    self.decode_error = self.decode_error or str(r[0])
                self.errors.extend(e for e in r if isinstance(e, FieldError))
        elif keyword == "anyOf" and passed == 0:
            self._composite_error(path, f"{p} in body must validate at least one schema (anyOf)", results)
        elif keyword == "oneOf" and passed != 1:
            self._composite_error(path, f"{p} in body must validate one and only one schema (oneOf)",
                                  results if passed == 0 else [])
        elif keyword == "not" and passed == 1:
            self._error("FieldValueInvalid", path, None, f"{p} in body should not validate the schema (not)")

    def _composite_error(self, path, message: str, results: list) -> None:
        if self.builtin:
            self.decode_error = self.decode_error or (
                f'{self.root_kind} in version "{self.root_version}" cannot be handled as a {self.root_kind}: '
                f"json: cannot unmarshal value into Go struct field {_go_field_path(path)}")
            return
        self._error("FieldValueInvalid", path, None, message)
        if results:
            best = min(results, key=len)
            self.errors.extend(e for e in best if isinstance(e, FieldError))
