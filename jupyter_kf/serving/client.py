"""Predictions over HTTP in KServe's V1 or V2 (Open Inference Protocol) form: the same code for a model
served on this machine and one on the cluster. One kept-alive connection per model.

A model served on this machine wants its server's token: for a loopback URL it is read from the
model's folder (``<state>/models/<name>/token``, or the folder whose server listens on that port) and
sent as ``Authorization: Bearer``, so callers never handle it."""
from __future__ import annotations

import http.client
import json
import threading
import urllib.parse

from jupyter_kf.serving.errors import PredictionError


def as_array(data):
    import numpy as np

    if hasattr(data, "to_numpy"):  # pandas
        data = data.to_numpy()
    return np.asarray(data)


def v1_body(arr) -> dict:
    return {"instances": arr.tolist()}


def v2_body(arr) -> dict:
    from jupyter_kf.serving.local_server import v2_datatype

    if arr.dtype.kind in "OUS":
        data = [str(v) for v in arr.ravel().tolist()]
    else:
        data = arr.ravel().tolist()
    return {"inputs": [{"name": "input-0", "shape": list(arr.shape), "datatype": v2_datatype(arr), "data": data}]}


def v2_output(reply: dict):
    import numpy as np

    from jupyter_kf.serving.local_server import V2_TYPES

    outputs = reply.get("outputs") or []
    if not outputs:
        raise PredictionError(f"the model server's V2 reply has no outputs: {json.dumps(reply)[:200]}")
    out = outputs[0]
    dtype = V2_TYPES.get(out.get("datatype"), None)
    arr = np.asarray(out.get("data"), dtype=dtype)
    return arr.reshape(out["shape"]) if out.get("shape") else arr


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def local_token(url: str, model_name: str) -> str | None:
    """The token of the model server on this machine that ``url`` reaches, if it is one of ours."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in LOOPBACK_HOSTS or not parts.port:
        return None
    from jupyter_kf import config
    from jupyter_kf.processes import alive

    try:
        models = config.state_root() / "models"
    except Exception:  # noqa: BLE001 - no usable state folder: no token to send (the server says what it wants)
        return None
    candidates = [models / model_name] if "/" not in model_name and model_name not in ("", ".", "..") else []
    candidates += sorted(p for p in models.glob("*") if p not in candidates) if models.is_dir() else []
    for folder in candidates:
        try:
            server = json.loads((folder / "server.json").read_text())
            if server.get("port") != parts.port or not alive(server.get("pid"), "jupyter_kf.serving.local_server"):
                continue  # never hand our token to whatever listens on a port our server left
            token = folder / "token"
            config.check_private(token, "the model server's token file")
            return token.read_text().strip()
        except (OSError, ValueError, AttributeError):
            continue
    return None


class ModelClient:
    def __init__(
        self,
        url: str,
        model_name: str,
        protocol: str = "v1",
        timeout: float = 60.0,
        host_header: str | None = None,
        token: str | None = None,
    ):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PredictionError(f"model {model_name} has no usable URL ({url!r}): is it Ready? %kf_models shows it")
        self.url, self.model_name, self.protocol, self.timeout = url.rstrip("/"), model_name, protocol, timeout
        self._parts, self._host_header = parts, host_header
        self._token = token if token is not None else local_token(url, model_name)
        self._conn = None
        self._lock = threading.Lock()

    def _connection(self):
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self._parts.hostname, self._parts.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, dict]:
        payload = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._host_header:
            headers["Host"] = self._host_header
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        full = self._parts.path.rstrip("/") + path
        with self._lock:
            for attempt in (0, 1):
                try:
                    conn = self._connection()
                    conn.request(method, full, body=payload, headers=headers)
                    resp = conn.getresponse()
                    raw = resp.read()
                    break
                except (
                    http.client.RemoteDisconnected,
                    http.client.CannotSendRequest,
                    BrokenPipeError,
                    ConnectionResetError,
                ) as err:
                    self.close()
                    if attempt:
                        raise PredictionError(
                            f"model {self.model_name} at {self.url} dropped the connection: {err}"
                        ) from None
                except OSError as err:
                    self.close()
                    raise PredictionError(
                        f"model {self.model_name} at {self.url} is unreachable: {getattr(err, 'strerror', None) or err}"
                    ) from None
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {"error": raw[:300].decode("utf-8", "replace").strip()}
        return resp.status, data if isinstance(data, dict) else {"data": data}, dict(resp.getheaders())

    def _checked(self, status: int, data: dict) -> dict:
        if status >= 400:
            message = data.get("error") or data.get("detail") or data.get("message") or json.dumps(data)[:300]
            if isinstance(message, (list, dict)):
                message = json.dumps(message)[:300]
            raise PredictionError(f"model {self.model_name} refused the request (HTTP {status}): {message}")
        return data

    def predict(self, data, protocol: str | None = None):
        """The predictions for ``data`` (an array, a list of rows, a DataFrame), as a numpy array."""
        import numpy as np

        if protocol not in (None, "", "v1", "v2"):
            raise PredictionError(f"protocol {protocol!r} is unknown: use v1 (KServe V1) or v2 "
                                  "(Open Inference Protocol)")
        arr = as_array(data)
        if (protocol or self.protocol) == "v2":
            status, reply, _ = self.request("POST", f"/v2/models/{self.model_name}/infer", v2_body(arr))
            return v2_output(self._checked(status, reply))
        status, reply, _ = self.request("POST", f"/v1/models/{self.model_name}:predict", v1_body(arr))
        reply = self._checked(status, reply)
        if "predictions" not in reply:
            raise PredictionError(f"the model server's V1 reply has no predictions: {json.dumps(reply)[:200]}")
        return np.asarray(reply["predictions"])

    def ready(self) -> bool:
        try:
            if self.protocol == "v2":
                status, reply, _ = self.request("GET", f"/v2/models/{self.model_name}/ready")
            else:
                status, reply, _ = self.request("GET", f"/v1/models/{self.model_name}")
        except PredictionError:
            return False
        return status == 200 and bool(reply.get("ready"))
