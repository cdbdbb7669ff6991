"""What a notebook becomes on its way to a pipeline: cells, steps, parameters, and the inferred flow.

Plain dataclasses, no logic: ``tags`` fills them from the notebook, ``dataflow`` adds inputs,
outputs and edges, ``ir`` turns them into a PipelineSpec.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from jupyter_kf.errors import KfError


class PipelineError(KfError):
    """The notebook cannot become a pipeline: one line saying where and what is accepted."""


class PipelineFailed(KfError):
    """A pipeline run ended without success; ``run`` holds every step's outcome."""

    http_status = 409

    def __init__(self, message: str, run=None):
        super().__init__(message)
        self.run = run


@dataclass
class Cell:
    """One code cell as the pipeline sees it (``number`` counts every cell from 1, as a reader does)."""

    number: int
    source: str  # as written
    code: str  # IPython syntax turned into Python, jupyter_kf's own magics left out
    tags: list = field(default_factory=list)


@dataclass
class Resources:
    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    accelerator: str | None = None  # e.g. nvidia.com/gpu
    accelerator_count: int = 0

    def any(self) -> bool:
        return any((self.cpu_request, self.cpu_limit, self.memory_request, self.memory_limit, self.accelerator_count))


@dataclass
class Step:
    name: str  # as the notebook writes it (step:load_data)
    cells: list = field(default_factory=list)  # [Cell]
    prev: list = field(default_factory=list)  # names from prev: tags
    prev_cells: dict = field(default_factory=dict)  # prev name -> cell number that declared it
    resources: Resources = field(default_factory=Resources)
    image: str | None = None
    cache: bool | None = None
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    secrets: dict = field(default_factory=dict)  # ENV -> (secret name, key)
    data: list = field(default_factory=list)  # data: tags, "NAME[@VERSION]:MOUNT" (pinned when compiled)
    data_plan: dict | None = None  # the data: tags resolved: exact versions, mount points, the store for pods
    # filled by dataflow
    inputs: dict = field(default_factory=dict)  # variable -> producing step name
    params: list = field(default_factory=list)  # pipeline parameters read
    outputs: list = field(default_factory=list)  # variables later steps read
    metrics: list = field(default_factory=list)  # variables reported as KFP metrics
    shipped: list = field(default_factory=list)  # [Cell]: imports and definitions carried from earlier steps
    after: list = field(default_factory=list)  # every upstream step, data edges and prev: tags
    modules: list = field(default_factory=list)  # top-level modules the step imports
    group: str | None = None  # the notebook:NAME step this step belongs to (a nested DAG in the IR)
    notebook: str | None = None  # set on a notebook:NAME cell's step until it is expanded into the other's steps
    packages: dict = field(default_factory=dict)  # module -> pinned requirement, installed at step start if missing

    @property
    def task(self) -> str:
        """The KFP task name: Kale's snake_case names become DNS-1123 labels."""
        return self.name.replace("_", "-")

    @property
    def first_cell(self) -> int:
        return self.cells[0].number if self.cells else 0


@dataclass
class Parameter:
    name: str
    value: object
    type: str  # NUMBER_INTEGER, NUMBER_DOUBLE, STRING, BOOLEAN, LIST, STRUCT


@dataclass
class Pipeline:
    name: str
    description: str = ""
    steps: list = field(default_factory=list)  # [Step], notebook order
    parameters: dict = field(default_factory=dict)  # name -> Parameter
    metrics: list = field(default_factory=list)  # variable names from the pipeline-metrics cell
    metrics_cell: int | None = None
    shared: list = field(default_factory=list)  # [Cell]: Kale's imports and functions cells, run first in every step
    dropped: list = field(default_factory=list)  # [Cell]: untagged code above the first tagged cell (as Kale does)
    image: str = ""
    cache: bool = True
    volumes: list = field(default_factory=list)  # [{"name": pvc, "mount_point": path}]
    experiment: str | None = None
    host: str | None = None
    mode: str = "tags"  # tags | headings | single
    sequential: bool = False  # every step after the one above it (notebook order), not only after its data
    groups: dict = field(default_factory=dict)  # notebook:NAME step -> {"notebook": path, "cell": n, "steps": [...]}
    warnings: list = field(default_factory=list)
    source: str = ""  # the notebook's path, when read from a file
    python: str = ""  # major.minor of the Python that converted it
    data_pods: dict = field(default_factory=dict)  # steps using datasets: {"env", "secret", "sources"} for pods

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)
