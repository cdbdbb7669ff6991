"""Katib v0.19's pod mutating webhook for the StdOut metrics collector (pkg/webhook/v1beta1/pod/inject_webhook.go):
a trial's primary pod (its labels hold the Trial's ``primaryPodLabels``) in a namespace with
``katib.kubeflow.org/metrics-collector-injection=enabled`` gets the ``metrics-logger-and-collector`` sidecar and a
shared ``/var/log/katib`` emptyDir; the primary container's command and args are joined unquoted into ``sh -c`` with
their output sent to the metrics file and ``completed`` written to ``/var/log/katib/$$.pid`` on success (with
early-stopping rules, an ``early-stopped`` pid file makes the wrapper exit 0). Runs when Katib is installed."""
from __future__ import annotations

from tests.support.k8s_emulator.webhook_katib import installed
from tests.support.k8s_emulator.webhooks import Webhook, register

NAME = "mutator.pod.katib.kubeflow.org"
COLLECTOR = "metrics-logger-and-collector"
COLLECTOR_IMAGE = "ghcr.io/kubeflow/katib/file-metrics-collector:v0.19.0"
METRICS_DIR = "/var/log/katib"
INJECTION_LABEL = "katib.kubeflow.org/metrics-collector-injection"
TRIAL_LABEL = "katib.kubeflow.org/trial"


def mutate(store, pod: dict, old: dict | None) -> list:
    trial = _trial_of(store, pod) if old is None and installed(store) else None
    if trial is None:
        return []
    spec = trial["spec"]
    labels = pod["metadata"].get("labels") or {}
    primary = next((c for c in pod["spec"]["containers"] if c["name"] == spec.get("primaryContainerName")), None)
    if primary is None or not (spec.get("primaryPodLabels") or {}).items() <= labels.items() \
            or any(c["name"] == COLLECTOR for c in pod["spec"]["containers"]):
        return []
    args = collector_args(trial)
    primary["command"] = ["sh", "-c", wrapped_command(primary, bool(spec.get("earlyStoppingRules")))]
    primary.pop("args", None)
    mount = {"name": "metrics-volume", "mountPath": METRICS_DIR}
    primary["volumeMounts"] = [*(primary.get("volumeMounts") or []), mount]
    pod["spec"]["containers"].append({"name": COLLECTOR, "image": COLLECTOR_IMAGE, "args": args,
                                      "volumeMounts": [mount], "resources": {}})
    pod["spec"]["volumes"] = [*(pod["spec"].get("volumes") or []), {"name": "metrics-volume", "emptyDir": {}}]
    pod["spec"]["shareProcessNamespace"] = True
    return []


def _trial_of(store, pod: dict) -> dict | None:
    meta = pod["metadata"]
    name = (meta.get("labels") or {}).get(TRIAL_LABEL)
    namespace = store.get(("", "namespaces"), "", meta.get("namespace", ""))
    if not name or ((namespace or {}).get("metadata", {}).get("labels") or {}).get(INJECTION_LABEL) != "enabled":
        return None
    return store.get(("kubeflow.org", "trials"), meta.get("namespace", ""), name)


def collector_args(trial: dict) -> list[str]:
    spec = trial["spec"]
    objective = spec["objective"]
    names = [objective["objectiveMetricName"], *(objective.get("additionalMetricNames") or [])]
    args = ["-t", trial["metadata"]["name"], "-m", ";".join(names), "-o-type", objective["type"],
            "-s-db", "katib-db-manager.kubeflow:6789", "-path", f"{METRICS_DIR}/metrics.log", "-format", "TEXT"]
    for rule in spec.get("earlyStoppingRules") or []:
        args += ["-stop-rule", f"{rule['name']};{rule['value']};{rule['comparison']};{rule.get('startStep', 0)}"]
    if spec.get("earlyStoppingRules"):
        args += ["-s-earlystop", "katib-earlystopping-medianstop.kubeflow:6788"]
    return args


def wrapped_command(container: dict, early_stopping: bool) -> str:
    words = " ".join([*(container.get("command") or []), *(container.get("args") or [])])
    pid = f"{METRICS_DIR}/$$$$.pid"  # $$ escapes $ in a container command: the shell sees $$, its own pid
    text = f"{words} 1>{METRICS_DIR}/metrics.log 2>&1 && echo completed > {pid}"
    if early_stopping:
        text += (f" || if test -f {pid} && [ $(head {pid} -n1) = 'early-stopped' ]; then echo Training Container was "
                 "Early Stopped; else echo Training Container was not Early Stopped; exit 1; fi")
    return text


register(Webhook(NAME, "", "pods", mutate))
