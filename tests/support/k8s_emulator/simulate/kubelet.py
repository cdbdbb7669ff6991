"""The scheduler and kubelet of the simulated node: binds each pending pod that fits (or says why not, as
kube-scheduler does), then runs its containers' real commands here as local processes (init containers
first), with their output as the pod's logs and their exit codes in its status. A deleted pod's processes
get SIGTERM, then SIGKILL when its grace period ends."""
from __future__ import annotations

import collections
import os
import secrets
import signal
import subprocess
import threading
from pathlib import Path

from tests.support.k8s_emulator.meta import rfc3339
from tests.support.k8s_emulator.simulate.loop import Controller
from tests.support.k8s_emulator.simulate.node import TERMINAL, Node, unschedulable_message
from tests.support.k8s_emulator.simulate.sandbox import PodError, Sandbox
from tests.support.k8s_emulator.store import clone

POD_KEY = ("", "pods")


class Kubelet(Controller):
    """Schedules onto ``node`` and runs what is bound there; ``root`` holds the pods' private folders."""

    def __init__(self, emulator, node: Node, root: Path):
        super().__init__(emulator)
        self.node = node
        self.root = root
        self.runs: dict[str, PodRun] = {}
        self.stdlib_only_images: tuple = ()  # image prefixes whose Python runs with -S (no site-packages)

    def register_node(self) -> None:
        if self.emu.get_object("", "v1", "nodes", None, self.node.name) is None:
            self.emu.create_object(self.node.manifest())

    def reconcile(self) -> None:
        pods = sorted(self.emu.list_objects("", "v1", "pods"), key=lambda p: p["metadata"].get("creationTimestamp", ""))
        alive = {p["metadata"]["uid"] for p in pods}
        for uid in [u for u in self.runs if u not in alive]:
            self.runs.pop(uid).stop(grace=0)
        bound = [p for p in pods if p["spec"].get("nodeName") == self.node.name
                 and (p.get("status") or {}).get("phase") not in TERMINAL]
        for pod in pods:
            self._reconcile_pod(pod, bound)

    def _reconcile_pod(self, pod: dict, bound: list[dict]) -> None:
        uid, meta = pod["metadata"]["uid"], pod["metadata"]
        if meta.get("deletionTimestamp"):
            run = self.runs.get(uid)
            if run is None or run.finished.is_set():
                finish_deletion(self.emu, pod)
            else:
                run.stop(grace=meta.get("deletionGracePeriodSeconds", 30))
            return
        node_name = pod["spec"].get("nodeName")
        if not node_name:
            self._schedule(pod, bound)
        elif node_name == self.node.name and uid not in self.runs and (pod.get("status") or {}).get("phase", "Pending") == "Pending":
            run = self.runs[uid] = PodRun(self.emu, pod, self.root)
            run.sandbox.stdlib_only_images = self.stdlib_only_images
            run.start()

    def _schedule(self, pod: dict, bound: list[dict]) -> None:
        reasons = self.node.unfit_reasons(pod, bound)
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if reasons:
            message = unschedulable_message(reasons)
            scheduled = next((c for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == "PodScheduled"), {})
            if scheduled.get("message") != message:
                self.emu.mark_unschedulable(ns, name, message)
            return

        def bind(obj):
            obj["spec"]["nodeName"] = self.node.name
            obj.setdefault("status", {})["conditions"] = [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                            "lastTransitionTime": rfc3339()}]
        bound.append(self.emu.update_object("", "v1", "pods", ns, name, bind))
        self.emu.emit_event(ns, pod, "Scheduled", f"Successfully assigned {ns}/{name} to {self.node.name}",
                            source="default-scheduler")

    def stop(self) -> None:
        for run in list(self.runs.values()):
            run.stop(grace=0)


def finish_deletion(emulator, pod: dict) -> None:
    """What the kubelet does once a deleted pod's containers are gone: the pod leaves the API."""
    meta = pod["metadata"]
    with emulator.store.cond:
        current = emulator.store.get(POD_KEY, meta["namespace"], meta["name"])
        if current is None or current["metadata"].get("uid") != meta["uid"]:
            return
        final = clone(current)
        final["metadata"]["deletionGracePeriodSeconds"] = 0
        if not emulator.api.deleter.finish_if_released(POD_KEY, final):
            emulator.store.put(POD_KEY, final)


