"""Run blocking core work off ComfyUI's event loop, with a status line and a felt Cancel.

The event loop checks the interrupt flag every 0.2 s and redraws the status line about
once a second; on Cancel the core is told to stop and ComfyUI's own interrupt is raised.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Optional

from ..apikley_wan.client import Cancel
from ..apikley_wan.errors import CancelledError
from ..apikley_wan.generation import Status
from . import host

log = logging.getLogger("apikley_wan")

CANCEL_NOTE = ("Cancelled. If a task was already created the provider may still finish and bill it; "
               "re-queue the same graph to collect it without paying again.")


class StatusBoard:
    """The latest status of one node, redrawn by the ticker."""

    def __init__(self, node_id: Optional[str]):
        self.node_id = node_id
        self.status: Optional[Status] = None

    def update(self, status: Status) -> None:
        self.status = status

    def draw(self) -> None:
        if self.status is not None:
            host.send_status(self.status.line(), self.node_id)

    def say(self, text: str) -> None:
        """A final line: the ticker stops redrawing the live status over it."""
        self.status = None
        host.send_status(text, self.node_id)


async def run_blocking(work: Callable[[Cancel, StatusBoard], object], node_id: Optional[str]):
    """Run ``work(cancel, board)`` in a thread; return its result or raise its error."""
    cancel = Cancel()
    board = StatusBoard(node_id)
    job = asyncio.ensure_future(asyncio.to_thread(work, cancel, board))
    last_draw = 0.0
    while True:
        done, _ = await asyncio.wait({job}, timeout=0.2)
        if done:
            break
        if host.interrupted():
            cancel.set()
            board.say(CANCEL_NOTE)
            log.warning("apikley_wan: %s", CANCEL_NOTE)
            job.add_done_callback(lambda j: j.exception())  # the thread ends by itself; silence it
            host.raise_interrupt()
            raise CancelledError("interrupted in ComfyUI")
        if time.monotonic() - last_draw >= 1.0:
            board.draw()
            last_draw = time.monotonic()
    return job.result()
