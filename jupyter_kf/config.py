"""Settings, as traitlets, read from Jupyter config files and the IPython config.

``c.KfConfig.backend = "local"`` in ``jupyter_kf_config.py`` (any Jupyter config folder) or in
``ipython_config.py``; environment variables ``JUPYTER_KF_BACKEND`` / ``JUPYTER_KF_STATE_DIR`` win
over files, and flags win over everything.
"""
from __future__ import annotations

import os
from pathlib import Path

from traitlets import Int, Unicode, default
from traitlets.config import Config, Configurable

_current: "KfConfig | None" = None


class KfConfig(Configurable):
    backend = Unicode(
        "auto", help="Where jobs run: 'local', 'kubernetes', or 'auto' (kubernetes when a kubeconfig exists)."
    ).tag(config=True)
    state_dir = Unicode(help="Folder where local jobs, their logs and results live.").tag(config=True)
    namespace = Unicode("", help="Kubernetes namespace for jobs; empty: the kubeconfig context's.").tag(config=True)
    cpu = Unicode("", help="Default CPU per worker, a Kubernetes quantity such as '1' or '500m'.").tag(config=True)
    memory = Unicode("", help="Default memory per worker, a Kubernetes quantity such as '2Gi'.").tag(config=True)
    gpus = Int(0, help="Default GPUs per worker.").tag(config=True)
    image = Unicode("", help="Default container image; empty: python:<kernel's major.minor>-slim.").tag(config=True)
    payload_limit = Unicode("1Gi", help="Largest pickled inputs a job may take, a quantity such as '512Mi'.").tag(
        config=True
    )
    log_lines = Int(200, help="Log lines kept under a cell's live view.").tag(config=True)
    store = Unicode("", help="S3-compatible store for inputs and results too large for a ConfigMap or a log, "
                             "as s3://bucket/prefix; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.").tag(config=True)
    store_endpoint = Unicode("", help="The store's URL as this machine reaches it, e.g. http://minio.kubeflow:9000.").tag(config=True)
    store_cluster_endpoint = Unicode("", help="The store's URL as pods reach it (default: store_endpoint).").tag(config=True)
    store_region = Unicode("us-east-1", help="The store's region.").tag(config=True)
    store_secret = Unicode("", help="Kubernetes Secret (keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) that pods read "
                                    "the store's credentials from; referenced, never copied.").tag(config=True)
    store_mount = Unicode("", help="Where the store's PVC is mounted in this notebook server, when c.KfConfig.store is "
                                   "pvc://claim/prefix (models are written there).").tag(config=True)
    serving_mode = Unicode("", help="KServe deployment mode to use: 'Standard' or 'Knative'; empty: the cluster's "
                                    "default (ConfigMap kserve/inferenceservice-config).").tag(config=True)
    serving_service_account = Unicode("", help="ServiceAccount deployed models run as (it must reach the store); empty: "
                                               "one made for c.KfConfig.store_secret.").tag(config=True)

    @default("state_dir")
    def _default_state_dir(self):
        from jupyter_core.paths import jupyter_data_dir

        return str(Path(jupyter_data_dir()) / "kf")

    @property
    def jobs_dir(self) -> Path:
        return Path(self.state_dir).expanduser() / "jobs"


def _file_config() -> Config:
    """The ``jupyter_kf_config`` files in Jupyter's config path, lowest priority first."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

    merged = Config()
    for folder in reversed(jupyter_config_path()):
        for loader_cls, fname in ((JSONFileConfigLoader, "jupyter_kf_config.json"), (PyFileConfigLoader, "jupyter_kf_config.py")):
            if (Path(folder) / fname).is_file():
                merged.merge(loader_cls(fname, path=folder).load_config())
    return merged


def get() -> KfConfig:
    """The settings in force, built once per process."""
    global _current
    if _current is None:
        cfg = _file_config()
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:  # pragma: no cover - IPython is a dependency
            shell = None
        if shell is not None:
            cfg.merge(shell.config)
        _current = KfConfig(config=cfg)
        if os.environ.get("JUPYTER_KF_BACKEND"):
            _current.backend = os.environ["JUPYTER_KF_BACKEND"]
        if os.environ.get("JUPYTER_KF_STATE_DIR"):
            _current.state_dir = os.environ["JUPYTER_KF_STATE_DIR"]
    return _current


def reset() -> None:
    """Forget the settings so the next ``get()`` reads them again (tests, config reloads)."""
    global _current
    _current = None
