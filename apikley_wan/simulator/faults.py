"""Switches tests flip to make the simulator misbehave the way the real service (or a proxy) can.

Every switch is off by default. Counters count down as they fire, so ``faults.maintenance = 2``
affects exactly the next two API requests. Outcome switches (``fail_tasks``,
``success_without_url``) are read when a task is created and apply to that task.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Faults:
    rate_limit_creates: int = 0
    """Next N createTask requests answer ``{"code":429,"msg":"Rate limit exceeded"}``; no task is registered."""

    maintenance: int = 0
    """Next N API requests (any route except uploaded-file downloads) answer code 455."""

    server_errors: int = 0
    """Next N API requests get a real HTTP 502 with an HTML proxy page instead of the JSON envelope."""

    server_error_paths: tuple = ()
    """If set, ``server_errors`` only hits requests whose path starts with one of these prefixes."""

    drop_after_create: int = 0
    """Next N createTask requests register (and later bill) the task, then close the socket unanswered."""

    drop_before_create: int = 0
    """Next N createTask requests close the socket unanswered without registering anything."""

    fail_tasks: bool = False
    """Tasks created while set end in ``state: fail`` (failCode "500"); they are not charged."""

    success_without_url: bool = False
    """Tasks created while set succeed (and are charged) with ``{"resultUrls":[]}``."""

    truncate_downloads: int = 0
    """Next N result downloads send the full Content-Length header, half the body, then close."""

    drip_downloads: int = 0
    """Next N result downloads send the full Content-Length header, then one byte every 5 s
    (a result host that is stuck but never times out a read)."""

    expire_results: bool = False
    """Direct result URLs answer HTTP 404 like an expired link; download-url links still work."""

    slow_seconds: float = 0.0
    """Delay before every API answer (to exercise client timeouts)."""

    null_seconds: Optional[float] = None
    """Overrides the simulator's ``null_seconds`` (recordInfo "is null" window after create)."""

    callback_repeats: int = 1
    """How many times each completion callback is delivered (duplicates happen in real life)."""

    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def take(self, name: str, path: str = "") -> bool:
        """Atomically consume one shot of counter ``name``; True when it fires for ``path``."""
        with self._lock:
            if getattr(self, name) <= 0:
                return False
            if name == "server_errors" and self.server_error_paths and \
                    not path.startswith(tuple(self.server_error_paths)):
                return False
            setattr(self, name, getattr(self, name) - 1)
            return True
