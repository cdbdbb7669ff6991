"""Loading CustomResourceDefinitions from the project's real YAML files and turning them into resources.

The CRDs under ``<repo>/../shared/crds`` are the upstream files, unmodified. Where a directory has a
``kustomization.yaml`` (kubeflow/notebooks), its ``resources`` and ``patchesJson6902`` are honoured the
way ``kustomize build`` would, so the Notebook CRD gets its validation patch (containers need an
image). Parsed files are cached per process: the KServe CRD alone is 2 MB of YAML.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import yaml

from tests.support.k8s_emulator.patch import json_patch
from tests.support.k8s_emulator.resources import Resource, version_priority
from tests.support.k8s_emulator.schema import FieldError

CRDS_ENV = "JUPYTER_KF_CRDS_DIR"
_cache: dict = {}
_lock = threading.Lock()
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def default_crds_dir() -> Path:
    """``$JUPYTER_KF_CRDS_DIR``, else ``<repo>/../shared/crds``."""
    if os.environ.get(CRDS_ENV):
        return Path(os.environ[CRDS_ENV])
    repo = Path(__file__).resolve().parents[3]
    return repo.parent / "shared" / "crds"


def load_documents(path: Path) -> list:
    path = Path(path)
    key = (str(path.resolve()), path.stat().st_mtime)
    with _lock:
        if key not in _cache:
            with open(path) as f:
                _cache[key] = [d for d in yaml.load_all(f, Loader=_Loader) if d is not None]
        return _cache[key]


def _locate(base: Path, rel: str) -> Path | None:
    """A kustomization path, or the file of that name next to it (the shared copy is flattened)."""
    for candidate in (base / rel, base / Path(rel).name):
        if candidate.is_file():
            return candidate
    return None


def load_crd_dir(directory: Path) -> list[dict]:
    """The CRDs a directory defines, with its kustomize JSON 6902 patches applied."""
    directory = Path(directory)
    key = ("dir", str(directory.resolve()))
    with _lock:
        if key in _cache:
            return _cache[key]
    kustomization = directory / "kustomization.yaml"
    patches: list = []
    if kustomization.is_file():
        spec = load_documents(kustomization)[0]
        files = [p for p in (_locate(directory, r) for r in spec.get("resources") or []) if p]
        patches = list(spec.get("patchesJson6902") or []) + [p for p in spec.get("patches") or []
                                                             if isinstance(p, dict) and "target" in p and "path" in p]
    else:
        files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    crds = [d for f in files for d in load_documents(f) if isinstance(d, dict)
            and d.get("kind") == "CustomResourceDefinition"]
    for patch in patches:
        target, path = patch["target"], _locate(directory, patch["path"])
        if path is None:
            continue
        ops = load_documents(path)[0]
        crds = [json_patch(c, ops) if c["metadata"]["name"] == target.get("name") else c for c in crds]
    with _lock:
        _cache[key] = crds
    return crds


def select_crd_dirs(selection, root: Path | None = None) -> list[Path]:
    """``"all"``, ``"none"``, or names/prefixes of sub-directories (``"trainer,kserve"``)."""
    root = Path(root or default_crds_dir())
    if selection in (None, "none", "", []):
        return []
    if not root.is_dir():
        raise FileNotFoundError(f"CRD folder {root} not found: set ${CRDS_ENV} to the shared/crds directory")
    dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if selection == "all":
        return dirs
    names = selection.split(",") if isinstance(selection, str) else list(selection)
    chosen = []
    for name in (n.strip() for n in names if n.strip()):
        match = [d for d in dirs if d.name == name] or [d for d in dirs if d.name.startswith(name)]
        if not match:
            raise ValueError(f"no CRD directory {name!r} under {root} (have: {', '.join(d.name for d in dirs)})")
        chosen += [d for d in match if d not in chosen]
    return chosen


def load_crd_source(source) -> list[dict]:
    """A CRD dict, a YAML file, or a directory (kustomization honoured)."""
    if isinstance(source, dict):
        return [source]
    path = Path(source)
    if path.is_dir():
        return load_crd_dir(path)
    return [d for d in load_documents(path) if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]


def validate_crd(crd: dict) -> list[FieldError]:
    """The structural checks that make an install fail fast, as apiextensions validation would."""
    errs = []
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    for field, value in (("spec.group", spec.get("group")), ("spec.names.plural", names.get("plural")),
                         ("spec.names.kind", names.get("kind")), ("spec.scope", spec.get("scope"))):
        if not value:
            errs.append(FieldError("FieldValueRequired", field))
    if spec.get("scope") and spec["scope"] not in ("Namespaced", "Cluster"):
        errs.append(FieldError("FieldValueNotSupported", "spec.scope", spec["scope"],
                               'supported values: "Cluster", "Namespaced"'))
    versions = spec.get("versions") or []
    if not versions:
        errs.append(FieldError("FieldValueRequired", "spec.versions",
                               detail="must have exactly one version marked as storage version"))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        errs.append(FieldError("FieldValueInvalid", "spec.versions", versions and [v.get("name") for v in versions],
                               "must have exactly one version marked as storage version"))
    name = (crd.get("metadata") or {}).get("name", "")
    if names.get("plural") and spec.get("group") and name != f"{names['plural']}.{spec['group']}":
        errs.append(FieldError("FieldValueInvalid", "metadata.name", name,
                               'must be spec.names.plural+"."+spec.group'))
    return errs


def crd_resources(crd: dict) -> list[Resource]:
    spec = crd["spec"]
    names = spec["names"]
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    out = []
    for v in spec["versions"]:
        if not v.get("served", True):
            continue
        subresources = tuple(k for k in ("status", "scale") if k in (v.get("subresources") or {}))
        out.append(Resource(
            spec["group"], v["name"], names["plural"], names["kind"], spec["scope"] == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=subresources, has_generation=True, return_deleted=True,
            allow_unconditional_update=False, crd_name=crd["metadata"]["name"],
            schema=(v.get("schema") or {}).get("openAPIV3Schema") or {"type": "object",
                                                                     "x-kubernetes-preserve-unknown-fields": True},
            selectable_fields=tuple(f["jsonPath"].lstrip(".") for f in v.get("selectableFields") or ()),
            storage_version=storage, printer_columns=tuple(v.get("additionalPrinterColumns") or ()),
            deprecation_warning=_deprecation(spec, names, v), scale=(v.get("subresources") or {}).get("scale")))
    return out


def _deprecation(spec: dict, names: dict, version: dict) -> str | None:
    """The Warning a deprecated version's requests get: its own text, else apiextensions' default."""
    if not version.get("deprecated"):
        return None
    if version.get("deprecationWarning"):
        return version["deprecationWarning"]
    message = f"{spec['group']}/{version['name']} {names['kind']} is deprecated"
    newer = [v["name"] for v in spec["versions"] if v.get("served", True) and not v.get("deprecated")
             and version_priority(v["name"]) > version_priority(version["name"])]
    if newer:
        message += f"; use {spec['group']}/{max(newer, key=version_priority)} {names['kind']}"
    return message


def established_status(crd: dict) -> dict:
    """What the apiextensions controllers write once names are accepted."""
    spec = crd["spec"]
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    from tests.support.k8s_emulator.meta import rfc3339
    now = rfc3339()
    return {
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
        "storedVersions": [storage],
    }
