"""New files that appear whole: written beside their destination under a unique ``.part`` name,
with the user's normal file mode (the umask applies), then renamed into place."""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from .errors import StorageError

PART_SUFFIX = ".part"


def open_part(dest: Path, task_id: str | None = None):
    """``(part_path, unbuffered binary file)``: a full disk fails in ``write_all``, never on close."""
    part = dest.with_name(f"{dest.name}.{uuid.uuid4().hex[:12]}{PART_SUFFIX}")
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise StorageError(f"{dest.parent} is not writable ({exc.strerror})", task_id=task_id) from None
    return part, os.fdopen(fd, "wb", buffering=0)


def write_all(fh, data: bytes, dest: Path, task_id: str | None = None) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[fh.write(view):]
    except OSError as exc:
        why = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else exc.strerror
        raise StorageError(f"writing to {dest.parent} failed: {why}", task_id=task_id) from None


def write_file(dest: Path, data: bytes | Iterable[bytes], task_id: str | None = None) -> None:
    """``data`` (bytes, or its pieces in order) at ``dest``, atomically."""
    part, fh = open_part(dest, task_id)
    try:
        with fh:
            for piece in [data] if isinstance(data, bytes) else data:
                write_all(fh, piece, dest, task_id)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def pieces(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    """A file's bytes in pieces of ``size``, for copying a large file without holding it in memory."""
    with open(path, "rb") as fh:
        while piece := fh.read(size):
            yield piece
