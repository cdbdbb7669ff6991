"""%kf_volume / kf.data.volumes: PersistentVolumeClaims on the emulated cluster (the official client over HTTP)."""
import pytest

import jupyter_kf as kf
from jupyter_kf.datasets import volumes
from jupyter_kf.errors import AlreadyExists, InvalidSpec

NS = "default"


def claims(emu):
    return {o["metadata"]["name"]: o for o in emu.list_objects("", "v1", "persistentvolumeclaims", NS)}


def test_the_claim_is_a_valid_pvc():
    import kubernetes_validate

    spec = volumes.VolumeSpec.create("datasets", "50Gi", "ReadWriteMany", "standard")
    body = volumes.build_pvc(spec, NS)
    kubernetes_validate.validate(body, "1.37", strict=True)
    assert body["spec"] == {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "50Gi"}},
                            "storageClassName": "standard"}


def test_create_list_delete(kf_cluster):
    created = kf.data.volumes.create("datasets", size="20Gi", access_mode="ReadWriteMany")
    assert created["metadata"]["name"] == "datasets"
    pvc = claims(kf_cluster)["datasets"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert pvc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "jupyter-kf"
    with pytest.raises(AlreadyExists, match="a PersistentVolumeClaim named 'datasets' exists in namespace 'default'"):
        volumes.create("datasets")
    kf_cluster.create_object({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                              "metadata": {"name": "theirs", "namespace": NS},
                              "spec": {"accessModes": ["ReadWriteOnce"],
                                       "resources": {"requests": {"storage": "1Gi"}}}})
    table = repr(volumes.list())
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["NAME", "SIZE", "ACCESS"]
    assert lines[1].split()[:3] == ["datasets", "20Gi", "ReadWriteMany"] and lines[1].rstrip().endswith("jupyter_kf")
    assert lines[2].split()[0] == "theirs" and lines[2].rstrip().endswith("-")
    with pytest.raises(InvalidSpec, match="'theirs' was not made by jupyter_kf: its data would be lost; add --force"):
        volumes.delete("theirs")
    assert "theirs" in claims(kf_cluster)
    assert volumes.delete("datasets").startswith("volume datasets deleted from namespace default")
    assert volumes.delete("theirs", force=True).startswith("volume theirs deleted")
    assert claims(kf_cluster) == {}
    with pytest.raises(kf.data.DatasetNotFound, match="no volume named 'datasets' in namespace 'default'"):
        volumes.delete("datasets")
    assert "no volumes in namespace default" in repr(volumes.list())


@pytest.mark.parametrize("kwargs, expected", [
    ({"name": "Data"}, "volume name 'Data' is invalid"),
    ({"name": "d", "size": "10GB"}, "--size '10GB' is not a Kubernetes quantity"),
    ({"name": "d", "size": "10"}, "--size '10' is below 1Mi"),
    ({"name": "d", "access_mode": "RWX"}, "--access-mode 'RWX' is unknown"),
])
def test_bad_input_makes_nothing(kf_cluster, kwargs, expected):
    with pytest.raises(InvalidSpec, match=expected):
        volumes.create(**kwargs)
    assert claims(kf_cluster) == {}


def test_the_local_backend_has_no_volumes():
    with pytest.raises(InvalidSpec, match="volumes are PersistentVolumeClaims on a cluster: the local backend has"):
        volumes.list()
