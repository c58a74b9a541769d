"""Waiting for a task without holding a thread: a coroutine polls recordInfo on a schedule, each
poll one short step on a worker, and sleeps on the event loop in slices that feel Cancel and a
callback's wake-up. Dozens of tasks in flight cost no more threads than the polls in progress.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Awaitable, Callable, Optional

from ..api.cancel import Cancel

from ..api.client import ApikleyClient

from ..api.tasks import TaskInfo
from ..errors import (BadResponseError, GenerationFailedError, MaintenanceError, NetworkError, NotFoundError,
                     RateLimitError, ResultMissingError, ServerError, TaskStillPendingError)
from ..settings.settings import TIMINGS, Timings

log = logging.getLogger("apikley_wan")

Run = Callable[..., Awaitable]  # runs one blocking step off the loop, e.g. Lanes.api.run


class Clock:
    """Wall time and sleeping on the loop; tests swap in a virtual one so minutes pass in milliseconds."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def pause(seconds: float, cancel: Cancel, *, wake: Optional[threading.Event] = None,
                task_id: Optional[str] = None, timings: Timings = TIMINGS, clock: Optional[Clock] = None) -> None:
    """Sleep on the event loop; return early when ``wake`` is set, raise RunCancelledError on Cancel."""
    clock = clock or Clock()
    end = clock.monotonic() + max(0.0, seconds)
    while True:
        cancel.raise_if_requested(task_id)
        left = end - clock.monotonic()
        if left <= 0 or (wake is not None and wake.is_set()):
            return
        await clock.sleep(min(timings.slice_s, left))


async def wait_for_task(client: ApikleyClient, task_id: str, run: Run, *, created_at: Optional[float] = None,
                        deadline_s: float, on_status: Optional[Callable[[TaskInfo], Awaitable]] = None,
                        wake: Optional[threading.Event] = None, null_grace_s: Optional[float] = None,
                        timings: Timings = TIMINGS, clock: Optional[Clock] = None) -> TaskInfo:
    """Poll until success (returned) or fail (raised).

    The deadline counts from create; re-attaching to an older task still waits
    ``min(deadline_s, resume_window_s)``. Failed status checks are tolerated until the deadline
    (each poll is a single attempt: the schedule itself is the retry). ``wake`` (set by a
    callback) brings the next poll forward; the poll still decides.
    """
    clock = clock or Clock()
    grace = timings.null_grace_s if null_grace_s is None else null_grace_s
    created_at = created_at or clock.now()
    started = clock.now()
    deadline = max(created_at + deadline_s, started + min(deadline_s, timings.resume_window_s))
    interval = timings.poll_first_s
    misses = 0  # status checks failed in a row, shown on the status line
    while True:
        if wake is not None:
            wake.clear()
        now = clock.now()
        try:
            info = await run(client.get_task, task_id, attempts=1)
        except (NetworkError, RateLimitError, MaintenanceError, ServerError, BadResponseError) as exc:
            if now >= deadline:
                raise
            log.warning("apikley task %s: status check failed (%s); still waiting", task_id, type(exc).__name__)
            misses += 1
            info = TaskInfo(task_id=task_id, state="unreachable",
                            problem=f"{exc.briefly()}, {misses} status check{'s' if misses > 1 else ''} failed; still waiting")
        else:
            misses = 0
        if info is None:
            if now - max(created_at, started - 60) > grace:
                raise NotFoundError("the API keeps answering 'recordInfo is null' for this task",
                                    task_id=task_id, credits_may_be_spent=True)
            info = TaskInfo(task_id=task_id, state="waiting")
        if on_status:
            await on_status(info)
        if info.state == "success":
            if not info.result_urls:
                raise ResultMissingError(task_id=task_id)
            return info
        if info.state == "fail":
            raise GenerationFailedError(f"{info.fail_msg or 'no reason given'} (failCode {info.fail_code})",
                                        fail_code=info.fail_code, fail_msg=info.fail_msg, task_id=task_id)
        if now >= deadline:
            raise TaskStillPendingError(f"still '{info.state}' after {int(now - created_at)} s", task_id=task_id)
        interval = timings.next_poll(now - created_at, interval)
        await pause(min(interval, max(timings.slice_s, deadline - now)), client.cancel, wake=wake,
                    task_id=task_id, timings=timings, clock=clock)
