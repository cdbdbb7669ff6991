"""Regenerate ``proto_schema.json`` (field numbers of the built-in kinds' protobuf messages) from the
``generated.proto`` files of k8s.io/api and k8s.io/apimachinery.

kubectl's typed commands (``create namespace``, ``create job``, ``auth can-i``...) send protobuf bodies
and client-go never falls back to JSON for them (only for CBOR), so the emulator must read protobuf.
Field numbers are stable across releases; only the messages reachable from the kinds kubectl creates
are kept.

    python -m tests.support.k8s_emulator.gen_proto_schema API_CHECKOUT APIMACHINERY_CHECKOUT
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOTS = [
    "k8s.io.api.core.v1." + k for k in ("Namespace", "ConfigMap", "Secret", "Service", "ServiceAccount", "Pod",
                                         "PersistentVolumeClaim", "Event")
] + ["k8s.io.api.batch.v1.Job", "k8s.io.api.batch.v1.CronJob"] + [
    "k8s.io.api.apps.v1." + k for k in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet")
] + ["k8s.io.api.authorization.v1.SelfSubjectAccessReview", "k8s.io.api.authorization.v1.SelfSubjectRulesReview",
     "k8s.io.api.autoscaling.v1.Scale", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
     "k8s.io.apimachinery.pkg.runtime.Unknown"]
FILES = {"api": ["core/v1", "batch/v1", "apps/v1", "authorization/v1", "autoscaling/v1"],
         "apimachinery": ["pkg/apis/meta/v1", "pkg/api/resource", "pkg/util/intstr", "pkg/runtime"]}
_FIELD = re.compile(r"^\s*(optional|repeated)?\s*(map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)")


def parse(text: str) -> dict:
    package = re.search(r"^package ([\w.]+);", text, re.M).group(1)
    messages, stack, nullable, pending_nullable = {}, [], set(), False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("// +protobuf.nullable=true"):
            pending_nullable = True
        m = re.match(r"message (\w+) \{", stripped)
        if m:
            stack.append(m.group(1))
            full = f"{package}.{'.'.join(stack)}"
            messages[full] = {}
            if pending_nullable:
                nullable.add(full)
            pending_nullable = False
            continue
        if stripped == "}" and stack:
            stack.pop()
            continue
        m = _FIELD.match(line)
        if m and stack and not stripped.startswith("//"):
            label, typ, key, value, name, number = m.groups()
            full = f"{package}.{'.'.join(stack)}"
            if key:
                messages[full][number] = [name, "map", _qualify(value, package)]
            else:
                messages[full][number] = [name, "repeated" if label == "repeated" else "optional",
                                          _qualify(typ, package)]
    return {"messages": messages, "nullable": sorted(nullable)}


_SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float", "sint32",
            "sint64", "fixed32", "fixed64"}


def _qualify(typ: str, package: str) -> str:
    if typ in _SCALARS:
        return typ
    return typ[1:] if typ.startswith(".") else f"{package}.{typ}"


def main(api: str, apimachinery: str) -> None:
    messages, nullable = {}, set()
    for root, dirs in (("api", FILES["api"]), ("apimachinery", FILES["apimachinery"])):
        base = Path(api if root == "api" else apimachinery)
        for d in dirs:
            parsed = parse((base / d / "generated.proto").read_text())
            messages.update(parsed["messages"])
            nullable.update(parsed["nullable"])
    keep, todo = {}, list(ROOTS)
    while todo:
        name = todo.pop()
        if name in keep or name not in messages:
            continue
        keep[name] = messages[name]
        todo += [f[2] for f in messages[name].values() if f[2] not in _SCALARS]
    out = Path(__file__).with_name("proto_schema.json")
    out.write_text(json.dumps({"nullable": sorted(n for n in nullable if n in keep), "messages": keep},
                              sort_keys=True, separators=(",", ":")) + "\n")
    print(f"{len(keep)} messages -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
