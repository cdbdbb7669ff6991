"""The jupyter_server extension: the REST face of ``jupyter_kf`` under ``<base_url>jupyter-kf/api/``.

Settings: ``c.KfServer.namespaces = ["team-a", "team-b"]`` (the allow-list) and the other traits of
``KfServer`` in ``jupyter_server_config.py``.
"""
from __future__ import annotations

from jupyter_kf.server.handlers import MANAGER_KEY, setup_handlers
from jupyter_kf.server.manager import KfManager, KfServer

__all__ = ["KfServer", "KfManager"]


def _jupyter_server_extension_points():
    return [{"module": "jupyter_kf.server"}]


def _load_jupyter_server_extension(server_app):
    settings = KfServer(parent=server_app)
    manager = KfManager(settings, log=server_app.log)
    setup_handlers(server_app.web_app, manager)
    server_app.log.info("Registered jupyter_kf server extension (namespaces: %s)",
                        ", ".join(settings.namespaces) or "the kubeconfig's")


def _unload_jupyter_server_extension(server_app):
    manager = server_app.web_app.settings.get(MANAGER_KEY)
    if manager is not None:
        manager.stop()
