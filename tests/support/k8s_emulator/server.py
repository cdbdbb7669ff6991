"""HTTP/1.1 transport: a ThreadingHTTPServer on loopback, one thread per connection.

Unary answers carry ``Content-Length``; watch and ``follow`` answers are ``Transfer-Encoding:
chunked``, one chunk per event/line batch, ended by the terminating chunk. Idle streams wake every
half second to notice a client that went away or a server that is stopping. A ``cut_after`` fault
closes the socket mid-body, without the terminating chunk, as a dropped connection would.
"""
from __future__ import annotations

import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

from tests.support.k8s_emulator.routing import Request, Response


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "HttpServer"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        req = Request(self.command, url.path, query, self.headers, self._read_body())
        response = self.server.app(req)
        try:
            self._send(response)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout, OSError):
            self.close_connection = True
        finally:
            if response.stream is not None:
                response.stream.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def _headers(self, response: Response, extra: dict) -> None:
        self.send_response(response.code)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in {**response.headers, **extra}.items():
            for v in value if isinstance(value, list) else [value]:
                self.send_header(name, str(v))
        self.end_headers()

    def _cut(self) -> None:
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _send(self, response: Response) -> None:
        if response.tunnel is not None:
            return self._relay(*response.tunnel)
        if response.stream is None:
            data = response.payload()
            self._headers(response, {"Content-Length": len(data)})
            if self.command != "HEAD":
                if response.cut_after is not None and response.cut_after < len(data):
                    self.wfile.write(data[:response.cut_after])
                    return self._cut()
                self.wfile.write(data)
            return
        self._headers(response, {"Transfer-Encoding": "chunked"})
        self.wfile.flush()
        budget = response.cut_after
        for chunk in response.stream:
            if not chunk:
                if self._client_gone() or self.server.stopping:
                    self.close_connection = True
                    return
                continue
            if budget is not None and len(chunk) >= budget:
                if budget:
                    self._write_chunk(chunk[:budget])
                return self._cut()
            if budget is not None:
                budget -= len(chunk)
            self._write_chunk(chunk)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _relay(self, port: int, head: bytes) -> None:
        """The request head goes to ``port``; from then on bytes flow both ways until either side closes
        (the upstream's 101 Switching Protocols answer included), as a gateway relays a websocket."""
        self.close_connection = True
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError as err:
            body = f"the server at port {port}: {err}\n".encode()
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            return
        upstream.settimeout(None)
        upstream.sendall(head)
        back = threading.Thread(target=_pipe, args=(upstream.recv, self.connection.sendall, upstream), daemon=True)
        back.start()
        _pipe(self.rfile.read1, upstream.sendall, upstream)
        back.join(timeout=5)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


def _pipe(read, write, upstream: socket.socket) -> None:
    """Copy until end of stream on either side, then close the upstream (which ends the other direction)."""
    try:
        while data := read(65536):
            write(data)
    except OSError:
        pass
    finally:
        try:
            upstream.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app: Callable[[Request], Response], host: str = "127.0.0.1", port: int = 0):
        super().__init__((host, port), _Handler)
        self.app = app
        self.stopping = False
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"k8s-emulator:{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping = True
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
