"""Callback receipt: per-task secret URLs, signature check, repeat filtering, waking the waiter.

The provider POSTs to ``<public base>/apikley_wan/callback/<secret>`` when a task ends.
A callback only wakes the waiting code; the waiter still confirms with a task query,
so a forged or replayed callback can at most cause one extra poll.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

ROUTE_PREFIX = "/apikley_wan/callback/"
MAX_SIGNATURE_AGE_S = 600


@dataclass
class _Waiter:
    wake: threading.Event = field(default_factory=threading.Event)
    task_id: Optional[str] = None
    payload: Optional[dict] = None


def signature(task_id: str, timestamp: str, key: str) -> str:
    """base64(HMAC-SHA256(taskId + "." + timestamp)) as documented by kie."""
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def task_id_of(payload: dict) -> Optional[str]:
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    value = data.get("taskId") or data.get("task_id") or payload.get("taskId")
    return str(value) if value else None


class CallbackBoard:
    """Secrets handed out with creates, and the events that wake their waiters."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_secret: dict = {}
        self._seen: set = set()

    def new_secret(self) -> str:
        secret = secrets.token_urlsafe(24)
        with self._lock:
            self._by_secret[secret] = _Waiter()
        return secret

    def url_for(self, public_base: str, secret: str) -> str:
        return public_base.rstrip("/") + ROUTE_PREFIX + secret

    def waiter(self, secret: Optional[str], task_id: Optional[str] = None) -> Optional[threading.Event]:
        """The wake event of a secret (re-created after a restart from the journal's copy)."""
        if not secret:
            return None
        with self._lock:
            entry = self._by_secret.setdefault(secret, _Waiter())
            if task_id:
                entry.task_id = task_id
            return entry.wake

    def payload(self, secret: str) -> Optional[dict]:
        with self._lock:
            entry = self._by_secret.get(secret)
            return entry.payload if entry else None

    def receive(self, secret: str, payload: dict, headers: dict, hmac_key: Optional[str]) -> tuple:
        """Handle one delivery; returns ``(http_status, message)``. Repeats are acknowledged and ignored."""
        with self._lock:
            entry = self._by_secret.get(secret)
        if entry is None:
            return 404, "unknown callback"
        task_id = task_id_of(payload)
        if not task_id or (entry.task_id and entry.task_id != task_id):
            return 400, "task id does not match"
        if hmac_key:
            stamp = str(headers.get("X-Webhook-Timestamp") or headers.get("x-webhook-timestamp") or "")
            given = str(headers.get("X-Webhook-Signature") or headers.get("x-webhook-signature") or "")
            if not stamp.isdigit() or abs(time.time() - int(stamp)) > MAX_SIGNATURE_AGE_S:
                return 401, "missing or stale signature timestamp"
            if not hmac.compare_digest(given, signature(task_id, stamp, hmac_key)):
                return 401, "bad signature"
        key = (secret, str((payload.get("data") or {}).get("state")))
        with self._lock:
            if key in self._seen:
                return 200, "repeat ignored"
            self._seen.add(key)
            entry.task_id = task_id
            entry.payload = payload
        entry.wake.set()
        return 200, "ok"
