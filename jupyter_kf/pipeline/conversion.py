"""Notebook -> KFP v2 IR: parse the cells into steps, infer the data flow, build the PipelineSpec.

Everything is checked before anything is written, and the file is written atomically: bad input
leaves no file behind.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from jupyter_kf.pipeline import dataflow, ir, render, tags
from jupyter_kf.pipeline.model import Pipeline

_BARE_PYTHON = re.compile(r"^((docker\.io/)?(library/)?)?python(:[\w.-]+)?$")
_PYTHON_TAG = re.compile(r"^((docker\.io/)?(library/)?)?python:(?P<version>3\.\d+)(\.\d+)?([-.\w]*)$")


@dataclass
class Conversion:
    """A notebook as a pipeline: the model, the IR (``spec``) and where it was written, if anywhere."""

    pipeline: Pipeline
    spec: dict
    platform: dict | None = None
    path: str | None = None

    @property
    def warnings(self) -> list[str]:
        return self.pipeline.warnings

    @property
    def name(self) -> str:
        return self.pipeline.name

    def yaml(self) -> str:
        return ir.to_yaml(self.spec, self.platform)

    def write(self, output: str | os.PathLike) -> str:
        """Write the IR YAML atomically (a reader never sees half a file)."""
        path = Path(output)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        try:
            tmp.write_text(self.yaml(), encoding="utf-8")
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        self.path = str(path)
        return self.path

    def summary(self) -> str:
        text = render.summary(self.pipeline)
        return text + (f"\nwritten to {self.path}" if self.path else "")

    def svg(self) -> str:
        return render.svg(self.pipeline)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        import html

        return f"<div class='kf-pipeline'>{self.svg()}<pre>{html.escape(self.summary())}</pre></div>"


def convert(
    notebook,
    output: str | os.PathLike | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    image: str | None = None,
    cache: bool | None = None,
) -> Conversion:
    """Convert ``notebook`` to a KFP v2 pipeline: ``kf.pipeline.convert("train.ipynb", "train.yaml")``.

    Args:
        notebook: a path or an nbformat notebook (Kale's cell tags, or headings). output: where to write the IR.
        name, description: the pipeline's. image: for steps without an ``image:`` tag. cache: KFP caching.

    Returns:
        A ``Conversion`` (``pipeline``, the IR ``spec``, ``write(path)``, an SVG of the DAG in the notebook).

    Raises:
        PipelineError: one line, where and what is accepted, before anything is written.
    """
    pipeline = tags.parse(notebook, name=name, description=description, image=image, cache=cache)
    if not pipeline.image:
        pipeline.image = default_image()
    dataflow.infer(pipeline)
    _warn_bare_images(pipeline)
    _warn_python_crossing(pipeline)
    spec, platform = ir.build(pipeline)
    conversion = Conversion(pipeline=pipeline, spec=spec, platform=platform)
    if output is not None:
        conversion.write(output)
    return conversion


def default_image() -> str:
    """``c.KfConfig.image``, else python:<this Python>-slim (the Python the values are pickled with)."""
    from jupyter_kf import config

    return config.get().image or "python:%d.%d-slim" % sys.version_info[:2]


def _warn_bare_images(pipeline: Pipeline) -> None:
    missing: dict[str, set] = {}
    for step in pipeline.steps:
        image = step.image or pipeline.image
        if _BARE_PYTHON.match(image):
            extra = {m for m in step.modules if not dataflow.stdlib(m)}
            if extra:
                missing.setdefault(image, set()).update(extra)
    for image, modules in missing.items():
        pipeline.warnings.append(
            f"steps import {', '.join(sorted(modules))}, but image {image} has only Python's standard "
            "library and steps install nothing at start: give an image that has them (--image, an "
            "image: tag, or the notebook's kubeflow_notebook.base_image)"
        )


def _python_of(image: str) -> str | None:
    """The Python version an official python image's tag names (python:3.11-slim -> 3.11), else None."""
    match = _PYTHON_TAG.match(image)
    return match.group("version") if match else None


def _warn_python_crossing(pipeline: Pipeline) -> None:
    """Pickles and the formats built on them are read reliably only by the Python that wrote them."""
    images = {step.name: step.image or pipeline.image for step in pipeline.steps}
    for step in pipeline.steps:
        mine = _python_of(images[step.name])
        for producer in dict.fromkeys(step.inputs.values()):
            theirs = _python_of(images[producer])
            names = ", ".join(repr(n) for n, p in step.inputs.items() if p == producer)
            if mine and theirs and mine != theirs:
                pipeline.warnings.append(
                    f"step {step.name!r} (Python {mine}, {images[step.name]}) reads {names} written by step "
                    f"{producer!r} (Python {theirs}, {images[producer]}): a value pickled in one Python may not "
                    "load in another; give both steps images with the same Python"
                )
