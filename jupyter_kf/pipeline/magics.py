"""``%kf_pipeline convert|run|submit [NOTEBOOK] [flags]``: the pipeline commands inside a notebook.

The same flags as ``jupyter kf pipeline``; without a notebook path it converts the notebook it runs
in, as last saved. Defaults live on ``c.KfConfig`` (``kfp_host``, ``kfp_experiment``, ``image``), as for
the API and the CLI.
"""
from __future__ import annotations

import os
import shlex

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class


@magics_class
class PipelineMagics(Magics):
    @line_magic
    def kf_pipeline(self, line):
        """Convert this notebook to a KFP v2 pipeline, run it locally, or submit it:

        %kf_pipeline convert [NOTEBOOK] [-o FILE]      %kf_pipeline run [NOTEBOOK] [-p lr=0.1]
        %kf_pipeline submit [NOTEBOOK] --host URL [--experiment NAME]
        %kf_pipeline runs [--host URL]                 %kf_pipeline cancel RUN_ID [--host URL]
        """
        from IPython.display import display

        from jupyter_kf import pipeline
        from jupyter_kf.pipeline.cli import build_parser, conversion_options, default_output, kfp_command

        args = self._parse(line, build_parser)
        if args.pipeline_command in ("runs", "cancel"):  # runs on a KFP endpoint: no notebook involved
            print(kfp_command(args))
            return None
        args.notebook = args.notebook or self._this_notebook()
        if args.pipeline_command == "convert":
            conversion = pipeline.convert(args.notebook, name=args.name, image=args.image, description=args.description,
                                          cache=False if args.no_cache else None, **conversion_options(args))
            if args.output != "-":
                conversion.write(args.output or default_output(args.notebook))
            display(conversion)
            return None
        if args.pipeline_command == "run":
            from jupyter_kf.training.spec import parse_duration

            result = pipeline.run(args.notebook, parameters=args.param, name=args.name, image=args.image,
                                  parallel=args.parallel, timeout=parse_duration(args.timeout), raise_on_failure=False,
                                  **conversion_options(args),
                                  on_line=(lambda text: None) if args.quiet else (lambda text: print(text, flush=True)))
            display(_RunView(result))
            self.shell.user_ns["_kf_pipeline_run"] = result
            if result.phase != "Succeeded":
                from jupyter_kf.pipeline.local import failure_line
                from jupyter_kf.pipeline.model import PipelineFailed

                raise PipelineFailed(failure_line(result), run=result)
            return None
        submitted = pipeline.submit(args.notebook, host=args.host,
                                    experiment=args.experiment, run_name=args.run_name,
                                    parameters=args.param, namespace=args.namespace, token=args.token, name=args.name,
                                    image=args.image, **conversion_options(args))
        print(repr(submitted))
        return None

    @staticmethod
    def _parse(line, build_parser):
        parser = build_parser(prog="%kf_pipeline", notebook_optional=True)
        try:
            return parser.parse_args(shlex.split(line))
        except SystemExit:
            raise UsageError(
                f"%kf_pipeline {line.strip()}: see %kf_pipeline? for the accepted commands and flags"
            ) from None

    def _this_notebook(self) -> str:
        """The notebook this kernel runs (JupyterLab tells the kernel its path)."""
        ns = self.shell.user_ns
        path = ns.get("__session__") or os.environ.get("JPY_SESSION_NAME") or ""
        if not path or not str(path).endswith(".ipynb"):
            raise UsageError(
                "this kernel does not know its notebook's path: give it, e.g. %kf_pipeline run train.ipynb"
            )
        return str(path)


class _RunView:
    """A finished run under the cell: the DAG coloured by outcome, then the summary."""

    def __init__(self, result):
        self.result = result

    def __repr__(self):
        return ""  # the summary was printed with the logs

    def _repr_html_(self):
        from jupyter_kf.pipeline import render

        phases = {s.name: s.phase for s in self.result.steps.values()}
        return f"<div class='kf-pipeline-run'>{render.svg(self.result.conversion.pipeline, phases)}</div>"