class PodRun:
    """One pod's processes: init containers one by one, then the containers together."""

    def __init__(self, emulator, pod: dict, root: Path):
        self.emu = emulator
        self.pod = pod
        meta = pod["metadata"]
        self.namespace, self.name = meta["namespace"], meta["name"]
        self.sandbox = Sandbox(emulator, pod, root / "pods" / f"{self.namespace}_{self.name}_{meta['uid'][:8]}",
                               root / "claims")
        self.procs: dict[str, subprocess.Popen] = {}
        self.stopping = threading.Event()
        self.finished = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"pod:{self.namespace}/{self.name}", daemon=True).start()

    def stop(self, grace: float) -> None:
        """SIGTERM now, SIGKILL after ``grace`` seconds (at once for 0)."""
        first = not self.stopping.is_set()
        self.stopping.set()
        with self._lock:
            procs = list(self.procs.values())
        for proc in procs:
            _signal(proc, signal.SIGKILL if grace <= 0 else signal.SIGTERM)
        if first and grace > 0:
            timer = threading.Timer(grace, lambda: [_signal(p, signal.SIGKILL) for p in procs])
            timer.daemon = True
            timer.start()

    def _run(self) -> None:
        try:
            self._prepare()
            ok = self._run_init_containers()
            codes = self._run_containers() if ok else None
            if codes is not None:
                self._finish_pod(codes)
        except KeyError:
            pass  # the pod went away meanwhile
        finally:
            self.finished.set()
            if self.stopping.is_set():
                current = self.emu.get_object("", "v1", "pods", self.namespace, self.name)
                if current is not None and current["metadata"]["uid"] == self.pod["metadata"]["uid"]:
                    finish_deletion(self.emu, current)

    def _prepare(self) -> None:
        """Volumes laid out; a missing Secret/ConfigMap keeps the pod waiting, retried as the kubelet does."""
        delay = 0.5
        while not self.stopping.is_set():
            try:
                self.sandbox.lay_out()
                for container in self._all_containers():
                    self.sandbox.env(container)
                return
            except PodError as err:
                self._waiting(str(err), err.reason)
                self.stopping.wait(delay)
                delay = min(delay * 2, 5)
        raise KeyError("stopped before it started")

    def _all_containers(self) -> list[dict]:
        return list(self.pod["spec"].get("initContainers") or []) + list(self.pod["spec"]["containers"])

    def _run_init_containers(self) -> bool:
        for container in self.pod["spec"].get("initContainers") or []:
            code = self._run_one(container, init=True)
            if code != 0:
                self._finish_pod({container["name"]: code}, init_failed=True)
                return False
        return True

    def _run_containers(self) -> dict[str, int] | None:
        threads, codes = [], {}
        for container in self.pod["spec"]["containers"]:
            def run(c=container):
                codes[c["name"]] = self._run_one(c, init=False)
            threads.append(threading.Thread(target=run, daemon=True))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return {c["name"]: codes.get(c["name"], 128) for c in self.pod["spec"]["containers"]}

    def _run_one(self, container: dict, init: bool) -> int:
        """Start, restart per restartPolicy, and return the last exit code."""
        policy = self.pod["spec"].get("restartPolicy", "Always")
        restarts, backoff = 0, 1.0
        while True:
            code = self._exec(container, init, restarts)
            if self.stopping.is_set() or policy == "Never" or (policy == "OnFailure" and code == 0) \
                    or (init and code == 0):
                return code
            restarts += 1
            self.emu.logs.restart(self.namespace, self.name, container["name"])
            uid = self.pod["metadata"]["uid"]
            self._container_state(container["name"], init, {"waiting": {
                "reason": "CrashLoopBackOff", "message": f"back-off {backoff:g}s restarting failed "
                f"container={container['name']} pod={self.name}_{self.namespace}({uid})"}}, restarts)
            if self.stopping.wait(backoff):
                return code
            backoff = min(backoff * 2, 10)

    def _exec(self, container: dict, init: bool, restarts: int) -> int:
        name = container["name"]
        try:
            argv, env = self.sandbox.argv(container), self.sandbox.env(container)
            cwd = self.sandbox.working_dir(container)
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except (PodError, OSError, ValueError) as err:  # ValueError: a NUL byte in an argument or env value
            self.emu.write_log(self.namespace, self.name, f"{err}\n", container=name)
            self._container_state(name, init, {"terminated": _terminated(128, "StartError", str(err))}, restarts)
            return 128
        with self._lock:
            self.procs[name] = proc
        if self.stopping.is_set():
            _signal(proc, signal.SIGKILL)
        started = rfc3339()
        probe = None if init else container.get("readinessProbe")
        self._container_state(name, init, {"running": {"startedAt": started}}, restarts, ready=probe is None)
        if probe:
            threading.Thread(target=self._probe, args=(name, probe, proc, started, restarts), daemon=True).start()
        tail: collections.deque = collections.deque(maxlen=80)
        for line in iter(proc.stdout.readline, b""):
            self._log(name, line)
            tail.append(line)
        code = proc.wait()
        code = 128 - code if code < 0 else code  # killed by a signal: 128 + signal number, as a runtime reports
        reason = "Completed" if code == 0 else "Error"
        message = _fallback_message(container, code, tail)
        self._container_state(name, init, {"terminated": {**_terminated(code, reason, message), "startedAt": started}},
                              restarts)
        return code

    def _log(self, container: str, line: bytes) -> None:
        if self.stopping.is_set() and not self._still_mine():
            return  # a deleted pod's last words never reach a new pod of the same name
        try:
            self.emu.write_log(self.namespace, self.name, line.decode("utf-8", "replace"), container=container)
        except KeyError:
            pass

    def _still_mine(self) -> bool:
        current = self.emu.get_object("", "v1", "pods", self.namespace, self.name)
        return current is not None and current["metadata"]["uid"] == self.pod["metadata"]["uid"]

    # -- status -----------------------------------------------------------------------------------
    def _update(self, apply) -> None:
        """Status writes go to this pod only: once it is gone, a new pod of its name (a replaced run's) is another."""
        uid = self.pod["metadata"]["uid"]

        def mine(pod):
            if pod["metadata"]["uid"] != uid:
                raise KeyError("a new pod of that name")
            apply(pod)
        try:
            self.emu.update_object("", "v1", "pods", self.namespace, self.name, mine)
        except KeyError:
            pass

    def _waiting(self, message: str, reason: str) -> None:
        def apply(pod):
            statuses = pod["status"].setdefault("containerStatuses", [])
            statuses[:] = [_status(c, {"waiting": {"reason": reason, "message": message}}, 0)
                           for c in pod["spec"]["containers"]]
        self._update(apply)

    def _probe(self, name: str, probe: dict, proc: subprocess.Popen, started: str, restarts: int) -> None:
        """A readinessProbe (httpGet or tcpSocket) tried until it passes: only then is the container ready."""
        while proc.poll() is None and not self.stopping.is_set():
            if _probe_passes(probe, self.sandbox.ports):
                self._container_state(name, False, {"running": {"startedAt": started}}, restarts, ready=True)
                return
            self.stopping.wait(0.2)

    def _container_state(self, name: str, init: bool, state: dict, restarts: int, ready: bool = False) -> None:
        def apply(pod):
            status = pod["status"]
            field = "initContainerStatuses" if init else "containerStatuses"
            specs = pod["spec"].get("initContainers" if init else "containers") or []
            old = {s["name"]: s for s in status.get(field) or []}
            status[field] = [old.get(c["name"]) or _status(c, {"waiting": {"reason": "PodInitializing"}}, 0)
                             for c in specs]
            for i, spec in enumerate(specs):
                if spec["name"] == name:
                    status[field][i] = _status(spec, state, restarts, old.get(name), ready)
            _pod_phase(pod)
        self._update(apply)

    def _finish_pod(self, codes: dict, init_failed: bool = False) -> None:
        def apply(pod):
            failed = init_failed or any(code != 0 for code in codes.values())
            pod["status"]["phase"] = "Failed" if failed else "Succeeded"
            _conditions(pod, ready=False, completed=True)
        self._update(apply)


