"""The fake kubelet, plus what ``--data`` needs of a kubelet: a pod's init containers run first, in order,
and only a pod whose init containers all succeeded runs its job container; emptyDir volumes are folders
shared by the pod's containers; the job's relative mount points (under /kf/out) lead to them.

A failed init container leaves the pod Failed with the container's termination message taken from its
log (``FallbackToLogsOnError``), as a kubelet would.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from tests.support.fake_kubelet import FakeKubelet


class DataKubelet(FakeKubelet):
    @staticmethod
    def pod_spec(kind: str, obj: dict) -> dict:
        if kind == "trainjob":
            return FakeKubelet.pod_patch(obj)["spec"]
        if kind == "pytorchjob":
            return obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
        return obj["spec"]["template"]["spec"]

    @staticmethod
    def localize(part: str, paths: dict) -> str:
        if part == "python":
            return sys.executable
        for pod_path, here in paths.items():
            part = part.replace(pod_path, str(here))
        return part

    def link_mounts(self, container: dict, volumes: list, paths: dict, data: Path) -> None:
        """Each emptyDir the job mounts: one folder (``data/<volume>``), seen at every mount point of it."""
        empty = {v["name"] for v in volumes if "emptyDir" in v and v["name"].startswith("kf-data-")}
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in empty:
                continue
            folder = data / mount["name"].removeprefix("kf-data-")
            folder.mkdir(parents=True, exist_ok=True)
            at = self.localize(mount["mountPath"], paths)
            if at == str(folder):
                continue
            if not at.startswith(str(paths["/kf/out"])):
                raise RuntimeError(f"this fake kubelet mounts datasets under /kf/out only, not at {mount['mountPath']}")
            Path(at).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(folder, at)

    def run(self, namespace: str, name: str, env: dict | None = None, **_) -> dict[int, int]:
        from jupyter_kf.training.backends.local_supervisor import free_port

        kind, obj = self.workload(namespace, name)
        container, labels, workers = self.container(kind, obj)
        spec = self.pod_spec(kind, obj)
        inits = spec.get("initContainers", [])
        pods = self.pod_names(kind, name, workers)
        owner = self.owner_of_pods(namespace, kind, obj)
        for pod, extra_labels, pod_annotations in pods:
            self.emu.make_pod(namespace, pod, owner=owner, labels={**labels, **extra_labels}, annotations=pod_annotations,
                              phase="Running", containers=(container.get("name", "node"),),
                              init_containers=[c["name"] for c in inits])
        port, root = free_port(), Path(tempfile.mkdtemp(prefix="data-kubelet-"))
        self.lay_out_bundle(namespace, obj, kind, root)
        codes, procs = {}, []
        for rank, (pod, _, _) in enumerate(pods):
            out, data = root / f"out-{rank}", root / f"data-{rank}"
            out.mkdir()
            paths = {"/kf/bundle": root / "bundle", "/kf/out": out, "/kf/data": data}
            for init in inits:
                self.link_mounts(init, spec["volumes"], paths, data)
            self.link_mounts(container, spec["volumes"], paths, data)
            failed = self.run_inits(namespace, kind, name, pod, inits, paths, rank, workers, port, out)
            if failed is not None:
                codes[rank] = failed
                continue
            command = [self.localize(part, paths) for part in container["command"]]
            worker_env = {**self.env(kind, namespace, name, container, rank, workers, port), **(env or {})}
            proc = subprocess.Popen(command, env=worker_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=out)
            pump = threading.Thread(target=self._pump, args=(namespace, pod, proc), daemon=True)
            pump.start()
            procs.append((rank, pod, proc, pump))
        for rank, pod, proc, pump in procs:
            codes[rank] = proc.wait(timeout=120)
            pump.join(timeout=10)
            self.emu.set_pod_phase(namespace, pod, "Succeeded" if codes[rank] == 0 else "Failed",
                                   exit_code=codes[rank] or None)
        self.finish(namespace, name, succeeded=all(code == 0 for code in codes.values()))
        return codes

    def run_inits(self, namespace, kind, name, pod, inits, paths, rank, workers, port, cwd) -> int | None:
        """Each init container to its end; the first failure's exit code (the pod then Failed), else None."""
        for init in inits:
            command = [self.localize(part, paths) for part in init["command"]]
            env = self.env(kind, namespace, name, init, rank, workers, port)
            done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=cwd, timeout=120)
            text = done.stdout + done.stderr
            if text:
                self.emu.write_log(namespace, pod, text, container=init["name"])
            state = {"exitCode": done.returncode, "reason": "Completed" if done.returncode == 0 else "Error"}
            if done.returncode and init.get("terminationMessagePolicy") == "FallbackToLogsOnError":
                state["message"] = text.strip().splitlines()[-1] if text.strip() else ""
            self._set_init_status(namespace, pod, init["name"], state)
            if done.returncode:
                self.emu.set_pod_phase(namespace, pod, "Failed", reason="Init:Error")
                self._set_init_status(namespace, pod, init["name"], state)
                return done.returncode
        return None

    def _set_init_status(self, namespace: str, pod: str, container: str, terminated: dict) -> None:
        def apply(obj):
            statuses = obj.setdefault("status", {}).setdefault("initContainerStatuses", [])
            statuses[:] = [s for s in statuses if s["name"] != container]
            statuses.append({"name": container, "image": "", "imageID": "", "restartCount": 0, "ready": False,
                             "state": {"terminated": terminated}})
        self.emu.update_object("", "v1", "pods", namespace, pod, apply)
