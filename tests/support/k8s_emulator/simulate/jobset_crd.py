"""The JobSet API the Trainer's TrainJobs need, served when the cluster's CRD set lacks it.

kubernetes-sigs/jobset v0.12.0 (the version Trainer v2.3.0's go.mod names) ships an 820 kB CRD, mostly
embedded pod templates; the simulator serves the same group, version, names and printer columns with the
spec and status left unchecked (the Trainer's own controller writes them, never a user)."""
from __future__ import annotations

_OPEN = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

JOBSET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "jobsets.jobset.x-k8s.io"},
    "spec": {
        "group": "jobset.x-k8s.io", "scope": "Namespaced",
        "names": {"kind": "JobSet", "listKind": "JobSetList", "plural": "jobsets", "singular": "jobset"},
        "versions": [{
            "name": "v1alpha2", "served": True, "storage": True, "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "TerminalState", "type": "string", "jsonPath": ".status.terminalState"},
                {"name": "Restarts", "type": "string", "jsonPath": ".status.restarts"},
                {"name": "Completed", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Completed")].status'},
                {"name": "Suspended", "type": "string", "jsonPath": ".spec.suspend"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                "spec": _OPEN, "status": _OPEN}}},
        }],
    },
}


def ensure_jobset_api(emulator) -> None:
    try:
        emulator.resource("jobset.x-k8s.io", "v1alpha2", "jobsets")
    except KeyError:
        emulator.install_crd(JOBSET_CRD)
