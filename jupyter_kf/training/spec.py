"""Validated values: every flag a user gives is checked here, once, at the edge.

A bad value raises ``InvalidSpec`` with one line naming the value and the accepted form.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.kube.tpu import TpuSlice, parse_tpu

_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUANTITY = re.compile(
    r"^(?P<num>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?$"
)
_SUFFIX = {
    None: 1, "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Cancelled")
JOBS_SHOWN = 20  # %kf_jobs and `jupyter kf jobs` show the newest 20 unless told otherwise
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
    if suffix not in _SUFFIX:  # an exponent (1e3, 2E-2); "E" and "Ei" alone are exa and exbi
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
            raise InvalidSpec(
                f"environment variable name {key!r} is invalid: use letters, digits and '_' (e.g. SEED=3)"
            )
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
        raise InvalidSpec(
            f"timeout {value!r} is not a duration: use seconds or a number with s, m or h (e.g. 90, 15m, 2h)"
        )
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


_RESOURCE_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"
)
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_PIP_REQ = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-\[\],<>=!~ ;:'\"@/+]*$")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
KINDS = ("auto", "trainjob", "pytorchjob", "job")


def _pairs(items, flag: str, sep: str = "=") -> list[tuple[str, str]]:
    pairs = []
    for item in items or ():
        key, found, val = str(item).partition(sep)
        if not found or not key:
            raise InvalidSpec(f"{flag} {item!r} is malformed: use KEY{sep}VALUE")
        pairs.append((key, val))
    return pairs


def parse_node_selector(items) -> dict[str, str]:
    """``["gpu=a100"]`` -> {"gpu": "a100"}, keys and values checked as Kubernetes labels."""
    selector = {}
    for key, val in items.items() if isinstance(items, dict) else _pairs(items, "--node-selector"):
        if not _LABEL_KEY.match(key) or len(key.split("/")[-1]) > 63 or not _LABEL_VALUE.match(val) or len(val) > 63:
            raise InvalidSpec(
                f"--node-selector {key}={val} is not a valid label: use KEY=VALUE, e.g. "
                "nvidia.com/gpu.product=NVIDIA-H200"
            )
        selector[key] = val
    return selector


def parse_toleration(text: str) -> dict:
    """``key=value:NoSchedule``, ``key:NoExecute`` or ``key`` (any effect) as a toleration."""
    rest, _, effect = text.rpartition(":") if ":" in text else (text, "", "")
    key, eq, value = rest.partition("=")
    if (
        not key
        or not _LABEL_KEY.match(key)
        or (effect and effect not in TAINT_EFFECTS)
        or (value and not _LABEL_VALUE.match(value))
    ):
        raise InvalidSpec(f"--toleration {text!r} is malformed: use KEY[=VALUE][:EFFECT] with EFFECT one of "
                          f"{', '.join(TAINT_EFFECTS)}, e.g. nvidia.com/gpu:NoSchedule")
    toleration = {"key": key, "operator": "Equal" if eq else "Exists"}
    if eq:
        toleration["value"] = value
    if effect:
        toleration["effect"] = effect
    return toleration


def parse_secret_env(items) -> dict[str, tuple[str, str]]:
    """``NAME=secret/key``: an env var read from a Secret, referenced, never copied."""
    refs = {}
    for name, ref in _pairs(items, "--secret-env"):
        secret, slash, key = ref.partition("/")
        if not _ENV_NAME.match(name) or not slash or not key or not re.match(r"^[-._a-zA-Z0-9]+$", key):
            raise InvalidSpec(
                f"--secret-env {name}={ref} is malformed: use NAME=SECRET/KEY, e.g. HF_TOKEN=hf-secret/token"
            )
        check_name(secret, "secret name")
        refs[name] = (secret, key)
    return refs


def parse_volume(text: str) -> tuple[str, str]:
    """``pvc:CLAIM:/mount/path``."""
    kind, _, rest = text.partition(":")
    claim, _, path = rest.partition(":")
    if kind != "pvc" or not claim or not path.startswith("/") or path.rstrip("/") in ("", "/kf"):
        raise InvalidSpec(f"--volume {text!r} is malformed: use pvc:CLAIM:/absolute/path, e.g. pvc:datasets:/data")
    return check_name(claim, "volume claim name"), path


def check_pip(requirement: str) -> str:
    if not _PIP_REQ.match(requirement) or requirement.startswith("-"):
        raise InvalidSpec(
            f"--pip {requirement!r} is not a package requirement: use e.g. transformers==4.57.0 (no pip options)"
        )
    return requirement


@dataclass(frozen=True)
class Option:
    """One ``TrainSpec`` field as every face offers it: ``%%kf_train``'s flag, ``kf.train``'s keyword, REST's key."""

    name: str
    help: str
    flag: str = ""  # default: --name-with-dashes
    repeat: bool = False  # a list: the flag may be given several times
    metavar: str | None = None

    @property
    def cli(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


# The one declaration of the training options: the magic's flags, kf.train's keywords and the REST keys come
# from here; TrainSpec.create validates them (tests/training/test_spec.py keeps the two in step).
OPTIONS = (
    Option("name", "job name (DNS-1123: lowercase letters, digits, '-'); default: train-xxxxx"),
    Option("workers", "number of worker processes/pods (distributed: RANK, WORLD_SIZE, ...); default 1"),
    Option("cpu", "CPU per worker, a Kubernetes quantity (1, 500m)"),
    Option("memory", "memory per worker, a Kubernetes quantity (512Mi, 2Gi)"),
    Option("gpus", "GPUs per worker"),
    Option("env", "environment variable (repeatable)", repeat=True, metavar="NAME=VALUE"),
    Option("timeout", "stop the job after this long (90, 15m, 2h)"),
    Option("backend", "local or kubernetes (default: c.KfConfig.backend, else kubernetes when a cluster is set up)"),
    Option("namespace", "Kubernetes namespace (default: the kubeconfig context's, else c.KfConfig.namespace)"),
    Option("image", "container image on a cluster"),
    Option("kind", "on a cluster: trainjob, pytorchjob or job (default: the best the cluster offers)"),
    Option("runtime", "Kubeflow Trainer training runtime (default: torch-distributed)"),
    Option("pip", "package to pip-install in the job at start (repeatable)", repeat=True, metavar="PACKAGE"),
    Option("gpu_vendor", "GPU resource name (default: nvidia.com/gpu)"),
    Option("tpu", "on GKE: a TPU slice per job, one worker per host (e.g. v5e:2x4, v4:2x2x2)", metavar="TYPE:TOPOLOGY"),
    Option("node_selector", "schedule on nodes with this label", repeat=True, metavar="KEY=VALUE"),
    Option("tolerations", "tolerate a node taint", flag="--toleration", repeat=True, metavar="KEY[=VALUE][:EFFECT]"),
    Option("queue", "Kueue LocalQueue for quota"),
    Option("priority_class", "TrainJob (Trainer v2.1+): a Kueue WorkloadPriorityClass, not a pod PriorityClass; "
                             "PyTorchJob/Job: the pods' PriorityClass"),
    Option("retries", "times to retry failed workers (PyTorchJob, Job; a TrainJob has no retry setting)"),
    Option("secret_env", "env var read from a Secret (never copied)", repeat=True, metavar="NAME=SECRET/KEY"),
    Option("volumes", "mount a PersistentVolumeClaim", flag="--volume", repeat=True, metavar="pvc:CLAIM:/PATH"),
    Option("data", "mount a dataset version read-only (repeatable; a relative MOUNT is under the job's working "
                   "folder)", repeat=True, metavar="NAME[@V]:MOUNT"),
    Option("data_cache", "on a cluster: PersistentVolumeClaim the --data step keeps fetched files in, by content hash, "
                         "so later jobs reading them download nothing (default: c.KfConfig.data_cache)", metavar="PVC"),
)
OPTION_NAMES = tuple(o.name for o in OPTIONS)


def check_options(options: dict) -> dict:
    """The keywords ``kf.train`` and REST accept, or one line naming the unknown ones and the accepted."""
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise InvalidSpec(f"unknown training option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                          f"use {', '.join(OPTION_NAMES)}")
    return {k: v for k, v in options.items() if v not in (None, "", [], ())}


@dataclass(frozen=True)
class TrainSpec:
    """What a user asked for one training job, validated. Cluster-only fields are ignored locally."""

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
    kind: str = "auto"
    runtime: str | None = None
    pip: tuple = ()
    gpu_vendor: str = "nvidia.com/gpu"
    node_selector: dict = field(default_factory=dict)
    tolerations: tuple = ()
    queue: str | None = None
    priority_class: str | None = None
    retries: int = 0
    secret_env: dict = field(default_factory=dict)
    volumes: tuple = ()
    data: tuple = ()  # DataMount: dataset versions the job reads (``--data NAME[@V]:MOUNT``)
    tpu: TpuSlice | None = None
    data_cache: str | None = None  # PVC the --data init step caches fetched files in (else c.KfConfig.data_cache)

    @classmethod
    def create(cls, name, workers=None, cpu=None, memory=None, gpus=0, env=None, timeout=None, backend=None,
               image=None, namespace=None, kind=None, runtime=None, pip=(), gpu_vendor=None, node_selector=None,
               tolerations=(), queue=None, priority_class=None, retries=0, secret_env=(), volumes=(),
               data=(), tpu=None, data_cache=None) -> "TrainSpec":
        from jupyter_kf.datasets.spec import parse_mounts

        if cpu not in (None, ""):
            if parse_quantity(cpu, "cpu") <= 0:
                raise InvalidSpec(f"cpu {cpu!r} must be more than zero, e.g. 1 or 500m")
        if memory not in (None, ""):
            if parse_quantity(memory, "memory") < 2**20:
                raise InvalidSpec(f"memory {memory!r} is below 1Mi: did you mean {memory}Mi or {memory}Gi?")
        if backend not in (None, "", "auto", "local", "kubernetes"):
            raise InvalidSpec(f"backend {backend!r} is unknown: use local, kubernetes or auto")
        if (kind or "auto") not in KINDS:
            raise InvalidSpec(f"--kind {kind!r} is unknown: use trainjob, pytorchjob, job or auto")
        vendor = gpu_vendor or "nvidia.com/gpu"
        if not _RESOURCE_NAME.match(vendor) or "/" not in vendor:
            raise InvalidSpec(f"--gpu-vendor {vendor!r} is not a resource name: use e.g. nvidia.com/gpu or amd.com/gpu")
        if image is not None and image != "" and (any(c.isspace() for c in image) or image.startswith("-")):
            raise InvalidSpec(
                f"--image {image!r} is not an image reference: use e.g. python:3.11-slim or registry/org/image:tag"
            )
        secret_refs = parse_secret_env(secret_env) if not isinstance(secret_env, dict) else dict(secret_env)
        env = parse_env(env)
        clash = sorted(set(env) & set(secret_refs))
        if clash:
            raise InvalidSpec(f"{clash[0]} is set by both --env and --secret-env: keep one")
        tpu = parse_tpu(tpu)
        return cls(
            name=check_name(name),
            workers=_tpu_workers(tpu, workers, gpus) if tpu else check_count(
                1 if workers in (None, "") else workers, "--workers", minimum=1),
            cpu=str(cpu) if cpu not in (None, "") else None,
            memory=str(memory) if memory not in (None, "") else None,
            gpus=check_count(gpus or 0, "--gpus", minimum=0),
            env=env,
            timeout=parse_duration(timeout),
            backend=backend or None,
            image=image or None,
            namespace=check_name(namespace, "namespace") if namespace else None,
            kind=kind or "auto",
            runtime=check_name(runtime, "training runtime name") if runtime else None,
            pip=tuple(check_pip(p) for p in pip or ()),
            gpu_vendor=vendor,
            node_selector=parse_node_selector(node_selector or {}),
            tolerations=tuple(t if isinstance(t, dict) else parse_toleration(t) for t in tolerations or ()),
            queue=check_name(queue, "queue name") if queue else None,
            priority_class=check_name(priority_class, "priority class name") if priority_class else None,
            retries=check_count(retries or 0, "--retries", minimum=0),
            secret_env=secret_refs,
            volumes=tuple(v if isinstance(v, tuple) else parse_volume(v) for v in volumes or ()),
            data=parse_mounts(data),
            tpu=tpu,
            data_cache=check_name(data_cache, "--data-cache (a PersistentVolumeClaim name)") if data_cache else None,
        )

    def to_dict(self) -> dict:
        from dataclasses import asdict

        data = asdict(self)
        data["secret_env"] = {k: list(v) for k, v in self.secret_env.items()}
        data["volumes"] = [list(v) for v in self.volumes]
        data["tolerations"] = [dict(t) for t in self.tolerations]
        data["pip"] = list(self.pip)
        data["data"] = [str(m) for m in self.data]
        data["tpu"] = str(self.tpu) if self.tpu else None
        return data


def _tpu_workers(tpu: TpuSlice, workers, gpus) -> int:
    """A TPU job has one worker per host of its slice: ``--workers`` may say so, or be left out."""
    if gpus not in (None, "", 0, "0"):
        raise InvalidSpec(f"--tpu {tpu} and --gpus {gpus}: a worker has TPUs or GPUs, not both: keep one")
    if workers in (None, ""):
        return tpu.hosts
    count = check_count(workers, "--workers", minimum=1)
    if count != tpu.hosts:
        raise InvalidSpec(f"--tpu {tpu} spans {tpu.hosts} host(s), one worker each: use --workers {tpu.hosts} "
                          "or leave --workers out")
    return count


_IMAGE = re.compile(  # the distribution/reference grammar: [domain[:port]/]path[:tag][@digest]
    r"^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)


def check_image(image: str, flag: str = "--image") -> str:
    """A container image reference as a registry would accept it (lowercase path, tag, digest)."""
    if not isinstance(image, str) or len(image) > 255 or not _IMAGE.match(image):
        raise InvalidSpec(
            f"{flag} {image!r} is not an image reference: use [REGISTRY/]PATH[:TAG][@sha256:DIGEST] with a "
            "lowercase path, e.g. quay.io/jupyter/scipy-notebook:2025-03-14"
        )
    return image
