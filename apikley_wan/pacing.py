"""Client-side pacing of createTask to the API's documented limit: at most ``CREATES_PER_WINDOW`` new
tasks in any ``CREATE_WINDOW_S`` seconds, per account (api-reference §7; 20 per 10 s).

One sliding window per account (API base + key) for every create of the process, so a batch, many
nodes in one prompt or both at once normally never hear 429 (a 429 is still handled safely by the
client: the body proves no task was made, and it is never re-billed). A create counts from the
moment its slot is taken until ``CREATE_WINDOW_S`` after its answer came back: the server counts
on receipt, somewhere in between, so a slow first create can never make the 21st one too early.

Waiting for a slot holds no thread (``slot`` is awaited on the event loop) and feels Cancel within
a slice; it happens before the journal row is claimed, so a process killed while waiting leaves no
'creating' row behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from . import settings

ALL_IN_FLIGHT_RECHECK_S = 0.05  # every slot is an unanswered create: look again this soon


@dataclass
class Slot:
    start: float
    end: Optional[float] = None  # when the create's answer came back; None while in flight
    used: bool = True            # False: no request was sent after all (another run held the inputs)


class Pacer:
    """A thread-safe sliding window of creates. ``limit``/``window_s`` default to the settings,
    read at each use (tests shrink them with monkeypatch)."""

    def __init__(self, limit: Optional[int] = None, window_s: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic):
        self._limit, self._window_s, self._clock = limit, window_s, clock
        self._lock = threading.Lock()
        self._slots: list[Slot] = []

    @property
    def limit(self) -> int:
        return max(1, int(self._limit if self._limit is not None else settings.CREATES_PER_WINDOW))

    @property
    def window_s(self) -> float:
        return max(0.0, float(self._window_s if self._window_s is not None else settings.CREATE_WINDOW_S))

    def try_acquire(self) -> tuple[Optional[Slot], float]:
        """``(slot, 0)`` when a create may start now, else ``(None, seconds until one may)``."""
        now, window, limit = self._clock(), self.window_s, self.limit
        with self._lock:
            self._slots = [s for s in self._slots if s.end is None or now - s.end < window]
            if len(self._slots) < limit:
                slot = Slot(start=now)
                self._slots.append(slot)
                return slot, 0.0
            ended = [s.end for s in self._slots if s.end is not None]
            if not ended:
                return None, ALL_IN_FLIGHT_RECHECK_S
            return None, max(0.001, min(ended) + window - now)

    def release(self, slot: Slot) -> None:
        with self._lock:
            if slot.used:
                slot.end = self._clock()
            elif slot in self._slots:
                self._slots.remove(slot)

    def in_window(self) -> int:
        """Creates counted in the window now (in flight or answered within it)."""
        now, window = self._clock(), self.window_s
        with self._lock:
            return sum(1 for s in self._slots if s.end is None or now - s.end < window)

    @contextlib.asynccontextmanager
    async def slot(self, cancel, slice_s: float = 0.2):
        """``async with pacer.slot(cancel) as slot:`` around one create; waits on the loop, not a thread.
        Set ``slot.used = False`` inside when no request was sent after all."""
        while True:
            cancel.raise_if_requested()
            slot, wait = self.try_acquire()
            if slot is not None:
                break
            await asyncio.sleep(min(wait, slice_s))
        try:
            yield slot
        finally:
            self.release(slot)


_pacers: dict = {}
_pacers_lock = threading.Lock()


def pacer_for(client) -> Pacer:
    """The one pacer of ``client``'s account (its API base and key) in this process."""
    key_hash = hashlib.sha256((getattr(client, "api_key", None) or "").encode()).hexdigest()[:16]
    account = (getattr(client, "base_url", ""), key_hash)
    with _pacers_lock:
        pacer = _pacers.get(account)
        if pacer is None:
            pacer = _pacers[account] = Pacer()
        return pacer
