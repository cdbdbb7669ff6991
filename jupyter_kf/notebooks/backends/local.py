"""Notebook servers on this machine: a Jupyter server process per server, in its own session (it outlives
the kernel that made it), on a free loopback port with its own token and folder.

``<state>/notebooks/<name>/record.json`` is the whole record, so ``list`` finds servers again after a
kernel restart; the server's token is kept apart, in ``token`` beside it (0600, as every file here).
The workspace (the server's root folder) lives apart, in
``<state>/notebook-workspaces/<name>``, so that stop keeps it and ``delete --keep-workspace`` can too;
a new server of the same name picks it up again, as a kept PVC does on a cluster.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from jupyter_kf import config
from jupyter_kf.errors import InvalidSpec, KfError
from jupyter_kf.notebooks.backends import NotebookBackend
from jupyter_kf.notebooks.errors import NotebookExists, NotebookNotFound
from jupyter_kf.notebooks.spec import NotebookSpec
from jupyter_kf.notebooks.status import NotebookLink, NotebookStatus
from jupyter_kf.processes import alive, children
from jupyter_kf.training.spec import check_name

DROPPED_ENV = ("MPLBACKEND", "JPY_PARENT_PID", "JPY_SESSION_NAME", "JUPYTER_TOKEN", "KERNEL_LAUNCH_TIMEOUT")
# Set by us for each local server (its token, port, runtime files, identity): --env may not change them.
RESERVED_ENV = ("JUPYTER_TOKEN", "JUPYTER_TOKEN_FILE", "JUPYTER_PORT", "JUPYTER_RUNTIME_DIR", "KF_NOTEBOOK_SERVER")


def _app() -> str:
    """JupyterLab where installed (the UI users expect), else the bare Jupyter server."""
    import importlib.util

    return "jupyterlab" if importlib.util.find_spec("jupyterlab") else "jupyter_server"


class LocalNotebooks(NotebookBackend):
    name = "local"

    def __init__(self, state_dir: Path | None = None):
        state = Path(state_dir).expanduser() if state_dir else config.state_root()
        self.root, self.workspaces, self.volumes = state / "notebooks", state / "notebook-workspaces", state / "volumes"

    def folder(self, name: str) -> Path:
        folder = self.root / check_name(name, "notebook server name")
        if not (folder / "record.json").is_file():
            raise NotebookNotFound(
                f"no notebook server named {name!r} on the local backend: %kf_notebook list shows them"
            )
        return folder

    def _record(self, name: str) -> dict:
        folder = self.folder(name)
        record = json.loads((folder / "record.json").read_text())
        if "token" in record:  # a record from before tokens had their own file
            if not (folder / "token").exists():
                config.write_private(folder / "token", record["token"])
            self._save(name, record)
        return record

    def _save(self, name: str, record: dict) -> None:
        record.pop("token", None)
        config.write_private(self.root / name / "record.json", json.dumps(record, indent=1))

    def _token(self, name: str) -> str:
        path = self.root / name / "token"
        config.check_private(path, "the notebook server's token file")
        return path.read_text().strip()

    # -- create ----------------------------------------------------------------------------------
    def create(self, spec: NotebookSpec) -> NotebookStatus:
        reserved = sorted(set(spec.env) & set(RESERVED_ENV))
        if reserved:
            raise InvalidSpec(
                f"--env {reserved[0]} is set by jupyter_kf for a local notebook server (its token, port and "
                "runtime files come from it): leave it out"
            )
        if spec.tpu:
            raise InvalidSpec(f"--tpu {spec.tpu} needs a GKE cluster with TPU nodes: the local backend has no TPUs "
                              "(use --backend kubernetes, or leave --tpu out to run here)")
        gpus = self._assign_gpus(spec.gpus)
        resolved = _resolve_data(spec)
        config.private_dir(self.root)
        folder = self.root / check_name(spec.name, "notebook server name")
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            raise NotebookExists(f"a notebook server named {spec.name!r} already exists on the local backend "
                                 f"({self._phase_or_unknown(spec.name)}): choose another name, or "
                                 f"%kf_notebook delete {spec.name} first") from None
        # --workspace pvc:CLAIM: a local "claim" is a shared folder, never deleted with the server
        owned = not spec.workspace.claim
        workspace = self.workspaces / spec.name if owned else self.volumes / spec.workspace.claim
        kept = workspace.is_dir()
        try:
            config.private_dir(workspace)
            for claim, path in spec.data_volumes:  # a local "claim" is a shared folder, linked in by the mount's name
                target = self.volumes / claim
                config.private_dir(target)
                link = workspace / Path(path).name
                if not link.exists() and not link.is_symlink():
                    link.symlink_to(target, target_is_directory=True)
            _show_data(resolved, workspace, spec.name)
            config.write_private(folder / "token", secrets.token_hex(24))
            record = {"spec": spec.to_dict(), "gpus": gpus, "port": None, "pid": None,
                      "app": _app(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "stopped": False,
                      "workspace": str(workspace), "workspace_owned": owned, "workspace_reused": kept}
            self._save(spec.name, record)
            self._launch(spec.name, record)
        except BaseException:
            self._kill(folder)
            shutil.rmtree(folder, ignore_errors=True)
            if owned and not kept:
                shutil.rmtree(workspace, ignore_errors=True)
            raise
        return self.get(spec.name)

    def _phase_or_unknown(self, name: str) -> str:
        try:
            return self.get(name).phase
        except Exception:  # noqa: BLE001 - only to word the message
            return "incomplete"

    def _assign_gpus(self, count: int) -> list[str]:
        """GPU ids for CUDA_VISIBLE_DEVICES: visible ones not held by another running local server."""
        if not count:
            return []
        visible = visible_gpus()
        if not visible:
            raise InvalidSpec(f"--gpus {count}: no GPU is visible on this machine (no nvidia-smi, CUDA_VISIBLE_DEVICES "
                              "unset): use --gpus 0 here, or --backend kubernetes")
        held = {}
        for status in self.list():
            if status.phase != "Stopped":
                for gpu in self._record(status.name).get("gpus", []):
                    held[gpu] = status.name
        free = [g for g in visible if g not in held]
        if count > len(free):
            users = ", ".join(f"GPU {g}: {n}" for g, n in held.items())
            raise InvalidSpec(f"--gpus {count}: only {len(free)} of this machine's {len(visible)} GPU(s) are free"
                              + (f" ({users}); stop one, or ask for fewer" if users else ""))
        return free[:count]

    def _launch(self, name: str, record: dict) -> None:
        from jupyter_kf.training.backends.local_supervisor import free_port

        folder = self.root / name
        env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV and k not in RESERVED_ENV}
        env.update({k: v for k, v in record["spec"].get("env", {}).items() if k not in RESERVED_ENV})
        env.update(
            JUPYTER_TOKEN=self._token(name), JUPYTER_RUNTIME_DIR=str(folder / "runtime"), KF_NOTEBOOK_SERVER=name
        )
        if record["gpus"]:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(record["gpus"])
        elif visible_gpus():
            env["CUDA_VISIBLE_DEVICES"] = ""  # --gpus 0 means no GPU, as on a cluster
        port = record.get("port") or free_port()
        if not _port_free(port):
            port = free_port()
        command = [
            sys.executable,
            "-m",
            record.get("app") or _app(),
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={record['workspace']}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers often run as root; it is this user's own server
            command.append("--ServerApp.allow_root=True")
        with config.open_private(
            folder / "server.log"
        ) as log:  # umask 077: its files (notebooks too) are the user's alone
            proc = subprocess.Popen(command, env=env, cwd=record["workspace"], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, close_fds=True, umask=0o077)
        children[proc.pid] = proc
        record.update(
            port=port, pid=proc.pid, stopped=False, started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        )
        self._save(name, record)

    # -- read ------------------------------------------------------------------------------------
    def get(self, name: str) -> NotebookStatus:
        return self._status(self._record(name))

    def list(self) -> list[NotebookStatus]:
        statuses = []
        for path in sorted(self.root.glob("*/record.json")) if self.root.is_dir() else []:
            try:
                statuses.append(self._status(self._record(path.parent.name)))
            except (OSError, ValueError, KeyError, KfError):
                continue  # a record being written (or not ours: get() says why)
        return sorted(statuses, key=lambda s: s.created, reverse=True)

    def _status(self, record: dict) -> NotebookStatus:
        spec = record["spec"]
        name = spec["name"]
        status = NotebookStatus(
            name=name,
            phase="Starting",
            backend="local",
            kind="local",
            resources={"gpus": len(record.get("gpus", [])), "gpu_vendor": "nvidia.com/gpu"},
            workspace=record["workspace"],
            created=record.get("created", ""),
            image=record.get("app", ""),
        )
        if record.get("gpus"):
            status.message = f"CUDA_VISIBLE_DEVICES={','.join(record['gpus'])}"
        if record.get("stopped"):
            status.phase, status.message = "Stopped", "its workspace is kept"
            return status
        if not alive(record.get("pid"), record["workspace"]):
            tail = _tail(self.root / name / "server.log", 20)
            worst = [line for line in tail if line.startswith(("[C ", "[E ")) or "Error" in line] or tail
            status.phase, status.reason = "Error", "exited"
            status.message = (
                "the server exited" + (f": {worst[-1]}" if worst else "") + f" (log: {self.root / name / 'server.log'})"
            )
            status.details = [f"log: {line}" for line in tail[-5:]]
            return status
        if _answers(record["port"], self._token(name)):
            status.phase = "Ready"
            status.url = self._url(record)
        else:
            status.message = status.message or "Jupyter is starting"
        return status

    def _url(self, record: dict) -> str:
        page = "lab" if record.get("app") == "jupyterlab" else "api/status"
        return f"http://127.0.0.1:{record['port']}/{page}?token={self._token(record['spec']['name'])}"

    def url(self, name: str) -> NotebookLink:
        record = self._record(name)
        hint = "" if not record.get("stopped") else f"stopped: %kf_notebook start {name} first"
        return NotebookLink(self._url(record), hint)

    # -- act -------------------------------------------------------------------------------------
    def stop(self, name: str) -> NotebookStatus:
        record = self._record(name)
        self._kill(self.root / name)
        record["stopped"] = True
        self._save(name, record)
        return self._status(record)

    def start(self, name: str) -> NotebookStatus:
        record = self._record(name)
        if not record.get("stopped") and alive(record.get("pid"), record["workspace"]):
            return self._status(record)
        if record["spec"].get("gpus"):  # stopped, it held none: its GPUs may have gone to another server
            record["gpus"] = self._assign_gpus(record["spec"]["gpus"])
        self._launch(name, record)
        return self._status(record)

    def workspace_of(self, name: str) -> str | None:
        """The folder ``delete`` would remove: the server's own workspace, never a shared (pvc:) one."""
        record = self._record(name)
        workspace = Path(record["workspace"])
        return str(workspace) if record.get("workspace_owned", True) and workspace.is_dir() else None

    def delete(self, name: str, keep_workspace: bool) -> str | None:
        workspace = self.workspace_of(name)
        folder = self.folder(name)
        self._kill(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if workspace and not keep_workspace:
            shutil.rmtree(workspace, ignore_errors=True)
            return None
        return workspace

    def _kill(self, folder: Path, grace: float = 10.0) -> None:
        """SIGTERM the server's whole session (its kernels too), SIGKILL what is left after ``grace``."""
        try:
            record = json.loads((folder / "record.json").read_text())
        except (OSError, ValueError):
            return
        pid = record.get("pid")
        if not alive(pid, record["workspace"]):
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and alive(pid, record["workspace"]):
                time.sleep(0.05)
            if not alive(pid, record["workspace"]):
                break
        children.pop(pid, None)


def _resolve_data(spec: NotebookSpec):
    """--data locally: the versions, seen under the workspace (``/home/jovyan/x`` is the workspace's ``x``)."""
    if not spec.data:
        return None
    from jupyter_kf.datasets import api as data_api
    from jupyter_kf.datasets.spec import DataMount
    from jupyter_kf.notebooks.spec import WORKSPACE_MOUNT

    mounts = []
    for mount in spec.data:
        at = mount.mount
        if at.startswith("/"):
            if not at.startswith(WORKSPACE_MOUNT + "/"):
                raise InvalidSpec(f"--data {mount}: a local notebook server sees datasets in its workspace only: use "
                                  f"a path under {WORKSPACE_MOUNT}, e.g. {mount.ref}:{WORKSPACE_MOUNT}/data")
            at = at[len(WORKSPACE_MOUNT) + 1:]
        mounts.append(DataMount(mount.ref, at))
    return data_api.resolve_mounts(mounts, "local")


def _show_data(resolved, workspace: Path, name: str) -> None:
    """Read-only views of the versions in the workspace (links to the store: nothing is copied)."""
    if not resolved:
        return
    from jupyter_kf.datasets import api as data_api
    from jupyter_kf.datasets.backends.local import mount_view

    for mount, manifest in resolved:
        place = workspace / mount.mount
        if place.exists() or place.is_symlink():
            raise InvalidSpec(f"--data {mount}: {place} exists in the workspace already: choose another path")
        mount_view(resolved.store, manifest, place)
    data_api.record_reads(name, resolved, "local", reader="notebook")


def visible_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES where set, else what ``nvidia-smi -L`` lists."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [g.strip() for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip() and g.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(line for line in out.splitlines() if line.startswith("GPU "))]


def _answers(port: int | None, token: str, timeout: float = 1.0) -> bool:
    if not port:
        return False
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Jupyter binds: a port in TIME_WAIT is free
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _tail(path: Path, lines: int = 5) -> list[str]:
    try:
        return [line for line in path.read_text(errors="replace").splitlines() if line.strip()][-lines:]
    except OSError:
        return []
