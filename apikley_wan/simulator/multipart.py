"""A small streaming multipart/form-data parser (``cgi`` is gone in 3.13; ``email`` buffers everything).

File parts are streamed to disk chunk by chunk so a large upload never sits in memory;
plain fields are kept as short strings. Part headers are parsed with ``email``.
"""

from __future__ import annotations

import email.message
import email.parser
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 1 << 16
MAX_HEADER_BYTES = 16 * 1024
MAX_FIELD_BYTES = 64 * 1024


class MultipartError(ValueError):
    pass


@dataclass
class FilePart:
    filename: str
    path: Path
    size: int


@dataclass
class Form:
    fields: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)  # field name -> FilePart


def boundary_of(content_type: str) -> str:
    msg = email.message.Message()
    msg["content-type"] = content_type
    boundary = msg.get_param("boundary")
    if msg.get_content_type() != "multipart/form-data" or not boundary:
        raise MultipartError("expected multipart/form-data with a boundary")
    return boundary


class _Stream:
    """Reads exactly ``length`` bytes of the request body through a small look-ahead buffer."""

    def __init__(self, rfile, length: int):
        self.rfile, self.left = rfile, length
        self.buf = b"\r\n"  # lets the first boundary match the same CRLF-prefixed delimiter

    def _fill(self) -> None:
        if self.left <= 0:
            raise MultipartError("body ended before the closing boundary")
        chunk = self.rfile.read(min(CHUNK, self.left))
        if not chunk:
            raise MultipartError("connection closed mid-body")
        self.left -= len(chunk)
        self.buf += chunk

    def take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        head, self.buf = self.buf[:n], self.buf[n:]
        return head

    def until(self, marker: bytes, write, limit: int | None = None) -> None:
        """Pass everything before ``marker`` to ``write`` and consume the marker."""
        seen = 0
        while True:
            at = self.buf.find(marker)
            ready = at if at >= 0 else max(len(self.buf) - len(marker) + 1, 0)
            seen += ready
            if limit is not None and seen > limit:
                raise MultipartError("form field too large")
            write(self.buf[:ready])
            self.buf = self.buf[ready + (len(marker) if at >= 0 else 0):]
            if at >= 0:
                return
            self._fill()

    def drain(self) -> None:
        """Read the epilogue so the connection can be reused."""
        while self.left > 0:
            chunk = self.rfile.read(min(CHUNK, self.left))
            if not chunk:
                return
            self.left -= len(chunk)


def parse(rfile, length: int, content_type: str, spool_dir: Path) -> Form:
    """Parse the whole body; file parts land in ``spool_dir`` (the caller moves or deletes them)."""
    delimiter = b"\r\n--" + boundary_of(content_type).encode("latin-1")
    stream, form = _Stream(rfile, length), Form()
    stream.until(delimiter, lambda _: None, limit=MAX_FIELD_BYTES)
    while stream.take(2) == b"\r\n":
        raw = bytearray()
        stream.until(b"\r\n\r\n", raw.extend, limit=MAX_HEADER_BYTES)
        headers = email.parser.BytesHeaderParser().parsebytes(bytes(raw) + b"\r\n\r\n")
        name = headers.get_param("name", header="content-disposition")
        filename = headers.get_filename()
        if filename is not None:
            with tempfile.NamedTemporaryFile(dir=spool_dir, delete=False) as out:
                stream.until(delimiter, out.write)
            form.files[name] = FilePart(filename, Path(out.name), Path(out.name).stat().st_size)
        else:
            value = bytearray()
            stream.until(delimiter, value.extend, limit=MAX_FIELD_BYTES)
            form.fields[name] = value.decode("utf-8", "replace")
    stream.drain()
    return form
