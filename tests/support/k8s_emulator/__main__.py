"""Run the emulator standalone, for kubectl or a JupyterLab session.

    python -m tests.support.k8s_emulator --port 8001 --kubeconfig /tmp/kf-emulator.kubeconfig \\
        [--crds all|none|trainer,kserve,...] [--namespace default] [--gc-delay SECONDS]
        [--pod-termination SECONDS]

Serves on 127.0.0.1 until Ctrl-C (or SIGTERM).
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.support.k8s_emulator.emulator import K8sEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.k8s_emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--kubeconfig", default="/tmp/kf-emulator.kubeconfig", help="kubeconfig file to write")
    parser.add_argument("--crds", default="all",
                        help="CRD folders to install from $JUPYTER_KF_CRDS_DIR or <repo>/../shared/crds: "
                             "all, none, or a comma list of names/prefixes (trainer,kserve,kueue,notebooks,...)")
    parser.add_argument("--namespace", default="default", help="namespace to create and set in the kubeconfig")
    parser.add_argument("--gc-delay", type=float, default=0.0,
                        help="seconds after a DELETE before the garbage collector acts on its dependents, in its own "
                             "thread as on a real cluster (default 0: at once, but after the DELETE has returned); "
                             "a negative value: within the DELETE")
    parser.add_argument("--pod-termination", type=float, default=1.0,
                        help="seconds the emulated kubelet takes to stop a deleted running pod, which stays "
                             "Terminating meanwhile (negative: pods go at once)")
    args = parser.parse_args(argv)

    emulator = K8sEmulator(crds=args.crds, port=args.port)
    emulator.gc_delay = None if args.gc_delay < 0 else args.gc_delay
    emulator.pod_termination = None if args.pod_termination < 0 else args.pod_termination
    if emulator.get_object("", "v1", "namespaces", None, args.namespace) is None:
        emulator.baseline_namespaces += (args.namespace,)
        emulator.create_namespace(args.namespace)
    emulator.start()
    path = emulator.write_kubeconfig(args.kubeconfig, namespace=args.namespace)
    crds = sorted(o["metadata"]["name"] for o in emulator.list_objects("apiextensions.k8s.io", "v1",
                                                                        "customresourcedefinitions"))
    print(f"Kubernetes API emulator listening on {emulator.url}", flush=True)
    print(f"kubeconfig: {path}", flush=True)
    print(f"  export KUBECONFIG={path}", flush=True)
    print(f"CRDs: {', '.join(crds) or '(none)'}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
