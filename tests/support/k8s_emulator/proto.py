"""Reading Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``) into JSON objects.

kubectl's typed commands (``create namespace/configmap/secret/job/deployment``, ``auth can-i``) build
clientsets with protobuf as their content type; client-go falls back to JSON after a 415 only for CBOR,
so a server that cannot read protobuf breaks them. The body is the ``k8s\\x00`` magic followed by a
``runtime.Unknown`` envelope (typeMeta, raw); ``raw`` is the object's message, decoded here with the
field numbers of ``proto_schema.json`` (see ``gen_proto_schema.py``). Answers stay JSON: kubectl
accepts ``application/json`` too.

Go's protobuf marshaller writes every non-pointer field, zero or not; its JSON marshaller leaves out
the ``omitempty`` ones. Which fields are pointers is not in the .proto files, so zero values are
dropped (defaulting then sees "unset", as after Go's decoding) except for the pointer fields where an
explicit zero, ``false`` or ``{}`` means something (``_EXPLICIT_ZERO``, ``_KEEP_EMPTY``).
"""
from __future__ import annotations

import base64
import json
import struct
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_PACKAGES = {"v1": "k8s.io.api.core.v1", "batch/v1": "k8s.io.api.batch.v1", "apps/v1": "k8s.io.api.apps.v1",
             "authorization.k8s.io/v1": "k8s.io.api.authorization.v1", "autoscaling/v1": "k8s.io.api.autoscaling.v1",
             "meta.k8s.io/v1": _META.rstrip(".")}
_EXPLICIT_ZERO = {"replicas", "automountServiceAccountToken", "suspend", "parallelism", "completions", "backoffLimit",
                  "activeDeadlineSeconds", "ttlSecondsAfterFinished", "terminationGracePeriodSeconds", "immutable",
                  "allowed", "denied", "runAsUser", "runAsGroup", "runAsNonRoot", "privileged", "optional",
                  "allowPrivilegeEscalation", "readOnlyRootFilesystem", "defaultMode", "enableServiceLinks",
                  "shareProcessNamespace", "hostUsers", "gracePeriodSeconds", "orphanDependents",
                  "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "startingDeadlineSeconds",
                  "revisionHistoryLimit", "progressDeadlineSeconds", "backoffLimitPerIndex", "maxFailedIndexes"}
_CORE = "k8s.io.api.core.v1."
# Go structs embedded without a JSON name (``json:",inline"``): a field of their own in protobuf, merged into
# the parent in JSON (Probe's handler, Volume's volumeSource, the selectors' LocalObjectReference...).
_INLINE = {(_CORE + "Probe", "handler"), (_CORE + "Volume", "volumeSource"),
           (_CORE + "EphemeralContainer", "ephemeralContainerCommon")} | {
    (_CORE + m, "localObjectReference") for m in ("ConfigMapEnvSource", "ConfigMapKeySelector", "ConfigMapProjection",
                                                  "ConfigMapVolumeSource", "SecretEnvSource", "SecretKeySelector",
                                                  "SecretProjection")}
# Empty messages Go writes for non-pointer structs are dropped too (defaulting then fills them, as it fills Go's
# zero structs); these pointer fields mean something when empty.
_KEEP_EMPTY = {"emptyDir", "selector", "labelSelector", "podSelector", "namespaceSelector"}
_VARINT_SCALARS = {"int32", "int64", "uint32", "uint64", "bool", "sint32", "sint64"}


class ProtobufError(ValueError):
    pass


