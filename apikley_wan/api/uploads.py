"""Uploading a reference clip (free): a small file as base64, a larger one as a stream whose body stops
within a block of Cancel, each under a fresh name. The upload half of ``ApikleyClient`` (client.py), which
gives it ``retried_call``, ``upload_base`` and ``cancel``."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

import urllib3

from ..errors import BadResponseError
from .cancel import Cancel
from .transport import OnRetry

SMALL_UPLOAD_BYTES = 1024 * 1024


class Uploads:
    def upload(self, path: str | os.PathLike, upload_path: str = "videos/wan26-v2v", on_retry: OnRetry = None) -> str:
        """Upload a local file (free) and return its public URL (``data.downloadUrl``).

        Each upload gets a fresh name: the API overwrites (and caches) same-named uploads, so a
        user's edited ``clip.mp4`` must never be served as the old one.
        """
        path = Path(path)
        name = f"{uuid.uuid4().hex}{path.suffix or '.mp4'}"
        size = path.stat().st_size
        if size <= SMALL_UPLOAD_BYTES:
            payload = {"base64Data": base64.b64encode(path.read_bytes()).decode("ascii"),
                       "uploadPath": upload_path, "fileName": name}
            data = self.retried_call("POST", self.upload_base + "/api/file-base64-upload", json=payload, action="upload",
                                     on_retry=on_retry)
        else:
            # the whole body in memory (prepared clips are <= 10 MB), re-read from the start on each retry
            body, content_type = urllib3.encode_multipart_formdata(
                {"file": (name, path.read_bytes(), "video/mp4"), "uploadPath": upload_path, "fileName": name})
            data = self.retried_call("POST", self.upload_base + "/api/file-stream-upload",
                                     data_factory=lambda: _CancellableBody(body, self.cancel),
                                     headers={"Content-Type": content_type}, action="upload", on_retry=on_retry)
        url = (data or {}).get("downloadUrl") or (data or {}).get("fileUrl")
        if not url:
            raise BadResponseError("the upload answer had no downloadUrl")
        return str(url)


class _CancellableBody:
    """A request body read in blocks that checks cancel between them, so a long upload stops
    within a block of Cancel; ``len`` gives requests its Content-Length."""

    def __init__(self, data: bytes, cancel: Cancel):
        self._data, self._cancel, self._pos = data, cancel, 0

    def __len__(self) -> int:
        return len(self._data) - self._pos

    def read(self, size: int = -1) -> bytes:
        self._cancel.raise_if_requested()
        end = len(self._data) if size is None or size < 0 else min(len(self._data), self._pos + size)
        chunk, self._pos = self._data[self._pos:end], end
        return chunk
