"""Simulating mode: the emulator plus the controllers and a kubelet of a small Kubeflow cluster, in one
process, so workloads created through the API run to their end with nothing test-side.

    sim = Simulator(emulator, gpus=1)   # then sim.start() ... sim.stop()

Pods run their real commands on this machine (images are ignored); see README.md "Simulating mode".
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tests.support.k8s_emulator.simulate.node import Node

STOCK_RUNTIMES = Path(__file__).resolve().parents[3] / "data" / "reference" / "manifests" / "trainer-v2"


class Simulator:
    """Starts the controllers in the order a pass needs them (Kueue first: it suspends a queued workload
    before the workload's own controller makes anything)."""

    def __init__(self, emulator, gpus: int = 0, node_labels: dict | None = None, tpu: str | None = None,
                 pod_grace_cap: float = 30.0, cpus: int | None = None, notebook_proxy: bool = True,
                 stdlib_only_images: tuple = ()):
        from tests.support.k8s_emulator.simulate.loop import ControllerLoop

        self.emu = emulator
        self.node = Node.of_this_machine(gpus=gpus, labels=node_labels, tpu=tpu, cpus=cpus)
        self.root = Path(tempfile.mkdtemp(prefix="k8s-simulator-"))  # mkdtemp: 0700
        self.controllers = self._controllers()
        self.kubelet.stdlib_only_images = tuple(stdlib_only_images)  # e.g. ("python:",): images without our packages
        self.loop = ControllerLoop(emulator, self.controllers)
        if notebook_proxy:  # False: on an emulator already serving (tests' in-process cluster), no notebook URLs
            self._install_proxy()
        emulator.pod_termination = pod_grace_cap  # the kubelet ends deleted pods sooner, once their processes exit

    def _controllers(self) -> list:
        from tests.support.k8s_emulator.simulate.deployments import DeploymentController
        from tests.support.k8s_emulator.simulate.jobs import JobController
        from tests.support.k8s_emulator.simulate.kserve import KServeController
        from tests.support.k8s_emulator.simulate.kubelet import Kubelet
        from tests.support.k8s_emulator.simulate.kueue import KueueController
        from tests.support.k8s_emulator.simulate.notebooks import NotebookController, StatefulSetController
        from tests.support.k8s_emulator.simulate.pytorchjob import PyTorchJobController
        from tests.support.k8s_emulator.simulate.trainer import JobSetController, TrainJobController

        self.kubelet = Kubelet(self.emu, self.node, self.root)
        kueue = KueueController(self.emu)
        workloads = [TrainJobController(self.emu), JobSetController(self.emu), PyTorchJobController(self.emu),
                     JobController(self.emu)]
        for controller in workloads:
            controller.gate = kueue.admitted_or_unqueued
        return [kueue, *workloads, NotebookController(self.emu), StatefulSetController(self.emu),
                KServeController(self.emu), DeploymentController(self.emu), self.kubelet]

    def _install_proxy(self) -> None:
        """Notebook servers at ``/notebook/<ns>/<name>/`` on the emulator's port (before it starts serving)."""
        from tests.support.k8s_emulator.simulate.proxy import NotebookProxy

        if self.emu.port:
            raise RuntimeError("create the Simulator before starting the emulator: it serves notebooks on its port")
        self.emu.app = NotebookProxy(self.emu.app, self.kubelet)

    def _stock_runtimes(self) -> None:
        """The ClusterTrainingRuntimes a Trainer v2.3 install ships (torch-distributed), unless already there."""
        import yaml

        for path in sorted(STOCK_RUNTIMES.glob("*clustertrainingruntime*.yaml")):
            runtime = yaml.safe_load(path.read_text())
            if self.emu.get_object("trainer.kubeflow.org", "v1alpha1", "clustertrainingruntimes", None,
                                   runtime["metadata"]["name"]) is None:
                self.emu.create_object(runtime)

    def _trainer_installed(self) -> bool:
        try:
            self.emu.resource("trainer.kubeflow.org", "v1alpha1", "trainjobs")
            return True
        except KeyError:
            return False

    @property
    def errors(self) -> list[str]:
        return self.loop.errors + (self.katib.errors if getattr(self, "katib", None) is not None else [])

    def start(self) -> "Simulator":
        from tests.support.k8s_emulator.simulate.jobset_crd import ensure_jobset_api

        if self._trainer_installed():
            ensure_jobset_api(self.emu)
            self._stock_runtimes()
        self.kubelet.register_node()
        self.loop.start()
        self._start_katib()
        return self

    def _start_katib(self) -> None:
        """Katib's experiment and trial controllers (tests/support/fake_katib.py), trial jobs left to the cluster."""
        from tests.support.fake_katib import FakeKatib
        from tests.support.k8s_emulator.webhook_katib import install_katib, installed

        self.katib = None
        try:
            self.emu.resource("kubeflow.org", "v1beta1", "experiments")
        except KeyError:
            return
        if not installed(self.emu.store):
            install_katib(self.emu)
        self.katib = FakeKatib(self.emu).__enter__()

    def stop(self) -> None:
        if getattr(self, "katib", None) is not None:
            self.katib.__exit__(None, None, None)
        self.loop.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

