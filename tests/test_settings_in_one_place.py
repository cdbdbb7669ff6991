"""Every default lives on c.KfConfig, so the magics, the Python API, the CLI and REST agree."""
import pytest

from jupyter_kf import config
from jupyter_kf.notebooks.spec import NotebookSpec


@pytest.fixture
def settings(monkeypatch):
    config.reset()
    cfg = config.get()
    monkeypatch.setattr(cfg, "notebook_image", "quay.io/team/lab:1")
    monkeypatch.setattr(cfg, "notebook_workspace", "20Gi")
    monkeypatch.setattr(cfg, "notebook_timeout", "90")
    return cfg


def test_notebook_defaults_come_from_the_config(settings):
    spec = NotebookSpec.create("lab")
    assert spec.image == "quay.io/team/lab:1" and spec.workspace.size == "20Gi" and spec.timeout == 90
    given = NotebookSpec.create("lab", image="quay.io/other:2", workspace="none", timeout="2m")
    assert given.image == "quay.io/other:2" and given.workspace.size is None and given.timeout == 120


def test_the_form_shows_the_configured_defaults(settings):
    from IPython.core.interactiveshell import InteractiveShell

    from jupyter_kf.notebooks.magics import NotebookMagics

    shell = InteractiveShell.instance()
    form = NotebookMagics(shell=shell).kf_notebook("--backend local")
    assert form.image.value == "quay.io/team/lab:1" and form.timeout == "90"
