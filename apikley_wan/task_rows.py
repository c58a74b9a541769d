"""The recent-tasks panel's data: journal entries as plain rows, and collecting one by task id.

Rows carry only what the panel shows (never the callback secret or uploaded URLs). Collecting
goes through ``Generations.collect``, which downloads an existing task's result and never
creates a task. Functions return plain data or raise typed errors (the routes map them to HTTP).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Callable

from . import journal as jr
from . import pricing
from .errors import BusyError, InputError, NotFoundError
from .generation import Generations
from .journal import Journal, JournalEntry

MAX_ROWS = 200
COLLECTABLE = (*jr.PENDING, jr.SUCCESS)


def task_row(entry: JournalEntry) -> dict:
    params = entry.params or {}
    path = entry.result_path
    return {
        "task_id": entry.task_id, "state": entry.state,
        "created_at": entry.task_created_at or entry.created_at, "finished_at": entry.finished_at,
        "duration": params.get("duration"), "resolution": params.get("resolution"),
        "prompt": (params.get("prompt") or "")[:120],
        "cost_credits": entry.cost_credits, "cost_reported": entry.cost_reported,
        "cost_usd": pricing.credits_to_usd(entry.cost_credits) if entry.cost_credits is not None else None,
        "result_path": path, "result_file": Path(path).name if path else None,
        "result_exists": bool(path) and Path(path).is_file(),
        "error": entry.error,
        "collectable": entry.task_id is not None and entry.state in COLLECTABLE,
    }


def recent(journal: Journal, limit=50, task_id=None) -> dict:
    """The newest entries (or the one with ``task_id``), newest first."""
    if task_id:
        entry = journal.by_task_id(task_id)
        return {"tasks": [task_row(entry)] if entry else []}
    try:
        count = max(1, min(MAX_ROWS, int(limit)))
    except (TypeError, ValueError):
        raise InputError(f"limit must be a number (got {str(limit)[:20]!r})") from None
    return {"tasks": [task_row(e) for e in journal.recent(count)]}


class Collector:
    """Collects one journal task at a time per id: a double click must not download twice at once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._busy: set = set()

    def collect(self, journal: Journal, task_id: str, generations: Callable[[], Generations]) -> dict:
        """Blocking: waits for a pending task (up to the pipeline's deadline), then saves its result.

        NotFoundError for a task the journal does not hold, BusyError while it is being collected.
        """
        if not jr.valid_task_id(task_id) or journal.by_task_id(task_id) is None:
            raise NotFoundError(f"no task {task_id[:80]!r} in the journal", credits_may_be_spent=False)
        with self._lock:
            if task_id in self._busy:
                raise BusyError("this task is already being collected", task_id=task_id)
            self._busy.add(task_id)
        try:
            asyncio.run(generations().collect(task_id))  # this thread's own loop: the route waits off its loop
            return {"ok": True, "task": task_row(journal.by_task_id(task_id))}
        finally:
            with self._lock:
                self._busy.discard(task_id)
