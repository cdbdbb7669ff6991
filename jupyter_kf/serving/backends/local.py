"""Models served on this machine: one model-server process per model (``local_server``), in its own
session so it outlives the kernel, on a loopback port; ``<state>/models/<name>/`` is the whole record.

Versions live side by side (``v1/``, ``v2/``); a canary is a second loaded version taking a share of the
requests, so canary, promote and rollback behave as on a cluster, without changing the URL.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from jupyter_kf import config
from jupyter_kf.errors import InvalidSpec
from jupyter_kf.processes import alive, children
from jupyter_kf.serving import formats
from jupyter_kf.serving.backends import ServingBackend
from jupyter_kf.serving.errors import ModelNotFound, NotReady
from jupyter_kf.serving.spec import ServingSpec, check_protocol
from jupyter_kf.serving.status import ModelStatus

START_TIMEOUT = 60.0
MARKER = "jupyter_kf.serving.local_server"


class LocalServing(ServingBackend):
    name = "local"

    def __init__(self, state_dir: Path | None = None):
        self.root = Path(state_dir or config.get().state_dir).expanduser() / "models"

    def folder(self, name: str) -> Path:
        return self.root / name

    def record(self, name: str) -> dict:
        try:
            return json.loads((self.folder(name) / "record.json").read_text())
        except (OSError, ValueError):
            raise ModelNotFound(
                f"no model named {name!r} on the local backend: %kf_models lists the deployed models"
            ) from None

    def _save(self, name: str, record: dict) -> None:
        tmp = self.folder(name) / "record.json.tmp"
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, self.folder(name) / "record.json")

    # -- deploy ---------------------------------------------------------------------------------
    def deploy(self, spec: ServingSpec, obj=None, what: str = "the model") -> ModelStatus:
        if spec.tpu:
            raise InvalidSpec(f"--tpu {spec.tpu} needs a GKE cluster with TPU nodes: the local backend has no TPUs "
                              "(use --backend kubernetes, or leave --tpu out to serve here)")
        folder = self.folder(spec.name)
        existing = None
        if (folder / "record.json").is_file():
            existing = self.record(spec.name)
        elif spec.canary:
            raise ModelNotFound(f"--canary needs a deployed model to split traffic with, and there is no {spec.name!r} "
                                "on the local backend: deploy it first without --canary")
        fmt = (
            spec.format or (existing or {}).get("format")
            if obj is None
            else (spec.format or formats.detect_format(obj, what))
        )
        if obj is None:
            path, fmt = self._local_uri(spec, fmt)
        check_protocol(fmt, spec.protocol)
        label = f"v{(existing or {}).get('next', 1)}"
        same = existing and existing.get("format") == fmt and not spec.protocol
        protocol = existing["protocol"] if same else spec.protocol_for(fmt)
        version_dir = folder / label
        created_folder = existing is None
        folder.mkdir(parents=True, exist_ok=True)
        try:
            if obj is not None:
                rel = formats.save(obj, fmt, version_dir, spec.name, what)
                path = str(version_dir / rel)
            entry = {"format": fmt, "path": path, "protocol": protocol, "created": _now()}
            record = dict(existing) if existing else {"name": spec.name, "versions": {}, "created": _now()}
            record["versions"] = {**record["versions"], label: entry}
            record.update(next=int(label[1:]) + 1, format=fmt, protocol=protocol)
            retired = []
            if spec.canary:
                if record.get("canary"):
                    retired.append(record["canary"]["version"])
                record["canary"] = {"version": label, "percent": spec.canary}
            else:
                retired = [v for v in (record.get("stable"), (record.get("canary") or {}).get("version")) if v]
                record.update(stable=label, canary=None)
            self._apply(spec.name, record, existing)
        except BaseException:
            shutil.rmtree(version_dir, ignore_errors=True)
            if created_folder:
                self._stop(folder)
                shutil.rmtree(folder, ignore_errors=True)
            raise
        self._retire(spec.name, retired)
        return self.status(spec.name)

    def _local_uri(self, spec: ServingSpec, fmt: str | None) -> tuple[str, str]:
        raise InvalidSpec(f"the local backend serves models from the notebook (--model VARIABLE), not {spec.uri}: "
                          "deploy URIs on a cluster (--backend kubernetes)")

    def _apply(self, name: str, record: dict, previous: dict | None) -> None:
        """Write the record and have the server serve it: start one, or make the running one reload."""
        folder = self.folder(name)
        self._save(name, record)
        server = self._server(folder)
        try:
            if server:
                self._reload(name, server["port"])
            else:
                self._start(name, record)
        except BaseException:
            if previous is not None:
                self._save(name, previous)
            raise

    def _retire(self, name: str, labels: list[str]) -> None:
        record = self.record(name)
        keep = {record.get("stable"), (record.get("canary") or {}).get("version")}
        for label in labels:
            if label not in keep and label in record["versions"]:
                shutil.rmtree(self.folder(name) / label, ignore_errors=True)
                del record["versions"][label]
        self._save(name, record)

    def _start(self, name: str, record: dict) -> None:
        folder = self.folder(name)
        (folder / "server.json").unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "JPY_PARENT_PID")}
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[3]), env.get("PYTHONPATH")])
        )
        with open(folder / "server.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", MARKER, str(folder)], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, close_fds=True, env=env)
        children[proc.pid] = proc
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            server = _read_json(folder / "server.json")
            if server and server.get("pid") == proc.pid:
                record["port"] = server["port"]
                self._save(name, record)
                return
            if proc.poll() is not None:
                children.pop(proc.pid, None)
                raise NotReady(
                    f"the local model server for {name} stopped at start: {_last_error(folder / 'server.log')}"
                )
            time.sleep(0.02)
        self._stop(folder)
        raise NotReady(f"the local model server for {name} did not start within {START_TIMEOUT:.0f} s: "
                       f"{_last_error(folder / 'server.log')}")

    def _reload(self, name: str, port: int) -> None:
        from jupyter_kf.serving.client import ModelClient

        client = ModelClient(f"http://127.0.0.1:{port}", name)
        try:
            status, reply, _ = client.request("POST", "/kf/reload", {})
        finally:
            client.close()
        if status != 200:
            raise NotReady(f"the local model server for {name} could not load the new version: {reply.get('error')}")

    def _server(self, folder: Path) -> dict | None:
        server = _read_json(folder / "server.json")
        return server if server and alive(server.get("pid"), MARKER) else None

    # -- read -----------------------------------------------------------------------------------
    def status(self, name: str, namespace: str | None = None) -> ModelStatus:
        record = self.record(name)
        folder = self.folder(name)
        server = self._server(folder)
        canary = record.get("canary") or {}
        status = ModelStatus(
            name=name,
            backend="local",
            format=record.get("format", ""),
            protocol=record.get("protocol", "v1"),
            created=record.get("created", ""),
            stable=record.get("stable", ""),
            canary=canary.get("version", ""),
            canary_percent=canary.get("percent", 0),
        )
        status.traffic = (
            f"{100 - canary['percent']}% {record['stable']} / {canary['percent']}% {canary['version']} (canary)"
            if canary
            else f"100% {record.get('stable')}"
        )
        if server:
            status.phase, status.url = "Ready", f"http://127.0.0.1:{server['port']}"
        else:
            status.phase = "Failed"
            status.reasons = [f"the model server is not running (exited: {_last_error(folder / 'server.log')}); "
                              f"deploy it again or %kf_undeploy {name}"]
        return status

    def list(self, namespace: str | None = None) -> list[ModelStatus]:
        if not self.root.is_dir():
            return []
        out = []
        for folder in sorted(self.root.iterdir()):
            if (folder / "record.json").is_file():
                try:
                    out.append(self.status(folder.name))
                except ModelNotFound:
                    continue
        return out

    def wait(
        self, name: str, timeout: float | None = None, on_update=None, namespace: str | None = None
    ) -> ModelStatus:
        status = self.status(name)
        if on_update:
            on_update(status)
        if not status.ready:
            raise NotReady(f"{name} is not Ready: {status.message}")
        return status

    # -- change ---------------------------------------------------------------------------------
    def promote(self, name: str, namespace: str | None = None) -> ModelStatus:
        record = self.record(name)
        if not record.get("canary"):
            raise InvalidSpec(f"{name} has no canary to promote: deploy one with --canary PERCENT")
        previous = json.loads(json.dumps(record))
        old = record["stable"]
        record.update(stable=record["canary"]["version"], canary=None)
        self._apply(name, record, previous)
        self._retire(name, [old])
        return self.status(name)

    def rollback(self, name: str, namespace: str | None = None) -> ModelStatus:
        record = self.record(name)
        if not record.get("canary"):
            raise InvalidSpec(f"{name} has no canary to roll back: deploy one with --canary PERCENT")
        previous = json.loads(json.dumps(record))
        old = record["canary"]["version"]
        record["canary"] = None
        self._apply(name, record, previous)
        self._retire(name, [old])
        return self.status(name)

    def delete(self, name: str, namespace: str | None = None) -> None:
        self.record(name)  # ModelNotFound when there is none
        folder = self.folder(name)
        self._stop(folder)
        shutil.rmtree(folder, ignore_errors=True)

    def _stop(self, folder: Path, grace: float = 5.0) -> None:
        server = _read_json(folder / "server.json")
        pid = (server or {}).get("pid")
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            if not alive(pid, MARKER):
                break
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and alive(pid, MARKER):
                time.sleep(0.02)
        if pid in children:
            children.pop(pid).poll()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _last_error(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    errors = [line for line in lines if not line.startswith(("Traceback", "File ", "^", "~"))]
    return (errors or lines or ["no output"])[-1][:300]
