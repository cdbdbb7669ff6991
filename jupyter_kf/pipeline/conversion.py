"""Notebook -> KFP v2 IR: parse the cells into steps, infer the data flow, build the PipelineSpec.

Everything is checked before anything is written, and the file is written atomically: bad input
leaves no file behind.
"""
from __future__ import annotations

import contextlib
import gc
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
        with collector_paused():
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
    sequential: bool | None = None,
    install_packages: bool | None = None,
) -> Conversion:
    """Convert ``notebook`` to a KFP v2 pipeline: ``kf.pipeline.convert("train.ipynb", "train.yaml")``.

    Args:
        notebook: a path or an nbformat notebook (Kale's cell tags, or headings). output: where to write the IR.
        name, description: the pipeline's. image: for steps without an ``image:`` tag. cache: KFP caching.
        sequential: each step also waits for the one above it (default: kubeflow_notebook.sequential, else
        only for the steps whose data it reads). install_packages: each step pip-installs its third-party
        imports, pinned to this Python's versions, when missing (default: on for bare python images).

    Returns:
        A ``Conversion`` (``pipeline``, the IR ``spec``, ``write(path)``, an SVG of the DAG in the notebook).

    Raises:
        PipelineError: one line, where and what is accepted, before anything is written.
    """
    with collector_paused():
        pipeline = tags.parse(notebook, name=name, description=description, image=image, cache=cache)
        if not pipeline.image:
            pipeline.image = default_image()
        if sequential is not None:
            pipeline.sequential = sequential
        dataflow.infer(pipeline)
        tags.resolve_data(pipeline)  # data: tags pinned to versions (reads the store only when a step uses data)
        if pipeline.sequential:
            _in_notebook_order(pipeline)
        installing = _plan_packages(pipeline, install_packages)
        _warn_bare_images(pipeline, installing)
        _warn_python_crossing(pipeline)
        spec, platform = ir.build(pipeline)
    conversion = Conversion(pipeline=pipeline, spec=spec, platform=platform)
    if output is not None:
        conversion.write(output)
    return conversion


@contextlib.contextmanager
def collector_paused():
    """No garbage collection while a notebook is converted: its many AST nodes and dicts all live to the end,
    and the collector walked them again and again (2,000 cells: 40% of the time), finding nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def default_image() -> str:
    """``c.KfConfig.image``, else python:<this Python>-slim (the Python the values are pickled with)."""
    from jupyter_kf import config

    return config.get().image or "python:%d.%d-slim" % sys.version_info[:2]


def _warn_bare_images(pipeline: Pipeline, installing: set) -> None:
    missing: dict[str, set] = {}
    for step in pipeline.steps:
        image = step.image or pipeline.image
        if _BARE_PYTHON.match(image) and step.name not in installing:
            extra = {m for m in step.modules if not dataflow.stdlib(m)}
            if extra:
                missing.setdefault(image, set()).update(extra)
    for image, modules in missing.items():
        pipeline.warnings.append(
            f"steps import {', '.join(sorted(modules))}, but image {image} has only Python's standard "
            "library and nothing installs them at start: give an image that has them (--image, an "
            "image: tag, or the notebook's kubeflow_notebook.base_image), or --install-packages"
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


def _in_notebook_order(pipeline: Pipeline) -> None:
    """``--sequential``: notebooks written top to bottom may rely on side effects (files) the data flow cannot see."""
    for above, step in zip(pipeline.steps, pipeline.steps[1:]):
        if above.name not in step.after:
            step.after.append(above.name)


def _plan_packages(pipeline: Pipeline, install: bool | None) -> set:
    """Each step's third-party imports as pinned requirements, installed at step start when missing; the steps
    that install."""
    from jupyter_kf.pipeline import packages

    unknown: dict[str, list] = {}
    installing = set()
    for step in pipeline.steps:
        image = step.image or pipeline.image
        if not (install if install is not None else bool(_BARE_PYTHON.match(image))):
            continue
        installing.add(step.name)
        step.packages, missing = packages.requirements(step.modules, pipeline.source)
        for producer in dict.fromkeys(step.inputs.values()):  # reading a value needs its library (numpy for .npy)
            for module, requirement in pipeline.step(producer).packages.items():
                step.packages.setdefault(module, requirement)
        step.packages = dict(sorted(step.packages.items()))
        for module in missing:
            unknown.setdefault(module, []).append(step.name)
    for module, steps in unknown.items():
        pipeline.warnings.append(
            f"step{'s' if len(steps) > 1 else ''} {', '.join(steps)} import{'' if len(steps) > 1 else 's'} {module}, "
            "which no distribution installed here provides, so it is not installed at step start: install it in "
            "this kernel, or use an image that has it"
        )
    return installing
