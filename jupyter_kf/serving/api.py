"""``kf.deploy``, ``kf.model``, ``kf.models``, ``kf.undeploy``: the one API the serving magics call."""
from __future__ import annotations

from jupyter_kf.serving.backends import get_backend
from jupyter_kf.serving.spec import ServingSpec, looks_like_uri
from jupyter_kf.serving.status import ModelStatus

__all__ = ["deploy", "model", "models", "undeploy", "Model"]


class Model:
    """A deployed model: its status, predictions, canary promotion and rollback, removal."""

    def __init__(self, name: str, backend=None, namespace: str | None = None):
        from jupyter_kf.training.spec import check_name

        self.name = check_name(name, "model name")
        self.backend = backend if backend is not None and not isinstance(backend, str) else get_backend(backend)
        self.namespace = namespace
        self._client = None
        self._client_key = None

    def status(self) -> ModelStatus:
        return self.backend.status(self.name, namespace=self.namespace)

    @property
    def url(self) -> str:
        return self.status().url

    def wait(self, timeout: float | None = 300, on_update=None) -> ModelStatus:
        return self.backend.wait(self.name, timeout=timeout, on_update=on_update, namespace=self.namespace)

    def predict(self, data, protocol: str | None = None):
        """Predictions for ``data`` (rows: an array, a list, a DataFrame) as a numpy array, over HTTP in the
        model's protocol (V1 or V2), exactly as any other client of the model would send them."""
        from jupyter_kf.serving.client import ModelClient
        from jupyter_kf.serving.errors import NotReady

        status = self.status()
        if not status.url:
            raise NotReady(f"{self.name} has no URL yet ({status.phase}): "
                           + (status.message or "wait for it with kf.model(name).wait()"))
        key = (status.url, status.protocol)
        if self._client is None or self._client_key != key:
            if self._client is not None:
                self._client.close()
            self._client, self._client_key = ModelClient(status.url, self.name, status.protocol), key
        return self._client.predict(data, protocol)

    def promote(self) -> ModelStatus:
        return self.backend.promote(self.name, namespace=self.namespace)

    def rollback(self) -> ModelStatus:
        return self.backend.rollback(self.name, namespace=self.namespace)

    def undeploy(self) -> None:
        if self._client is not None:
            self._client.close()
        self.backend.delete(self.name, namespace=self.namespace)

    def __repr__(self):
        return f"<Model {self.name} on {self.backend.name}>"


def deploy(
    name: str,
    model,
    format: str | None = None,
    protocol: str | None = None,
    gpus=0,
    cpu=None,
    memory=None,
    min_replicas=None,
    max_replicas=None,
    runtime: str | None = None,
    canary=None,
    backend: str | None = None,
    namespace: str | None = None,
    wait: bool = True,
    timeout=300,
    on_update=None,
    what: str | None = None,
    trained_by: str | None = None,
    tpu=None,
) -> Model:
    """Serve ``model`` (an object in the notebook, or a URI such as s3://bucket/models/iris) as ``name``:
    ``kf.deploy("iris", clf)``.

    With ``canary=N`` the new version takes N% of the traffic beside the one deployed; ``promote()`` or
    ``rollback()`` ends the canary. Waits until Ready (``wait=False``: returns at once).

    Args:
        name: the model's name. model: a trained object or a URI. format/protocol/runtime: how it is served
            (detected from the object when left out). gpus, cpu, memory, min_replicas, max_replicas: resources.
            tpu: a single-host TPU slice per replica on GKE, ``"v5e:2x4"``, instead of GPUs.
        canary: the percent of traffic the new version takes. backend, namespace: where it is served.
        trained_by: the job that trained it (default: the newest finished job whose results hold variable
            ``what``), so the dataset versions that job read are recorded as the model's (``%kf_data show``).

    Returns:
        A ``Model`` (``status()``, ``predict(data)``, ``promote()``, ``rollback()``, ``undeploy()``).

    Raises:
        InvalidSpec: a bad option or an object that cannot be saved. ModelExists: the name is someone else's.
        NotReady: it did not become Ready in ``timeout`` (the reason is in the message; the model is kept).
    """
    uri = model if looks_like_uri(model) else None
    spec = ServingSpec.create(name, format=format, uri=uri, protocol=protocol, gpus=gpus, cpu=cpu, memory=memory,
                              min_replicas=min_replicas, max_replicas=max_replicas, runtime=runtime, canary=canary,
                              namespace=namespace, backend=backend, timeout=timeout, tpu=tpu)
    if uri is None and isinstance(model, str):
        from jupyter_kf.errors import InvalidSpec

        raise InvalidSpec(
            f"--model {model!r} is neither a model URI nor a model object: use s3://, gs://, pvc://, hf://, "
            "oci://, http(s):// URIs, or the name of a variable holding a trained model"
        )
    handle = Model(name, get_backend(backend), namespace)
    handle.backend.deploy(spec, None if uri else model, what or "the model")
    _record_lineage(name, trained_by or _trained_by(what))
    if wait:
        handle.wait(spec.timeout, on_update)
    return handle


def _trained_by(variable: str | None) -> str | None:
    """The newest finished job (default backend) whose results bound ``variable`` in the notebook."""
    if not variable or not variable.isidentifier():
        return None
    from jupyter_kf.errors import KfError
    from jupyter_kf.training import results
    from jupyter_kf.training.backends import get_backend as training_backend

    try:
        backend = training_backend(None)
        for status in backend.list():
            if not status.done:
                continue
            summary = results.read_summary(backend.result_dir(status.name))
            if summary and variable in summary.get("outputs", []) + summary.get("mutated", []):
                return status.name
    except (KfError, OSError):
        return None  # lineage is a record, never a reason to refuse a deploy
    return None


def _record_lineage(model: str, job: str | None) -> None:
    if job is None:
        return
    from jupyter_kf.datasets import api as data_api
    from jupyter_kf.errors import KfError

    try:
        data_api.record_model(model, job)
    except (KfError, OSError):
        pass  # the model is deployed; its lineage is a record, never a reason to fail the deploy


def model(name: str, backend: str | None = None, namespace: str | None = None) -> Model:
    """A handle on a deployed model, found again after a kernel restart: ``kf.model("iris").predict(X)``.

    Returns:
        A ``Model``. Raises: ModelNotFound when there is none of that name.
    """
    handle = Model(name, get_backend(backend), namespace)
    handle.status()
    return handle


def models(backend: str | None = None, namespace: str | None = None) -> list[ModelStatus]:
    """Every deployed model (``ModelStatus``: phase, URL, versions, traffic), newest first."""
    return get_backend(backend).list(namespace)


def undeploy(name: str, backend: str | None = None, namespace: str | None = None) -> None:
    """Remove the model and the files uploaded for it. Raises ModelNotFound when there is none."""
    Model(name, get_backend(backend), namespace).undeploy()
