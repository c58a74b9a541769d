"""Client-side pacing of createTask to the API's documented limit: at most ``CREATES_PER_WINDOW`` new
tasks in any ``CREATE_WINDOW_S`` seconds, per account (api-reference §7; 20 per 10 s).

The window is kept in the journal (its ``create_slots``), not in the process: every process and farm
worker on one journal paces the account's creates together, so batches run back to back or at once
normally never hear 429. The account is the API the journal's rows belong to (``Pipeline.api_identity``).
A create counts from the moment its slot is taken until ``CREATE_WINDOW_S`` after its answer came
back: the server counts on receipt, somewhere in between, so a slow first create can never make the
21st one too early. A 429 (or 455) marks the window full for everyone until ``CREATE_WINDOW_S`` after
it; the refused create itself is re-sent on the client's own bounded schedule (client.py).

A slot is taken atomically (journal.take_create_slot), before the journal row is claimed, so a process
killed while waiting leaves no 'creating' row behind; one killed mid-create leaves a slot that stops
counting after ``IN_FLIGHT_STALE_S``. Waiting holds no thread and feels Cancel within a slice.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Optional

from ..settings import settings

# every slot is an unanswered create: look again this soon
ALL_IN_FLIGHT_RECHECK_S = 0.05
# a create unanswered this long was sent by a process that died (the client gives up after 10 + 60 s)
IN_FLIGHT_STALE_S = 120.0


@dataclass
class Slot:
    id: int
    used: bool = True  # False: no request was sent after all (another run held the inputs)


class Pacer:
    """The create windows of the accounts in one journal. ``limit``/``window_s`` default to the settings,
    read at each use (tests shrink them with monkeypatch)."""

    def __init__(self, journal, limit: Optional[int] = None, window_s: Optional[float] = None,
                 clock: Callable[[], float] = time.time):
        self.journal = journal
        self._limit, self._window_s, self._clock = limit, window_s, clock
        # this process's own waiters ask the journal one at a time, and not before it said a slot may free
        self._asking = threading.Lock()
        self._next_look = 0.0

    @property
    def limit(self) -> int:
        return max(1, int(self._limit if self._limit is not None else settings.CREATES_PER_WINDOW))

    @property
    def window_s(self) -> float:
        return max(0.0, float(self._window_s if self._window_s is not None else settings.CREATE_WINDOW_S))

    def wait_for(self, slots: list, now: float) -> float:
        """Seconds until a create of an account with these slots may start; 0: now."""
        window = self.window_s
        refused = [s.refused_at for s in slots if s.refused_at is not None and now - s.refused_at < window]
        if refused:
            return max(refused) + window - now
        answered = [s.answered_at for s in slots if s.answered_at is not None and now - s.answered_at < window]
        in_flight = sum(1 for s in slots if s.answered_at is None and now - s.started_at < IN_FLIGHT_STALE_S)
        if len(answered) + in_flight < self.limit:
            return 0.0
        if not answered:
            return ALL_IN_FLIGHT_RECHECK_S
        return max(0.001, min(answered) + window - now)

    def try_acquire(self, account: str) -> tuple[Optional[Slot], float]:
        """``(slot, 0)`` when a create of ``account`` may start now, else ``(None, seconds until one may)``."""
        now = self._clock()
        slot_id, wait = self.journal.take_create_slot(account, now, lambda slots: self.wait_for(slots, now))
        return (Slot(slot_id), 0.0) if slot_id is not None else (None, wait)

    def release(self, slot: Slot) -> None:
        self.journal.end_create_slot(slot.id, self._clock() if slot.used else None)
        if not slot.used:
            self._next_look = 0.0  # a slot given back: this process's waiters may look at once

    def refused(self, slot: Slot) -> None:
        """The API refused the slot's create (429/455): the account's window is full for every process."""
        self.journal.refuse_create_slot(slot.id, self._clock())

    @contextlib.asynccontextmanager
    async def slot(self, account: str, cancel, run: Callable[..., Awaitable], slice_s: float = 0.2):
        """``async with pacer.slot(account, cancel, run) as slot:`` around one create; waits on the loop and
        asks the journal through ``run`` (a worker). Set ``slot.used = False`` inside when no request was
        sent after all."""
        while True:
            cancel.raise_if_requested()
            wait = self._next_look - self._clock()
            if wait <= 0:
                if not self._asking.acquire(blocking=False):
                    wait = ALL_IN_FLIGHT_RECHECK_S  # another waiter of this process is asking right now
                else:
                    try:
                        slot, wait = await run(self.try_acquire, account)
                    finally:
                        self._asking.release()
                    if slot is not None:
                        break
                    self._next_look = self._clock() + wait
            await asyncio.sleep(min(wait, slice_s))
        try:
            yield slot
        finally:  # shielded: a cancelled run still ends its slot (the worker writes it)
            await asyncio.shield(run(self.release, slot))
