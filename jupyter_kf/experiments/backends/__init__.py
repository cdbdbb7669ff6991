"""Where searches run: ``local`` (optuna here, each trial a local job) or ``kubernetes``: one Katib Experiment
where Katib is installed, else the same search driven from the kernel with each trial a job on the cluster."""
from __future__ import annotations

from jupyter_kf.errors import InvalidSpec


def get_backend(requested: str | None = None):
    from jupyter_kf.training.backends import resolve_name

    name = resolve_name(requested)
    if name == "local":
        from jupyter_kf.experiments.backends.local import LocalExperiments

        return LocalExperiments()
    if name == "kubernetes":
        from jupyter_kf.experiments.backends.kubernetes import KatibExperiments, katib_installed
        from jupyter_kf.kube.client import ClusterError
        from jupyter_kf.training.backends.kubernetes import KubernetesBackend

        jobs = KubernetesBackend()
        try:
            with_katib = katib_installed(jobs.cluster)
        except ClusterError:  # no cluster to ask: a dry run shows what Katib would get, anything else says why
            with_katib = True
        if with_katib:
            return KatibExperiments(jobs)
        from jupyter_kf.experiments.backends.kernel_driven import KernelDrivenExperiments

        return KernelDrivenExperiments()
    raise InvalidSpec(f"backend {name!r} is unknown: use local, kubernetes or auto")
