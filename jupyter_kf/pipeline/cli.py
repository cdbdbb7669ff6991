"""``jupyter kf pipeline convert|run|submit``: argument parsing and one API call each.

``add_parser`` hangs the commands under ``jupyter kf``; ``%kf_pipeline`` parses its line with the
same parser (``build_parser``), so both faces accept the same flags.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jupyter_kf.errors import KfError


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--name", help="pipeline name (default: the notebook's kubeflow_notebook.pipeline_name, else its file name)"
    )
    parser.add_argument(
        "--image",
        help="container image for steps without an image: tag (default: c.KfConfig.image, else python:<this "
             "Python>-slim)",
    )
    parser.add_argument(
        "--sequential", action="store_const", const=True, default=None,
        help="run the steps in notebook order, each after the one above it (default: the notebook's "
             "kubeflow_notebook.sequential, else only after the steps whose data it reads)",
    )
    parser.add_argument(
        "--install-packages", action=argparse.BooleanOptionalAction, default=None,
        help="each step pip-installs its third-party imports, pinned to this Python's versions, when its image "
             "lacks them (default: on for bare python images)",
    )


def fill(parser: argparse.ArgumentParser, notebook_optional: bool = False) -> argparse.ArgumentParser:
    sub = parser.add_subparsers(dest="pipeline_command", required=True, metavar="{convert,run,submit,runs,cancel}")
    nargs = "?" if notebook_optional else None
    help_nb = "the .ipynb file" + (" (default: this notebook, as last saved)" if notebook_optional else "")

    convert = sub.add_parser("convert", help="write the notebook as a KFP v2 pipeline (IR YAML)")
    convert.add_argument("notebook", nargs=nargs, help=help_nb)
    convert.add_argument(
        "-o",
        "--output",
        help="where to write the YAML; '-' prints it (default: <notebook>.pipeline.yaml beside the notebook)",
    )
    _common(convert)
    convert.add_argument("--description", help="pipeline description")
    convert.add_argument(
        "--no-cache", action="store_true", help="turn KFP caching off for every step without a cache: tag"
    )

    run = sub.add_parser("run", help="run the pipeline's steps on this machine (the local backend)")
    run.add_argument("notebook", nargs=nargs, help=help_nb)
    _common(run)
    run.add_argument(
        "--param", "-p", action="append", default=[], metavar="NAME=VALUE", help="a pipeline parameter (repeatable)"
    )
    run.add_argument("--parallel", type=int, help="most steps at once (default: the CPU count)")
    run.add_argument("--timeout", help="stop a step after this long (90, 15m, 2h)")
    run.add_argument("--quiet", "-q", action="store_true", help="print only the summary, not the steps' logs")

    submit = sub.add_parser("submit", help="start a run on a Kubeflow Pipelines endpoint (needs jupyter_kf[kfp])")
    submit.add_argument("notebook", nargs=nargs, help=help_nb)
    _common(submit)
    submit.add_argument(
        "--host",
        help="KFP endpoint, e.g. http://localhost:8080 (default: KF_PIPELINES_ENDPOINT, the notebook's kfp_host, "
             "or in-cluster)",
    )
    submit.add_argument(
        "--experiment",
        help="experiment name, created if missing (default: the notebook's experiment_name, else Default)",
    )
    submit.add_argument("--run-name", help="name of the run (default: pipeline name and time)")
    submit.add_argument("--namespace", help="Kubeflow profile namespace (multi-user installs)")
    submit.add_argument("--token", help="bearer token for the endpoint (default: kfp's own lookup)")
    submit.add_argument(
        "--param", "-p", action="append", default=[], metavar="NAME=VALUE", help="a pipeline parameter (repeatable)"
    )
    _kfp_runs(sub)
    return parser


def _kfp_runs(sub) -> None:
    """``runs`` and ``cancel``: runs on a KFP endpoint, through its REST API (no kfp client needed)."""
    runs = sub.add_parser("runs", help="list the runs on a Kubeflow Pipelines endpoint, newest first")
    cancel = sub.add_parser("cancel", help="cancel (terminate) a run on a Kubeflow Pipelines endpoint")
    cancel.add_argument("run_id", help="the run's id, as `runs` lists it")
    for parser in (runs, cancel):
        parser.add_argument("--host", help="KFP endpoint (default: KF_PIPELINES_ENDPOINT, else c.KfConfig.kfp_host)")
        parser.add_argument("--token", help="bearer token (default: KF_PIPELINES_TOKEN, else the notebook pod's "
                                            "service-account token)")
    runs.add_argument("--namespace", help="Kubeflow profile namespace (multi-user installs)")
    runs.add_argument("--experiment-id", help="only the runs of this experiment")
    runs.add_argument("--limit", type=int, default=20, help="most runs to list (default: 20)")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """``jupyter kf pipeline ...`` under the main CLI's subcommands."""
    parser = subparsers.add_parser("pipeline", help="a notebook as a Kubeflow pipeline: convert, run locally, submit",
                                   description="A notebook as a Kubeflow Pipelines v2 pipeline.")
    return fill(parser)


