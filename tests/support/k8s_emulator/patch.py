"""The four PATCH flavours an apiserver accepts, applied to plain JSON documents.

* RFC 6902 JSON patch (``application/json-patch+json``),
* RFC 7386 merge patch (``application/merge-patch+json``),
* strategic merge patch (``application/strategic-merge-patch+json``, built-in kinds only): lists are
  merged by the ``x-kubernetes-patch-merge-key`` the schema declares (containers and env by name,
  ports by containerPort...), with the ``$patch``, ``$retainKeys``, ``$deleteFromPrimitiveList`` and
  ``$setElementOrder`` directives,
* server-side apply (``application/apply-patch+yaml``) approximated as a merge that joins lists by
  their schema keys (``x-kubernetes-list-type: map``); field ownership is not tracked.

Functions never mutate their inputs. Failures raise :class:`PatchError` with the HTTP code to send.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Callable


class PatchError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# -- RFC 6902 --------------------------------------------------------------------------------------

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(400, f'json patch path "{path}" must start with "/"')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str], op: str, path: str) -> Any:
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": missing value')
    return cur


def _get(doc: Any, path: str, op: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts, op, path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": missing value')


def _add(doc: Any, path: str, value: Any, op: str = "add") -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts, op, path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": missing value')
    else:
        raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": missing value')
    return doc


def _remove(doc: Any, path: str, op: str = "remove") -> Any:
    parts = _pointer(path)
    parent = _parent(doc, parts, op, path)
    last = parts[-1] if parts else ""
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise PatchError(422, f'{op} operation does not apply: doc is missing path: "{path}": missing value')


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list) or not all(isinstance(o, dict) for o in ops):
        raise PatchError(400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for o in ops:
        op, path = o.get("op"), o.get("path")
        if not isinstance(path, str):
            raise PatchError(400, f"Unable to decode patch operation: missing path in {json.dumps(o)}")
        if op == "add":
            doc = _add(doc, path, copy.deepcopy(o.get("value")))
        elif op == "remove":
            _remove(doc, path)
        elif op == "replace":
            _get(doc, path, "replace")
            if _pointer(path):
                _remove(doc, path, "replace")
            doc = _add(doc, path, copy.deepcopy(o.get("value")), "replace")
        elif op == "move":
            value = _remove(doc, o.get("from", ""), "move")
            doc = _add(doc, path, value, "move")
        elif op == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, o.get("from", ""), "copy")), "copy")
        elif op == "test":
            if _get(doc, path, "test") != o.get("value"):
                raise PatchError(422, f"testing value {path} failed: test failed")
        else:
            raise PatchError(400, f"Unexpected kind: {op}")
    return doc


# -- RFC 7386 --------------------------------------------------------------------------------------

def merge_patch(doc: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- strategic merge and apply ---------------------------------------------------------------------

class SchemaNav:
    """Where lists merge and by which key, read from a schema.

    ``strategic``: built-in ``x-kubernetes-patch-strategy``/``-merge-key``; otherwise (apply) the
    ``x-kubernetes-list-type``/``-list-map-keys`` a CRD schema declares.
    """

    def __init__(self, resolve: Callable[[str], dict] | None, strategic: bool = True):
        self.resolve = resolve
        self.strategic = strategic

    def deref(self, s: dict | None) -> dict | None:
        while s is not None and "$ref" in s:
            s = self.resolve(s["$ref"].rsplit("/", 1)[-1])
        return s

    def child(self, s: dict | None, key: str) -> dict | None:
        s = self.deref(s)
        if not s:
            return None
        props = s.get("properties") or {}
        if key in props:
            return props[key]
        addl = s.get("additionalProperties")
        return addl if isinstance(addl, dict) else None

    def items(self, s: dict | None) -> dict | None:
        s = self.deref(s)
        return s.get("items") if s else None

    def list_merge(self, s: dict | None) -> tuple[bool, str | None]:
        """(merge?, merge key) for a list-valued field."""
        if not s:
            return False, None
        if self.strategic:
            strategy = (s.get("x-kubernetes-patch-strategy") or "").split(",")
            return "merge" in strategy, s.get("x-kubernetes-patch-merge-key")
        kind = s.get("x-kubernetes-list-type")
        if kind == "map":
            return True, (s.get("x-kubernetes-list-map-keys") or [None])[0]
        return kind == "set", None


def _strip(value: Any) -> Any:
    """Drop patch directives from a value that is being set wholesale."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(v) for v in value if not (isinstance(v, dict) and "$patch" in v)]
    return value


