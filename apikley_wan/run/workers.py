"""Bounded pools of daemon worker threads for short blocking steps, awaited from an event loop: one
pool per kind of step (``Lanes``), so a re-use, which needs only the journal and files, never waits
behind API calls, and a poll never behind creates stuck on their answers.

Not the loop's default executor: ``asyncio.run`` (ComfyUI runs each prompt in one) joins the
default executor's threads before it returns, so a step stuck in a slow socket read would keep the
prompt's queue slot after Cancel. A step here is awaited, never joined: a cancelled caller returns
at once and the thread finishes (or is shut down through ``Cancel``) on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
from typing import Callable, Iterator

log = logging.getLogger("apikley_wan")

FILE_WORKERS = 4    # journal reads and writes, fingerprints, encodes, checks of saved results
API_WORKERS = 10    # one API call or result download each: enough for dozens of tasks polling at once
CREATE_WORKERS = 4  # claim -> createTask -> record the task id; a create awaits its answer (the task id) here
MAX_WORKERS = FILE_WORKERS + API_WORKERS + CREATE_WORKERS
IDLE_EXIT_S = 5.0   # a worker idle this long ends (a Runtime no longer used leaves no threads behind)


class Workers:
    def __init__(self, size: int, name: str):
        self._size, self._name = size, name
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0      # threads waiting for a job
        self._queued = 0    # jobs no thread has taken yet

    def run(self, fn: Callable, *args, **kwargs) -> asyncio.Future:
        """``fn(*args, **kwargs)`` on a worker; the returned future (of the running loop) gets its result."""
        if kwargs:
            fn = functools.partial(fn, **kwargs)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            self._queued += 1
            if self._queued > self._idle and self._threads < self._size:
                self._threads += 1
                threading.Thread(target=self._work, name=f"{self._name}-{self._threads}", daemon=True).start()
        self._jobs.put((loop, future, fn, args))
        return future

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            try:
                loop, future, fn, args = self._jobs.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    if not self._queued:  # no job is on its way (run() counts one before it is put)
                        self._threads -= 1
                        return
                continue
            with self._lock:
                self._idle -= 1
                self._queued -= 1
            if future.cancelled():
                continue
            try:
                outcome = (True, fn(*args))
            except BaseException as exc:  # handed to the awaiting side, never lost
                outcome = (False, exc)
            _settle(loop, future, outcome)


def _settle(loop: asyncio.AbstractEventLoop, future: asyncio.Future, outcome: tuple) -> None:
    def deliver() -> None:
        if future.cancelled():
            return
        ok, value = outcome
        future.set_result(value) if ok else future.set_exception(value)

    try:
        loop.call_soon_threadsafe(deliver)
    except RuntimeError:  # the loop has closed: its caller is gone
        log.debug("worker result dropped: its event loop is closed")


class Lanes:
    """The pack's pools: ``files`` (journal and file steps, where ``run`` puts a step), ``api`` (API calls,
    result downloads) and ``creates``."""

    def __init__(self):
        self.files = Workers(FILE_WORKERS, "apikley-files")
        self.api = Workers(API_WORKERS, "apikley-api")
        self.creates = Workers(CREATE_WORKERS, "apikley-create")

    def run(self, fn: Callable, *args, **kwargs) -> asyncio.Future:
        """A journal or file step: the only kind of step a re-use of a saved result needs."""
        return self.files.run(fn, *args, **kwargs)


class TaskLocks:
    """One lock per task id while someone holds it (a download -> verify -> record step): two runs of one task
    never write its result at once. A lock is dropped when its last holder leaves, so the table stays small."""

    def __init__(self):
        self._guard = threading.Lock()
        self._locks: dict = {}  # task id -> [lock, holders]

    @contextlib.contextmanager
    def hold(self, task_id: str) -> Iterator[None]:
        with self._guard:
            slot = self._locks.setdefault(task_id, [threading.Lock(), 0])
            slot[1] += 1
        try:
            with slot[0]:
                yield
        finally:
            with self._guard:
                slot[1] -= 1
                if not slot[1]:
                    del self._locks[task_id]

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)