@lru_cache(maxsize=1)
def _schema() -> dict:
    return json.loads(Path(__file__).with_name("proto_schema.json").read_text())


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("unexpected EOF in varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes):
    """(field number, wire type, value) for each field; value is an int or bytes."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        yield number, wire, value


def _scalar(typ: str, wire: int, value):
    if typ == "string":
        return value.decode("utf-8")
    if typ == "bytes":
        return base64.b64encode(value).decode()
    if typ == "bool":
        return bool(value)
    if typ in ("int32", "int64"):
        return value - (1 << 64) if value >= 1 << 63 else value
    if typ in ("sint32", "sint64"):
        return (value >> 1) ^ -(value & 1)
    if typ in ("double", "fixed64"):
        return struct.unpack("<d" if typ == "double" else "<Q", value)[0]
    if typ in ("float", "fixed32"):
        return struct.unpack("<f" if typ == "float" else "<I", value)[0]
    return value


def _value(typ: str, wire: int, value):
    if typ in _VARINT_SCALARS and wire == 2:  # packed repeated scalars
        out, pos = [], 0
        while pos < len(value):
            v, pos = _varint(value, pos)
            out.append(_scalar(typ, 0, v))
        return out
    if typ in _schema()["messages"]:
        return decode_message(typ, value)
    return _scalar(typ, wire, value)


def _special(name: str, raw: dict):
    """Types whose JSON form is not an object: Quantity, IntOrString, Time, raw JSON, Duration."""
    if name == "k8s.io.apimachinery.pkg.api.resource.Quantity":
        return raw.get("string", "")
    if name == "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
        return raw.get("strVal", "") if raw.get("type") == 1 else raw.get("intVal", 0)
    if name in (_META + "Time", _META + "MicroTime"):
        if not raw.get("seconds") and not raw.get("nanos"):
            return None
        t = datetime.fromtimestamp(raw.get("seconds", 0) + raw.get("nanos", 0) / 1e9, timezone.utc)
        if name.endswith("MicroTime"):
            return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    if name in (_META + "FieldsV1", "k8s.io.apimachinery.pkg.runtime.RawExtension"):
        text = base64.b64decode(raw.get("Raw") or raw.get("raw") or "")
        return json.loads(text) if text else None
    if name == _META + "Duration":
        return f"{raw.get('duration', 0) / 1e9:g}s"
    return raw


def decode_message(name: str, data: bytes):
    schema = _schema()
    fields = schema["messages"][name]
    raw: dict = {}
    for number, wire, value in _fields(data):
        spec = fields.get(str(number))
        if spec is None:
            continue  # a field newer than the schema: ignored, as an old server would
        field, label, typ = spec
        if label == "map":
            entry = {n: (w, v) for n, w, v in _fields(value)}
            key = entry[1][1].decode() if 1 in entry else ""
            val = _value(typ, *entry[2]) if 2 in entry else ("" if typ == "string" else None)
            raw.setdefault(field, {})[key] = val
        elif label == "repeated":
            decoded = _value(typ, wire, value)
            raw.setdefault(field, []).extend(decoded if isinstance(decoded, list) and typ in _VARINT_SCALARS
                                             else [decoded])
        else:
            raw[field] = _value(typ, wire, value)
    if name in schema["nullable"]:
        return raw.get("items", [])
    for field in [f for f in raw if (name, f) in _INLINE and isinstance(raw[f], dict)]:
        raw.update(raw.pop(field))
    special = _special(name, raw)
    if special is not raw:
        return special
    return {k: v for k, v in raw.items()
            if v is not None and v != "" and (k in _EXPLICIT_ZERO or (v is not False and v != 0))
            and (v != {} or k in _KEEP_EMPTY)}


def decode(body: bytes) -> dict:
    """A protobuf request body as the JSON object it stands for (apiVersion and kind from the envelope)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("provided object is not a protobuf message: missing magic prefix")
    envelope = {n: v for n, _, v in _fields(body[len(MAGIC):])}
    type_meta = {n: v.decode() for n, _, v in _fields(envelope.get(1, b""))}
    api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
    package = _PACKAGES.get(api_version)
    name = f"{package}.{kind}" if package else ""
    if name not in _schema()["messages"]:
        raise ProtobufError(f"no kind \"{kind}\" is registered for version \"{api_version}\" in scheme "
                            f"\"k8s.io/apimachinery/pkg/runtime/scheme.go:100\"")
    obj = decode_message(name, envelope.get(2, b""))
    return {"apiVersion": api_version, "kind": kind, **obj}
