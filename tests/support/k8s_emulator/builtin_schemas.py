"""Schemas of the built-in kinds, taken from kubernetes-validate's offline copy of the apiserver OpenAPI.

One 1.8 MB ``_definitions.json`` holds every definition with its ``x-kubernetes-group-version-kind``
and the strategic-merge annotations (``x-kubernetes-patch-merge-key``/``-strategy``), so it serves
validation, pruning and strategic merge patch alike. Loaded once per process and shared.
"""
from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path

_lock = threading.Lock()
_defs: dict | None = None
_by_gvk: dict | None = None
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def schema_dir() -> Path:
    # Located without importing kubernetes_validate: its import (jsonschema, referencing) costs ~1 s.
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("kubernetes-validate is not installed; the emulator needs its schemas")
    root = Path(list(spec.submodule_search_locations)[0]) / "kubernetes-json-schema"
    versions = sorted((p for p in root.iterdir() if p.name.startswith("v") and p.name.endswith("-local")),
                      key=lambda p: tuple(int(x) for x in p.name[1:].split("-")[0].split(".")))
    return versions[-1]


def schema_version() -> str:
    """``1.37`` for ``v1.37.0-local``: the Kubernetes version the schemas describe."""
    return ".".join(schema_dir().name[1:].split("-")[0].split(".")[:2])


def definitions() -> dict:
    global _defs, _by_gvk
    with _lock:
        if _defs is None:
            data = json.loads((schema_dir() / "_definitions.json").read_text())
            defs = data.get("$defs") or data.get("definitions")
            index = {}
            for name, d in defs.items():
                for gvk in d.get("x-kubernetes-group-version-kind") or ():
                    index.setdefault((gvk.get("group", ""), gvk["version"], gvk["kind"]), name)
            _defs, _by_gvk = defs, index
    return _defs


def resolve(name: str) -> dict:
    return definitions()[name]


def root_schema(group: str, version: str, kind: str) -> dict | None:
    """``{"$ref": ...}`` for a top-level kind, or None when the schemas do not know it."""
    definitions()
    name = _by_gvk.get((group, version, kind))
    return {"$ref": f"#/$defs/{name}"} if name else None


def object_meta() -> dict:
    return {"$ref": f"#/$defs/{OBJECT_META}"}

