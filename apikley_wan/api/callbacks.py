"""Callback receipt: per-task secret URLs, signature check, waking the waiter.

The provider POSTs to ``<public base>/apikley_wan/callback/<secret>`` when a task ends.
A callback is only a wake-up: nothing in its body is kept, and the waiter confirms state and
cost with a task query. So a forged, replayed or repeated callback can at most cause an
extra poll, and can never shadow the real one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

ROUTE_PREFIX = "/apikley_wan/callback/"
MAX_SIGNATURE_AGE_S = 600
_STAMP = re.compile(r"[0-9]{1,12}")


@dataclass
class _Waiter:
    wake: threading.Event = field(default_factory=threading.Event)
    task_id: Optional[str] = None


def signature(task_id: str, timestamp: str, key: str) -> str:
    """base64(HMAC-SHA256(taskId + "." + timestamp)) as documented by kie."""
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def task_id_of(payload) -> Optional[str]:
    """The task id of a callback body; None when the body does not have the documented shape."""
    if not isinstance(payload, dict):
        return None
    data = payload.get("data", {})
    if not isinstance(data, dict):
        return None
    value = data.get("taskId") or data.get("task_id") or payload.get("taskId")
    return value if isinstance(value, str) and value else None


class CallbackBoard:
    """Secrets handed out with creates, and the events that wake their waiters."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_secret: dict = {}

    def new_secret(self) -> str:
        secret = secrets.token_urlsafe(24)
        with self._lock:
            self._by_secret[secret] = _Waiter()
        return secret

    def url_for(self, public_base: str, secret: str) -> str:
        return public_base.rstrip("/") + ROUTE_PREFIX + secret

    def knows(self, secret: str) -> bool:
        """Whether a delivery to this secret is worth reading at all."""
        with self._lock:
            return secret in self._by_secret

    def waiter(self, secret: Optional[str], task_id: Optional[str] = None) -> Optional[threading.Event]:
        """The wake event of a secret (re-created after a restart from the journal's copy)."""
        if not secret:
            return None
        with self._lock:
            entry = self._by_secret.setdefault(secret, _Waiter())
            if task_id:
                entry.task_id = task_id
            return entry.wake

    def receive(self, secret: str, payload, headers: dict, hmac_key: Optional[str]) -> tuple:
        """Check one delivery and wake the waiter; returns ``(http_status, message)``.

        Every valid delivery, repeats included, only wakes the waiter.
        """
        with self._lock:
            entry = self._by_secret.get(secret)
        if entry is None:
            return 404, "unknown callback"
        task_id = task_id_of(payload)
        if task_id is None:
            return 400, "no task id in data.taskId"
        if entry.task_id and entry.task_id != task_id:
            return 400, "task id does not match"
        if hmac_key:
            named = {str(k).lower(): str(v) for k, v in headers.items()}
            stamp = named.get("x-webhook-timestamp", "")
            given = named.get("x-webhook-signature", "")
            if not _STAMP.fullmatch(stamp) or abs(time.time() - int(stamp)) > MAX_SIGNATURE_AGE_S:
                return 401, "missing or stale signature timestamp"
            # as bytes: compare_digest refuses str with non-ASCII characters
            if not hmac.compare_digest(given.encode("utf-8", "replace"), signature(task_id, stamp, hmac_key).encode()):
                return 401, "bad signature"
        entry.wake.set()
        return 200, "ok"
