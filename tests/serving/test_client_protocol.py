"""ModelClient.predict(protocol=...) picks the endpoint per call (jupyter_kf/serving/client.py).

A recording stdlib server answers both protocols with the same values, so only the paths tell them apart."""
import http.server
import json
import threading

import numpy as np
import pytest

from jupyter_kf.serving.client import ModelClient
from jupyter_kf.serving.errors import PredictionError


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append((self.path, body, self.headers.get("Authorization")))
        if self.path.startswith("/v2/"):
            reply = {"model_name": "m", "outputs": [{"name": "output-0", "shape": [2], "datatype": "INT64", "data": [1, 2]}]}
        else:
            reply = {"predictions": [1, 2]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def recorder():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("default, asked, path", [("v1", "v2", "/v2/models/m/infer"), ("v2", "v1", "/v1/models/m:predict"),
                                                  ("v1", None, "/v1/models/m:predict"), ("v2", None, "/v2/models/m/infer")])
def test_predict_protocol_overrides_the_clients(recorder, default, asked, path):
    client = ModelClient(f"http://127.0.0.1:{recorder.server_address[1]}", "m", default, token="tok")
    try:
        np.testing.assert_array_equal(client.predict([[0.5, 1.5], [2.5, 3.5]], protocol=asked), [1, 2])
    finally:
        client.close()
    [(seen_path, body, auth)] = recorder.seen
    assert seen_path == path and auth == "Bearer tok"
    if path.startswith("/v2/"):
        assert body == {"inputs": [{"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": [0.5, 1.5, 2.5, 3.5]}]}
    else:
        assert body == {"instances": [[0.5, 1.5], [2.5, 3.5]]}


@pytest.mark.parametrize("asked", ["V2", "v3", "grpc"])
def test_an_unknown_protocol_is_refused_not_sent_as_v1(recorder, asked):
    client = ModelClient(f"http://127.0.0.1:{recorder.server_address[1]}", "m", "v1", token="tok")
    with pytest.raises(PredictionError, match=rf"^protocol '{asked}' is unknown: use v1 \(KServe V1\) or v2"):
        client.predict([[1.0]], protocol=asked)
    assert recorder.seen == []
