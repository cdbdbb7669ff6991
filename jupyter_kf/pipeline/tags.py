"""A notebook's cells grouped into steps, from cell tags, ``# kf:`` comments or markdown headings.

Kale's tag vocabulary works as Kale documents it (``step:``, ``prev:``, ``imports``, ``functions``,
``pipeline-parameters``, ``pipeline-metrics``, ``skip``, ``image:``, ``limit:``, ``label:``,
``annotation:``, ``secret:``, ``cache:``; ``report:`` is accepted and has no effect): an untagged
cell continues the tagged cell above it. Additions: ``data:NAME[@VERSION]:MOUNT`` (a dataset version the
step reads, pinned when the pipeline is compiled), ``request:cpu:500m`` / ``request:memory:1Gi``,
``limit:cpu`` and ``limit:memory`` (honoured, where Kale drops them), papermill's ``parameters``
tag, and the same tags written on a cell's first lines as ``# kf: step:train prev:load`` for
editors without a tag UI. A notebook without step tags is cut at its top-level markdown headings.
"""
from __future__ import annotations

import ast
import json
import os
import re
import sys
from pathlib import Path

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.pipeline.model import Cell, Parameter, Pipeline, PipelineError, Step
from jupyter_kf.training.spec import check_image, parse_quantity

STEP_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
PIPELINE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
_K8S_KEY = r"[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?(/[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?)?"
_LABEL = re.compile(rf"^(?P<key>{_K8S_KEY}):(?P<value>.*)$")
_SECRET = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?):([-._a-zA-Z0-9]+):([A-Za-z_][A-Za-z0-9_]*)$")
_MARKER = re.compile(r"^\s*#\s*kf:(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_OWN_MAGIC = re.compile(r"^\s*%(kf_\w+|load_ext\s+jupyter_kf|reload_ext\s+jupyter_kf)\b")
_OWN_CELL_MAGIC = re.compile(r"^\s*%%kf_\w+")
BLOCKS = {"imports": "imports", "functions": "functions", "pipeline-parameters": "parameters",
          "parameters": "parameters", "pipeline-metrics": "metrics", "skip": "skip"}
GPU_SUFFIX = "/gpu"
TAG_HELP = ("step:<name>, prev:<name>, imports, functions, pipeline-parameters, pipeline-metrics, skip, image:, "
            "limit:, request:, label:, annotation:, secret:, cache:, data:")


def read_notebook(notebook) -> tuple[dict, str]:
    """The notebook as a dict (from a path, a JSON string's file, or an nbformat node) and its path."""
    if isinstance(notebook, (str, os.PathLike)):
        path = Path(notebook)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PipelineError(f"notebook {str(path)!r} not found: give the path of an .ipynb file") from None
        except IsADirectoryError:
            raise PipelineError(f"{str(path)!r} is a folder: give the path of an .ipynb file") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise PipelineError(
                f"{str(path)!r} is not a notebook (invalid JSON at line {err.lineno}): give an .ipynb file"
            ) from None
        if not isinstance(data, dict) or "cells" not in data:
            raise PipelineError(f"{str(path)!r} is not a notebook (no cells): give an .ipynb file")
        if data.get("nbformat", 4) < 4:
            raise PipelineError(f"{str(path)!r} is an nbformat {data.get('nbformat')} notebook: open and save it in "
                                "JupyterLab to upgrade it to nbformat 4")
        return data, str(path)
    if isinstance(notebook, dict) and "cells" in notebook:
        return notebook, ""
    raise PipelineError(f"cannot read a notebook from a {type(notebook).__name__}: give a path or an nbformat notebook")


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def cell_code(source: str) -> str:
    """The Python a step runs for a cell: IPython syntax transformed, jupyter_kf's own magics left out.

    A ``%%kf_train`` cell contributes its body; ``%kf_pipeline``/``%load_ext jupyter_kf`` lines vanish,
    so a notebook that runs itself as a pipeline does not recurse. Line numbers are kept.
    """
    lines = source.split("\n")
    if lines and _OWN_CELL_MAGIC.match(lines[0]):
        lines[0] = ""
    lines = ["" if _OWN_MAGIC.match(line) else line for line in lines]
    text = "\n".join(lines)
    try:
        ast.parse(text)
        return text
    except SyntaxError:
        pass
    from jupyter_kf.training.capture import transform_magics

    code = transform_magics(text)
    try:
        ast.parse(code)
    except SyntaxError:
        return text  # reported with its line by the analysis
    return code


def is_blank(code: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in code.splitlines())


def cell_tags(cell: dict, source: str) -> list[str]:
    """Tags from the cell's metadata and from ``# kf:`` comment lines at its top."""
    tags = [t for t in (cell.get("metadata") or {}).get("tags", []) if isinstance(t, str)]
    for line in source.splitlines():
        match = _MARKER.match(line)
        if match:
            tags += match.group(1).split()
        elif line.strip():
            break
    return tags


class _CellTags:
    """One cell's tags, parsed and checked (errors name the cell)."""

    def __init__(self, number: int, tags: list[str], warnings: list[str]):
        self.number = number
        self.block = None  # imports | functions | parameters | metrics | skip
        self.step = None
        self.prev: list[str] = []
        self.limits: dict[str, str] = {}
        self.requests: dict[str, str] = {}
        self.labels: dict[str, str] = {}
        self.annotations: dict[str, str] = {}
        self.secrets: dict[str, tuple[str, str]] = {}
        self.data: list[str] = []  # data:NAME[@VERSION]:MOUNT, checked here, resolved when compiled
        self.image = None
        self.notebook = None  # notebook:NAME: this step runs another notebook's pipeline
        self.cache = None
        self.settings = False
        self.continues = False  # an empty step: tag (Kale: the cell continues the step above)
        for tag in tags:
            self.parse(tag.strip(), warnings)
        if self.step is None and self.prev and (self.block or self.continues):
            what = f"a {self.block} cell" if self.block else "a cell tagged with an empty step:"
            warnings.append(f"cell {number}: prev:{self.prev[0]} on {what} has no effect (Kale ignores it too): "
                            "ignored")
            self.prev = []
        if self.step is None and self.prev:
            raise PipelineError(
                f"cell {number} has prev:{self.prev[0]} but no step:<name> tag: prev: belongs on a step's first cell"
            )

    def parse(self, tag: str, warnings: list[str]) -> None:
        where = f"cell {self.number}"
        if tag in BLOCKS:
            self.block = self.block or BLOCKS[tag]
            return
        kind, sep, rest = tag.partition(":")
        if not sep:
            return  # other tools' tags (hide-input, remove-cell, ...)
        if kind in ("step", "block"):  # block: is Kale's step tag before 2.0
            if not rest:
                self.continues = True
                return
            name = rest
            if self.step is not None and self.step != name:
                raise PipelineError(
                    f"{where} has two step tags (step:{self.step}, step:{name}): a cell belongs to one step"
                )
            self.step = check_step_name(name, where)
        elif kind == "prev":
            self.prev.append(check_step_name(rest, f"prev:{rest} on {where}"))
        elif kind == "image":
            if not rest.strip():
                raise PipelineError(f"{where}: image: needs an image, e.g. image:python:3.11-slim")
            self.image, self.settings = _image(rest.strip(), f"image: tag on {where}"), True
        elif kind in ("limit", "request"):
            resource, sep2, value = rest.rpartition(":")
            if not sep2 or not resource or not value:
                raise PipelineError(
                    f"{where}: {tag!r} is not {kind}:<resource>:<amount>, e.g. {kind}:memory:2Gi or "
                    "limit:nvidia.com/gpu:1"
                )
            (self.limits if kind == "limit" else self.requests)[resource] = value
            self.settings = True
        elif kind in ("label", "annotation"):
            match = _LABEL.match(rest)
            if not match:
                raise PipelineError(
                    f"{where}: {tag!r} is not {kind}:<key>:<value> with a Kubernetes key, e.g. {kind}:team:ml"
                )
            (self.labels if kind == "label" else self.annotations)[match.group("key")] = match.group("value")
            self.settings = True
        elif kind == "secret":
            match = _SECRET.match(rest)
            if not match:
                raise PipelineError(
                    f"{where}: {tag!r} is not secret:<secret>:<key>:<ENV_VAR>, e.g. "
                    "secret:db-credentials:password:DB_PASSWORD"
                )
            self.secrets[match.group(4)] = (match.group(1), match.group(3))
            self.settings = True
        elif kind == "data":
            self.data.append(_data_tag(rest, tag, where))
            self.settings = True
        elif kind == "cache":
            if rest not in ("enabled", "disabled"):
                raise PipelineError(f"{where}: {tag!r} is not cache:enabled or cache:disabled")
            self.cache, self.settings = rest == "enabled", True
        elif kind == "report":
            if rest not in ("enabled", "disabled"):
                raise PipelineError(f"{where}: {tag!r} is not report:enabled or report:disabled")
        elif kind == "notebook":
            if not rest.strip():
                raise PipelineError(f"{where}: notebook: needs the other notebook's path, e.g. notebook:prepare.ipynb")
            self.notebook = rest.strip()
        else:
            warnings.append(f"cell {self.number}: tag {tag!r} is not a pipeline tag ({TAG_HELP}): ignored")


def _data_tag(rest: str, tag: str, where: str) -> str:
    """``data:NAME[@VERSION]:MOUNT``, checked (the dataset itself is looked up when the pipeline is compiled)."""
    from jupyter_kf.datasets.spec import DataMount

    try:
        return str(DataMount.parse(rest))
    except InvalidSpec as err:
        detail = str(err).removeprefix(f"--data {rest!r}: ")
        if detail.startswith(f"--data {rest!r} is malformed"):
            detail = "it has no mount point"
        raise PipelineError(f"{where}: tag {tag!r} is not data:NAME[@VERSION]:MOUNT (e.g. data:mnist@2:data or "
                            f"data:clean:/mnt/clean): {detail}") from None


def resolve_data(pipeline: Pipeline) -> None:
    """Pin each step's ``data:`` tags to exact versions now (an unknown dataset or version is one line and
    nothing is written), and give the steps that use datasets what their pods need: the store (in
    ``$KF_DATA_STORE``), its Secret (by reference), and ``kf.data`` for images without jupyter_kf."""
    users = [s for s in pipeline.steps if s.data or any("kf.data" in c.code for c in s.cells)]
    if not users:
        return
    from jupyter_kf import config
    from jupyter_kf.datasets import api as data_api

    for step in users:
        if step.data:
            step.data_plan = data_api.step_plan(step.name, step.data)
    pipeline.data_pods = {"steps": [s.name for s in users]}
    env = data_api.pod_store_env()
    if env:
        pipeline.data_pods.update(env=env, secret=config.get().store_secret, sources=data_api.pod_sources())
        if config.get().data_cache and any(s.data for s in users):  # data: steps fetch through the cache claim
            from jupyter_kf.datasets.manifests import check_cache_claim

            pipeline.data_pods["cache"] = check_cache_claim(config.get().data_cache)
    else:
        names = ", ".join(s.name for s in users)
        pipeline.warnings.append(f"step(s) {names} use datasets, which on Kubeflow Pipelines need the S3-compatible "
                                 "store (c.KfConfig.store, store_endpoint, store_secret): as compiled they run locally "
                                 "only")


def _quantity(value: str, what: str):
    try:
        return parse_quantity(value, what)
    except InvalidSpec as err:
        raise PipelineError(str(err)) from None


def _image(image: str, what: str) -> str:
    try:
        return check_image(image, what)
    except InvalidSpec as err:
        raise PipelineError(str(err)) from None


def check_step_name(name: str, where: str) -> str:
    if not STEP_NAME.match(name or "") or len(name) > 63 or name[-1] in "-_" or "__" in name.replace("-", "_"):
        raise PipelineError(
            f"step name {name!r} ({where}) is not a valid KFP name: use lowercase letters, digits, '_' and "
            "'-', starting with a letter and ending with a letter or digit, at most 63 (e.g. train_model)"
        )
    return name


def check_pipeline_name(name: str) -> str:
    if not PIPELINE_NAME.match(name or ""):
        raise PipelineError(f"pipeline name {name!r} is not a valid KFP name: use lowercase letters, digits and '-', "
                            "starting with a letter or digit, at most 128 (e.g. train-pipeline)")
    return name


def slug(text: str, sep: str = "-") -> str:
    """'1. Load the data!' -> 'load-the-data' (leading numbering dropped)."""
    text = re.sub(r"^\s*(step\s*)?\d+[.):]?\s*", "", text.strip(), flags=re.I)
    text = re.sub(r"[`*_\[\]()]", " ", text)
    words = re.findall(r"[a-z0-9]+", text.lower())
    out = ""
    for word in words:
        if len(out) + len(word) + 1 > 40:
            break
        out = f"{out}{sep}{word}" if out else word
    return out


def default_pipeline_name(path: str) -> str:
    name = slug(Path(path).stem.replace(".", " ")) if path else ""
    if not name or not name[0].isalnum():
        name = "notebook-pipeline"
    return name[:128]


def parse(notebook, name: str | None = None, description: str | None = None, image: str | None = None,
          cache: bool | None = None, compose: bool = True) -> Pipeline:
    """The notebook's steps, blocks, parameters and settings; nothing inferred yet (see ``dataflow``)."""
    data, path = read_notebook(notebook)
    meta = (data.get("metadata") or {}).get("kubeflow_notebook") or {}
    pipeline = Pipeline(name="", source=path, python="%d.%d" % sys.version_info[:2])
    pipeline.name = check_pipeline_name(name) if name else (
        check_pipeline_name(meta["pipeline_name"]) if meta.get("pipeline_name") else default_pipeline_name(path))
    pipeline.description = description if description is not None else (meta.get("pipeline_description") or "")
    experiment = meta.get("experiment") if isinstance(meta.get("experiment"), dict) else {}
    pipeline.experiment = meta.get("experiment_name") or experiment.get("name") or None
    pipeline.host = meta.get("kfp_host") or None
    base_key = "base_image" if meta.get("base_image") else "docker_image"  # docker_image: Kale before 2.0
    pipeline.image = _image(image, "--image") if image else (
        _image(meta[base_key], f"kubeflow_notebook.{base_key}") if meta.get(base_key) else "")
    _warn_ignored_metadata(pipeline, meta)
    pipeline.cache = cache if cache is not None else bool(meta.get("enable_caching", True))
    pipeline.sequential = bool(meta.get("sequential", False))
    for volume in meta.get("volumes") or []:
        if volume.get("type", "pvc") != "pvc" or not volume.get("name") or not volume.get("mount_point"):
            pipeline.warnings.append(
                f"volume {volume!r} in the notebook metadata is not a PVC with name and mount_point: ignored"
            )
            continue
        entry = {"name": volume["name"], "mount_point": volume["mount_point"]}
        if volume.get("expose_as_env_var"):  # Kale's KALE_VOLUME_<NAME> holds the mount point
            entry["env"] = "KALE_VOLUME_" + re.sub(r"[^A-Z0-9]", "_", volume["name"].upper())
        pipeline.volumes.append(entry)
    defaults = _CellTags(0, _defaults_as_tags(meta.get("steps_defaults") or [], pipeline), pipeline.warnings)
    if defaults.step or defaults.block or defaults.prev:
        raise PipelineError("steps_defaults in the notebook metadata may hold only image:, limit:, request:, label:, "
                            "annotation:, secret: and cache: tags")

    cells, markdown = [], []  # (Cell, _CellTags) for code; (number, heading level, title, position) for markdown
    for number, raw in enumerate(data.get("cells", []), start=1):
        source = _text(raw.get("source"))
        if raw.get("cell_type") == "markdown":
            for line in source.splitlines():
                match = _HEADING.match(line)
                if match:
                    markdown.append((number, len(match.group(1)), match.group(2), len(cells)))
                    break
            continue
        if raw.get("cell_type") != "code":
            continue
        tags = cell_tags(raw, source)
        parsed = _CellTags(number, tags, pipeline.warnings)
        cells.append((Cell(number=number, source=source, code=cell_code(source), tags=tags), parsed))

    if any(t.step or t.notebook for _, t in cells):
        pipeline.mode = "tags"
        _group_by_tags(pipeline, cells)
        if compose:  # a notebook run by a notebook: step is read without expanding its own (one level)
            _compose(pipeline)
    else:
        _group_by_headings(pipeline, cells, markdown)
    for step in pipeline.steps:
        _apply_settings(step, defaults, None)
    if not pipeline.steps:
        raise PipelineError("the notebook has no code to run as a pipeline step")
    return pipeline


def _notebook_step(pipeline: Pipeline, steps: dict, cell: Cell, tags: _CellTags) -> Step:
    """A ``notebook:NAME`` cell: a step that runs that notebook's pipeline (expanded by ``_compose``)."""
    if not is_blank(cell.code):
        raise PipelineError(f"cell {cell.number} is tagged notebook:{tags.notebook}, which runs that notebook, and "
                            "also has code: move the code to a cell of its own")
    if tags.settings:
        raise PipelineError(f"cell {cell.number}: resource, image or pod tags on a notebook:{tags.notebook} cell apply "
                            "to no step: put them on the steps of that notebook")
    name = tags.step or slug(Path(tags.notebook).stem.replace(".ipynb", ""), "_") or "notebook"
    name = check_step_name(name if name[0].isalpha() else f"nb_{name}", f"notebook:{tags.notebook} on cell "
                           f"{cell.number}")
    if name.replace("_", "-") in steps:  # steps are keyed by KFP task name
        raise PipelineError(f"cell {cell.number}: notebook:{tags.notebook} makes step {name!r}, a name another step "
                            f"has: add step:<name> to the cell")
    step = steps[name.replace("_", "-")] = Step(name=name, notebook=tags.notebook, prev=list(tags.prev),
                              prev_cells={p: cell.number for p in tags.prev})
    pipeline.steps.append(step)
    pipeline.groups[name] = {"notebook": tags.notebook, "cell": cell.number, "steps": []}
    return step


def _compose(pipeline: Pipeline) -> None:
    """Each ``notebook:NAME`` step becomes the other notebook's steps, named ``<step>_<its step>``: values go in
    and come out by name, as between any steps; its parameters not given here keep their defaults."""
    expanded = []
    for step in pipeline.steps:
        if not step.notebook:
            expanded.append(step)
            continue
        group = pipeline.groups[step.name]
        child = _read_child(pipeline, step, group)
        given = _written(expanded)  # a value the steps above write is passed in; the other parameters keep defaults
        for name, param in child.parameters.items():
            if name not in given:
                pipeline.parameters.setdefault(name, param)
        if child.metrics:
            pipeline.warnings.append(f"notebook:{step.notebook} (cell {group['cell']}): its pipeline-metrics are not "
                                     "reported by this pipeline: print(name) them in a pipeline-metrics cell here")
        names = {s.name: f"{step.name}_{s.name}" for s in child.steps}
        for inner in child.steps:
            inner.name = check_step_name(names[inner.name], f"step {inner.name!r} of notebook:{step.notebook}")
            inner.prev = [names[p] if p in names else p for p in inner.prev] + [p for p in step.prev]
            inner.prev_cells = {names.get(p, p): n for p, n in inner.prev_cells.items()} | step.prev_cells
            inner.cells = child.shared + inner.cells  # the other notebook's imports and functions, run first
            inner.image = inner.image or child.image or None
            inner.group = step.name
            group["steps"].append(inner.name)
            expanded.append(inner)
    pipeline.steps = expanded
    for step in expanded:  # prev:<notebook step> waits for all of that notebook's steps
        for prev in [p for p in step.prev if p in pipeline.groups and step.group != p]:
            members = pipeline.groups[prev]["steps"]
            step.prev = list(dict.fromkeys(m if p == prev else p for p in step.prev for m in
                                           (members if p == prev else [p])))
            step.prev_cells.update({m: step.prev_cells.get(prev, step.first_cell) for m in members})
    taken = [s.task for s in expanded] + [g.replace("_", "-") for g in pipeline.groups]
    clash = next((t for t in taken if taken.count(t) > 1), None)
    if clash:
        raise PipelineError(f"two steps would both be the KFP task {clash!r} once notebook: steps are expanded: "
                            "rename one (step:<name> on the notebook: cell)")


def _written(steps: list) -> set:
    from jupyter_kf.pipeline.dataflow import analyse_cells

    names: set = set()
    for step in steps:
        names.update(analyse_cells(step.cells, f"step {step.name!r}")[0].writes)
    return names


def _read_child(pipeline: Pipeline, step: Step, group: dict) -> Pipeline:
    here = Path(pipeline.source).resolve().parent if pipeline.source else Path.cwd()
    path = (here / step.notebook).resolve()
    if not path.suffix:
        path = path.with_suffix(".ipynb")
    where = f"notebook:{step.notebook} on cell {group['cell']}"
    if not path.is_file():
        raise PipelineError(f"{where}: {path} not found: give the path of a notebook, relative to this one's folder")
    if pipeline.source and path == Path(pipeline.source).resolve():
        raise PipelineError(f"{where} names this notebook: a notebook cannot run itself")
    child = parse(path, compose=False)
    if child.groups:
        raise PipelineError(f"{where}: {path.name} has notebook: steps of its own; one level of notebook: steps is "
                            "supported: expand that notebook's notebook: cells into it")
    pipeline.warnings += [f"{where}: {warning}" for warning in child.warnings]
    group["notebook"] = str(path)
    return child


# kubeflow_notebook keys read; the others are Kale features jupyter_kf does not have
_READ_METADATA = {"pipeline_name", "pipeline_description", "experiment_name", "experiment", "kfp_host", "base_image",
                  "docker_image", "enable_caching", "volumes", "steps_defaults", "notebook_path", "sequential"}


def _defaults_as_tags(defaults, pipeline: Pipeline) -> list:
    """steps_defaults as tags: Kale writes a list of tags, or {"labels": {}, "annotations": {}, "limits": {}}."""
    if not isinstance(defaults, dict):
        return list(defaults)
    tags = []
    for key, value in defaults.items():
        kind = {"labels": "label", "annotations": "annotation", "limits": "limit"}.get(key)
        if kind is None or not isinstance(value, dict):
            pipeline.warnings.append(f"steps_defaults key {key!r} in the notebook metadata is not labels, annotations "
                                     "or limits: ignored")
            continue
        tags += [f"{kind}:{k}:{v}" for k, v in value.items()]
    return tags


def _warn_ignored_metadata(pipeline: Pipeline, meta: dict) -> None:
    """Name the set keys that change nothing here (katib_run, autosnapshot...), not those left at Kale's defaults."""
    ignored = [key for key, value in meta.items()
               if key not in _READ_METADATA and value not in (None, "", [], {}, False)
               and not (key == "katib_metadata" and not meta.get("katib_run"))]
    if ignored:
        pipeline.warnings.append(
            f"kubeflow_notebook metadata {', '.join(sorted(ignored))}: Kale settings jupyter_kf does not use, ignored "
            "(read: pipeline_name, pipeline_description, experiment_name, base_image or docker_image, kfp_host, "
            "enable_caching, volumes, steps_defaults)"
        )


def _group_by_tags(pipeline: Pipeline, cells) -> None:
    """Kale's rule: an untagged cell continues the tagged cell above it; ``skip`` is transparent."""
    current = None  # a Step or a block name
    steps: dict[str, Step] = {}  # by KFP task name (the step name with '-' for '_')
    blocks = {"imports": [], "functions": [], "parameters": [], "metrics": []}
    last_step_cell: dict[str, int] = {}
    dropped: list[int] = []  # code above the first tagged cell (Kale drops it: often !pip install)
    for cell, tags in cells:
        if tags.block == "skip":
            continue
        if tags.notebook and not tags.block:
            current = _notebook_step(pipeline, steps, cell, tags)
            continue
        if tags.block:
            if tags.block == "metrics" and pipeline.metrics_cell is None:
                pipeline.metrics_cell = cell.number
            current = tags.block
            blocks[current].append(cell)
            if tags.settings:
                pipeline.warnings.append(
                    f"cell {cell.number}: resource/image tags on a {tags.block} cell apply to no step: ignored"
                )
            continue
        if tags.step:
            current = _step_cell(pipeline, steps, cell, tags, current, last_step_cell)
            continue
        if tags.settings and not (tags.continues and isinstance(current, Step)):
            raise PipelineError(
                f"cell {cell.number} has resource, image or pod tags but no step:<name> tag: put them on a step's cell"
            )
        if current is None:
            if not is_blank(cell.code):
                dropped.append(cell.number)
                pipeline.dropped.append(cell)
            continue
        if tags.settings:
            _apply_settings(current, tags, cell.number)
        if isinstance(current, Step) and current.notebook and not is_blank(cell.code):
            raise PipelineError(f"cell {cell.number} has code but no tag, below the notebook:{current.notebook} cell "
                                f"(cell {pipeline.groups[current.name]['cell']}), which runs only that notebook: "
                                "give it a step:<name> tag")
        if isinstance(current, Step):
            current.cells.append(cell)
            last_step_cell[current.name] = cell.number
        else:
            blocks[current].append(cell)
    if dropped:
        cells_text = ("cell " if len(dropped) == 1 else "cells ") + ", ".join(map(str, dropped))
        pipeline.warnings.append(
            f"{cells_text}: code above the first tagged cell belongs to no step and is dropped, as Kale drops it "
            "(tag it imports, functions or step:<name> to keep it, skip to silence this)"
        )
    _finish_blocks(pipeline, blocks)


def _step_cell(pipeline: Pipeline, steps: dict, cell: Cell, tags: _CellTags, current, last_step_cell: dict) -> Step:
    """A cell with a step: tag: a new step, or more of the step above it; a step's cells come together."""
    if pipeline.metrics_cell is not None:
        raise PipelineError(f"cell {cell.number} starts step {tags.step!r} after the pipeline-metrics cell "
                            f"(cell {pipeline.metrics_cell}): the metrics cell must follow every step")
    task = tags.step.replace("_", "-")
    step = steps.get(task)  # steps by KFP task name: two step names that make one task clash
    if step is not None and step.name != tags.step:
        raise PipelineError(
            f"duplicate step name: step:{tags.step} (cell {cell.number}) and step:{step.name} "
            f"(cell {step.first_cell}) are the same KFP task {step.task!r}: rename one"
        )
    if step is None:
        step = steps[task] = Step(name=tags.step)
        pipeline.steps.append(step)
    elif current is not step:
        between = [s.name for s in pipeline.steps if s.first_cell > last_step_cell[step.name]]
        if between:
            raise PipelineError(
                f"cell {cell.number} is tagged step:{step.name}, but step {step.name!r} ended at cell "
                f"{last_step_cell[step.name]} and step {between[0]!r} started after it: a step's cells "
                f"must come together; give cell {cell.number} a step name of its own "
                f"(e.g. step:{step.name[:60]}_2)"
            )
    for prev in tags.prev:
        if prev not in step.prev:
            step.prev.append(prev)
            step.prev_cells[prev] = cell.number
    _apply_settings(step, tags, cell.number)
    step.cells.append(cell)
    last_step_cell[step.name] = cell.number
    return step


def _group_by_headings(pipeline: Pipeline, cells, markdown) -> None:
    """One step per top-level heading section: the smallest heading level used twice (else the smallest used)."""
    blocks = {"imports": [], "functions": [], "parameters": [], "metrics": []}
    levels = [level for _, level, _, _ in markdown]
    if not levels:
        pipeline.mode = "single"
        sections = [(pipeline.name.replace("-", "_")[:63].rstrip("_") or "main", 0)]
    else:
        pipeline.mode = "headings"
        repeated = sorted({lv for lv in levels if levels.count(lv) > 1})
        level = repeated[0] if repeated else min(levels)
        sections = [("setup", 0)] + [(title, pos) for _, lv, title, pos in markdown if lv == level]
    # cells before the first section heading form "setup" (only imports: the imports block)
    bounds = [pos for _, pos in sections[1:]] + [len(cells)]
    used: dict[str, int] = {}
    for index, (title, start) in enumerate(sections):
        members = cells[start:bounds[index]] if index else cells[:bounds[0]]
        own = []
        step_tags = []
        for cell, tags in members:
            if tags.block == "skip":
                continue
            if tags.block:
                blocks[tags.block].append(cell)
                if tags.block == "metrics" and pipeline.metrics_cell is None:
                    pipeline.metrics_cell = cell.number
                continue
            if is_blank(cell.code) and not tags.settings and not tags.prev:
                continue
            own.append(cell)
            step_tags.append(tags)
        if not own:
            continue
        if (  # a section holding only imports ("# Imports") is every step's imports, wherever it is
            pipeline.mode == "headings"
            and all(_only_imports(c.code) for c in own)
            and not any(t.settings for t in step_tags)
        ):
            blocks["imports"].extend(own)
            continue
        base = title if pipeline.mode == "single" or index == 0 else (slug(title, "_") or f"step_{index}")
        if not base[0].isalpha():
            base = f"step_{base}"
        name = base
        if name in used:
            used[name] += 1
            name = f"{base}_{used[base]}"
            pipeline.warnings.append(
                f"two sections are both called {base!r}: the one at cell {own[0].number} is step {name!r}"
            )
        else:
            used[name] = 1
        step = Step(name=check_step_name(name, f"the heading above cell {own[0].number}"), cells=own)
        for tags in step_tags:
            for prev in tags.prev:
                step.prev.append(prev)
                step.prev_cells[prev] = tags.number
            _apply_settings(step, tags, tags.number)
        pipeline.steps.append(step)
    if pipeline.mode == "single":
        pipeline.warnings.append("no step tags, # kf: markers or markdown headings: the whole notebook is one step")
    _finish_blocks(pipeline, blocks)


def _only_imports(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return all(isinstance(node, (ast.Import, ast.ImportFrom)) or _is_magic_call(node) for node in tree.body)


def _is_magic_call(node) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute)
        and isinstance(node.value.func.value, ast.Call)
        and getattr(node.value.func.value.func, "id", "") == "get_ipython"
    )


