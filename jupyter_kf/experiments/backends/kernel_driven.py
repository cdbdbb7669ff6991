"""Searches on a cluster without Katib: the search runs in the kernel exactly as locally (optuna asks, the
kernel counts trials and reads their ``name=value`` lines), each trial a %%kf_train job on the cluster, so
the same cell works whether or not Katib is installed."""
from __future__ import annotations

from jupyter_kf.experiments.backends.local import LocalExperiments
from jupyter_kf.experiments.spec import ExperimentSpec


class KernelDrivenExperiments(LocalExperiments):
    name = "kubernetes"
    trial_backend = "kubernetes"
    driven_by = "kernel"
    state = "experiments-kubernetes"

    def cap(self, spec: ExperimentSpec) -> int:
        return max(1, spec.parallel)  # the cluster's scheduler queues what does not fit
