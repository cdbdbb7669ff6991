"""``%kf_notebook``: notebook servers from a notebook. Argument parsing, one ``kf.notebooks`` call, a view."""
from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_kf.errors import KfError
from jupyter_kf.magic_args import Detached, parse, where

ACTIONS = ("create", "list", "status", "stop", "start", "url", "delete")
CREATE_ONLY = (
    "image",
    "cpu",
    "memory",
    "gpus",
    "gpu_vendor",
    "tpu",
    "workspace",
    "data_volume",
    "data",
    "configuration",
    "env",
    "no_shm",
    "kind",
)


@magics_class
class NotebookMagics(Magics):
    """Defaults come from ``c.KfConfig.notebook_*`` (image, workspace, timeout), as for ``kf.notebooks``."""

    @magic_arguments()
    @argument("action", nargs="?", help="create, list, status, stop, start, url or delete (none: the form)")
    @argument("name", nargs="?", help="the server's name (lowercase letters, digits, '-')")
    @argument("--image", help="container image (a Jupyter image; on Kubeflow one that honours NB_PREFIX)")
    @argument("--cpu", help="CPU request, a Kubernetes quantity (default 0.5); the limit is 1.2x")
    @argument("--memory", help="memory request (default 1Gi); the limit is 1.2x")
    @argument("--gpus", default=None, help="GPUs (locally: chosen through CUDA_VISIBLE_DEVICES)")
    @argument("--gpu-vendor", help="GPU resource: nvidia.com/gpu (default), amd.com/gpu, habana.ai/gaudi")
    @argument("--tpu", metavar="TYPE:TOPOLOGY", help="on GKE: a single-host TPU slice, e.g. v5e:2x4 (not with --gpus)")
    @argument("--workspace", help="workspace volume at /home/jovyan: a size (50Gi), pvc:CLAIM, or none")
    @argument(
        "--data-volume",
        action="append",
        default=[],
        metavar="CLAIM:/PATH",
        help="mount an existing volume (repeatable)",
    )
    @argument("--data", action="append", default=[], metavar="NAME[@VERSION]:PATH",
              help="see a dataset version read-only (repeatable; a relative PATH is under /home/jovyan)")
    @argument(
        "--configuration",
        action="append",
        default=[],
        metavar="LABEL",
        help="Kubeflow PodDefault to apply (repeatable)",
    )
    @argument("--env", action="append", default=[], metavar="NAME=VALUE", help="environment variable (repeatable)")
    @argument("--no-shm", action="store_true", help="no memory-backed /dev/shm")
    @argument("--kind", help="on a cluster: notebook (Kubeflow) or statefulset (default: what the cluster offers)")
    @where
    @argument("--timeout", help="how long create/start wait for ready (default 5m)")
    @argument("--no-wait", action="store_true", help="return at once; %%kf_notebook status NAME shows how it goes")
    @argument("--keep-workspace", action="store_true", help="delete: keep the workspace volume")
    @argument(
        "--delete-workspace", "-y", action="store_true", help="delete: delete the workspace volume without asking"
    )
    @line_magic
    def kf_notebook(self, line):
        """Notebook servers: create, list, status, stop, start, url, delete; no arguments: a form."""
        from jupyter_kf import notebooks

        args = parse(self.kf_notebook, line)
        action = args.action
        if action is None:
            return self._form(args)
        if action not in ACTIONS:
            raise UsageError(f"%kf_notebook {action!r} is not an action: use one of {', '.join(ACTIONS)} "
                             "(or no arguments for the form)")
        given = [f"--{k.replace('_', '-')}" for k in CREATE_ONLY if getattr(args, k) not in (None, [], False)]
        if action != "create" and given:
            raise UsageError(f"{given[0]} goes with %kf_notebook create only")
        if action != "list" and not args.name:
            raise UsageError(f"%kf_notebook {action} needs a server name, e.g. %kf_notebook {action} big-gpu")
        place = {"backend": args.backend, "namespace": args.namespace}
        if action == "list":
            return notebooks.list(**place)
        if action == "status":
            return notebooks.get(args.name, **place)
        if action == "url":
            return notebooks.url(args.name, **place)
        if action == "stop":
            notebooks.stop(args.name, **place)
            print(
                f"notebook server {args.name} stopped; its workspace is kept: %kf_notebook start {args.name} "
                "brings it back"
            )
            return None
        if action == "delete":
            if args.keep_workspace and args.delete_workspace:
                raise UsageError("--keep-workspace and --delete-workspace contradict each other: give one")
            keep = True if args.keep_workspace else (False if args.delete_workspace else None)
            kept = notebooks.delete(args.name, keep_workspace=keep, **place)
            print(f"notebook server {args.name} deleted" + (f"; its workspace {kept} is kept (a new server named "
                                                            f"{args.name} picks it up)" if kept else ""))
            return None
        timeout = args.timeout
        if action == "start":
            return self._watch(args.name, lambda view: notebooks.start(
                args.name, wait=not args.no_wait, timeout=timeout, on_update=view.update, **place))
        return self._watch(args.name, lambda view: notebooks.create(
            args.name, image=args.image, cpu=args.cpu, memory=args.memory, gpus=args.gpus,
            gpu_vendor=args.gpu_vendor, tpu=args.tpu, workspace=args.workspace, data_volumes=args.data_volume,
            data=args.data,
            configurations=args.configuration, env=args.env, shm=not args.no_shm, kind=args.kind, timeout=timeout,
            wait=not args.no_wait, on_update=view.update, **place))

    @staticmethod
    def _watch(name: str, call):
        """A live status view under the cell while ``call`` creates/starts and waits; one line at the end."""
        from IPython.display import display

        from jupyter_kf.notebooks.widgets import NotebookView

        view = NotebookView(name)
        display(view)
        try:
            status = call(view)
        except KeyboardInterrupt:
            view.note("detached: the server goes on starting")
            raise Detached(
                f"stopped waiting for {name}, which goes on starting: %kf_notebook status {name} shows how it "
                f"goes, %kf_notebook stop {name} stops it"
            ) from None
        except KfError as err:
            view.note(str(err))
            raise
        view.update(status)
        if status.phase == "Ready":
            print(f"notebook server {name} is ready: {status.url}" + (f" ({status.hint})" if status.hint else ""))
        else:
            print(f"notebook server {name}: {status.phase}" + (f" ({status.message})" if status.message else "")
                  + f"; %kf_notebook status {name} shows how it goes")
        return None

    def _form(self, args):
        from jupyter_kf import config
        from jupyter_kf.notebooks.widgets import NotebookForm

        settings = config.get()
        return NotebookForm(backend=args.backend, namespace=args.namespace, image=settings.notebook_image,
                            workspace=settings.notebook_workspace, timeout=args.timeout or settings.notebook_timeout)


def load_ipython_extension(ipython):
    ipython.register_magics(NotebookMagics(shell=ipython, parent=ipython))