def build_parser(prog: str = "jupyter kf pipeline", notebook_optional: bool = False) -> argparse.ArgumentParser:
    return fill(argparse.ArgumentParser(prog=prog, description="A notebook as a Kubeflow Pipelines v2 pipeline."),
                notebook_optional)


def default_output(notebook: str) -> str:
    path = Path(notebook)
    return str(path.with_name(path.name[: -len(path.suffix)] if path.suffix else path.name)) + ".pipeline.yaml"


def conversion_options(args) -> dict:
    """The flags every command passes on to ``convert``."""
    return {"sequential": args.sequential, "install_packages": args.install_packages}


def execute(args, out=print, err=None) -> int:
    """Carry out parsed ``args``; the exit code. Shared by the CLI and the magic (which passes its own printers)."""
    err = err or (lambda text: print(text, file=sys.stderr))
    from jupyter_kf import pipeline

    if args.pipeline_command == "convert":
        conversion = pipeline.convert(args.notebook, name=args.name, image=args.image, description=args.description,
                                      cache=False if args.no_cache else None, **conversion_options(args))
        if args.output == "-":
            sys.stdout.write(conversion.yaml())
            err(conversion.summary())
            return 0
        conversion.write(args.output or default_output(args.notebook))
        out(conversion.summary())
        return 0
    if args.pipeline_command == "run":
        from jupyter_kf.training.spec import parse_duration

        line = (lambda text: None) if args.quiet else (lambda text: out(text))
        result = pipeline.run(
            args.notebook,
            parameters=args.param,
            name=args.name,
            image=args.image,
            parallel=args.parallel,
            timeout=parse_duration(args.timeout),
            on_line=line,
            raise_on_failure=False,
            **conversion_options(args),
        )
        if args.quiet:
            out(result.summary())
        if result.phase != "Succeeded":
            from jupyter_kf.pipeline.local import failure_line

            err(f"error: {failure_line(result)}")
            return 1
        return 0
    if args.pipeline_command == "submit":
        submitted = pipeline.submit(args.notebook, host=args.host, experiment=args.experiment, run_name=args.run_name,
                                    parameters=args.param, namespace=args.namespace, token=args.token, name=args.name,
                                    image=args.image, **conversion_options(args))
        out(repr(submitted))
        return 0
    if args.pipeline_command in ("runs", "cancel"):
        out(kfp_command(args))
        return 0
    raise KfError(f"unknown pipeline command {args.pipeline_command!r}: use convert, run, submit, runs or "
                  "cancel")  # pragma: no cover


def kfp_command(args) -> str:
    """``runs`` or ``cancel`` carried out: the text to show."""
    from jupyter_kf.pipeline import kfp_rest

    if args.pipeline_command == "runs":
        return kfp_rest.table(kfp_rest.runs(args.host, namespace=args.namespace, experiment_id=args.experiment_id,
                                            token=args.token, limit=args.limit))
    run = kfp_rest.cancel(args.run_id, args.host, token=args.token)
    return f"run {run.id} ({run.name}): {run.phase}, {run.url}"


def run_cli(args) -> int:
    """``jupyter kf pipeline ...``: one line on stderr for bad input (exit 2), 1 when a run fails."""
    try:
        return execute(args)
    except KfError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def main(argv=None) -> int:
    """``python -m jupyter_kf.pipeline.cli convert ...`` (the same as ``jupyter kf pipeline ...``)."""
    return run_cli(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
