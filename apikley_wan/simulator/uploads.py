"""The upload store: where uploaded files land, how they are named, and the §5 (OBS) answer shape.

Files are public at ``<base_url>/file-upload/files/<filePath>`` without auth, as the real
service's uploads must be for the upstream model to fetch them.
"""

from __future__ import annotations

import mimetypes
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote

from .paths import generated_name, safe_join

ACCOUNT_PREFIX = "apikley/100001"  # the real filePath starts with a per-account folder


class UploadError(ValueError):
    """The reason becomes the ``msg`` of a code-400 upload answer."""


class UploadStore:
    def __init__(self, root: Path, public_base: str):
        self.files = root / "files"
        self.spool = root / "spool"  # same filesystem, so finished files are moved in atomically
        self.files.mkdir(parents=True)
        self.spool.mkdir()
        self.public_base = public_base.rstrip("/") + "/"

    def staging_file(self) -> Path:
        """A fresh empty file in the spool, to be filled and handed to ``store``."""
        with tempfile.NamedTemporaryFile(dir=self.spool, delete=False) as handle:
            return Path(handle.name)

    def store(self, staged: Path, upload_path: str | None, file_name: str | None,
              original_name: str = "", mime: str | None = None) -> dict:
        """Move a spooled file into place; return the answer's ``data`` object."""
        try:
            folder = _clean_upload_path(upload_path)
            if file_name is not None and not isinstance(file_name, str):
                raise UploadError("fileName must be a string")
            name = file_name or generated_name(_extension(original_name, mime))
            if "/" in name or "\\" in name or name in (".", ".."):
                raise UploadError("fileName must be a plain file name")
            file_path = f"{ACCOUNT_PREFIX}/{folder}/{name}"
            target = self.files / file_path  # both parts were checked to be plain names above
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        finally:
            staged.unlink(missing_ok=True)
        return {
            "success": True,
            "fileName": name,
            "filePath": file_path,
            "downloadUrl": self.public_base + quote(file_path),
            "fileSize": target.stat().st_size,
            "mimeType": mimetypes.guess_type(name)[0] or mime or "application/octet-stream",
            "uploadedAt": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    def path_for(self, file_path: str) -> Path | None:
        """The stored file behind a (percent-decoded) filePath, if there is one."""
        path = safe_join(self.files, file_path)
        return path if path is not None and path.is_file() else None

    def local_path(self, url) -> Path | None:
        """The stored file behind one of our downloadUrls, so the simulator can read it directly."""
        if not isinstance(url, str) or not url.startswith(self.public_base):
            return None
        return self.path_for(unquote(url[len(self.public_base):].split("?", 1)[0]))


def _clean_upload_path(upload_path) -> str:
    folder = upload_path.strip().strip("/") if isinstance(upload_path, str) else ""
    if not folder:
        raise UploadError("uploadPath is required")
    if any(part in ("", ".", "..") for part in folder.split("/")) or "\\" in folder:
        raise UploadError("uploadPath must be a plain folder path like videos/uploads")
    return folder


def _extension(original_name: str, mime: str | None) -> str:
    suffix = Path(original_name).suffix.lstrip(".").lower()
    if suffix:
        return suffix
    guessed = mimetypes.guess_extension(mime or "") or ".bin"
    return guessed.lstrip(".")