def _pod_phase(pod: dict) -> None:
    """Running once a container runs (init containers done), with conditions to match."""
    status = pod["status"]
    running = [s for s in status.get("containerStatuses") or [] if "running" in s["state"]]
    waiting = [s for s in status.get("containerStatuses") or [] if "waiting" in s["state"]]
    status.setdefault("startTime", rfc3339())
    status.update(hostIP="127.0.0.1", hostIPs=[{"ip": "127.0.0.1"}], podIP="127.0.0.1", podIPs=[{"ip": "127.0.0.1"}])
    if running or (status.get("containerStatuses") and not waiting):
        status["phase"] = "Running"
    ready = len([s for s in running if s.get("ready")]) == len(pod["spec"]["containers"])
    _conditions(pod, ready=ready, completed=False)


def _conditions(pod: dict, ready: bool, completed: bool) -> None:
    from tests.support.k8s_emulator.controls import Controls

    status = pod["status"]
    initialized = bool(status.get("containerStatuses")) and any(
        "waiting" not in s["state"] or s["state"]["waiting"].get("reason") != "PodInitializing"
        for s in status["containerStatuses"])
    Controls._set_pod_conditions(status, scheduled=True, ready=ready, completed=completed, now=rfc3339())
    for condition in status["conditions"]:
        if condition["type"] == "Initialized" and not initialized and pod["spec"].get("initContainers"):
            condition.update(status="False", reason="ContainersNotInitialized")


