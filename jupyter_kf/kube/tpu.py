"""Cloud TPU slices on GKE: ``--tpu TYPE:TOPOLOGY`` as the node selectors, resources and hosts GKE requires.

GKE schedules a TPU pod by two node labels (``cloud.google.com/gke-tpu-accelerator`` and
``cloud.google.com/gke-tpu-topology``) and the ``google.com/tpu`` resource, which counts the chips of one
host (VM). A topology with more chips than one host holds is a multi-host slice: one pod per host, each
asking for all of its host's chips. The figures are GKE's (cloud.google.com/kubernetes-engine/docs/concepts/
plan-tpus); the tests pin them.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from jupyter_kf.errors import InvalidSpec

TPU_RESOURCE = "google.com/tpu"
ACCELERATOR_LABEL = "cloud.google.com/gke-tpu-accelerator"
TOPOLOGY_LABEL = "cloud.google.com/gke-tpu-topology"


@dataclass(frozen=True)
class TpuType:
    accelerator: str  # the node label's value
    dimensions: int  # 2 (v5e, v6e: AxB) or 3 (v4, v5p: AxBxC)
    host_chips: int  # chips of one host in a multi-host slice
    single_host_max: int  # the most chips a single-host slice has (one VM)


TPU_TYPES = {
    "v4": TpuType("tpu-v4-podslice", 3, 4, 4),
    "v5e": TpuType("tpu-v5-lite-podslice", 2, 4, 8),
    "v5p": TpuType("tpu-v5p-slice", 3, 4, 4),
    "v6e": TpuType("tpu-v6e-slice", 2, 4, 8),
}
ALIASES = {"v5litepod": "v5e", "v5lite": "v5e"}
_TOPOLOGY = re.compile(r"^[1-9][0-9]*(x[1-9][0-9]*){1,2}$")


@dataclass(frozen=True)
class TpuSlice:
    """One TPU slice: its type (v5e, ...) and topology (2x4, ...), and what follows from them."""

    type: str
    topology: str

    @property
    def kind(self) -> TpuType:
        return TPU_TYPES[self.type]

    @property
    def chips(self) -> int:
        return math.prod(int(side) for side in self.topology.split("x"))

    @property
    def hosts(self) -> int:
        return 1 if self.chips <= self.kind.single_host_max else self.chips // self.kind.host_chips

    @property
    def chips_per_host(self) -> int:
        return self.chips // self.hosts

    def node_selector(self) -> dict[str, str]:
        return {ACCELERATOR_LABEL: self.kind.accelerator, TOPOLOGY_LABEL: self.topology}

    def toleration(self) -> dict:
        """GKE taints TPU nodes with ``google.com/tpu``; a TPU pod tolerates it."""
        return {"key": TPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}

    def single_host(self, what: str) -> "TpuSlice":
        """The slice, or one line when ``what`` (a notebook server, a model) cannot span several hosts."""
        if self.hosts > 1:
            raise InvalidSpec(f"--tpu {self}: a {self.topology} {self.type} slice spans {self.hosts} hosts, and {what} "
                              f"runs on one: use a single-host topology (at most {self.kind.single_host_max} chips, "
                              f"e.g. {self.type}:{_single_host_example(self.kind)})")
        return self

    def __str__(self) -> str:
        return f"{self.type}:{self.topology}"


def parse_tpu(value) -> TpuSlice | None:
    """``"v5e:2x4"`` (or a ``TpuSlice``, or its dict) -> ``TpuSlice``; nothing given -> None; else one line."""
    if value in (None, ""):
        return None
    if isinstance(value, TpuSlice):
        return value
    if isinstance(value, dict):
        value = f"{value.get('type')}:{value.get('topology')}"
    kind, _, topology = str(value).strip().lower().partition(":")
    kind = ALIASES.get(kind, kind)
    accepted = ", ".join(f"{name}:{_single_host_example(t)}" for name, t in TPU_TYPES.items())
    if kind not in TPU_TYPES or not _TOPOLOGY.match(topology):
        raise InvalidSpec(f"--tpu {value!r} is not a TPU slice: use TYPE:TOPOLOGY with TYPE one of "
                          f"{', '.join(TPU_TYPES)}, e.g. {accepted}")
    slice_ = TpuSlice(kind, topology)
    dims = topology.count("x") + 1
    if dims != slice_.kind.dimensions:
        shape = "AxBxC" if slice_.kind.dimensions == 3 else "AxB"
        raise InvalidSpec(f"--tpu {value!r}: a {kind} topology has {slice_.kind.dimensions} sides ({shape}), "
                          f"e.g. {kind}:{_single_host_example(slice_.kind)}")
    if slice_.chips > slice_.kind.single_host_max and slice_.chips % slice_.kind.host_chips:
        raise InvalidSpec(f"--tpu {value!r}: {slice_.chips} chips do not fill whole {kind} hosts of "
                          f"{slice_.kind.host_chips} chips")
    return slice_


def _single_host_example(kind: TpuType) -> str:
    return "2x2x1" if kind.dimensions == 3 else "2x4"
