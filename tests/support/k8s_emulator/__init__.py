"""A stdlib HTTP emulator of the Kubernetes REST API for jupyter_kf's tests (see README.md)."""
from tests.support.k8s_emulator.emulator import K8sEmulator

__all__ = ["K8sEmulator"]
