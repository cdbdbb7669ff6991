"""Suite-wide fixtures: an isolated jupyter_kf state folder for every test, and Jupyter server fixtures."""

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server", "tests.support.k8s_emulator.fixtures"]


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


@pytest.fixture
def kf_cluster(k8s_emulator, kubeconfig_path, monkeypatch):
    """The emulator as the user's cluster (kubeconfig), a fresh connection, Kubeflow Trainer's stock runtime."""
    import yaml

    from jupyter_kf import config
    from jupyter_kf.training.backends import kubernetes
    from tests.support.helpers import STOCK_RUNTIME

    monkeypatch.setenv("JUPYTER_KF_BACKEND", "kubernetes")
    config.reset()
    kubernetes.reset()
    k8s_emulator.create_object(yaml.safe_load(STOCK_RUNTIME.read_text()))
    yield k8s_emulator
    kubernetes.reset()


def pytest_configure(config):
    config.addinivalue_line("markers", "simulated(gpus=0, tpu=None, cpus=None): the node of the `simulator` fixture")


@pytest.fixture
def simulator(kf_cluster, request):
    """The simulating mode's controllers and kubelet on the test's cluster: workloads run to their end by themselves.

    ``@pytest.mark.simulated(gpus=2)`` sizes its node. The session's emulator is already serving, so notebook
    servers get no URL here (tests/kube/test_simulate.py covers them on an emulator of its own). A controller
    error fails the test."""
    from tests.support.k8s_emulator.simulate import Simulator

    marker = request.node.get_closest_marker("simulated")
    sim = Simulator(kf_cluster, notebook_proxy=False, **(marker.kwargs if marker else {})).start()
    yield sim
    sim.stop()
    assert not sim.errors, sim.errors


@pytest.fixture
def simulated_cluster(simulator):
    """The emulator of ``kf_cluster`` with the simulator running on it."""
    return simulator.emu
