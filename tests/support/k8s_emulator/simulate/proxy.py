"""``/notebook/<ns>/<name>/...`` on the emulator's own port, forwarded to that Notebook's server (pod
``<name>-0``), as Kubeflow's gateway does; the gateway's authentication is played by sending the server's
token. ``/serving/<ns>/<name>/...``: an InferenceService's predictor (its status URL here), the path after the
prefix forwarded as the ingress would. A websocket (a kernel's channels) is relayed as raw bytes after its
upgrade request."""
from __future__ import annotations

import http.client
import re
import urllib.parse

from tests.support.k8s_emulator.routing import Request, Response
from tests.support.k8s_emulator.simulate.kubelet import endpoint

PREFIX = re.compile(r"^/notebook/([a-z0-9-]+)/([a-z0-9.-]+)(/.*)?$")
SERVING = re.compile(r"^/serving/([a-z0-9-]+)/([a-z0-9.-]+)(/.*)?$")  # an InferenceService's predictor
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "host", "content-length"}


class NotebookProxy:
    """Wraps the emulator's request handler: notebook paths go to the server, the rest to the API."""

    def __init__(self, app, kubelet):
        self.app = app
        self.kubelet = kubelet

    def __call__(self, req: Request) -> Response:
        serving = SERVING.match(req.path)
        if serving is not None:
            namespace, name, rest = serving.groups()
            target = endpoint(self.kubelet, namespace, labels={"serving.kserve.io/inferenceservice": name,
                                                                "component": "predictor"})
            if target is None:
                return Response(503, f"inferenceservice {namespace}/{name} has no running predictor\n".encode(),
                                "text/plain")
            return self._forward(req, *target, path=rest or "/")
        match = PREFIX.match(req.path)
        if match is None:
            return self.app(req)
        namespace, name, rest = match.groups()
        if rest is None:  # /notebook/ns/name -> the server's base URL, as the gateway redirects
            return Response(301, b"", "text/plain", headers={"Location": req.path + "/"})
        target = endpoint(self.kubelet, namespace, f"{name}-0")
        if target is None:
            return Response(503, f"notebook {namespace}/{name} has no running server\n".encode(), "text/plain")
        if req.headers.get("Upgrade", "").lower() == "websocket":
            return self._tunnel(req, *target)
        return self._forward(req, *target)

    @staticmethod
    def _tunnel(req: Request, port: int, token: str) -> Response:
        """The upgrade request, with the server's token, replayed on its port; the emulator relays the rest."""
        query = urllib.parse.urlencode(req.query)
        lines = [f"{req.method} {req.path}{'?' + query if query else ''} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() not in ("host", "authorization")]
        lines.append(f"Authorization: token {token}")
        return Response(101, tunnel=(port, ("\r\n".join(lines) + "\r\n\r\n").encode()))

    def _forward(self, req: Request, port: int, token: str, path: str | None = None) -> Response:
        headers = {k: v for k, v in req.headers.items() if k.lower() not in HOP_BY_HOP}
        if "authorization" not in {k.lower() for k in headers}:
            headers["Authorization"] = f"token {token}"
        query = "&".join(f"{k}={v}" for k, v in req.query.items())
        path = (path or req.path) + (f"?{query}" if query else "")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request(req.method, path, body=req.body or None, headers=headers)
            answer = conn.getresponse()
            body = answer.read()
        except OSError as err:
            return Response(502, f"the server at port {port}: {err}\n".encode(), "text/plain")
        finally:
            conn.close()
        kept = {k: v for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP | {"content-type"}}
        return Response(answer.status, body, answer.getheader("Content-Type", "application/octet-stream"), headers=kept)
