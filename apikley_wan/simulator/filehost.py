"""The separate "tempfile" host that serves results, like the real ``tempfile.aiquickdraw.com``.

It needs no auth and records any Authorization header it gets: a client that sends its API
key to a file host leaks it, and tests assert that never happens.
"""

from __future__ import annotations

import mimetypes
import secrets
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .httpbase import Handler

TOKEN_SECONDS = 20 * 60  # download-url links are valid for 20 minutes (§6)
NOT_FOUND = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
             b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>")


class Tokens:
    """Short-lived download links issued by ``/api/v1/common/download-url``."""

    def __init__(self, base_url: str):
        self.prefix = base_url.rstrip("/") + "/d/"
        self._links: dict[str, tuple[Path, float]] = {}

    def issue(self, path: Path) -> str:
        token = secrets.token_hex(16)
        self._links[token] = (path, time.time() + TOKEN_SECONDS)
        return f"{self.prefix}{token}/{path.name}"

    def resolve(self, token: str) -> Path | None:
        path, expires = self._links.get(token, (None, 0.0))
        return path if path is not None and time.time() < expires and path.is_file() else None


class FileHostHandler(Handler):
    def do_GET(self):
        self.serve()

    def do_HEAD(self):
        self.serve()

    def serve(self) -> None:
        sim = self.server.sim
        if "Authorization" in self.headers:
            sim.auth_headers_seen_on_file_host.append(self.headers["Authorization"])
        path = self.resolve(unquote(urlsplit(self.path).path))
        if path is None:
            return self.send_bytes(404, NOT_FOUND, "application/xml")
        if self.command == "GET" and sim.faults.take("drip_downloads"):
            return self.drip(path.stat().st_size)
        truncate = self.command == "GET" and sim.faults.take("truncate_downloads")
        self.send_file(path, mimetypes.guess_type(path.name)[0] or "application/octet-stream", truncate)

    def drip(self, size: int, every_s: float = 5.0) -> None:
        self.server.sim.drips_started += 1
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        try:
            for _ in range(size):
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(every_s)
        except OSError:  # the client went away
            self.close_connection = True

    def resolve(self, url_path: str) -> Path | None:
        """``/r/<taskId>/<name>`` (direct, may be expired by a fault) or ``/d/<token>/<name>``."""
        sim = self.server.sim
        kind, _, rest = url_path.lstrip("/").partition("/")
        if kind == "r":
            return None if sim.faults.expire_results else sim.results.path_for(rest)
        if kind == "d":
            return sim.tokens.resolve(rest.split("/", 1)[0])
        return None
