"""Read-only views of a version on this machine: real folders whose files are symlinks to the stored objects.

Nothing is copied; the objects are 0400, so a job reads them and cannot write through them. A view is
built in a hidden folder beside its place and renamed in, so it appears whole. Each version's view is
built once under the store (its folders 0500: nothing can be added) and a job's mount point is one link
to it, so mounting takes the same time for ten files or a million.
"""
from __future__ import annotations

import os
from pathlib import Path

from jupyter_kf import config
from jupyter_kf.datasets.errors import DatasetNotFound
from jupyter_kf.datasets.store import LocalStore, Manifest, remove_view, seal


def make_view(store: LocalStore, manifest: Manifest, place: Path, sealed: bool = False) -> Path:
    """The files of ``manifest`` at ``place`` (a folder that must not exist yet), as symlinks to the objects;
    ``sealed``: its folders made 0500 once built."""
    if place.exists() or place.is_symlink():
        raise FileExistsError(f"{place} exists already: a dataset view needs a folder of its own")
    _private_dirs(place.parent)
    building = place.with_name(f".{place.name}.kf-view{os.getpid()}")
    remove_view(building)
    try:
        for rel, (digest, _) in manifest.files.items():
            try:
                obj = store.local_object(digest)
            except FileNotFoundError:
                raise DatasetNotFound(f"{manifest.name}@{manifest.version} is damaged: object sha256:{digest[:12]} is "
                                      "missing; put the data again to repair it") from None
            link = building / rel
            _private_dirs(link.parent)
            os.symlink(obj, link)
        config.private_dir(building)
        if sealed:
            seal(building, 0o500)
        os.rename(building, place)
    finally:
        remove_view(building)
    return place


def mount_view(store: LocalStore, manifest: Manifest, place: Path) -> Path:
    """``place`` (which must not exist) as a link to the version's view: constant time, nothing copied."""
    if place.exists() or place.is_symlink():
        raise FileExistsError(f"{place} exists already: a dataset view needs a folder of its own")
    _private_dirs(place.parent)
    os.symlink(view_of(store, manifest), place, target_is_directory=True)
    return place



def view_of(store: LocalStore, manifest: Manifest) -> Path:
    """A view kept under the store for ``kf.data.load`` (built once per version)."""
    place = store.root / "views" / manifest.name / str(manifest.version)
    if place.is_dir():
        return place
    store.folder(place.parent)
    try:
        return make_view(store, manifest, place, sealed=True)
    except FileExistsError:  # another kernel built it meanwhile
        return place


def _private_dirs(path: Path) -> None:
    """``path`` and each missing folder above it made 0700 (``os.makedirs`` leaves the parents to the umask)."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        config.private_dir(folder)
