"""The cancel hook of one run, shared by its caller and its client."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Callable, Optional

from ..errors import RunCancelledError

log = logging.getLogger("apikley_wan")


class Cancel:
    """A cancel hook shared by the caller and the client: waits are sliced so it is felt within a second,
    and a transfer blocked in a socket read is shut down the moment cancel is set."""

    def __init__(self, check: Optional[Callable[[], bool]] = None):
        self._event = threading.Event()
        self._check = check
        self._lock = threading.Lock()
        self._closers: list = []

    def set(self) -> None:
        self._event.set()
        with self._lock:
            closers, self._closers = self._closers, []
        for close in closers:
            try:
                close()
            except Exception:  # a transfer that already ended
                log.debug("closing a cancelled transfer failed", exc_info=True)

    @contextlib.contextmanager
    def closing(self, close: Callable[[], None]):
        """While inside, ``set()`` calls ``close`` (e.g. shuts down the socket a read blocks on)."""
        with self._lock:
            self._closers.append(close)
        if self._event.is_set():
            close()
        try:
            yield
        finally:
            with self._lock:
                if close in self._closers:
                    self._closers.remove(close)

    @property
    def requested(self) -> bool:
        return self._event.is_set() or bool(self._check and self._check())

    def sleep(self, seconds: float, task_id: Optional[str] = None) -> None:
        """A blocking retry backoff (on a worker) in slices of at most 0.2 s; raise RunCancelledError on cancel."""
        end = time.monotonic() + max(0.0, seconds)
        while True:
            self.raise_if_requested(task_id)
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.2, left))

    def raise_if_requested(self, task_id: Optional[str] = None) -> None:
        if self.requested:
            raise RunCancelledError("stopped by the user", task_id=task_id,
                                 credits_may_be_spent=task_id is not None)

