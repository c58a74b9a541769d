"""Run blocking core work off ComfyUI's event loop, with a status line and a felt Cancel.

The event loop checks the interrupt flag every 0.2 s and redraws the status line about
once a second; on Cancel the core is told to stop (a transfer in flight is shut down) and
ComfyUI's own interrupt is raised at once: the work runs on the pack's own daemon workers,
which ComfyUI never waits for, so the queue moves on whatever the network is doing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Optional

from ..apikley_wan.client import Cancel
from ..apikley_wan.errors import CancelledError
from ..apikley_wan.generation import Status
from ..apikley_wan.workers import workers
from . import host

log = logging.getLogger("apikley_wan")

CANCEL_NOTE = ("Cancelled. If a task was already created the provider may still finish and bill it; "
               "re-queue the same graph to collect it without paying again.")


class StatusBoard:
    """The latest status of one node, redrawn by the ticker."""

    def __init__(self, node_id: Optional[str]):
        self.node_id = node_id
        self.status: Optional[Status] = None
        self.started_at = time.time()

    def update(self, status: Status) -> None:
        self.status = status

    def draw(self) -> None:
        if self.status is not None:
            host.send_status(self.status.line(), self.node_id)

    def say(self, text: str) -> None:
        """A final line: the ticker stops redrawing the live status over it."""
        self.status = None
        host.send_status(text, self.node_id)


# ComfyUI's interrupt flag is cleared by the first node that raises it, so the news is kept here:
# every run started before the latest interrupt stops, however many run side by side.
_interrupts = 0


def _note_interrupt() -> None:
    global _interrupts
    _interrupts += 1


def _quiet(job) -> None:
    """The abandoned work ends by itself; its outcome must not be logged as an unhandled error."""
    job.add_done_callback(lambda j: j.cancelled() or j.exception())


async def run_blocking(work: Callable[[Cancel, StatusBoard], object], node_id: Optional[str]):
    """Run ``work(cancel, board)`` on a worker; return its result or raise its error."""
    started_after = _interrupts
    cancel = Cancel(lambda: _interrupts != started_after)
    board = StatusBoard(node_id)
    job = workers.run(work, cancel, board)
    last_draw = 0.0
    try:
        while True:
            done, _ = await asyncio.wait({job}, timeout=0.2)
            if done:
                return job.result()
            if host.interrupted():
                _note_interrupt()
            if cancel.requested:
                board.say(CANCEL_NOTE)
                log.warning("apikley_wan: %s", CANCEL_NOTE)
                _quiet(job)
                host.raise_interrupt()
                raise CancelledError("interrupted in ComfyUI")
            if time.monotonic() - last_draw >= 1.0:
                board.draw()
                last_draw = time.monotonic()
    except BaseException:
        cancel.set()  # ComfyUI cancelling this coroutine, or any error here, stops the thread too
        raise
