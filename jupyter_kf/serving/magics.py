"""``%kf_deploy``, ``%kf_predict``, ``%kf_models``, ``%kf_undeploy``: argument parsing, one API call, a view."""
from __future__ import annotations

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.magic_args import parse, where


@magics_class
class ServingMagics(Magics):
    """Deploy a model from the notebook, query it, list and remove deployments."""

    @magic_arguments()
    @argument("name", help="model name (DNS-1123: lowercase letters, digits, '-')")
    @argument("--model", help="a variable holding a trained model, or a URI (s3://, gs://, pvc://, hf://, oci://, http(s)://)")
    @argument(
        "--format", help="sklearn, xgboost, lightgbm, pytorch, onnx, tensorflow, huggingface (default: from the object)"
    )
    @argument("--protocol", help="v1 (KServe V1) or v2 (Open Inference Protocol)")
    @argument("--gpus", default=None, help="GPUs per replica")
    @argument("--tpu", metavar="TYPE:TOPOLOGY", help="on GKE: a single-host TPU slice per replica, e.g. v5e:2x4")
    @argument("--cpu", help="CPU per replica, a Kubernetes quantity (1, 500m)")
    @argument("--memory", help="memory per replica, a Kubernetes quantity (512Mi, 2Gi)")
    @argument("--min-replicas", help="fewest replicas (0: scale to zero where the mode allows)")
    @argument("--max-replicas", help="most replicas")
    @argument("--runtime", help="KServe ServingRuntime to use (default: KServe's choice for the format)")
    @argument("--canary", help="deploy as a canary taking this percent of the traffic (1-99)")
    @argument("--promote", action="store_true", help="give the canary all the traffic")
    @argument("--rollback", action="store_true", help="remove the canary; the stable version takes all the traffic")
    @where
    @argument("--timeout", default="5m", help="how long to wait for Ready (90, 5m)")
    @argument("--no-wait", action="store_true", help="return at once; %%kf_models shows when it is Ready")
    @line_magic
    def kf_deploy(self, line):
        """Serve a model: KServe InferenceService on a cluster, a V1/V2 model server on this machine."""
        from IPython.display import display

        from jupyter_kf.serving import api
        from jupyter_kf.serving.errors import NotReady
        from jupyter_kf.serving.widgets import ModelView

        args = parse(self.kf_deploy, line)
        if args.promote or args.rollback:
            if args.promote and args.rollback:
                raise InvalidSpec("--promote and --rollback contradict each other: use one")
            handle = api.model(args.name, backend=args.backend, namespace=args.namespace)
            status = handle.promote() if args.promote else handle.rollback()
            print(
                f"{args.name}: {'canary promoted' if args.promote else 'canary rolled back'}; traffic {status.traffic}"
            )
            return None
        if not args.model:
            raise InvalidSpec("--model is required: a variable holding a trained model, or a URI such as s3://bucket/models/iris")
        model, what = self._model(args.model)
        from jupyter_kf.training.backends import resolve_name

        view = ModelView(args.name, resolve_name(args.backend))
        display(view)
        try:
            api.deploy(args.name, model, format=args.format, protocol=args.protocol, gpus=args.gpus, tpu=args.tpu,
                       cpu=args.cpu,
                       memory=args.memory, min_replicas=args.min_replicas, max_replicas=args.max_replicas,
                       runtime=args.runtime, canary=args.canary, backend=args.backend, namespace=args.namespace,
                       wait=not args.no_wait, timeout=args.timeout, on_update=view.update, what=what)
        except NotReady as err:
            view.finish(str(err))
            raise
        except Exception:
            view.close()
            raise
        status = api.model(args.name, backend=args.backend, namespace=args.namespace).status()
        view.update(status)
        if args.no_wait:
            message = f"{args.name} deployed ({status.phase}): %kf_models shows when it is Ready"
        else:
            message = f"{args.name} is Ready at {status.url}, traffic {status.traffic}: %kf_predict {args.name} DATA"
        view.finish(message)
        print(message)
        return None

    def _model(self, text: str):
        from jupyter_kf.serving.spec import looks_like_uri

        if looks_like_uri(text):
            return text, text
        try:
            return self.shell.ev(text), text
        except NameError as err:
            raise InvalidSpec(f"--model {text!r}: {err} in the notebook; pass a variable holding a trained model, "
                              "or a URI (s3://, gs://, pvc://, hf://, oci://, http(s)://)") from None
        except SyntaxError:
            raise InvalidSpec(f"--model {text!r} is neither a variable nor a URI") from None

    @line_magic
    def kf_predict(self, line):
        """``%kf_predict NAME [--protocol v1|v2] [--backend B] [--namespace NS] DATA``: the predictions, as an array."""
        from jupyter_kf.serving import api

        name, options, expr = _split_predict(line)
        if not expr:
            raise InvalidSpec("%kf_predict needs a model name and data: %kf_predict iris X_test[:5]")
        try:
            data = self.shell.ev(expr)
        except NameError as err:
            raise InvalidSpec(f"%kf_predict data {expr!r}: {err} in the notebook") from None
        handle = api.model(name, backend=options.get("backend"), namespace=options.get("namespace"))
        return handle.predict(data, protocol=options.get("protocol"))

    @magic_arguments()
    @where
    @line_magic
    def kf_models(self, line):
        """A table of deployed models: name, ready, URL, traffic."""
        from jupyter_kf.serving import api
        from jupyter_kf.serving.display import ModelTable
        from jupyter_kf.training.backends import resolve_name

        args = parse(self.kf_models, line)
        return ModelTable(api.models(backend=args.backend, namespace=args.namespace), resolve_name(args.backend))

    @magic_arguments()
    @argument("name")
    @where
    @line_magic
    def kf_undeploy(self, line):
        """Remove a deployed model (and the copies of it jupyter_kf uploaded)."""
        from jupyter_kf.serving import api

        args = parse(self.kf_undeploy, line)
        api.undeploy(args.name, backend=args.backend, namespace=args.namespace)
        print(f"model {args.name} undeployed")


def _split_predict(line: str):
    """NAME, leading --protocol/--backend/--namespace options, and the data expression (kept verbatim)."""
    rest = line.strip()
    name, _, rest = rest.partition(" ")
    options = {}
    rest = rest.strip()
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        key = flag[2:]
        if key not in ("protocol", "backend", "namespace"):
            raise InvalidSpec(f"%kf_predict: unknown option {flag}: use --protocol v1|v2, --backend, --namespace")
        value, _, rest = rest.strip().partition(" ")
        if not value:
            raise InvalidSpec(f"%kf_predict: {flag} needs a value")
        options[key] = value
        rest = rest.strip()
    if options.get("protocol") not in (None, "v1", "v2"):
        raise InvalidSpec(f"--protocol {options['protocol']!r} is unknown: use v1 or v2")
    return name, options, rest