def _probe_passes(probe: dict, ports: dict[int, int]) -> bool:
    import http.client
    import socket

    action = probe.get("httpGet") or probe.get("tcpSocket") or {}
    port = ports.get(action.get("port")) if isinstance(action.get("port"), int) else next(iter(ports.values()), None)
    if port is None:
        return True  # nothing here to probe (an exec probe, a port not declared): trusted, as started
    try:
        if "httpGet" in probe:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", action.get("path", "/"))
            return 200 <= conn.getresponse().status < 400
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _status(spec: dict, state: dict, restarts: int, old: dict | None = None, ready: bool = False) -> dict:
    image = spec.get("image", "")
    running = "running" in state
    status = {"name": spec["name"], "image": image, "imageID": f"docker.io/library/{image}@sha256:{'0' * 64}",
              "restartCount": restarts, "ready": running and ready, "started": running, "state": state,
              "containerID": (old or {}).get("containerID") or f"containerd://{secrets.token_hex(32)}"}
    if old and restarts and "terminated" in old.get("state", {}):
        status["lastState"] = {"terminated": old["state"]["terminated"]}
    elif old and old.get("lastState"):
        status["lastState"] = old["lastState"]  # through the back-off wait and the next run
    return status


def _fallback_message(container: dict, code: int, tail) -> str | None:
    """``terminationMessagePolicy: FallbackToLogsOnError``: a failed container's message is the end of its log,
    the last 80 lines or 2048 bytes, whichever is smaller (no /dev/termination-log is written here)."""
    if code == 0 or container.get("terminationMessagePolicy") != "FallbackToLogsOnError":
        return None
    return b"".join(tail)[-2048:].decode("utf-8", "replace") or None


def _terminated(code: int, reason: str, message: str | None = None) -> dict:
    now = rfc3339()
    out = {"exitCode": code, "reason": reason, "startedAt": now, "finishedAt": now}
    if message:
        out["message"] = message
    return out


def _signal(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass



def endpoint(kubelet: Kubelet, namespace: str, pod_name: str | None = None,
             labels: dict | None = None) -> tuple[int, str] | None:
    """(port on this machine, server token) of a running pod's first declared container port; the pod named, or
    the first whose labels include ``labels`` (a Service's selector)."""
    for run in sorted(kubelet.runs.values(), key=lambda r: r.name):
        pod_labels = run.pod["metadata"].get("labels") or {}
        wanted = run.name == pod_name if pod_name else all(pod_labels.get(k) == v for k, v in (labels or {}).items())
        if run.namespace == namespace and wanted and not run.finished.is_set() and run.sandbox.ports:
            return next(iter(run.sandbox.ports.values())), run.sandbox.token
    return None
