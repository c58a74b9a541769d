"""Fetching of URLs the simulator is given (reference clips, file-url-upload).

Only loopback hosts are allowed: the simulator must never reach out to the internet,
so a test that forgets to upload its clip fails loudly instead of downloading something.
"""

from __future__ import annotations

import ipaddress
import shutil
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

TIMEOUT = 30  # the documented download timeout of file-url-upload
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # direct: local peers, never a proxy


class FetchError(OSError):
    pass


def is_loopback_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def fetch_to(url: str, dest: Path) -> int:
    """Download a loopback URL into ``dest``; return its size. FetchError for anything else."""
    if not is_loopback_url(url):
        raise FetchError(f"only loopback URLs can be fetched, not {url!r}")
    try:
        with OPENER.open(url, timeout=TIMEOUT) as answer, open(dest, "wb") as out:
            shutil.copyfileobj(answer, out, 1 << 16)
    except (OSError, ValueError) as exc:
        dest.unlink(missing_ok=True)
        raise FetchError(f"could not fetch {url!r}: {exc}") from exc
    return dest.stat().st_size
