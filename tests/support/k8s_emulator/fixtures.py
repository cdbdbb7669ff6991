"""Pytest fixtures (plain sync) for the Kubernetes API emulator.

One server per test session, reset before and after each test (a reset takes about a millisecond),
with every CRD from the shared folder installed. Load with
``pytest_plugins = ["tests.support.k8s_emulator.fixtures"]`` in the root conftest.
"""
from __future__ import annotations

import pytest

from tests.support.k8s_emulator.emulator import K8sEmulator

__all__ = ["k8s_emulator_server", "k8s_emulator", "k8s_client_config", "k8s_api_client", "kubeconfig_path"]


@pytest.fixture(scope="session")
def k8s_emulator_server():
    """The session's emulator process-wide server (prefer ``k8s_emulator``, which resets it)."""
    emulator = K8sEmulator(crds="all").start()
    yield emulator
    emulator.stop()


@pytest.fixture
def k8s_emulator(k8s_emulator_server) -> K8sEmulator:
    """A running emulator in a fresh state: default namespaces, all shared CRDs, no faults or denials."""
    k8s_emulator_server.reset(crds="all")
    yield k8s_emulator_server
    k8s_emulator_server.reset(crds="all")


@pytest.fixture
def k8s_client_config(k8s_emulator):
    """A ``kubernetes.client.Configuration`` pointing at the emulator."""
    return k8s_emulator.client_configuration()


@pytest.fixture
def k8s_api_client(k8s_client_config):
    """A ``kubernetes.client.ApiClient`` on that configuration, closed after the test."""
    from kubernetes import client

    api_client = client.ApiClient(k8s_client_config)
    yield api_client
    api_client.close()


@pytest.fixture
def kubeconfig_path(k8s_emulator, tmp_path, monkeypatch):
    """A kubeconfig file for the emulator (context namespace ``default``), exported as ``$KUBECONFIG``.

    The client reads ``$KUBECONFIG`` once, when ``kubernetes.config`` is imported, so its default
    location is patched too: ``config.load_kube_config()`` with no argument finds this file.
    """
    import kubernetes.config
    import kubernetes.config.kube_config

    path = k8s_emulator.write_kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    monkeypatch.setattr(kubernetes.config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    return path
