"""``%kf_data``: argument parsing, one ``kf.data`` call, and what it returns shown. No logic of its own."""
from __future__ import annotations

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.magic_args import parse, where

USAGE = {
    "put": ("NAME PATH_OR_VARIABLE", "%kf_data put mnist ./data/mnist/"),
    "list": ("", "%kf_data list"),
    "show": ("NAME[@VERSION]", "%kf_data show mnist"),
    "get": ("NAME[@VERSION] FOLDER", "%kf_data get mnist@2 ./here"),
    "load": ("NAME[@VERSION]", "%kf_data load clean"),
    "delete": ("NAME[@VERSION] [--force]", "%kf_data delete mnist@1"),
}


@magics_class
class DataMagics(Magics):
    """Versioned datasets from the notebook; the same calls as ``kf.data``."""

    @magic_arguments()
    @argument("command", help="put, list, show, get, load or delete")
    @argument("args", nargs="*", help="put NAME PATH_OR_VARIABLE | show REF | get REF FOLDER | load REF | delete REF "
                                      "(REF: NAME, NAME@N or NAME@sha256:HASH; NAME alone is the latest)")
    @argument("--force", action="store_true", help="delete: even while a job still there read the version")
    @line_magic
    def kf_data(self, line):
        """Put a folder, file or variable as a new dataset version; list, show, get, load or delete versions."""
        from jupyter_kf.datasets import api

        args = parse(self.kf_data, line)
        command, rest = args.command, args.args
        if command not in USAGE:
            raise InvalidSpec(f"%kf_data {command!r} is not a command: use one of {', '.join(USAGE)}")
        form, example = USAGE[command]
        wanted = len(form.replace("[--force]", "").split())
        if len(rest) != wanted:
            raise InvalidSpec(f"%kf_data {command} takes {form or 'nothing more'}, e.g. {example}")
        from jupyter_kf.datasets.progress import TransferBar

        if command == "put":
            print(api.put(rest[0], self._data(rest[1]), progress=TransferBar(f"put {rest[0]}")).summary())
            return None
        if command == "list":
            return api.list()
        if command == "show":
            return api.show(rest[0])
        if command == "get":
            version = api.resolve(rest[0])
            folder = api.get(f"{version.name}@{version.version}", rest[1], progress=TransferBar(f"get {rest[0]}"))
            print(f"{version.name}@{version.version} copied into {folder}")
            return None
        if command == "load":
            return api.load(rest[0])
        print(api.delete(rest[0], force=args.force))
        return None

    def _data(self, word: str):
        """A path that exists, else a notebook variable of that name, else the path (its error says it is missing)."""
        import os

        if not os.path.exists(os.path.expanduser(word)) and word.isidentifier() and word in self.shell.user_ns:
            return self.shell.user_ns[word]
        return word

    @magic_arguments()
    @argument("command", help="create, list or delete")
    @argument("name", nargs="?", help="the volume (a PersistentVolumeClaim name)")
    @argument("--size", default="10Gi", help="create: a Kubernetes quantity (default 10Gi)")
    @argument("--access-mode", help="create: ReadWriteOnce (default), ReadWriteMany, ReadOnlyMany, ReadWriteOncePod")
    @argument("--storage-class", help="create: the StorageClass (default: the cluster's default)")
    @argument("--force", action="store_true", help="delete: also a claim jupyter_kf did not make")
    @where
    @line_magic
    def kf_volume(self, line):
        """PersistentVolumeClaims for data on a cluster: create, list, delete (%%kf_train --volume mounts one)."""
        from jupyter_kf.datasets import volumes

        args = parse(self.kf_volume, line)
        if args.command not in ("create", "list", "delete"):
            raise InvalidSpec(f"%kf_volume {args.command!r} is not a command: use create, list or delete")
        if args.command == "list":
            return volumes.list(namespace=args.namespace, backend=args.backend)
        if not args.name:
            raise InvalidSpec(f"%kf_volume {args.command} needs a NAME, e.g. %kf_volume {args.command} datasets")
        if args.command == "create":
            pvc = volumes.create(args.name, size=args.size, access_mode=args.access_mode,
                                 storage_class=args.storage_class, namespace=args.namespace, backend=args.backend)
            meta = pvc["metadata"]
            print(f"volume {meta['name']} created in namespace {meta['namespace']} ({args.size}): mount it with "
                  f"%%kf_train --volume pvc:{meta['name']}:/data")
            return None
        print(volumes.delete(args.name, force=args.force, namespace=args.namespace, backend=args.backend))
        return None
