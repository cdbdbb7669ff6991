"""``%load_ext jupyter_kf``: registers each domain's magics, nothing else."""
from __future__ import annotations

from jupyter_kf.errors import KfError
from jupyter_kf.magic_args import show_kf_error


def load_ipython_extension(ipython):
    from jupyter_kf.datasets.magics import DataMagics
    from jupyter_kf.experiments.compare import CompareMagics
    from jupyter_kf.experiments.magics import ExperimentMagics
    from jupyter_kf.notebooks.magics import NotebookMagics
    from jupyter_kf.pipeline.magics import PipelineMagics
    from jupyter_kf.serving.magics import ServingMagics
    from jupyter_kf.training.magics import KfMagics

    for magics in (KfMagics, PipelineMagics, NotebookMagics, ServingMagics, DataMagics, ExperimentMagics,
                   CompareMagics):
        ipython.register_magics(magics(shell=ipython, parent=ipython))
    ipython.set_custom_exc((KfError,), show_kf_error)
