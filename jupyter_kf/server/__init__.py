"""The jupyter_server extension: the REST face of ``jupyter_kf.api`` under ``<base_url>jupyter-kf/api/``."""
from __future__ import annotations

from .handlers import setup_handlers


def _jupyter_server_extension_points():
    return [{"module": "jupyter_kf.server"}]


def _load_jupyter_server_extension(server_app):
    setup_handlers(server_app.web_app)
    server_app.log.info("Registered jupyter_kf server extension")