def _finish_blocks(pipeline: Pipeline, blocks: dict) -> None:
    pipeline.shared = [c for c in blocks["imports"] if not is_blank(c.code)] + [
        c for c in blocks["functions"] if not is_blank(c.code)
    ]
    for cell in blocks["parameters"]:
        for param in parse_parameters(cell):
            if param.name in pipeline.parameters:
                raise PipelineError(
                    f"pipeline parameter {param.name!r} is assigned twice (cell {cell.number}): keep one"
                )
            pipeline.parameters[param.name] = param
    for cell in blocks["metrics"]:
        for name in parse_metrics(cell):
            if name not in pipeline.metrics:
                pipeline.metrics.append(name)


_PARAM_TYPES = {
    bool: "BOOLEAN",
    int: "NUMBER_INTEGER",
    float: "NUMBER_DOUBLE",
    str: "STRING",
    list: "LIST",
    dict: "STRUCT",
}


def parse_parameters(cell: Cell) -> list[Parameter]:
    """``name = literal`` lines (int, float, str, bool, list, dict), as typed pipeline parameters."""
    accepted = "only assignments of literals (lr = 0.1, epochs = 5, mode = 'fast', shuffle = True, sizes = [1, 2])"
    try:
        tree = ast.parse(cell.code)
    except SyntaxError as err:
        raise PipelineError(
            f"the parameters cell (cell {cell.number}) has a syntax error at line {err.lineno}: it may hold {accepted}"
        ) from None
    params = []
    lines = cell.code.splitlines()
    for node in tree.body:
        line = lines[node.lineno - 1].strip() if node.lineno <= len(lines) else ""
        target = value = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        literal = _NO
        if target is not None:
            try:
                literal = ast.literal_eval(value)
            except (ValueError, SyntaxError, TypeError, RecursionError):
                literal = _NO
        kind = _PARAM_TYPES.get(type(literal))
        if target is None or literal is _NO or kind is None or not _json_like(literal):
            raise PipelineError(
                f"the parameters cell (cell {cell.number}) may hold {accepted}: line {node.lineno} is `{line}`"
            )
        params.append(Parameter(name=target, value=literal, type=kind))
    return params


