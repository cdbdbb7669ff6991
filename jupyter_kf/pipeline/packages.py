"""The distributions a step's imports need, pinned to the converting kernel's versions (``--install-packages``).

Kale installs what a step imports into its container; a step here does the same when asked (or when
its image is a bare ``python`` image, which has nothing else): each third-party module is mapped to
the distribution that provides it in this Python and pinned to its version, so the step runs with what
the notebook ran with. kfp and jupyter_kf are never installed: a step needs neither.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

# modules whose distribution has another name, for when it is not installed here (then unpinned)
_KNOWN = {"sklearn": "scikit-learn", "cv2": "opencv-python-headless", "PIL": "Pillow", "yaml": "PyYAML",
          "skimage": "scikit-image", "bs4": "beautifulsoup4", "dateutil": "python-dateutil", "attr": "attrs",
          "google.protobuf": "protobuf", "tf_keras": "tf-keras"}
_NEVER = {"kfp", "kfp-pipeline-spec", "kfp-server-api", "kfp-kubernetes", "jupyter-kf", "jupyter_kf"}


@functools.lru_cache(maxsize=1)
def _distributions() -> dict:
    """module -> [distribution] for this Python (importlib.metadata walks every installed package once)."""
    from importlib import metadata

    return metadata.packages_distributions()


@functools.lru_cache(maxsize=256)
def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def requirements(modules, beside: str = "") -> tuple[dict, list]:
    """({module: "dist==version"}, [modules no distribution here provides]) for a step's top-level imports.

    Modules of the standard library, and those found beside the notebook (its own helper files), need nothing.
    """
    folder = Path(beside).resolve().parent if beside else None
    found, unknown = {}, []
    for module in sorted(set(modules)):
        if module in sys.stdlib_module_names or module == "__future__" or _local(module, folder):
            continue
        name = _distribution(module)
        if module in ("jupyter_kf", "kfp") or (name and _canonical(name) in _NEVER):
            continue
        if name:
            version = _version(name)
            # a local version label (torch 2.5.1+cpu) names a build PyPI does not have
            found[module] = f"{name}=={version.split('+')[0]}" if version else name
        elif module in _KNOWN:
            found[module] = _KNOWN[module]
        else:
            unknown.append(module)
    return found, unknown


def _distribution(module: str) -> str | None:
    """The installed distribution providing ``module``: by its own or its usual name first (one lookup each),
    the scan of every installed package only when neither is installed (xgboost from xgboost-cpu)."""
    for candidate in (module, _KNOWN.get(module)):
        if candidate and _version(candidate):
            return candidate
    names = _distributions().get(module) or []
    return names[0] if names else None


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _local(module: str, folder: Path | None) -> bool:
    return bool(folder) and ((folder / f"{module}.py").is_file() or (folder / module / "__init__.py").is_file())
