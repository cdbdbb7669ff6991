"""Run the emulator standalone, for kubectl or a JupyterLab session.

    python -m tests.support.k8s_emulator --port 8001 --kubeconfig /tmp/kf-emulator.kubeconfig \\
        [--crds all|none|trainer,kserve,...] [--namespace default] [--gc-delay SECONDS]
        [--pod-termination SECONDS] [--simulate [--gpus N] [--cpus N] [--tpu TYPE:TOPOLOGY] [--node-label K=V ...]]

``--simulate`` adds the controllers and a kubelet (tests/support/k8s_emulator/simulate): workloads run
their real commands on this machine.

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
    _simulation_arguments(parser)
    args = parser.parse_args(argv)
    try:
        node_labels = _labels(args.node_label)
    except ValueError as err:
        parser.error(str(err))

    emulator = K8sEmulator(crds=args.crds, port=args.port)
    emulator.gc_delay = None if args.gc_delay < 0 else args.gc_delay
    emulator.pod_termination = None if args.pod_termination < 0 else args.pod_termination
    if emulator.get_object("", "v1", "namespaces", None, args.namespace) is None:
        emulator.baseline_namespaces += (args.namespace,)
        emulator.create_namespace(args.namespace)
    simulator = _simulator(parser, emulator, args, node_labels) if args.simulate else None
    emulator.start()
    if simulator is not None:
        simulator.start()
    path = emulator.write_kubeconfig(args.kubeconfig, namespace=args.namespace)
    crds = sorted(o["metadata"]["name"] for o in emulator.list_objects("apiextensions.k8s.io", "v1",
                                                                        "customresourcedefinitions"))
    print(f"Kubernetes API emulator listening on {emulator.url}", flush=True)
    print(f"kubeconfig: {path}", flush=True)
    print(f"  export KUBECONFIG={path}", flush=True)
    print(f"CRDs: {', '.join(crds) or '(none)'}", flush=True)
    if simulator is not None:
        capacity = ", ".join(f"{k}={v}" for k, v in simulator.node.manifest()["status"]["capacity"].items())
        print(f"simulating: controllers and a kubelet on node {simulator.node.name} ({capacity})", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if simulator is not None:
            simulator.stop()
        emulator.stop()
        print("stopped", flush=True)
    return 0


def _simulation_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("simulating mode")
    group.add_argument("--simulate", action="store_true",
                       help="run controllers (Job, JobSet, TrainJob, PyTorchJob, Kueue, Notebook, ...) and a kubelet "
                            "that runs each pod's command on this machine")
    group.add_argument("--gpus", type=int, default=0, help="nvidia.com/gpu the simulated node offers (default 0)")
    group.add_argument("--cpus", type=int, default=None,
                       help="CPUs the simulated node offers (default: this machine's; more lets requests exceed it)")
    group.add_argument("--tpu", default=None, metavar="TYPE:TOPOLOGY",
                       help="google.com/tpu chips and GKE TPU node labels, e.g. tpu-v5-lite-podslice:2x4")
    group.add_argument("--node-label", action="append", default=[], metavar="KEY=VALUE",
                       help="a label of the simulated node (repeatable)")


def _labels(items: list[str]) -> dict:
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--node-label {item!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


def _simulator(parser, emulator, args, node_labels):
    from tests.support.k8s_emulator.simulate import Simulator

    if args.gpus < 0:
        parser.error(f"--gpus {args.gpus}: expected 0 or more")
    if args.cpus is not None and args.cpus < 1:
        parser.error(f"--cpus {args.cpus}: expected 1 or more")
    try:
        return Simulator(emulator, gpus=args.gpus, node_labels=node_labels, tpu=args.tpu, cpus=args.cpus)
    except ValueError as err:
        parser.error(str(err))


if __name__ == "__main__":
    sys.exit(main())
