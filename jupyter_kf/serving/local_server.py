"""The local model server: KServe's V1 and V2 (Open Inference Protocol) REST endpoints on 127.0.0.1.

Run as ``python -m jupyter_kf.serving.local_server FOLDER`` in its own session, so it outlives the kernel
that started it. ``FOLDER/record.json`` says which versions to serve and how traffic splits between
them; ``POST /kf/reload`` reads it again (canary, promote, rollback) without changing the port.

Built on tornado: it is already installed wherever Jupyter is (jupyter_server runs on it), so local
serving adds no dependency; it is well kept, starts in ~0.1 s, and keeps connections alive. KServe's
own server (FastAPI + uvicorn + 60 more packages) is what the benchmark compares it with.

Loopback is shared by every user of the machine, and a browser page can reach it too, so: every
request but the health checks carries the server's token (``Authorization: Bearer TOKEN``; the token
is ``FOLDER/token``, 0600, made at the first start; ``client.py`` sends it), the Host must be this
machine's loopback name (DNS rebinding), a POST must be JSON and a cross-site Origin is refused. A
malformed request is a 400 in KServe's error shape (``{"error": ...}``), an unknown path or version a
JSON 404; what the request sent is echoed back cut short. The folder must be this user's alone.
"""
from __future__ import annotations

import hmac
import json
import os
import random
import secrets
import signal
import sys
import time
from pathlib import Path

import numpy as np
import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web

V2_TYPES = {"BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
            "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
            "FP32": np.float32, "FP64": np.float64, "BYTES": object}


def v2_datatype(arr: np.ndarray) -> str:
    kind = arr.dtype
    if kind == np.bool_:
        return "BOOL"
    if kind.kind in "iu":
        return f"{'U' if kind.kind == 'u' else ''}INT{kind.itemsize * 8}"
    if kind.kind == "f":
        return f"FP{kind.itemsize * 8}"
    return "BYTES"


TOKEN_FILE = "token"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
ECHO_LIMIT = 200


class BadInput(ValueError):
    pass


def cut(text: str, limit: int = ECHO_LIMIT) -> str:
    """Text that may hold what the request sent, cut short."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def token_for(folder: Path) -> str:
    """The server's token: read from ``FOLDER/token`` (it must be this user's alone), made there if missing."""
    from jupyter_kf import config

    path = folder / TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        config.check_private(path, "the model server's token file")
        return path.read_text().strip()
    token = secrets.token_hex(24)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return token


def as_array(data, dtype=None, shape=None, what="instances") -> np.ndarray:
    try:
        arr = np.asarray(data, dtype=dtype)
        return arr.reshape(shape) if shape is not None else arr
    except (ValueError, TypeError, OverflowError) as err:  # ragged rows, out-of-range values, a bad shape
        raise BadInput(f"{what}: {cut(err)}") from None


class Models:
    """The versions being served and the traffic split, from record.json."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.load()

    def load(self) -> None:
        from jupyter_kf import config
        from jupyter_kf.serving import formats

        config.check_private(self.folder, "the model folder")  # loading a model unpickles it: only our own files
        config.check_private(self.folder / "record.json", "the model record")
        record = json.loads((self.folder / "record.json").read_text())
        loaded = {}
        for label in filter(None, (record["stable"], (record.get("canary") or {}).get("version"))):
            entry = record["versions"][label]
            path = Path(entry["path"])
            config.check_private(path.parent, "the model's folder")
            config.check_private(path, "the model file")
            loaded[label] = formats.load(entry["format"], path)
        self.name, self.record, self.predictors = record["name"], record, loaded
        self.stable = record["stable"]
        self.canary = record.get("canary") or None

    def pick(self) -> str:
        if self.canary and random.random() * 100 < self.canary["percent"]:
            return self.canary["version"]
        return self.stable

    def predict(self, x, version: str | None = None) -> tuple[str, np.ndarray]:
        label = version or self.pick()
        return label, np.asarray(self.predictors[label](x))


