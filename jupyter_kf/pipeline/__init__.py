"""A notebook as a Kubeflow Pipelines v2 pipeline: convert it, run it locally, submit it.

``kf.pipeline.convert("train.ipynb", "train.pipeline.yaml")`` writes the KFP v2 IR;
``kf.pipeline.run("train.ipynb")`` runs the DAG on the local backend; ``kf.pipeline.submit(
"train.ipynb", host=...)`` sends it to a KFP endpoint (needs the ``kfp`` extra). Modules load on
first use so that importing this package costs nothing.
"""
from __future__ import annotations

_LAZY = {
    "convert": ("conversion", "convert"),
    "Conversion": ("conversion", "Conversion"),
    "run": ("local", "run"),
    "PipelineRun": ("local", "PipelineRun"),
    "submit": ("kfp_submit", "submit"),
    "SubmittedRun": ("kfp_submit", "SubmittedRun"),
    "PipelineError": ("model", "PipelineError"),
    "PipelineFailed": ("model", "PipelineFailed"),
    "kfp_runs": ("kfp_rest", "runs"),
    "kfp_run": ("kfp_rest", "get"),
    "cancel_kfp_run": ("kfp_rest", "cancel"),
    "KfpRun": ("kfp_rest", "KfpRun"),
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
