"""A stand-in for the API and its result host that answers whatever a test scripts: echoes of the
key, ids shaped like paths, pages that are not videos, redirects, bytes that drip.

Real HTTP over a socket on 127.0.0.1; every request is recorded. By default it behaves like a
healthy API whose task succeeds at once with the shipped sample clip as its result.
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "reference.mp4"
TASK_ID = "0123456789abcdef0123456789abcdef"


class HostileApi:
    def __init__(self, key: str):
        self.key = key
        self.task_id = TASK_ID
        self.record: dict = {}          # extra/overriding recordInfo fields
        self.result = SAMPLE.read_bytes()
        self.result_length: int | None = None   # Content-Length to claim (default: the real length)
        self.requests: list = []
        self.routes: dict = {}
        self.dripping = threading.Event()   # set once a drip has sent its first byte
        self.drips_end = threading.Event()  # set to end every drip at once (its connection is closed)
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._defaults()

    # -- scripting ------------------------------------------------------------------------
    def on(self, method: str, path: str, fn: Callable) -> None:
        """``fn(handler)`` answers ``method path`` from now on."""
        self.routes[(method, path)] = fn

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, *_ in self.requests if (m, p) == (method, path))

    def _defaults(self) -> None:
        self.on("POST", "/api/v1/jobs/createTask", lambda h: h.json({"code": 200, "data": {"taskId": self.task_id}}))
        self.on("GET", "/api/v1/jobs/recordInfo", lambda h: h.json({"code": 200, "data": {
            "taskId": self.task_id, "state": "success",
            "resultJson": json.dumps({"resultUrls": [self.base_url + "/files/result.mp4"]}), **self.record}}))
        self.on("GET", "/files/result.mp4", lambda h: h.raw(self.result, "video/mp4", self.result_length))
        self.on("POST", "/file-upload/api/file-base64-upload", lambda h: h.json(
            {"code": 200, "data": {"downloadUrl": self.base_url + "/files/uploaded.mp4"}}))
        self.on("POST", "/file-upload/api/file-stream-upload", lambda h: h.json(
            {"code": 200, "data": {"downloadUrl": self.base_url + "/files/uploaded.mp4"}}))
        self.on("GET", "/api/v1/chat/credit", lambda h: h.json({"code": 200, "data": 100}))
        self.on("POST", "/api/v1/common/download-url", lambda h: h.json(
            {"code": 200, "data": self.base_url + "/files/result.mp4"}))

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> "HostileApi":
        # a short poll: shutting down waits for it (the default 0.5 s, at the end of every test)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.drips_end.set()
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A client hanging up mid-answer is what these tests do (Cancel, a full disk, a bad file):
        no traceback on stderr, where it would land in the output a test inspects."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _handler(api: HostileApi):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else each answer's body waits ~40 ms for a delayed ACK

        def log_message(self, *args) -> None:
            return

        def _dispatch(self) -> None:
            path = self.path.split("?", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            api.requests.append((self.command, path, dict(self.headers), body))
            fn = api.routes.get((self.command, path))
            if fn is None:
                return self.raw(b"not here", "text/plain", status=404)
            fn(self)

        do_GET = do_POST = do_PUT = _dispatch

        # -- answers -------------------------------------------------------------------
        def json(self, obj, status: int = 200) -> None:
            self.raw(json.dumps(obj).encode(), "application/json", status=status)

        def raw(self, data: bytes, ctype: str, length: int | None = None, status: int = 200,
                headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data) if length is None else length))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def drip(self, total: int, every_s: float, body: bytes | None = None) -> None:
            """Claim ``total`` bytes (or ``body``'s), then send one byte per ``every_s`` until the client goes
            away or ``drips_end`` is set."""
            body = b"\0" * total if body is None else body
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.close_connection = True
            try:
                for i in range(len(body)):
                    if api.drips_end.is_set():
                        return
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    api.dripping.set()
                    time.sleep(every_s)
            except OSError:
                return

        def gzipped(self, data: bytes, ctype: str = "video/mp4") -> None:
            """``data`` gzip-encoded whatever the client asked for (a host that ignores ``identity``);
            Content-Length is the encoded length, as HTTP says."""
            self.raw(gzip.compress(data), ctype, headers={"Content-Encoding": "gzip"})

        def redirect(self, location: str, status: int = 307) -> None:
            self.raw(b"", "text/plain", status=status, headers={"Location": location})

        def hang_up(self) -> None:
            """Close the connection without any answer (a create whose answer is lost)."""
            self.close_connection = True
            self.connection.shutdown(2)

    return Handler
