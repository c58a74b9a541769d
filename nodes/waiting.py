"""Run a pipeline coroutine for a node, with a status line and a felt Cancel.

The node's coroutine runs on ComfyUI's event loop (waiting holds no thread; only short steps go
to the pack's workers). Every 0.2 s the interrupt flag is checked and about once a second the
status line is redrawn; on Cancel the core is told to stop (a transfer in flight is shut down),
and ComfyUI's own interrupt is raised at once: the queue moves on whatever the network is doing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Optional

from ..apikley_wan.api.cancel import Cancel
from ..apikley_wan.errors import RunCancelledError
from ..apikley_wan.run.status import Status
from . import host, service
from .report import send_cancelled

log = logging.getLogger("apikley_wan")


def cancel_note(task_id: Optional[str]) -> str:
    """What Cancel means for the user's money, as far as this run knows."""
    if task_id:
        return (f"Cancelled. Task {task_id} exists and will likely finish and be billed; re-queue the same "
                "graph to collect it at no new charge.")
    return ("Cancelled before a task id was recorded. If the create request was already on its way, "
            "re-queuing the same graph collects that task at no new charge.")


class StatusBoard:
    """The latest status of one node, redrawn by the ticker."""

    def __init__(self, node_id: Optional[str]):
        self.node_id = node_id
        self.status: Optional[Status] = None
        self.task_id: Optional[str] = None
        self.started_at = time.time()

    def update(self, status: Status) -> None:
        self.status = status
        self.task_id = status.task_id or self.task_id

    def draw(self) -> None:
        if self.status is not None:
            host.send_status(self.status.line(), self.node_id)

    def progress(self) -> float:
        """Elapsed against the expected time, held below done until success (status.py)."""
        return self.status.progress() if self.status is not None else 0.0

    def say(self, text: str) -> None:
        """A final line: the ticker stops redrawing the live status over it."""
        self.status = None
        host.send_status(text, self.node_id)


def _note_interrupt() -> None:
    """ComfyUI's interrupt flag is cleared by the first node that raises it, so the news is kept on the
    pack's Runtime: every run started before the latest interrupt stops, however many run side by side."""
    service.state().interrupts += 1


def _show_progress(fraction: float, node_id: Optional[str]) -> None:
    """ComfyUI's progress bar for the node. Its hook raises (and clears) ComfyUI's interrupt: kept here, so
    every run side by side still sees it."""
    if not host.show_progress(fraction, node_id):
        _note_interrupt()


def _quiet(job: asyncio.Future) -> None:
    """The abandoned work ends by itself; its outcome must not be logged as an unhandled error."""
    job.add_done_callback(lambda j: j.cancelled() or j.exception())


async def run_pipeline(work: Callable[[Cancel, StatusBoard], Awaitable], node_id: Optional[str]):
    """Await ``work(cancel, board)``; return its result or raise its error (ComfyUI's interrupt on Cancel)."""
    runtime = service.state()
    started_after = runtime.interrupts
    cancel = Cancel(lambda: runtime.interrupts != started_after)
    board = StatusBoard(node_id)
    job = asyncio.ensure_future(work(cancel, board))
    last_draw = 0.0
    try:
        while True:
            done, _ = await asyncio.wait({job}, timeout=0.2)
            if done:
                result = job.result()
                _show_progress(1.0, node_id)  # done: the bar jumps to the end
                return result
            if host.interrupted():
                _note_interrupt()
            if cancel.requested:
                note = cancel_note(board.task_id)
                board.say(note)
                send_cancelled(node_id, board.task_id)
                log.warning("apikley_wan: %s", note)
                host.raise_interrupt()
                raise RunCancelledError("interrupted in ComfyUI", task_id=board.task_id,
                                     credits_may_be_spent=board.task_id is not None)
            if time.monotonic() - last_draw >= 1.0:
                board.draw()
                _show_progress(board.progress(), node_id)
                last_draw = time.monotonic()
    except BaseException:
        cancel.set()  # ComfyUI cancelling this coroutine, or any error here, stops the work too
        if not job.done():
            job.cancel()
            _quiet(job)
        raise
