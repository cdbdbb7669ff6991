"""``labelSelector`` and ``fieldSelector`` query parameters, parsed and matched as the apiserver does.

Label selectors: ``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key`` (and ``>``/``<``),
comma = AND. Field selectors: ``=``, ``==``, ``!=`` on the fields each registry exposes
(``metadata.name``/``metadata.namespace`` everywhere, ``status.phase`` for pods, ``involvedObject.*``
for events, a CRD's ``selectableFields``...); any other field is a 400, as on a real server.
"""
from __future__ import annotations

import re
from typing import Any

from tests.support.k8s_emulator.errors import bad_request
from tests.support.k8s_emulator.meta import DNS1123_SUBDOMAIN, LABEL_VALUE, QUALIFIED_NAME
from tests.support.k8s_emulator.resources import Resource

_KEY = r"[^\s!=<>(),]+"
_SET_RE = re.compile(rf"^(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_NOT_EXISTS_RE = re.compile(rf"^!\s*(?P<key>{_KEY})$")
_CMP_RE = re.compile(rf"^(?P<key>{_KEY})\s*(?P<op>==|=|!=|>|<)\s*(?P<value>[^\s!=<>(),]*)$")
_EXISTS_RE = re.compile(rf"^(?P<key>{_KEY})$")


def _split_top_level(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _check_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if (prefix and not DNS1123_SUBDOMAIN.match(prefix)) or not QUALIFIED_NAME.match(name) or len(name) > 63:
        raise bad_request(f'unable to parse requirement: key: Invalid value: "{key}": name part must consist of '
                          "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                          "character")


def _check_value(key: str, value: str) -> None:
    if len(value) > 63 or not LABEL_VALUE.match(value):
        raise bad_request(f'unable to parse requirement: values[0][{key}]: Invalid value: "{value}": a valid label '
                          "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
                          "start and end with an alphanumeric character")


class LabelSelector:
    def __init__(self, text: str | None):
        self.text = text or ""
        self.requirements: list[tuple[str, str, list[str]]] = []
        if not self.text.strip():
            return
        for raw in _split_top_level(self.text):
            req = raw.strip()
            if not req:
                raise bad_request("unable to parse requirement: found '', expected: identifier")
            self.requirements.append(self._parse(req))

    @staticmethod
    def _parse(req: str) -> tuple[str, str, list[str]]:
        if m := _SET_RE.match(req):
            values = [v.strip() for v in m["values"].split(",")]
            for v in values:
                _check_value(m["key"], v)
            _check_key(m["key"])
            return m["key"], m["op"], values
        if m := _NOT_EXISTS_RE.match(req):
            _check_key(m["key"])
            return m["key"], "!", []
        if m := _CMP_RE.match(req):
            _check_key(m["key"])
            op = "=" if m["op"] == "==" else m["op"]
            if op in (">", "<"):
                if not re.fullmatch(r"-?\d+", m["value"]):
                    raise bad_request("unable to parse requirement: for 'Gt', 'Lt' operators, the value must be "
                                      "an integer")
            else:
                _check_value(m["key"], m["value"])
            return m["key"], op, [m["value"]]
        if m := _EXISTS_RE.match(req):
            _check_key(m["key"])
            return m["key"], "exists", []
        raise bad_request(f"unable to parse requirement: found '{req}', expected: identifier")

    def matches(self, labels: dict | None) -> bool:
        labels = labels or {}
        for key, op, values in self.requirements:
            has, value = key in labels, labels.get(key)
            if op == "=" and value != values[0]:
                return False
            if op == "!=" and has and value == values[0]:
                return False
            if op == "in" and (not has or value not in values):
                return False
            if op == "notin" and has and value in values:
                return False
            if op == "exists" and not has:
                return False
            if op == "!" and has:
                return False
            if op in (">", "<"):
                try:
                    n = int(value)
                except (TypeError, ValueError):
                    return False
                if (op == ">" and not n > int(values[0])) or (op == "<" and not n < int(values[0])):
                    return False
        return True

    def __bool__(self) -> bool:
        return bool(self.requirements)


# Fields each built-in registry adds to metadata.name/metadata.namespace (pkg/registry/*/strategy.go).
_BUILTIN_FIELDS = {
    ("", "pods"): ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                   "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
    ("", "events"): ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                     "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                     "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"),
    ("", "namespaces"): ("status.phase",),
    ("", "secrets"): ("type",),
    ("", "nodes"): ("spec.unschedulable",),
    ("", "services"): ("spec.clusterIP", "spec.type"),
    ("", "persistentvolumeclaims"): ("status.phase",),
    ("batch", "jobs"): ("status.successful",),
    ("apps", "replicasets"): ("status.replicas",),
}
_SPECIAL_PATHS = {"source": "source.component"}
_DEFAULTS = {"spec.hostNetwork": "false", "spec.unschedulable": "false"}


def _field_value(obj: dict, field: str) -> str:
    cur: Any = obj
    for part in _SPECIAL_PATHS.get(field, field).split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if cur is None:
        return _DEFAULTS.get(field, "")
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


class FieldSelector:
    def __init__(self, text: str | None, resource: Resource):
        self.text = text or ""
        self.terms: list[tuple[str, str, str]] = []
        if not self.text.strip():
            return
        allowed = ("metadata.name", "metadata.namespace") + (
            resource.selectable_fields if resource.is_custom else _BUILTIN_FIELDS.get(resource.key, ()))
        for term in re.split(r"(?<!\\),", self.text):
            m = re.match(r"^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
            if not m:
                raise bad_request(f"invalid selector: '{self.text}'; can't understand '{term}'")
            field, op, value = m.group(1), m.group(2), _unescape(m.group(3))
            if field not in allowed:
                if resource.is_custom:
                    only = ", ".join(f'"{f}"' for f in allowed)
                    raise bad_request(f'"{field}" is not a known field selector: only {only}')
                raise bad_request(f"field label not supported: {field}")
            self.terms.append((field, "!=" if op == "!=" else "=", value))

    def matches(self, obj: dict) -> bool:
        for field, op, value in self.terms:
            actual = _field_value(obj, field)
            if (op == "=") != (actual == value):
                return False
        return True

    def __bool__(self) -> bool:
        return bool(self.terms)
