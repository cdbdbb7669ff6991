"""Validating admission webhooks: the rules controllers enforce beyond their CRD schemas.

The apiserver calls a validating webhook after the object passed its own validation; a denial comes
back as the webhook's Status with ``admission webhook "<name>" denied the request: `` before its
message (k8s.io/apiserver ``webhookerrors.ToStatusErr``). Each controller's rules live in a module
of their own that registers a :class:`Webhook` per resource with :func:`register`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tests.support.k8s_emulator.errors import ApiError, invalid
from tests.support.k8s_emulator.schema import FieldError

# check(store, obj, old) -> field errors; old is None on create
Check = Callable[[object, dict, "dict | None"], "list[FieldError]"]


@dataclass(frozen=True)
class Webhook:
    name: str  # e.g. validate.trainer.kubeflow.org
    group: str
    plural: str
    check: Check


_HOOKS: dict[tuple, list[Webhook]] = {}


def register(hook: Webhook) -> None:
    _HOOKS.setdefault((hook.group, hook.plural), []).append(hook)


def denied(hook_name: str, kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    """The 422 a controller-runtime webhook's field errors become, as the apiserver relays them."""
    inner = invalid(kind, group, name, errors)
    inner.message = f'admission webhook "{hook_name}" denied the request: {inner.message}'
    return inner


def admit(resource, store, obj: dict, old: dict | None) -> None:
    """Run every webhook registered for the resource; the first denial is raised."""
    _load()
    for hook in _HOOKS.get(resource.key, ()):
        errors = hook.check(store, obj, old)
        if errors:
            raise denied(hook.name, resource.kind, resource.group, obj["metadata"].get("name", ""), errors)


_loaded = False


def _load() -> None:
    """Import the controllers' rule modules once (they call :func:`register`)."""
    global _loaded
    if not _loaded:
        _loaded = True
        import importlib
        import pkgutil

        from tests.support.k8s_emulator import __path__ as here

        for info in pkgutil.iter_modules(here):
            if info.name.startswith("webhook_"):
                importlib.import_module(f"{__package__}.{info.name}")
