"""Field-by-field comparison of a body we send with the one an official SDK or web app sends."""
from __future__ import annotations


def flatten(node, prefix: str = "") -> dict:
    """``{"a.b[0].c": value}`` for every leaf; an empty dict or list is a leaf of its own."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else key))
        return out or {prefix: {}}
    if isinstance(node, list):
        out = {}
        for i, value in enumerate(node):
            out.update(flatten(value, f"{prefix}[{i}]"))
        return out or {prefix: []}
    return {prefix: node}


def differences(theirs: dict, ours: dict) -> dict:
    """Each path whose value differs: ``{path: (theirs, ours)}``, a side without it holding a sentinel."""
    a, b = flatten(theirs), flatten(ours)
    missing = object()
    return {p: (a.get(p, missing), b.get(p, missing)) for p in sorted(set(a) | set(b))
            if a.get(p, missing) != b.get(p, missing)}
