"""A notebook server as the user asked for it, validated once: bad input never reaches a backend."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.kube.tpu import TpuSlice, parse_tpu
from jupyter_kf.training.spec import (
    _LABEL_KEY,
    _RESOURCE_NAME,
    check_count,
    check_image,
    check_name,
    parse_duration,
    parse_env,
    parse_quantity,
)

KINDS = ("auto", "notebook", "statefulset")
GPU_VENDORS = ("nvidia.com/gpu", "amd.com/gpu", "habana.ai/gaudi")  # the Kubeflow spawner form's choices
WORKSPACE_MOUNT = "/home/jovyan"
DEFAULT_CPU = "0.5"
DEFAULT_MEMORY = "1Gi"
DEFAULT_WORKSPACE = "5Gi"
DEFAULT_TIMEOUT = 300.0
RESERVED_MOUNTS = (WORKSPACE_MOUNT, "/dev/shm")


@dataclass(frozen=True)
class Workspace:
    """The volume mounted at /home/jovyan: a new claim of ``size``, an existing ``claim``, or none."""

    size: str | None = DEFAULT_WORKSPACE
    claim: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.size or self.claim)


def parse_workspace(value) -> Workspace:
    """``50Gi`` (a new volume), ``pvc:CLAIM`` (an existing one) or ``none``."""
    if isinstance(value, Workspace):
        return value
    text = DEFAULT_WORKSPACE if value in (None, "") else str(value).strip()
    if text.lower() in ("none", "no", "false", "0"):
        return Workspace(size=None)
    if text.startswith("pvc:"):
        return Workspace(size=None, claim=check_name(text[4:], "--workspace claim name"))
    try:
        size = parse_quantity(text, "--workspace")
    except InvalidSpec:
        raise InvalidSpec(f"--workspace {value!r} is malformed: use a size (50Gi), pvc:CLAIM for an existing volume, "
                          "or none") from None
    if size < 2**20:
        raise InvalidSpec(f"--workspace {value!r} is below 1Mi: did you mean {text}Gi?")
    return Workspace(size=text)


def parse_data_volume(text) -> tuple[str, str]:
    """``CLAIM:/mount/path`` (``pvc:CLAIM:/path`` too): an existing PersistentVolumeClaim to mount."""
    if isinstance(text, (tuple, list)) and len(text) == 2:
        text = f"{text[0]}:{text[1]}"
    raw = str(text).strip()
    body = raw[4:] if raw.startswith("pvc:") else raw
    claim, sep, path = body.partition(":")
    path = path.rstrip("/") or path
    if not sep or not claim or not path.startswith("/") or path == "/" or ":" in path:
        raise InvalidSpec(f"--data-volume {text!r} is malformed: use CLAIM:/absolute/path, e.g. datasets:/data")
    if path in RESERVED_MOUNTS:
        raise InvalidSpec(
            f"--data-volume {text!r}: {path} is taken (workspace or /dev/shm); mount it elsewhere, e.g. /data"
        )
    return check_name(claim, "--data-volume claim name"), path


@dataclass(frozen=True)
class NotebookSpec:
    """What one notebook server should be. Cluster-only fields (image, cpu, memory, ...) are noted, not
    enforced, on the local backend."""

    name: str
    image: str | None = None
    cpu: str = DEFAULT_CPU
    memory: str = DEFAULT_MEMORY
    gpus: int = 0
    gpu_vendor: str = "nvidia.com/gpu"
    tpu: TpuSlice | None = None  # a single-host TPU slice on GKE (``--tpu v5e:2x4``)
    workspace: Workspace = field(default_factory=Workspace)
    data_volumes: tuple = ()
    data: tuple = ()  # DataMount: dataset versions seen read-only (``--data NAME[@V]:PATH``)
    configurations: tuple = ()
    env: dict = field(default_factory=dict)
    shm: bool = True
    namespace: str | None = None
    backend: str | None = None
    kind: str = "auto"
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def create(
        cls,
        name,
        image=None,
        cpu=None,
        memory=None,
        gpus=0,
        gpu_vendor=None,
        workspace=None,
        data_volumes=(),
        configurations=(),
        env=None,
        data=(),
        shm=True,
        namespace=None,
        backend=None,
        kind=None,
        timeout=None,
        tpu=None,
    ) -> "NotebookSpec":
        from jupyter_kf import config

        settings = config.get()  # c.KfConfig.notebook_*: the same defaults for the magic, the API, the CLI and REST
        image = image or settings.notebook_image or None
        workspace = workspace if workspace not in (None, "") else settings.notebook_workspace
        timeout = timeout if timeout not in (None, "") else settings.notebook_timeout
        name = check_name(name, "notebook server name")
        if len(name) > 52:  # the StatefulSet's pod name <name>-0 and controller-revision-hash label need room
            raise InvalidSpec(f"notebook server name {name!r} is too long: use at most 52 characters")
        cpu = str(cpu).strip() if cpu not in (None, "") else DEFAULT_CPU
        if parse_quantity(cpu, "--cpu") <= 0:
            raise InvalidSpec(f"--cpu {cpu!r} must be more than zero, e.g. 1 or 500m")
        memory = str(memory).strip() if memory not in (None, "") else DEFAULT_MEMORY
        if parse_quantity(memory, "--memory") < 2**20:
            raise InvalidSpec(f"--memory {memory!r} is below 1Mi: did you mean {memory}Gi?")
        vendor = gpu_vendor or "nvidia.com/gpu"
        if not _RESOURCE_NAME.match(vendor) or "/" not in vendor:
            raise InvalidSpec(f"--gpu-vendor {vendor!r} is not a resource name: use one of {', '.join(GPU_VENDORS)}")
        if backend not in (None, "", "auto", "local", "kubernetes"):
            raise InvalidSpec(f"--backend {backend!r} is unknown: use local, kubernetes or auto")
        if (kind or "auto") not in KINDS:
            raise InvalidSpec(f"--kind {kind!r} is unknown: use notebook (Kubeflow), statefulset or auto")
        tpu = parse_tpu(tpu)
        if tpu:
            tpu.single_host("a notebook server")
            if gpus not in (None, "", 0, "0"):
                raise InvalidSpec(f"--tpu {tpu} and --gpus {gpus}: a server has TPUs or GPUs, not both: keep one")
        volumes = tuple(parse_data_volume(v) for v in _items(data_volumes))
        paths = [p for _, p in volumes]
        if len(set(paths)) != len(paths):
            raise InvalidSpec(
                f"--data-volume: two volumes are mounted at {next(p for p in paths if paths.count(p) > 1)}: "
                "give each its own path"
            )
        mounts = parse_data(data, paths)
        configurations = tuple(_items(configurations))
        for label in configurations:
            if not _LABEL_KEY.match(label) or len(label.split("/")[-1]) > 63:
                raise InvalidSpec(f"--configuration {label!r} is not a PodDefault label: use its selector label key, "
                                  "e.g. access-ml-pipeline")
        return cls(
            name=name,
            image=check_image(image) if image not in (None, "") else None,
            cpu=cpu,
            memory=memory,
            gpus=check_count(gpus or 0, "--gpus", minimum=0),
            gpu_vendor=vendor,
            tpu=tpu,
            workspace=parse_workspace(workspace),
            data_volumes=volumes,
            data=mounts,
            configurations=configurations,
            env=parse_env(env),
            shm=bool(shm),
            namespace=check_name(namespace, "namespace") if namespace else None,
            backend=backend or None,
            kind=kind or "auto",
            timeout=DEFAULT_TIMEOUT if timeout in (None, "") else parse_duration(timeout) or DEFAULT_TIMEOUT,
        )

    def to_dict(self) -> dict:
        data = asdict(self)
        data["data_volumes"] = [list(v) for v in self.data_volumes]
        data["configurations"] = list(self.configurations)
        data["data"] = [str(m) for m in self.data]
        data["tpu"] = str(self.tpu) if self.tpu else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "NotebookSpec":
        data = dict(data)
        data["workspace"] = Workspace(**data.get("workspace") or {})
        data["data_volumes"] = tuple(tuple(v) for v in data.get("data_volumes", ()))
        data["configurations"] = tuple(data.get("configurations", ()))
        data["tpu"] = parse_tpu(data.get("tpu"))
        data["data"] = parse_data(data.get("data", ()), [p for _, p in data["data_volumes"]])
        return cls(**data)


def parse_data(items, volume_paths=()) -> tuple:
    """``--data NAME[@V]:PATH``: a relative PATH is under the workspace (/home/jovyan); an absolute one must
    not be the workspace itself, /dev/shm, or a --data-volume's path."""
    from jupyter_kf.datasets.spec import parse_mounts

    mounts = parse_mounts(_items(items))
    for mount in mounts:
        at = mount.mount if mount.mount.startswith("/") else f"{WORKSPACE_MOUNT}/{mount.mount}"
        taken = [p for p in (*RESERVED_MOUNTS, *volume_paths) if at == p or at.startswith(p.rstrip("/") + "/")
                 and p != WORKSPACE_MOUNT]
        if taken:
            raise InvalidSpec(f"--data {mount}: {at} is taken ({taken[0]} is mounted there already): mount it "
                              f"elsewhere, e.g. {WORKSPACE_MOUNT}/data")
    return mounts


def _items(value) -> list:
    """A list flag given as a list, or as one comma/newline separated string (the form's text boxes)."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]
    return [v for v in value if v not in (None, "")]