def strategic_merge(doc: dict, patch: Any, nav: SchemaNav, schema: dict | None) -> dict:
    if not isinstance(patch, dict):
        raise PatchError(400, f"json: cannot unmarshal {_json_kind(patch)} into Go value of type "
                              "map[string]interface {}")
    return _merge_map(copy.deepcopy(doc), patch, nav, schema)


def _json_kind(v: Any) -> str:
    return {list: "array", str: "string", bool: "bool", type(None): "null"}.get(type(v), "number")


def _merge_map(orig: dict, patch: dict, nav: SchemaNav, schema: dict | None) -> dict:
    patch = dict(patch)
    directive = patch.pop("$patch", None)
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise PatchError(400, f"Unknown patch type: {directive}")
    retain = patch.pop("$retainKeys", None)
    orders = {}
    for k in [k for k in patch if k.startswith("$")]:
        field = k.split("/", 1)[1] if "/" in k else None
        value = patch.pop(k)
        if k.startswith("$deleteFromPrimitiveList/") and isinstance(orig.get(field), list):
            orig[field] = [x for x in orig[field] if x not in value]
        elif k.startswith("$setElementOrder/"):
            orders[field] = value
    for key, pv in patch.items():
        child = nav.child(schema, key)
        ov = orig.get(key)
        if pv is None:
            orig.pop(key, None)
        elif isinstance(pv, dict):
            if pv.get("$patch") == "delete":
                orig.pop(key, None)
            else:
                orig[key] = _merge_map(ov if isinstance(ov, dict) else {}, pv, nav, child)
        elif isinstance(pv, list):
            merge, merge_key = nav.list_merge(child)
            if merge:
                orig[key] = _merge_list(ov if isinstance(ov, list) else [], pv, nav, nav.items(child), merge_key)
            else:
                orig[key] = _strip(pv)
        else:
            orig[key] = pv
    if retain is not None:
        orig = {k: v for k, v in orig.items() if k in retain}
    for field, order in orders.items():
        if isinstance(orig.get(field), list):
            orig[field] = _apply_order(orig[field], order, nav.list_merge(nav.child(schema, field))[1])
    return orig


def _merge_list(orig: list, patch: list, nav: SchemaNav, item_schema: dict | None, key: str | None) -> list:
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return _strip(patch)
    out = [copy.deepcopy(x) for x in orig]
    for item in patch:
        if key is None or not isinstance(item, dict):
            if item not in out:
                out.append(_strip(item))
            continue
        matches = [i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == item.get(key)]
        if item.get("$patch") == "delete":
            out = [o for i, o in enumerate(out) if i not in matches]
        elif matches:
            out[matches[0]] = _merge_map(out[matches[0]], item, nav, item_schema)
        else:
            out.append(_merge_map({}, item, nav, item_schema))
    return out


def _apply_order(items: list, order: list, key: str | None) -> list:
    def ident(x):
        return x.get(key) if key and isinstance(x, dict) else json.dumps(x, sort_keys=True)
    wanted = [ident(o) for o in order]
    ranked = sorted(enumerate(items), key=lambda p: (wanted.index(ident(p[1])) if ident(p[1]) in wanted
                                                      else len(wanted) + p[0]))
    return [x for _, x in ranked]


def apply_merge(live: dict, applied: dict, nav: SchemaNav, schema: dict | None) -> dict:
    """Server-side apply, approximated: merge ``applied`` into ``live``, lists joined by schema keys."""
    return _merge_map(copy.deepcopy(live), _strip(applied), nav, schema)