class Base(tornado.web.RequestHandler):
    open = False  # health checks answer without the token

    def initialize(self, models: Models, token: str):
        self.models, self.token = models, token

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json")

    def reply(self, body: dict, status: int = 200):
        self.set_status(status)
        self.finish(json.dumps(body, separators=(",", ":")))

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None))[1]
        message = str(exc) if exc is not None and not isinstance(exc, tornado.web.HTTPError) else self._reason
        self.finish(json.dumps({"error": cut(message)}))

    def prepare(self):
        host = (self.request.host or "").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in LOOPBACK:
            return self.reply(
                {"error": f"Host {cut(host, 100)!r} is not this server's: use http://127.0.0.1:PORT"}, 403
            )
        origin = self.request.headers.get("Origin")
        if origin is not None and origin.lower() != f"{self.request.protocol}://{host}":
            return self.reply({"error": "cross-origin requests are refused"}, 403)
        if not self.open and not self.authorized():
            self.set_header("WWW-Authenticate", 'Bearer realm="jupyter_kf model server"')
            return self.reply({"error": "this model server needs its token: Authorization: Bearer TOKEN "
                                        "(kf.model(name).predict and %kf_predict send it)"}, 401)
        if self.request.method == "POST":
            kind = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                return self.reply({"error": f"Content-Type {cut(kind, 100) or 'none'!r} is not accepted: send "
                                            "Content-Type: application/json"}, 415)

    def authorized(self) -> bool:
        scheme, _, given = self.request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() in ("bearer", "token") and hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        )

    def known(self, name: str, version: str | None = None) -> bool:
        if name != self.models.name:
            self.reply({"error": f"Model with name {cut(name, 100)} does not exist."}, 404)
            return False
        if version is not None and version not in self.models.predictors:
            self.reply({"error": f"Model {name} has no version {cut(version, 100)}: it serves "
                                 f"{', '.join(sorted(self.models.predictors))}."}, 404)
            return False
        return True

    def body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"{}")
        except (ValueError, RecursionError) as err:
            raise BadInput(
                f"Unrecognized request format: {cut(err) if isinstance(err, ValueError) else 'nested too deeply'}"
            ) from None
        if not isinstance(data, dict):
            raise BadInput("Unrecognized request format: expected a JSON object")
        return data

    def run(self, x, version: str | None = None):
        try:
            label, out = self.models.predict(x, version)
        except (ValueError, TypeError, IndexError, KeyError, OverflowError) as err:
            raise BadInput(cut(str(err).strip() or type(err).__name__)) from None
        self.set_header("kf-model-version", label)
        return out

    def guarded(self, fn, *args):
        try:
            fn(*args)
        except BadInput as err:
            self.reply({"error": str(err)}, 400)
        except Exception as err:  # noqa: BLE001 - the model's own failure, reported as KServe does
            self.reply({"error": cut(f"{type(err).__name__}: {err}")}, 500)


class NotFound(Base):
    def prepare(self):
        if super().prepare() is None and not self._finished:
            self.reply({"error": f"Not Found: {cut(self.request.path, 100)}"}, 404)


class V1Model(Base):
    def get(self, name):
        if self.known(name):
            self.reply({"name": name, "ready": True})


class V1Predict(Base):
    def post(self, name):
        if self.known(name):
            self.guarded(self._predict)

    def _predict(self):
        data = self.body()
        instances = data.get("instances", data.get("inputs"))
        if not isinstance(instances, list):
            raise BadInput('Expected "instances" to be a list')
        out = self.run(as_array(instances))
        self.reply({"predictions": out.tolist()})


class V1List(Base):
    def get(self):
        self.reply({"models": [self.models.name]})


class V2Health(Base):
    open = True

    def get(self, what):
        self.reply({"live": True} if what == "live" else {"ready": True})


class V2Model(Base):
    def get(self, name, version=None):
        if self.known(name, version):
            entry = self.models.record["versions"][version or self.models.stable]
            self.reply({"name": name, "versions": [version] if version else sorted(self.models.predictors),
                        "platform": entry["format"], "inputs": [], "outputs": []})


