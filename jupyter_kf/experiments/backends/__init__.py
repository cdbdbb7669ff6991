"""Where searches run: ``local`` (optuna here, each trial a local job) or ``kubernetes`` (one Katib Experiment)."""
from __future__ import annotations

from jupyter_kf.errors import InvalidSpec


def get_backend(requested: str | None = None):
    from jupyter_kf.training.backends import resolve_name

    name = resolve_name(requested)
    if name == "local":
        from jupyter_kf.experiments.backends.local import LocalExperiments

        return LocalExperiments()
    if name == "kubernetes":
        from jupyter_kf.experiments.backends.kubernetes import KatibExperiments

        return KatibExperiments()
    raise InvalidSpec(f"backend {name!r} is unknown: use local, kubernetes or auto")
