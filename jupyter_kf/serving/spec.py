"""A deployment request, validated once at the edge: every bad value is one line saying what is accepted."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.kube.tpu import TpuSlice, parse_tpu
from jupyter_kf.training.spec import check_count, check_name, parse_duration, parse_quantity

FORMATS = ("sklearn", "xgboost", "lightgbm", "pytorch", "onnx", "tensorflow", "huggingface")
PROTOCOLS = ("v1", "v2")
URI_SCHEMES = ("s3", "gs", "pvc", "hf", "oci", "http", "https")
# The protocol each format's stock KServe runtime speaks unless told otherwise (reference §4 runtimes).
DEFAULT_PROTOCOL = {"sklearn": "v1", "xgboost": "v1", "lightgbm": "v1", "pytorch": "v2", "onnx": "v2",
                    "tensorflow": "v1", "huggingface": "v1"}
ONLY_PROTOCOL = {"onnx": ("v2", "Triton, which speaks only v2"),
                 "tensorflow": ("v1", "TensorFlow Serving, which speaks only v1")}
_URI = re.compile(r"^(?P<scheme>[a-z][a-z0-9+]*)://(?P<rest>.+)$")


def check_format(fmt: str | None) -> str | None:
    if fmt in (None, ""):
        return None
    value = str(fmt).strip().lower()
    if value not in FORMATS:
        raise InvalidSpec(f"--format {fmt!r} is unknown: use one of {', '.join(FORMATS)}")
    return value


def check_uri(uri: str) -> str:
    """A model URI KServe's storage initializer (or the runtime) understands, used as it is."""
    match = _URI.match(uri.strip())
    if not match or match.group("scheme") not in URI_SCHEMES:
        raise InvalidSpec(f"--model {uri!r} is not a model URI: use {', '.join(s + '://' for s in URI_SCHEMES)} "
                          "(e.g. s3://bucket/models/iris), or the name of a model object in the notebook")
    if match.group("scheme") == "pvc":
        claim, _, path = match.group("rest").partition("/")
        check_name(claim, "volume claim name in pvc://CLAIM/PATH")
    return uri.strip()


def check_protocol(fmt: str | None, protocol: str | None) -> None:
    if fmt in ONLY_PROTOCOL and protocol and protocol != ONLY_PROTOCOL[fmt][0]:
        raise InvalidSpec(f"--protocol {protocol} does not fit --format {fmt}: it is served by {ONLY_PROTOCOL[fmt][1]}")


def looks_like_uri(text) -> bool:
    return isinstance(text, str) and bool(_URI.match(text.strip()))


@dataclass(frozen=True)
class ServingSpec:
    """What a user asked for one model deployment (or a canary of it), validated."""

    name: str
    format: str | None = None
    uri: str | None = None  # None: an in-memory model, saved and uploaded by us
    protocol: str | None = None
    gpus: int = 0
    cpu: str | None = None
    memory: str | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    runtime: str | None = None
    canary: int | None = None
    namespace: str | None = None
    backend: str | None = None
    gpu_vendor: str = "nvidia.com/gpu"
    timeout: float | None = 300.0
    env: dict = field(default_factory=dict)
    tpu: TpuSlice | None = None  # a single-host TPU slice per replica, on GKE

    @classmethod
    def create(cls, name, format=None, uri=None, protocol=None, gpus=0, cpu=None, memory=None, min_replicas=None,
               max_replicas=None, runtime=None, canary=None, namespace=None, backend=None, gpu_vendor=None,
               timeout=300, tpu=None) -> "ServingSpec":
        fmt = check_format(format)
        if uri is not None:
            uri = check_uri(uri)
        proto = None
        if protocol not in (None, ""):
            proto = str(protocol).strip().lower()
            if proto not in PROTOCOLS:
                raise InvalidSpec(
                    f"--protocol {protocol!r} is unknown: use v1 (KServe V1) or v2 (Open Inference Protocol)"
                )
        check_protocol(fmt, proto)
        if cpu not in (None, "") and parse_quantity(cpu, "--cpu") <= 0:
            raise InvalidSpec(f"--cpu {cpu!r} must be more than zero, e.g. 1 or 500m")
        if memory not in (None, "") and parse_quantity(memory, "--memory") < 2**20:
            raise InvalidSpec(f"--memory {memory!r} is below 1Mi: did you mean {memory}Mi or {memory}Gi?")
        low = check_count(min_replicas, "--min-replicas", 0) if min_replicas not in (None, "") else None
        high = check_count(max_replicas, "--max-replicas", 1) if max_replicas not in (None, "") else None
        if low is not None and high is not None and low > high:
            raise InvalidSpec(f"--min-replicas {low} is more than --max-replicas {high}: use min <= max")
        percent = None
        if canary not in (None, ""):
            percent = check_count(canary, "--canary", 1)
            if percent > 99:
                raise InvalidSpec(f"--canary {canary!r} is too large: use a traffic percent from 1 to 99 "
                                  "(promote the canary to give it all the traffic)")
        if backend not in (None, "", "auto", "local", "kubernetes"):
            raise InvalidSpec(f"backend {backend!r} is unknown: use local, kubernetes or auto")
        wait = parse_duration(timeout) if timeout not in (None, "", 0) else None
        tpu = parse_tpu(tpu)
        if tpu:
            tpu.single_host("a model replica")
            if gpus not in (None, "", 0, "0"):
                raise InvalidSpec(f"--tpu {tpu} and --gpus {gpus}: a replica has TPUs or GPUs, not both: keep one")
        return cls(name=check_name(name, "model name"), format=fmt, uri=uri, protocol=proto,
                   gpus=check_count(gpus or 0, "--gpus", 0), cpu=str(cpu) if cpu not in (None, "") else None,
                   memory=str(memory) if memory not in (None, "") else None, min_replicas=low, max_replicas=high,
                   runtime=check_name(runtime, "--runtime (a ServingRuntime name)") if runtime else None,
                   canary=percent, namespace=check_name(namespace, "namespace") if namespace else None,
                   backend=backend or None, gpu_vendor=gpu_vendor or "nvidia.com/gpu", timeout=wait, tpu=tpu)

    @property
    def in_memory(self) -> bool:
        return self.uri is None

    def protocol_for(self, fmt: str) -> str:
        return self.protocol or DEFAULT_PROTOCOL.get(fmt, "v1")
