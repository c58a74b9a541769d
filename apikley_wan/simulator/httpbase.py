"""Request-handler plumbing shared by the API server and the file host.

HTTP/1.1 keep-alive like the real hosts, so clients reuse connections and a dropped or
truncated answer is seen exactly as a client would see it on the internet.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHUNK = 1 << 16


class Server(ThreadingHTTPServer):
    """A loopback server whose handlers reach the simulator through ``self.server.sim``.

    It tracks open connections so that closing it also cuts idle keep-alive connections:
    a stopped simulator must look like a dead host, not keep answering on pooled sockets.
    """

    daemon_threads = True

    def __init__(self, port: int, handler, sim):
        super().__init__(("127.0.0.1", port), handler)
        self.sim = sim
        self._open: set[socket.socket] = set()

    def get_request(self):
        conn, address = super().get_request()
        self._open.add(conn)
        return conn, address

    def shutdown_request(self, request) -> None:
        self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        for conn in list(self._open):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        """Clients hanging up mid-answer are normal here (drops, truncations, timeouts)."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "apikley-simulator"
    sys_version = ""
    # headers and body go out as separate writes: with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms on Linux) and every answer on a kept-alive connection took ~44 ms, not ~1 ms
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # keep test output clean
        pass

    def body_length(self) -> int:
        return int(self.headers.get("Content-Length") or 0)

    def parse_request(self) -> bool:
        self.body = None  # per request: set once the body has been consumed
        return super().parse_request()

    def read_body(self) -> bytes:
        """The whole request body (read at most once per request)."""
        if self.body is None:
            self.body = self.rfile.read(self.body_length())
        return self.body

    def send_bytes(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, obj, content_type: str = "application/json", status: int = 200) -> None:
        body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.send_bytes(status, body, content_type)

    def send_file(self, path: Path, content_type: str, truncate: bool = False) -> None:
        """Stream a file with its full Content-Length; ``truncate`` sends half, then hangs up."""
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(path, "rb") as src:
            if truncate:
                self.wfile.write(src.read(size // 2))
                self.close_connection = True
            else:
                shutil.copyfileobj(src, self.wfile, CHUNK)

    def drop(self) -> None:
        """Close the connection without a single byte of answer."""
        self.read_body()
        self.close_connection = True
