"""ModelClient against a scripted stdlib server (jupyter_kf/serving/client.py): what it sends, how it reads
replies, refusals and dropped connections, and whose token it sends. Each reply is queued before the call."""
import http.server
import json
import threading

import numpy as np
import pytest

from jupyter_kf.serving import client as model_client
from jupyter_kf.serving.client import ModelClient
from jupyter_kf.serving.errors import PredictionError


class _Scripted(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as KServe's servers

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.seen.append({"method": self.command, "path": self.path, "body": body,
                                 "host": self.headers.get("Host"), "auth": self.headers.get("Authorization")})
        status, reply = self.server.replies.pop(0)
        if status is None:  # drop the connection without answering
            self.close_connection = True
            return
        data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    httpd.seen, httpd.replies = [], []
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/serving/ns/m"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _client(server, protocol="v1", **kwargs):
    kwargs.setdefault("token", "")
    return ModelClient(server.url + "/", "m", protocol, timeout=10, **kwargs)


def test_v2_reply_is_reshaped_and_typed(server):
    server.replies.append((200, {"outputs": [{"name": "o", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]}))
    out = _client(server, "v2").predict(np.arange(4).reshape(2, 2))
    assert out.dtype == np.float32 and out.tolist() == [[1, 2], [3, 4]]
    [seen] = server.seen
    assert seen["path"] == "/serving/ns/m/v2/models/m/infer"  # the URL's path is kept, its trailing slash is not
    assert seen["body"] == {"inputs": [{"name": "input-0", "shape": [2, 2], "datatype": "INT64", "data": [0, 1, 2, 3]}]}


def test_v2_strings_are_sent_as_bytes_and_a_shapeless_output_stays_flat(server):
    server.replies.append((200, {"outputs": [{"name": "o", "datatype": "BYTES", "data": ["x", "y"]}]}))
    out = _client(server, "v2").predict(np.array(["a", "b"]))
    assert out.tolist() == ["x", "y"]
    assert server.seen[0]["body"]["inputs"][0] == {"name": "input-0", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}


def test_replies_without_results_are_errors(server):
    server.replies += [(200, {"outputs": []}), (200, {"result": 1})]
    with pytest.raises(PredictionError, match=r"^the model server's V2 reply has no outputs: \{\"outputs\": \[\]\}$"):
        _client(server, "v2").predict([[1]])
    with pytest.raises(PredictionError, match=r"^the model server's V1 reply has no predictions: \{\"result\": 1\}$"):
        _client(server).predict([[1]])


@pytest.mark.parametrize("status, reply, message", [
    (400, {"error": "bad shape"}, "bad shape"),
    (422, {"detail": [{"loc": ["body"], "msg": "x"}]}, '[{"loc": ["body"], "msg": "x"}]'),
    (503, {"message": "warming up"}, "warming up"),
    (500, {"other": 1}, '{"other": 1}'),
    (502, b"<html>bad gateway</html>", "<html>bad gateway</html>"),
])
def test_refusals_carry_the_servers_words(server, status, reply, message):
    server.replies.append((status, reply))
    with pytest.raises(PredictionError) as err:
        _client(server).predict([[1]])
    assert str(err.value) == f"model m refused the request (HTTP {status}): {message}"


def test_a_dropped_kept_alive_connection_is_retried_once(server):
    client = _client(server)
    server.replies += [(200, {"predictions": [1]}), (None, None), (200, {"predictions": [2]})]
    assert client.predict([[1]]).tolist() == [1]
    assert client.predict([[1]]).tolist() == [2]  # the server dropped the first try: a new connection
    server.replies += [(None, None), (None, None)]
    with pytest.raises(PredictionError, match=r"^model m at .* dropped the connection: "):
        client.predict([[1]])
    assert len(server.seen) == 5


def test_host_header_and_token(server):
    server.replies += [(200, {"name": "m", "ready": True}), (200, {"ready": False})]
    client = _client(server, host_header="m.ns.example.com", token="tok")
    assert client.ready() is True
    assert _client(server, "v2").ready() is False
    assert [(s["method"], s["path"], s["host"], s["auth"]) for s in server.seen] == [
        ("GET", "/serving/ns/m/v1/models/m", "m.ns.example.com", "Bearer tok"),
        ("GET", "/serving/ns/m/v2/models/m/ready", f"127.0.0.1:{server.server_address[1]}", None)]


def test_unreachable_and_unusable_urls():
    with pytest.raises(PredictionError, match=r"^model m has no usable URL \('ftp://x'\): is it Ready\? %kf_models shows it$"):
        ModelClient("ftp://x", "m")
    with pytest.raises(PredictionError, match=r"^model m has no usable URL \(''\)"):
        ModelClient("", "m")
    closed = ModelClient("http://127.0.0.1:9/", "m", token="")  # discard port: nothing listens
    with pytest.raises(PredictionError, match=r"^model m at http://127.0.0.1:9 is unreachable: "):
        closed.predict([[1]])
    assert closed.ready() is False


def test_token_only_for_our_own_live_server_on_loopback(tmp_path, monkeypatch):
    assert model_client.local_token("http://example.com:8080", "m") is None
    assert model_client.local_token("http://127.0.0.1", "m") is None  # no port: not one of ours
    assert model_client.local_token("http://127.0.0.1:8080", "m") is None  # no such server folder


def test_a_long_reply_is_cut_in_the_message(server):
    server.replies.append((200, {"outputs": [], "note": "x" * 500}))
    with pytest.raises(PredictionError) as err:
        _client(server, "v2").predict([[1]])
    assert str(err.value) == "the model server's V2 reply has no outputs: " + json.dumps({"outputs": [], "note": "x" * 500})[:200]


def test_token_of_our_live_server_on_that_port(kf_state_dir):
    import subprocess
    import sys

    from jupyter_kf import config

    # A process whose command line names our model server, as alive() checks; it ends when its stdin closes.
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", "jupyter_kf.serving.local_server"],
                            stdin=subprocess.PIPE)
    try:
        folder = config.state_root() / "models" / "m"
        folder.mkdir(parents=True, mode=0o700)
        (folder / "server.json").write_text(json.dumps({"port": 40123, "pid": proc.pid}))
        token = folder / "token"
        token.write_text("s3cret\n")
        token.chmod(0o600)
        assert model_client.local_token("http://127.0.0.1:40123/", "m") == "s3cret"
        assert model_client.local_token("http://localhost:40123", "other") == "s3cret"  # found by its port
        assert model_client.local_token("http://127.0.0.1:40124", "m") is None  # another port: not ours
        assert model_client.local_token("http://example.com:40123", "m") is None  # that port on another host
    finally:
        proc.stdin.close()
        proc.wait(10)
    assert model_client.local_token("http://127.0.0.1:40123", "m") is None  # the server is gone


@pytest.mark.parametrize("status, reply, message", [
    (422, {"detail": ["y" * 400]}, json.dumps(["y" * 400])[:300]),
    (500, {"other": "o" * 400}, json.dumps({"other": "o" * 400})[:300]),
    (502, b"z" * 400, "z" * 300),
])
def test_long_refusals_are_cut_at_300_characters(server, status, reply, message):
    server.replies.append((status, reply))
    with pytest.raises(PredictionError) as err:
        _client(server).predict([[1]])
    assert str(err.value) == f"model m refused the request (HTTP {status}): {message}"


def test_protocol_and_scheme_compare_by_value(server):
    v2 = "".join(["v", "2"])  # as parsed from a request, not a literal
    server.replies += [(200, {"outputs": [{"name": "o", "shape": [1], "datatype": "INT64", "data": [1]}]}),
                       (200, {"ready": True})]
    assert _client(server, v2).predict([[1]]).tolist() == [1]
    assert _client(server, v2).ready() is True
    assert [s["path"] for s in server.seen] == ["/serving/ns/m/v2/models/m/infer", "/serving/ns/m/v2/models/m/ready"]
    import http.client

    secure = ModelClient("https://127.0.0.1:1/", "m", token="")
    assert isinstance(secure._connection(), http.client.HTTPSConnection)  # nothing is sent until a request
    assert secure.timeout == 60.0


def test_close_is_idempotent(server):
    client = _client(server)
    client.close()  # never connected
    server.replies.append((200, {"predictions": [1]}))
    client.predict([[1]])
    client.close()
    client.close()
    assert client._conn is None


def test_ready_only_on_a_200(server):
    server.replies.append((404, {"ready": True, "error": "Model with name m does not exist."}))
    assert _client(server).ready() is False


def test_the_first_v2_output_is_the_prediction(server):
    server.replies.append((200, {"outputs": [{"name": "label", "shape": [1], "datatype": "INT64", "data": [7]},
                                             {"name": "proba", "shape": [1], "datatype": "FP64", "data": [0.9]}]}))
    assert _client(server, "v2").predict([[1]]).tolist() == [7]


def test_no_token_without_a_usable_state_folder_or_outside_the_models_folder(kf_state_dir, monkeypatch):
    import subprocess
    import sys

    from jupyter_kf import config

    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", "jupyter_kf.serving.local_server"],
                            stdin=subprocess.PIPE)
    try:
        root = config.state_root()
        (root / "models").mkdir(mode=0o700)
        (root / "server.json").write_text(json.dumps({"port": 40125, "pid": proc.pid}))  # models/.. : not a model
        (root / "token").write_text("outside")
        (root / "token").chmod(0o600)
        assert model_client.local_token("http://127.0.0.1:40125", "..") is None
        assert model_client.local_token("http://127.0.0.1:40125", "") is None

        def refused():
            raise RuntimeError("jupyter_kf refuses the state folder")  # e.g. another user may write to it

        monkeypatch.setattr(config, "state_root", refused)
        assert model_client.local_token("http://127.0.0.1:40125", "m") is None
    finally:
        proc.stdin.close()
        proc.wait(10)


def test_a_long_v1_reply_without_predictions_is_cut(server):
    reply = {"result": "r" * 500}
    server.replies.append((200, reply))
    with pytest.raises(PredictionError) as err:
        _client(server).predict([[1]])
    assert str(err.value) == "the model server's V1 reply has no predictions: " + json.dumps(reply)[:200]


def test_token_skips_other_servers_and_paths_outside_the_models_folder(kf_state_dir):
    import subprocess
    import sys

    from jupyter_kf import config

    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", "jupyter_kf.serving.local_server"],
                            stdin=subprocess.PIPE)
    try:
        root = config.state_root()
        for folder, port, token in ((root / "models" / "a", 40200, "a-token"), (root / "models" / "m", 40123, "m-token"),
                                    (root / "outside", 40300, "outside-token")):
            folder.mkdir(parents=True, mode=0o700)
            (folder / "server.json").write_text(json.dumps({"port": port, "pid": proc.pid}))
            (folder / "token").write_text(token)
            (folder / "token").chmod(0o600)
        assert model_client.local_token("http://127.0.0.1:40123", "x") == "m-token"  # past "a", which is another port
        assert model_client.local_token("http://127.0.0.1:40300", "../outside") is None
    finally:
        proc.stdin.close()
        proc.wait(10)
