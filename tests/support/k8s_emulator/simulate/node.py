"""The one simulated node: its capacity (this machine's CPUs and memory, plus GPUs/TPUs asked for) and labels,
and the scheduler's fit check with the messages kube-scheduler gives for a pod that does not fit."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal

from tests.support.k8s_emulator import quantity

NODE_NAME = "simulated-node"
TPU_ACCELERATOR = "cloud.google.com/gke-tpu-accelerator"
TPU_TOPOLOGY = "cloud.google.com/gke-tpu-topology"
TERMINAL = ("Succeeded", "Failed")


def machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 1024 ** 3


def tpu_chips(topology: str) -> int:
    """Chips in a TPU slice topology such as ``2x4`` or ``2x2x4``."""
    chips = 1
    for part in topology.lower().split("x"):
        if not part.isdigit() or int(part) < 1:
            raise ValueError(f"--tpu TYPE:TOPOLOGY: bad topology {topology!r} (e.g. tpu-v5-lite-podslice:2x4)")
        chips *= int(part)
    return chips


@dataclass
class Node:
    """Capacity by resource name (Decimal) and labels; ``pods`` is filled by the scheduler."""

    capacity: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    name: str = NODE_NAME

    @classmethod
    def of_this_machine(cls, gpus: int = 0, labels: dict | None = None, tpu: str | None = None,
                        gpu_resource: str = "nvidia.com/gpu", cpus: int | None = None) -> "Node":
        capacity = {"cpu": Decimal(cpus or os.cpu_count() or 1), "memory": Decimal(machine_memory()), "pods": Decimal(110)}
        node_labels = {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
        if gpus:
            capacity[gpu_resource] = Decimal(gpus)
        if tpu:
            accelerator, sep, topology = tpu.partition(":")
            if not sep or not accelerator:
                raise ValueError(f"--tpu {tpu!r}: expected TYPE:TOPOLOGY, e.g. tpu-v5-lite-podslice:2x4")
            capacity["google.com/tpu"] = Decimal(tpu_chips(topology))
            node_labels.update({TPU_ACCELERATOR: accelerator, TPU_TOPOLOGY: topology})
        node_labels.update(labels or {})
        return cls(capacity=capacity, labels=node_labels)

    def manifest(self) -> dict:
        """The Node object ``kubectl get nodes`` shows."""
        amounts = {k: _format(k, v) for k, v in self.capacity.items()}
        return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.name, "labels": dict(self.labels)},
                "spec": {}, "status": {"capacity": amounts, "allocatable": dict(amounts),
                                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                                       "message": "kubelet is posting ready status"}],
                                       "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                                     {"type": "Hostname", "address": self.name}],
                                       "nodeInfo": _node_info()}}

    def unfit_reasons(self, pod: dict, bound: list[dict]) -> list[str]:
        """Why ``pod`` cannot go on this node beside the ``bound`` pods (empty: it fits)."""
        spec = pod.get("spec") or {}
        selector = spec.get("nodeSelector") or {}
        if any(self.labels.get(k) != v for k, v in selector.items()):
            return ["node(s) didn't match Pod's node affinity/selector"]
        wanted = pod_requests(pod)
        used: dict = {}
        for other in bound:
            for name, amount in pod_requests(other).items():
                used[name] = used.get(name, Decimal(0)) + amount
        reasons = [f"Insufficient {name}" for name, amount in sorted(wanted.items())
                   if amount > 0 and used.get(name, Decimal(0)) + amount > self.capacity.get(name, Decimal(0))]
        if len(bound) + 1 > self.capacity["pods"]:
            reasons.append("Too many pods")
        return reasons


def _node_info() -> dict:
    import platform

    return {"kubeletVersion": "v1.33.0", "kubeProxyVersion": "v1.33.0", "operatingSystem": "linux",
            "architecture": "amd64", "machineID": "simulated", "systemUUID": "simulated", "bootID": "simulated",
            "kernelVersion": platform.release(), "osImage": "k8s-emulator simulated node",
            "containerRuntimeVersion": "local-process://1"}


def unschedulable_message(reasons: list[str]) -> str:
    """kube-scheduler's FitError text for one node."""
    return f"0/1 nodes are available: {', '.join(f'1 {r}' for r in sorted(reasons))}."


def pod_requests(pod: dict) -> dict:
    """The pod's effective requests: the sum over containers, or the largest init container if bigger
    (requests default to limits, as the API server defaults them)."""
    spec = pod.get("spec") or {}
    total: dict = {}
    for container in spec.get("containers") or []:
        for name, amount in _container_requests(container).items():
            total[name] = total.get(name, Decimal(0)) + amount
    for container in spec.get("initContainers") or []:
        for name, amount in _container_requests(container).items():
            total[name] = max(total.get(name, Decimal(0)), amount)
    return total


def _container_requests(container: dict) -> dict:
    resources = container.get("resources") or {}
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: quantity.value(amount) for name, amount in merged.items()}


def _format(name: str, amount: Decimal) -> str:
    if name == "memory":
        return f"{int(amount) // 1024}Ki"
    return str(int(amount)) if amount == int(amount) else str(amount)
