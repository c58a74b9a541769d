"""The real per-account create limit: at most 20 new tasks in any 10 s window (§7)."""

from __future__ import annotations

import collections
import threading
import time


class RateWindow:
    def __init__(self, limit: int = 20, seconds: float = 10.0):
        self.limit, self.seconds = limit, seconds
        self._stamps: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """Count one event if the window has room; False (and nothing counted) when it is full."""
        now = time.monotonic()
        with self._lock:
            while self._stamps and now - self._stamps[0] >= self.seconds:
                self._stamps.popleft()
            if len(self._stamps) >= self.limit:
                return False
            self._stamps.append(now)
            return True