_NO = object()


def _json_like(value) -> bool:
    if isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(_json_like(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_like(v) for k, v in value.items())
    return False


def parse_metrics(cell: Cell) -> list[str]:
    """Kale's ``print(name)`` lines (a bare ``name`` works too): the variables reported as KFP metrics."""
    try:
        tree = ast.parse(cell.code)
    except SyntaxError:
        tree = None
    names = []
    for node in tree.body if tree else [None]:
        value = node.value if isinstance(node, ast.Expr) else None
        if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "print" and len(value.args) == 1 \
                and not value.keywords and isinstance(value.args[0], ast.Name):
            names.append(value.args[0].id)
        elif isinstance(value, ast.Name):
            names.append(value.id)
        else:
            line = getattr(node, "lineno", 1)
            raise PipelineError(f"the pipeline-metrics cell (cell {cell.number}) may hold only print(name) lines, one "
                                f"variable each: line {line} is not")
    return names


def _apply_settings(step: Step, tags: _CellTags, cell_number: int | None) -> None:
    """Resource, image, pod and cache tags onto a step; ``cell_number`` None: steps_defaults (step tags win)."""
    where = f"cell {cell_number}" if cell_number else "steps_defaults"
    keep = cell_number is None  # defaults never override what a cell set
    res = step.resources
    for kind, values in (("limit", tags.limits), ("request", tags.requests)):
        for resource, value in values.items():
            if resource.endswith(GPU_SUFFIX):
                if kind == "request":
                    raise PipelineError(
                        f"{where}: request:{resource} is not needed: GPUs take limit:{resource}:<count> only"
                    )
                try:
                    count = int(value)
                except ValueError:
                    raise PipelineError(
                        f"{where}: limit:{resource}:{value} is not a whole number of GPUs, e.g. limit:{resource}:1"
                    ) from None
                if count < 0:
                    raise PipelineError(f"{where}: limit:{resource}:{value} is negative")
                if keep and res.accelerator_count:
                    continue
                res.accelerator, res.accelerator_count = resource, count
            elif resource in ("cpu", "memory"):
                amount = _quantity(value, f"{kind}:{resource} on {where}")
                if amount <= 0 or (resource == "memory" and amount < 2**20):
                    raise PipelineError(
                        f"{where}: {kind}:{resource}:{value} is too small: e.g. {kind}:cpu:500m, {kind}:memory:1Gi"
                    )
                attr = f"{resource}_{kind}"
                if keep and getattr(res, attr):
                    continue
                setattr(res, attr, value)
            else:
                step_note = f"step {step.name!r}"
                raise PipelineError(
                    f"{where}: {kind}:{resource} ({step_note}) is not a resource a KFP task can set: use cpu, "
                    "memory or <vendor>/gpu (e.g. nvidia.com/gpu)"
                )
    for resource in ("cpu", "memory"):
        request, limit = getattr(res, f"{resource}_request"), getattr(res, f"{resource}_limit")
        if request and limit and _quantity(request, "request") > _quantity(limit, "limit"):
            raise PipelineError(f"step {step.name!r}: request:{resource}:{request} is above limit:{resource}:{limit}")
    if tags.image and not (keep and step.image):
        step.image = tags.image
    if tags.cache is not None and not (keep and step.cache is not None):
        step.cache = tags.cache
    step.data += [item for item in tags.data if item not in step.data]
    for attr in ("labels", "annotations", "secrets"):
        mine = getattr(step, attr)
        for key, value in getattr(tags, attr).items():
            if not (keep and key in mine):
                mine[key] = value
