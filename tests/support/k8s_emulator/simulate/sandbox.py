"""A pod's private folder on this machine: its volumes laid out as the kubelet would mount them, its
containers' env resolved as the kubelet resolves it, and mount paths rewritten to the folders that stand in
for them (a process here cannot mount anything at ``/kf/bundle``)."""
from __future__ import annotations

import base64
import os
import re
import secrets
import socket
import sys
from pathlib import Path

PYTHONS = ("python", "python3", f"python3.{sys.version_info.minor}")
# KServe's scikit-learn and XGBoost servers: their entrypoint here is simulate/model_server.py (the runtime's args follow)
MODEL_SERVER_IMAGES = ("kserve/sklearnserver", "kserve/xgbserver", "kserve/lgbserver")
KATIB_COLLECTOR_IMAGES = ("ghcr.io/kubeflow/katib/file-metrics-collector", "docker.io/kubeflowkatib/file-metrics-collector")


class PodError(Exception):
    """What stops a container from starting: (reason, message) as the kubelet reports it."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class Sandbox:
    """``root/volumes/<name>`` per volume; PVCs live in ``claims_root/<ns>/<claim>`` and outlive the pod."""

    def __init__(self, emulator, pod: dict, root: Path, claims_root: Path):
        self.emu = emulator
        self.pod = pod
        self.namespace = pod["metadata"]["namespace"]
        self.root = root
        self.claims_root = claims_root
        self.volumes: dict[str, Path] = {}
        self.ports: dict[int, int] = {}  # containerPort -> the port on this machine it is given
        self.token = secrets.token_urlsafe(24)  # a notebook image's server token (the proxy sends it)
        self.stdlib_only_images: tuple = ()  # image prefixes whose Python has only the standard library

    def lay_out(self) -> None:
        for volume in self.pod["spec"].get("volumes") or []:
            self.volumes[volume["name"]] = self._volume(volume)
        for container in self.pod["spec"]["containers"]:
            for port in container.get("ports") or []:
                self.ports.setdefault(port["containerPort"], _free_port())

    def _volume(self, volume: dict) -> Path:
        name = volume["name"]
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            if self.emu.get_object("", "v1", "persistentvolumeclaims", self.namespace, claim) is None:
                raise PodError("FailedScheduling", f'persistentvolumeclaim "{claim}" not found')
            return _private_dir(self.claims_root / self.namespace / claim)
        folder = _private_dir(self.root / "volumes" / name)
        if "secret" in volume:
            self._project("secrets", volume["secret"].get("secretName"), volume["secret"], folder, binary=True)
        elif "configMap" in volume:
            self._project("configmaps", volume["configMap"].get("name"), volume["configMap"], folder, binary=False)
        elif "downwardAPI" in volume:
            for item in volume["downwardAPI"].get("items") or []:
                _write(folder / item["path"], self.field(item["fieldRef"]["fieldPath"]).encode())
        return folder

    def _python_bin(self, container: dict) -> Path:
        """A folder whose ``python``/``python3`` is this interpreter (``-S`` for a stdlib-only image), first on PATH:
        a shell in the pod (``sh -c "python ..."``) finds the image's Python as argv[0] does."""
        bare = container.get("image", "").startswith(self.stdlib_only_images or ("\0",))
        folder = _private_dir(self.root / ("bin-bare" if bare else "bin"))
        for name in ("python", "python3"):
            target = folder / name
            if not target.exists():
                target.write_text(f'#!/bin/sh\nexec "{sys.executable}"{" -S" if bare else ""} "$@"\n')
                target.chmod(0o700)
        return folder

    def _project(self, plural: str, name: str, source: dict, folder: Path, binary: bool) -> None:
        obj = self.emu.get_object("", "v1", plural, self.namespace, name)
        if obj is None:
            if source.get("optional"):
                return
            kind = "secret" if plural == "secrets" else "configmap"
            raise PodError("FailedMount", f'MountVolume.SetUp failed for volume: {kind} "{name}" not found')
        files = _decoded(obj, binary)
        items = source.get("items")
        for item in items or [{"key": k, "path": k} for k in files]:
            if item["key"] not in files:
                raise PodError("FailedMount", f'MountVolume.SetUp failed: {plural[:-1]} "{name}" has no key '
                                              f'"{item["key"]}"')
            _write(folder / item["path"], files[item["key"]])

    # -- env --------------------------------------------------------------------------------------
    def field(self, path: str) -> str:
        """A downward API fieldRef: metadata.name/namespace/uid, labels/annotations[...], status.podIP..."""
        meta = self.pod["metadata"]
        match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
        if match:
            return (meta.get(match.group(1)) or {}).get(match.group(2), "")
        simple = {"metadata.name": meta["name"], "metadata.namespace": self.namespace, "metadata.uid": meta.get("uid", ""),
                  "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1",
                  "spec.nodeName": self.pod["spec"].get("nodeName", ""),
                  "spec.serviceAccountName": self.pod["spec"].get("serviceAccountName", "default")}
        if path in ("metadata.labels", "metadata.annotations"):
            return "\n".join(f'{k}="{v}"' for k, v in sorted((meta.get(path.split(".")[1]) or {}).items()))
        return simple.get(path, "")

    def env(self, container: dict) -> dict:
        """Env as the kubelet builds it: envFrom first, then env in order; ``$(VAR)`` expanded."""
        env = {"PATH": f"{self._python_bin(container)}:{os.environ.get('PATH', '/usr/bin:/bin')}",
               "HOME": str(_private_dir(self.root / "home")),
               "HOSTNAME": self.pod["spec"].get("hostname") or self.pod["metadata"]["name"]}
        for source in container.get("envFrom") or []:
            env.update(self._env_from(source))
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = _expand(item["value"], env)
            elif "valueFrom" in item:
                value = self._value_from(item["valueFrom"])
                if value is not None:
                    env[item["name"]] = value
        env = {k: self.rewrite(v, container) if k != "PATH" else v for k, v in env.items()}
        for key in [k for k in env if k.endswith("MASTER_ADDR") and not _is_ip(env[k])]:
            env[key] = "127.0.0.1"  # <pod>.<service> names: every pod of the simulated node is on this machine
        return env

    def _env_from(self, source: dict) -> dict:
        ref_key = "secretRef" if "secretRef" in source else "configMapRef"
        ref = source[ref_key]
        plural = "secrets" if ref_key == "secretRef" else "configmaps"
        obj = self.emu.get_object("", "v1", plural, self.namespace, ref["name"])
        if obj is None:
            if ref.get("optional"):
                return {}
            raise PodError("CreateContainerConfigError", f'{plural[:-1]} "{ref["name"]}" not found')
        prefix = source.get("prefix", "")
        values = _decoded(obj, plural == "secrets") if plural == "secrets" else \
            {k: v.encode() for k, v in (obj.get("data") or {}).items()}  # a ConfigMap's binaryData is no env
        return {prefix + k: v.decode("utf-8", "replace") for k, v in values.items()
                if re.fullmatch(r"[-._a-zA-Z][-._a-zA-Z0-9]*", prefix + k) and b"\0" not in v}

    def _value_from(self, value_from: dict) -> str | None:
        if "fieldRef" in value_from:
            return self.field(value_from["fieldRef"]["fieldPath"])
        if "resourceFieldRef" in value_from:
            return "1"
        key_ref = value_from.get("secretKeyRef") or value_from.get("configMapKeyRef")
        plural = "secrets" if "secretKeyRef" in value_from else "configmaps"
        obj = self.emu.get_object("", "v1", plural, self.namespace, key_ref["name"])
        values = _decoded(obj, plural == "secrets") if obj else None
        if values is None or key_ref["key"] not in values:
            if key_ref.get("optional"):
                return None
            what = f'{plural[:-1]} "{key_ref["name"]}"' if values is None else \
                f'couldn\'t find key {key_ref["key"]} in {"Secret" if plural == "secrets" else "ConfigMap"} ' \
                f'{self.namespace}/{key_ref["name"]}'
            raise PodError("CreateContainerConfigError", what if values is not None else f"{what} not found")
        return values[key_ref["key"]].decode("utf-8", "replace")

    # -- paths ------------------------------------------------------------------------------------
    def mounts(self, container: dict) -> list[tuple[str, str]]:
        """(mountPath, folder here) for each mount, longest path first."""
        pairs = []
        for mount in container.get("volumeMounts") or []:
            folder = self.volumes.get(mount["name"])
            if folder is None:
                raise PodError("CreateContainerConfigError", f'volume "{mount["name"]}" is not declared')
            target = folder / mount["subPath"] if mount.get("subPath") else folder
            pairs.append((mount["mountPath"].rstrip("/") or "/", str(target)))
        return sorted(pairs, key=lambda pair: -len(pair[0]))

    def rewrite(self, text: str, container: dict) -> str:
        """Mount paths in ``text`` (whole path components only) replaced by their folders here."""
        for mount_path, folder in self.mounts(container):
            text = re.sub(r"(?<![\w.-])" + re.escape(mount_path) + r"(?=/|$|[^\w.-])", lambda _m, f=folder: f, text)
        return text

    def link_nested(self, container: dict) -> None:
        """A mount inside another mount's path (``/kf/out/work/data`` in ``/kf/out``) shows in that volume's folder
        there, as the runtime's bind mount would: a link (relative paths from the outer folder reach it)."""
        pairs = self.mounts(container)
        for path, folder in pairs:
            outer = next(((p, f) for p, f in pairs if p != path and path.startswith(p.rstrip("/") + "/")), None)
            if outer is None:
                continue
            at = Path(outer[1]) / path[len(outer[0].rstrip("/")) + 1:]
            if not at.is_symlink() and not at.exists():
                at.parent.mkdir(parents=True, exist_ok=True)
                at.symlink_to(folder, target_is_directory=True)

    def argv(self, container: dict) -> list[str]:
        """command + args (``$(VAR)`` expanded, mounts rewritten); ``python`` is this interpreter."""
        self.link_nested(container)
        env = self.env(container)
        command = list(container.get("command") or []) or self.image_entrypoint(container, env)
        argv = command + list(container.get("args") or [])
        argv = [self._port(self.rewrite(_expand(part, env), container)) for part in argv]
        if Path(argv[0]).name in PYTHONS:  # an image in stdlib_only_images has no site-packages: python -S
            bare = container.get("image", "").startswith(self.stdlib_only_images or ("\0",))
            argv[0:1] = [sys.executable, "-S"] if bare else [sys.executable]
        return argv

    def image_entrypoint(self, container: dict, env: dict) -> list[str]:
        """What a Kubeflow notebook image starts (its s6 ``jupyter lab`` line), with a token instead of none: the
        server listens on this machine, where anyone could reach it. Other images' entrypoints are unknown."""
        image = container.get("image", "")
        if image.startswith(MODEL_SERVER_IMAGES):
            return [sys.executable, "-m", "tests.support.k8s_emulator.simulate.model_server"]
        if image.startswith(KATIB_COLLECTOR_IMAGES):
            return [sys.executable, "-m", "tests.support.k8s_emulator.simulate.katib_collector"]
        if "notebook-name" not in (self.pod["metadata"].get("labels") or {}) and "jupyter" not in image:
            raise PodError("RunContainerError", f"the entrypoint of image {image!r} is unknown here: "
                                                "give the container a command")
        port = (container.get("ports") or [{"containerPort": 8888}])[0]["containerPort"]
        base_url = env.get("NB_PREFIX", "").rstrip("/") + "/"
        return [sys.executable, "-m", "jupyterlab", f"--notebook-dir={self.working_dir(container)}",
                "--ip=127.0.0.1", "--no-browser", "--allow-root", f"--port={port}", f"--ServerApp.token={self.token}",
                "--ServerApp.password=", f"--ServerApp.base_url={base_url}", "--ServerApp.allow_origin=*"]

    def _port(self, arg: str) -> str:
        """``--port=8888``-style flags name the port this machine gave that containerPort; 0.0.0.0 is loopback."""
        match = re.fullmatch(r"(--(?:[A-Za-z]+\.)?(?:[a-z]+_)*port=)(\d+)", arg)
        if match and int(match.group(2)) in self.ports:
            return f"{match.group(1)}{self.ports[int(match.group(2))]}"
        return "--ip=127.0.0.1" if arg == "--ip=0.0.0.0" else arg

    def working_dir(self, container: dict) -> str:
        """The workingDir when it lies in a mount; else a private folder (the image's paths are not here)."""
        folder = container.get("workingDir") or ""
        rewritten = self.rewrite(folder, container) if folder else ""
        if rewritten and rewritten != folder:
            return str(_private_dir(Path(rewritten)))
        return str(_private_dir(self.root / "workdir"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _decoded(obj: dict, binary: bool) -> dict[str, bytes]:
    if binary:
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        data.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
        return data
    data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return data


def _expand(text: str, env: dict) -> str:
    """Kubernetes' ``$(VAR)`` expansion (``$$`` escapes); unknown names stay as written."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(data)
