"""--data behind Istio: a sidecar-injected pod's init containers have no network until the proxy starts,
so the fetch step runs as the proxy's uid 1337, whose traffic Istio's rules let through (Istio's advice for
application init containers). Jobs carry no sidecar at all (sidecar.istio.io/inject: "false"), and
pipeline steps fetch in their own container, so neither needs it. Manifests created strictly on the emulator."""
import pytest

import jupyter_kf as kf
from jupyter_kf import config, notebooks
from jupyter_kf.datasets.manifests import bypass_istio, init_bypasses_istio
from jupyter_kf.errors import InvalidSpec
from tests.support.helpers import KINDS, two_versions

PROXY = {"runAsUser": 1337, "runAsNonRoot": True, "allowPrivilegeEscalation": False}


@pytest.mark.parametrize("setting, labels, expected", [
    ("auto", {"istio-injection": "enabled"}, True),
    ("auto", {"istio.io/rev": "1-22"}, True),
    ("auto", {"istio-injection": "disabled"}, False),
    ("auto", {}, False),
    ("auto", None, True),  # labels unreadable (no get on namespaces, as in Kubeflow profiles): assume injection
    ("uid", {}, True),
    ("off", {"istio-injection": "enabled"}, False),
])
def test_when_the_init_step_runs_as_the_proxy_uid(setting, labels, expected):
    assert init_bypasses_istio(setting, labels) is expected


def test_a_bad_setting_is_one_line():
    with pytest.raises(InvalidSpec, match=r"^c.KfConfig.data_istio = 'yes' is not accepted: use auto, uid, off$"):
        init_bypasses_istio("yes", {})


def test_only_the_data_step_changes():
    pod = {"initContainers": [{"name": "other"}, {"name": "kf-data"}], "containers": [{"name": "lab"}]}
    bypass_istio([{"spec": {"template": {"spec": pod}}}])
    assert pod["initContainers"] == [{"name": "other"}, {"name": "kf-data", "securityContext": PROXY}]
    assert pod["containers"] == [{"name": "lab"}]


def label_namespace(emu, labels):
    def apply(obj):
        obj["metadata"]["labels"] = {**(obj["metadata"].get("labels") or {}), **labels}
    emu.update_object("", "v1", "namespaces", None, "default", apply)


def init_of(emu, name="lab"):
    obj = emu.get_object("kubeflow.org", "v1", "notebooks", "default", name)
    return obj["spec"]["template"]["spec"]["initContainers"][0]


@pytest.mark.parametrize("labels, setting, proxied", [
    ({"istio-injection": "enabled"}, "auto", True),
    ({}, "auto", False),
    ({}, "uid", True),
    ({"istio-injection": "enabled"}, "off", False),
])
def test_a_notebook_server_in_an_injected_namespace_fetches_as_the_proxy_uid(kf_cluster, store, tmp_path, labels,
                                                                              setting, proxied):
    two_versions(tmp_path)
    label_namespace(kf_cluster, labels)
    config.get().data_istio = setting
    notebooks.create("lab", data=["mnist@1:data"], wait=False)  # created strictly: a valid securityContext
    init = init_of(kf_cluster)
    assert (init.get("securityContext") == PROXY) is proxied
    assert "securityContext" not in kf_cluster.get_object("kubeflow.org", "v1", "notebooks", "default", "lab")[
        "spec"]["template"]["spec"]["containers"][0]  # the server itself runs as its image says


def test_a_bad_istio_setting_makes_no_server(kf_cluster, store, tmp_path):
    two_versions(tmp_path)
    config.get().data_istio = "always"
    with pytest.raises(InvalidSpec, match="c.KfConfig.data_istio = 'always' is not accepted"):
        notebooks.create("lab", data=["mnist@1:data"], wait=False)
    assert [s["metadata"]["name"] for s in kf_cluster.list_objects("", "v1", "secrets", "default")] == ["kf-store"]
    assert kf_cluster.get_object("kubeflow.org", "v1", "notebooks", "default", "lab") is None


def test_a_job_in_an_injected_namespace_has_no_sidecar_so_its_init_step_needs_no_uid(kf_cluster, store, tmp_path):
    two_versions(tmp_path)
    label_namespace(kf_cluster, {"istio-injection": "enabled"})
    job = kf.train("x = 1", name="istio-job", kind="job", data=["mnist@1:data"], user_ns={})
    pod = kf_cluster.get_object(*KINDS["job"], "default", job.name)["spec"]["template"]
    assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    assert "securityContext" not in pod["spec"]["initContainers"][0]
