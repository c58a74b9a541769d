"""Where the key, the API base and the pack's state live.

The state folder holds the journal and the key file. It is never the pack's own folder
(updates replace that): inside ComfyUI it is under ComfyUI's user directory (the caller
says so), elsewhere a per-user config folder. Nothing here is remembered between calls.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "https://api.apikley.ru"
KEY_FILE_NAME = "api_key"
STATE_FOLDER_NAME = "apikley_wan"
MIN_KEY_LENGTH = 6
MAX_KEY_LENGTH = 256
KEY_RULE = f"{MIN_KEY_LENGTH} to {MAX_KEY_LENGTH} printable ASCII characters without spaces"

def state_dir(user_dir: Optional[str | os.PathLike] = None) -> Path:
    """The pack's state folder (created on first use): ``APIKLEY_STATE_DIR``, else under ComfyUI's
    user folder when one is given, else the per-user config folder."""
    explicit = os.environ.get("APIKLEY_STATE_DIR")
    if explicit:
        path = Path(explicit)
    elif user_dir is not None:
        path = Path(user_dir) / STATE_FOLDER_NAME
    else:
        if sys.platform == "win32":
            root = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
        else:
            root = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        path = root / "apikley-wan"
    path.mkdir(parents=True, exist_ok=True)
    return path


def base_url() -> str:
    return (os.environ.get("APIKLEY_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def upload_base_url(api_base: Optional[str] = None) -> str:
    return (api_base or base_url()).rstrip("/") + "/file-upload"


def key_file(folder: Optional[Path] = None) -> Path:
    return (folder or state_dir()) / KEY_FILE_NAME


def env_api_key() -> Optional[str]:
    """The key ``APIKLEY_API_KEY`` sets (it wins over the key file); None when unset."""
    return os.environ.get("APIKLEY_API_KEY", "").strip() or None


def api_key(folder: Optional[Path] = None) -> Optional[str]:
    """The key from APIKLEY_API_KEY, else from the key file in ``folder``; None when neither is set."""
    env = env_api_key()
    if env:
        return env
    path = key_file(folder)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, PermissionError):
        return None
    return text or None


def clean_key(raw) -> Optional[str]:
    """The key, trimmed; None unless it is ``KEY_RULE``: a pasted key, a saved one or ``APIKLEY_API_KEY``.

    Anything else cannot travel in an HTTP header (a zero-width space from a web page would
    fail deep inside ``requests``, or reach the API as another key), so it is refused up front.
    """
    if not isinstance(raw, str):
        return None
    key = raw.strip()
    if not MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        return None
    return key


def key_source(folder: Optional[Path] = None) -> str:
    """'env', 'file' or 'none': the settings UI says which key wins."""
    if env_api_key():
        return "env"
    return "file" if api_key(folder) else "none"


def save_api_key(key: str, folder: Optional[Path] = None) -> Path:
    """Write the key file with mode 600, atomically (never world-readable, even briefly)."""
    path = key_file(folder)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key.strip().encode("utf-8"))
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def mask_key(key: Optional[str]) -> str:
    """A fingerprint safe to show: the last four characters; of a key of 8 or fewer, only its length."""
    if not key:
        return ""
    return "••••" + key[-4:] if len(key) > 8 else f"•••• ({len(key)} characters)"


def callback_base_url() -> Optional[str]:
    """Public base URL of the user's ComfyUI for callbacks (opt-in)."""
    value = os.environ.get("APIKLEY_CALLBACK_URL", "").strip()
    return value.rstrip("/") or None


ALLOWED_HOSTS_ENV = "APIKLEY_ALLOWED_HOSTS"


def allowed_hosts() -> frozenset:
    """The names, besides ComfyUI's own address, under which the pack's routes answer (a tunnel's or a
    proxy's): ``APIKLEY_ALLOWED_HOSTS``, separated by commas or spaces; a scheme or port given is ignored."""
    names = set()
    for item in os.environ.get(ALLOWED_HOSTS_ENV, "").replace(",", " ").split():
        try:
            name = urlsplit(item if "://" in item else "//" + item).hostname
        except ValueError:  # a malformed port: the name is still meant
            name = item.rpartition(":")[0] or item
        if name:
            names.add(name.lower())
    return frozenset(names)


def webhook_hmac_key() -> Optional[str]:
    return os.environ.get("APIKLEY_WEBHOOK_HMAC_KEY", "").strip() or None
