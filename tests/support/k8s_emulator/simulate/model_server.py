"""What a KServe model server image runs, here: KServe's V1 and V2 (Open Inference Protocol) REST endpoints for
a scikit-learn/XGBoost model file (joblib or pickle) in ``--model_dir``, on ``--http_port`` of 127.0.0.1.

    python -m tests.support.k8s_emulator.simulate.model_server --model_name=iris --model_dir=DIR --http_port=8080
"""
from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODEL_FILES = ("model.joblib", "model.pkl", "model.pickle")


def load_model(folder: Path):
    import joblib

    for name in MODEL_FILES:
        found = sorted(folder.rglob(name))
        if found:
            return joblib.load(found[0])
    raise SystemExit(f"RuntimeError: Failed to fetch model. No model found in {folder} (looked for {', '.join(MODEL_FILES)})")


def handler_for(name: str, model):
    import numpy as np

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # noqa: A002 - quiet
            pass

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            if self.path in (f"/v1/models/{name}", f"/v2/models/{name}/ready", "/v2/health/ready", "/v2/health/live"):
                return self._send(200, {"name": name, "ready": True, "live": True})
            if self.path == f"/v2/models/{name}":
                return self._send(200, {"name": name, "versions": [], "platform": "sklearn", "inputs": [], "outputs": []})
            self._send(404, {"error": f"Model with name {self.path.split('/')[3] if self.path.count('/') > 2 else ''} "
                                      "does not exist."})

        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            try:
                if self.path == f"/v1/models/{name}:predict":
                    return self._send(200, {"predictions": model.predict(np.asarray(body["instances"])).tolist()})
                if self.path == f"/v2/models/{name}/infer":
                    first = body["inputs"][0]
                    result = model.predict(np.asarray(first["data"]).reshape(first["shape"]))
                    return self._send(200, {"model_name": name, "id": body.get("id", ""), "outputs": [{
                        "name": "output-0", "shape": list(result.shape), "datatype": _datatype(result),
                        "data": result.ravel().tolist()}]})
            except (KeyError, ValueError, TypeError) as err:
                return self._send(400, {"error": str(err)})
            self._send(404, {"error": f"no route {self.path}"})
    return Handler


def _datatype(array) -> str:
    kind = array.dtype.kind
    return {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64"}.get(kind, "BYTES")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="model_server")
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--http_port", type=int, default=8080)
    args, _ = parser.parse_known_args(argv)
    model = load_model(Path(args.model_dir))
    server = ThreadingHTTPServer(("127.0.0.1", args.http_port), handler_for(args.model_name, model))
    print(f"serving {args.model_name} on http://127.0.0.1:{args.http_port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
