"""The local model server: KServe's V1 and V2 (Open Inference Protocol) REST endpoints on 127.0.0.1.

Run as ``python -m jupyter_kf.serving.local_server FOLDER`` in its own session, so it outlives the kernel
that started it. ``FOLDER/record.json`` says which versions to serve and how traffic splits between
them; ``POST /kf/reload`` reads it again (canary, promote, rollback) without changing the port.

Built on tornado: it is already installed wherever Jupyter is (jupyter_server runs on it), so local
serving adds no dependency; it is well kept, starts in ~0.1 s, and keeps connections alive. KServe's
own server (FastAPI + uvicorn + 60 more packages) is what the benchmark compares it with.
"""
from __future__ import annotations

import json
import os
import random
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


class BadInput(ValueError):
    pass


class Models:
    """The versions being served and the traffic split, from record.json."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.load()

    def load(self) -> None:
        from jupyter_kf.serving import formats

        record = json.loads((self.folder / "record.json").read_text())
        loaded = {}
        for label in filter(None, (record["stable"], (record.get("canary") or {}).get("version"))):
            entry = record["versions"][label]
            loaded[label] = formats.load(entry["format"], Path(entry["path"]))
        self.name, self.record, self.predictors = record["name"], record, loaded
        self.stable = record["stable"]
        self.canary = record.get("canary") or None

    def pick(self) -> str:
        if self.canary and random.random() * 100 < self.canary["percent"]:
            return self.canary["version"]
        return self.stable

    def predict(self, x) -> tuple[str, np.ndarray]:
        label = self.pick()
        return label, np.asarray(self.predictors[label](x))


class Base(tornado.web.RequestHandler):
    def initialize(self, models: Models):
        self.models = models

    def set_default_headers(self):
        self.set_header("Content-Type", "application/json")

    def reply(self, body: dict, status: int = 200):
        self.set_status(status)
        self.finish(json.dumps(body, separators=(",", ":")))

    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info", (None, None))[1]
        message = str(exc) if exc is not None and not isinstance(exc, tornado.web.HTTPError) else self._reason
        self.finish(json.dumps({"error": message}))

    def known(self, name: str) -> bool:
        if name != self.models.name:
            self.reply({"error": f"Model with name {name} does not exist."}, 404)
            return False
        return True

    def body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError as err:
            raise BadInput(f"Unrecognized request format: {err}") from None
        if not isinstance(data, dict):
            raise BadInput("Unrecognized request format: expected a JSON object")
        return data

    def run(self, x):
        try:
            label, out = self.models.predict(x)
        except (ValueError, TypeError, IndexError, KeyError) as err:
            raise BadInput(str(err).strip() or type(err).__name__) from None
        self.set_header("kf-model-version", label)
        return out

    def guarded(self, fn, *args):
        try:
            fn(*args)
        except BadInput as err:
            self.reply({"error": str(err)}, 400)
        except Exception as err:  # noqa: BLE001 - the model's own failure, reported as KServe does
            self.reply({"error": f"{type(err).__name__}: {err}"}, 500)


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
        out = self.run(np.asarray(instances))
        self.reply({"predictions": out.tolist()})


class V1List(Base):
    def get(self):
        self.reply({"models": [self.models.name]})


class V2Health(Base):
    def get(self, what):
        self.reply({"live": True} if what == "live" else {"ready": True})


class V2Model(Base):
    def get(self, name, version=None):
        if self.known(name):
            entry = self.models.record["versions"][self.models.stable]
            self.reply({"name": name, "versions": sorted(self.models.predictors), "platform": entry["format"],
                        "inputs": [], "outputs": []})


class V2Ready(Base):
    def get(self, name, version=None):
        if self.known(name):
            self.reply({"name": name, "ready": True})


class V2Infer(Base):
    def post(self, name, version=None):
        if self.known(name):
            self.guarded(self._infer, name)

    def _infer(self, name):
        data = self.body()
        inputs = data.get("inputs")
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            raise BadInput('Expected "inputs" to hold exactly one tensor')
        tensor = inputs[0]
        datatype = tensor.get("datatype")
        if datatype not in V2_TYPES:
            raise BadInput(f"Unsupported datatype {datatype!r}: use one of {', '.join(V2_TYPES)}")
        try:
            x = np.asarray(tensor.get("data"), dtype=V2_TYPES[datatype]).reshape(tensor.get("shape"))
        except (ValueError, TypeError) as err:
            raise BadInput(f"Input {tensor.get('name', 'input-0')}: {err}") from None
        out = self.run(x)
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


def make_app(models: Models) -> tornado.web.Application:
    n = r"([^/:]+)"
    k = {"models": models}
    return tornado.web.Application([
        (r"/v1/models", V1List, k),
        (rf"/v1/models/{n}", V1Model, k),
        (rf"/v1/models/{n}:predict", V1Predict, k),
        (r"/v2/health/(live|ready)", V2Health, k),
        (rf"/v2/models/{n}(?:/versions/{n})?", V2Model, k),
        (rf"/v2/models/{n}(?:/versions/{n})?/ready", V2Ready, k),
        (rf"/v2/models/{n}(?:/versions/{n})?/infer", V2Infer, k),
        (r"/kf/reload", Reload, k),
    ], log_function=lambda handler: None)


def main(argv=None) -> int:
    folder = Path((argv or sys.argv[1:])[0])
    models = Models(folder)
    record = models.record
    sockets = tornado.netutil.bind_sockets(record.get("port") or 0, address="127.0.0.1")
    server = tornado.httpserver.HTTPServer(make_app(models), xheaders=False)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    tmp = folder / "server.json.tmp"
    tmp.write_text(json.dumps({"pid": os.getpid(), "port": port, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
    os.replace(tmp, folder / "server.json")
    loop = tornado.ioloop.IOLoop.current()
    loop.asyncio_loop.add_signal_handler(signal.SIGTERM, loop.stop)
    print(f"serving {models.name} ({', '.join(sorted(models.predictors))}) on http://127.0.0.1:{port}", flush=True)
    loop.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
