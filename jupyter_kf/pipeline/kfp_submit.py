"""Sending a converted pipeline to a Kubeflow Pipelines endpoint, with the ``kfp`` client (an extra).

``kfp`` pins requests, urllib3 and kubernetes<31 exactly, so the core never depends on it: it is
imported here, on first use, and its absence is one line saying how to install it.
``submit_package`` needs nothing but ``kfp`` and the standard library.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass

from jupyter_kf.errors import KfError

INSTALL_HINT = "pip install 'jupyter_kf[kfp]'"


class KfpMissing(KfError):
    """The ``kfp`` extra is not installed."""


@dataclass
class SubmittedRun:
    run_id: str
    experiment: str
    host: str | None
    pipeline: str = ""

    @property
    def url(self) -> str | None:
        return f"{self.host.rstrip('/')}/#/runs/details/{self.run_id}" if self.host else None

    def __repr__(self) -> str:
        where = f" at {self.url}" if self.url else ""
        return f"pipeline {self.pipeline!r} submitted: run {self.run_id} in experiment {self.experiment!r}{where}"


def load_kfp():
    try:
        import kfp  # noqa: F401
        from kfp import client
    except ImportError as err:
        missing = getattr(err, "name", None) or "kfp"
        raise KfpMissing(f"submitting to Kubeflow Pipelines needs the kfp client ({missing} is not installed): "
                         f"{INSTALL_HINT}") from None
    return client


def submit_package(path: str, *, host: str | None = None, experiment: str | None = None, run_name: str | None = None,
                   arguments: dict | None = None, namespace: str | None = None, token: str | None = None,
                   pipeline: str = "", enable_caching: bool | None = None) -> SubmittedRun:
    """Create a run of the IR file ``path`` in ``experiment`` (created when missing) at ``host``."""
    client_module = load_kfp()
    host = host or os.environ.get("KF_PIPELINES_ENDPOINT") or None
    experiment = experiment or "Default"
    try:
        with warnings.catch_warnings():  # kfp warns on every Client() that it needs KFP >= 2.0.0-beta.2
            warnings.simplefilter("ignore", FutureWarning)
            client = client_module.Client(host=host, existing_token=token, namespace=namespace or "kubeflow")
        result = client.create_run_from_pipeline_package(path, arguments=arguments or {}, run_name=run_name,
                                                         experiment_name=experiment, namespace=namespace,
                                                         enable_caching=enable_caching)
    except KfError:
        raise
    except Exception as err:  # connection refused, 401, 404 from a wrong path: one line, with where it went
        reason = f"{type(err).__name__}: {err}".split("\n")[0][:300]
        raise KfError(f"Kubeflow Pipelines at {host or 'the in-cluster endpoint'} refused the run: {reason} "
                      "(check --host, or KF_PIPELINES_ENDPOINT, and that you are signed in)") from None
    return SubmittedRun(run_id=result.run_id, experiment=experiment, host=host, pipeline=pipeline)


def submit(notebook, *, host: str | None = None, experiment: str | None = None, run_name: str | None = None,
           parameters=None, namespace: str | None = None, token: str | None = None, name: str | None = None,
           image: str | None = None, enable_caching: bool | None = None, sequential: bool | None = None,
           install_packages: bool | None = None) -> SubmittedRun:
    """Convert ``notebook`` and start a run of it on Kubeflow Pipelines (needs ``jupyter_kf[kfp]``)."""
    load_kfp()
    from jupyter_kf import config
    from jupyter_kf.pipeline.conversion import Conversion, convert
    from jupyter_kf.pipeline.local import parse_parameters

    conversion = notebook if isinstance(notebook, Conversion) else convert(
        notebook, name=name, image=image, sequential=sequential, install_packages=install_packages)
    pipeline = conversion.pipeline
    arguments = {k: v for k, v in parse_parameters(pipeline.parameters, parameters).items()
                 if parameters and k in (parameters if isinstance(parameters, dict) else
                                         [str(p).partition("=")[0].strip() for p in parameters])}
    with tempfile.TemporaryDirectory(prefix="kf-pipeline-") as folder:
        path = os.path.join(folder, f"{pipeline.name}.yaml")
        conversion.write(path)
        conversion.path = None
        settings = config.get()  # c.KfConfig.kfp_host / kfp_experiment: the same defaults for magic, API and CLI
        return submit_package(path, host=host or pipeline.host or settings.kfp_host or None,
                              experiment=experiment or pipeline.experiment or settings.kfp_experiment or None,
                              run_name=run_name, arguments=arguments, namespace=namespace, token=token,
                              pipeline=pipeline.name, enable_caching=enable_caching)
