"""The prediction client speaks KServe's protocols: checked against KServe's own Python model server
(``kserve`` package, in .venv-kserve) serving the same model as our local server (jupyter_kf/serving/client.py)."""
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from jupyter_kf.serving.client import ModelClient
from jupyter_kf.serving.errors import PredictionError

ROOT = Path(__file__).resolve().parents[2]
KSERVE_PYTHON = ROOT / ".venv-kserve" / "bin" / "python"


@pytest.fixture(scope="module")
def kserve_server(tmp_path_factory):
    if not KSERVE_PYTHON.exists():
        pytest.fail(f"{KSERVE_PYTHON} is missing: `make test` creates it (KServe's own model server, to check our client against)")
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from jupyter_kf.serving import formats

    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(X, y)
    folder = tmp_path_factory.mktemp("kserve-model")
    formats.save(clf, "sklearn", folder, "iris")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(KSERVE_PYTHON), str(ROOT / "bench/kserve_sklearn_server.py"), str(folder), "iris", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("KServe's model server exited at start")
            time.sleep(0.2)
    yield url, clf, X
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(15)


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_client_against_kserves_own_server(kserve_server, protocol):
    url, clf, X = kserve_server
    client = ModelClient(url, "iris", protocol)
    try:
        assert client.ready()
        np.testing.assert_array_equal(client.predict(X[:7]), clf.predict(X[:7]))
        with pytest.raises(PredictionError, match=r"^model iris refused the request \(HTTP [45]\d\d\): .*X has 3 features"):
            client.predict(X[:2, :3])
    finally:
        client.close()


def test_unreachable_and_missing_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ModelClient(f"http://127.0.0.1:{port}", "iris")
    with pytest.raises(PredictionError, match=rf"^model iris at http://127.0.0.1:{port} is unreachable: Connection refused"):
        client.predict([[1, 2, 3, 4]])
    with pytest.raises(PredictionError, match="has no usable URL"):
        ModelClient("", "iris")
