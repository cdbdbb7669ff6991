"""A stdlib HTTP emulator of the Kubernetes REST API for jupyter_kf's tests (see README.md)."""
from .emulator import K8sEmulator

__all__ = ["K8sEmulator"]
