"""What the informers keep of each watched object: everything the status parsers read, not managedFields (often half
of a real API server's object, and a kernel may watch thousands). The emulator keeps no managedFields, so the list
here carries them as a real server's would."""
import json
import threading
from types import SimpleNamespace

from kubernetes import client

from jupyter_kf.kube.watch import Informer
from tests.kube.test_watch import _stop

FIELDS = [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1",
           "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}}}]


def test_cached_objects_drop_managed_fields(k8s_emulator, k8s_api_client):
    core = client.CoreV1Api(k8s_api_client)
    k8s_emulator.make_pod("default", "p1", labels={"app": "kf"})

    def list_pods(*args, **kwargs):
        response = core.list_namespaced_pod(*args, **kwargs)
        if kwargs.get("watch"):
            return response
        body = json.loads(response.data)
        for item in body["items"]:
            item["metadata"]["managedFields"] = FIELDS
        return SimpleNamespace(data=json.dumps(body).encode())

    informer = Informer(None, list_pods, ("default",), "app=kf", threading.Condition())
    assert informer.synced.wait(10)
    meta = informer.objects["p1"]["metadata"]
    assert "managedFields" not in meta and meta["labels"] == {"app": "kf"} and meta["uid"]
    _stop(k8s_emulator, informer)
