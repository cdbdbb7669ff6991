"""Validated values: every flag a user gives is checked here, once, at the edge.

A bad value raises ``InvalidSpec`` with one line naming the value and the accepted form.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from .errors import InvalidSpec

_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUANTITY = re.compile(r"^(?P<num>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?$")
_SUFFIX = {
    None: 1, "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Cancelled")
TERMINAL = frozenset({"Succeeded", "Failed", "Cancelled"})


def check_name(name: str, what: str = "job name") -> str:
    if not isinstance(name, str) or len(name) > 63 or not _NAME.match(name):
        raise InvalidSpec(
            f"{what} {name!r} is invalid: use at most 63 lowercase letters, digits and '-', "
            "starting with a letter and ending with a letter or digit (e.g. fit-1)"
        )
    return name


def parse_quantity(value: str, what: str) -> Decimal:
    """A Kubernetes quantity ('1Gi', '500m', '2') as a number; the error says what is accepted."""
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        hint = " (Kubernetes writes gigabytes as 1Gi or 1G, not 1GB)" if re.search(r"[KMGTP]B$|[kmgtp]b$", text) else ""
        raise InvalidSpec(
            f"{what} {value!r} is not a Kubernetes quantity{hint}: use a number with an optional suffix, "
            "e.g. 512Mi, 1Gi, 2G, 500m, 4"
        )
    suffix = match.group("suffix")
    try:
        number = Decimal(match.group("num"))
    except InvalidOperation:  # pragma: no cover - the regex admits only numbers
        raise InvalidSpec(f"{what} {value!r} is not a number") from None
    if suffix and suffix[0] in "eE":
        return number * Decimal(10) ** int(suffix[1:])
    return number * _SUFFIX[suffix]


def check_count(value, what: str, minimum: int = 0) -> int:
    try:
        count = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidSpec(f"{what} {value!r} is not a whole number: use an integer >= {minimum}") from None
    if count < minimum:
        raise InvalidSpec(f"{what} {value!r} is too small: use an integer >= {minimum}")
    return count


def parse_env(items) -> dict[str, str]:
    """``["SEED=3", "MODE=fast"]`` or a dict, checked for valid variable names."""
    pairs = items.items() if isinstance(items, dict) else (_split_env(item) for item in items or ())
    env = {}
    for key, val in pairs:
        if not _ENV_NAME.match(key):
            raise InvalidSpec(f"environment variable name {key!r} is invalid: use letters, digits and '_' (e.g. SEED=3)")
        env[key] = str(val)
    return env


def _split_env(item: str) -> tuple[str, str]:
    key, sep, val = str(item).partition("=")
    if not sep:
        raise InvalidSpec(f"--env {item!r} has no '=': use NAME=VALUE, e.g. --env SEED=3")
    return key, val


def parse_duration(value) -> float | None:
    """'90', '90s', '15m', '2h' as seconds."""
    if value in (None, "", 0):
        return None
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smh]?)\s*", str(value))
    if not match:
        raise InvalidSpec(f"timeout {value!r} is not a duration: use seconds or a number with s, m or h (e.g. 90, 15m, 2h)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


@dataclass(frozen=True)
class TrainSpec:
    """What a user asked for one training job, validated."""

    name: str
    workers: int = 1
    cpu: str | None = None
    memory: str | None = None
    gpus: int = 0
    env: dict = field(default_factory=dict)
    timeout: float | None = None
    backend: str | None = None
    image: str | None = None
    namespace: str | None = None

    @classmethod
    def create(cls, name, workers=1, cpu=None, memory=None, gpus=0, env=None, timeout=None, backend=None,
               image=None, namespace=None) -> "TrainSpec":
        if cpu not in (None, ""):
            if parse_quantity(cpu, "cpu") <= 0:
                raise InvalidSpec(f"cpu {cpu!r} must be more than zero, e.g. 1 or 500m")
        if memory not in (None, ""):
            if parse_quantity(memory, "memory") < 2**20:
                raise InvalidSpec(f"memory {memory!r} is below 1Mi: did you mean {memory}Mi or {memory}Gi?")
        if backend not in (None, "", "auto", "local", "kubernetes"):
            raise InvalidSpec(f"backend {backend!r} is unknown: use local, kubernetes or auto")
        return cls(
            name=check_name(name),
            workers=check_count(workers, "--workers", minimum=1),
            cpu=str(cpu) if cpu not in (None, "") else None,
            memory=str(memory) if memory not in (None, "") else None,
            gpus=check_count(gpus or 0, "--gpus", minimum=0),
            env=parse_env(env),
            timeout=parse_duration(timeout),
            backend=backend or None,
            image=image or None,
            namespace=namespace or None,
        )

    def to_dict(self) -> dict:
        return {
            "name": self.name, "workers": self.workers, "cpu": self.cpu, "memory": self.memory, "gpus": self.gpus,
            "env": dict(self.env), "timeout": self.timeout, "backend": self.backend, "image": self.image,
            "namespace": self.namespace,
        }
