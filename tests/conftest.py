"""Suite-wide fixtures: an isolated jupyter_kf state folder for every test, and Jupyter server fixtures."""

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server", "tests.k8s_emulator.fixtures"]


@pytest.fixture(autouse=True)
def kf_state_dir(tmp_path, monkeypatch):
    """Each test gets its own job registry so no test sees another's jobs."""
    state = tmp_path / "kf-state"
    monkeypatch.setenv("JUPYTER_KF_STATE_DIR", str(state))
    monkeypatch.setenv("JUPYTER_KF_BACKEND", "local")
    from jupyter_kf import config

    config.reset()
    yield state
    config.reset()
