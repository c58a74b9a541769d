"""File naming and path safety shared by the upload store and the result store."""

from __future__ import annotations

import secrets
import string
import time
from pathlib import Path

_ALPHABET = string.ascii_lowercase + string.digits


def generated_name(ext: str) -> str:
    """``<epochMs>-<random>.<ext>``, the shape the real service gives uploads and results (§5)."""
    tail = "".join(secrets.choice(_ALPHABET) for _ in range(11))
    return f"{int(time.time() * 1000)}-{tail}.{ext}"


def safe_join(root: Path, relative: str) -> Path | None:
    """``root/relative`` if that stays inside ``root``, else None (no ``..`` escapes)."""
    base = root.resolve()
    candidate = (base / relative.lstrip("/")).resolve()
    return candidate if candidate.is_relative_to(base) and candidate != base else None