class V2Ready(Base):
    def get(self, name, version=None):
        if self.known(name, version):
            self.reply({"name": name, "ready": True})


class V2Infer(Base):
    def post(self, name, version=None):
        if self.known(name, version):
            self.guarded(self._infer, name, version)

    def _infer(self, name, version):
        data = self.body()
        inputs = data.get("inputs")
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            raise BadInput('Expected "inputs" to hold exactly one tensor')
        tensor = inputs[0]
        datatype = tensor.get("datatype")
        if not isinstance(datatype, str) or datatype not in V2_TYPES:
            raise BadInput(f"Unsupported datatype {cut(repr(datatype), 100)}: use one of {', '.join(V2_TYPES)}")
        shape = tensor.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            raise BadInput(f"Input {cut(tensor.get('name', 'input-0'), 100)}: \"shape\" must be a list of integers")
        x = as_array(tensor.get("data"), V2_TYPES[datatype], shape, f"Input {cut(tensor.get('name', 'input-0'), 100)}")
        out = self.run(x, version)
        reply = {"model_name": name, "outputs": [{"name": "output-0", "shape": list(out.shape),
                                                   "datatype": v2_datatype(out), "data": out.ravel().tolist()}]}
        if data.get("id") is not None:
            reply["id"] = data["id"]
        self.reply(reply)


class Reload(Base):
    def post(self):
        try:
            self.models.load()
        except Exception as err:  # noqa: BLE001 - the new version failed to load; the old one keeps serving
            self.reply({"error": f"{type(err).__name__}: {err}"}, 500)
            return
        self.reply({"versions": sorted(self.models.predictors)})


def make_app(models: Models, token: str) -> tornado.web.Application:
    n = r"([^/:]+)"
    k = {"models": models, "token": token}
    return tornado.web.Application([
        (r"/v1/models", V1List, k),
        (rf"/v1/models/{n}", V1Model, k),
        (rf"/v1/models/{n}:predict", V1Predict, k),
        (r"/v2/health/(live|ready)", V2Health, k),
        (rf"/v2/models/{n}(?:/versions/{n})?", V2Model, k),
        (rf"/v2/models/{n}(?:/versions/{n})?/ready", V2Ready, k),
        (rf"/v2/models/{n}(?:/versions/{n})?/infer", V2Infer, k),
        (r"/kf/reload", Reload, k),
    ], log_function=lambda handler: None, default_handler_class=NotFound, default_handler_args=k)


def private_tree(folder: Path) -> None:
    """Group and others lose every right on the folder and what is in it (it was written with the umask)."""
    me = os.geteuid() if hasattr(os, "geteuid") else None
    for path in (folder, *folder.rglob("*")):
        st = path.lstat()
        if me is not None and st.st_uid == me and not path.is_symlink() and st.st_mode & 0o077:
            os.chmod(path, st.st_mode & 0o700)


def main(argv=None) -> int:
    os.umask(0o077)  # what it writes (server.json, its log's new files) is this user's alone
    folder = Path((argv or sys.argv[1:])[0])
    from jupyter_kf import config

    config.get()  # the state folder made private, should a first deploy have made it with the umask
    config.check_private(folder, "the model folder")
    private_tree(folder)
    token = token_for(folder)
    models = Models(folder)
    record = models.record
    sockets = tornado.netutil.bind_sockets(record.get("port") or 0, address="127.0.0.1")
    server = tornado.httpserver.HTTPServer(make_app(models, token), xheaders=False)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    tmp = folder / "server.json.tmp"
    tmp.write_text(
        json.dumps({"pid": os.getpid(), "port": port, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    )
    os.replace(tmp, folder / "server.json")
    loop = tornado.ioloop.IOLoop.current()
    loop.asyncio_loop.add_signal_handler(signal.SIGTERM, loop.stop)
    print(f"serving {models.name} ({', '.join(sorted(models.predictors))}) on http://127.0.0.1:{port}", flush=True)
    loop.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
