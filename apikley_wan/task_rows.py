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
from . import pricing, provenance, settings
from .errors import BusyError, InputError, NotFoundError
from .generation import Generations
from .journal import Journal, JournalEntry

MAX_ROWS = 200


def task_row(entry: JournalEntry) -> dict:
    """One row. ``verdict`` is the journal's (``journal.verdict``) for the file the entry records: Collect is
    offered for a task to attach to, or a finished one whose file is gone; Abandon for an uncertain create."""
    params = entry.params or {}
    path = entry.result_path
    exists = bool(path) and Path(path).is_file()
    found = jr.verdict(entry, jr.clock(), result_on_disk=exists)
    return {
        "entry_id": entry.id, "task_id": entry.task_id, "state": entry.state,
        "created_at": entry.task_created_at or entry.created_at, "finished_at": entry.finished_at,
        "duration": params.get("duration"), "resolution": params.get("resolution"),
        "prompt": (params.get("prompt") or "")[:settings.PROMPT_CHARS[1]],
        "typical_s": settings.TYPICAL_SECONDS.get(str(params.get("duration"))),
        "cost_credits": entry.cost_credits, "cost_kind": entry.cost_kind,
        "cost_usd": pricing.credits_to_usd(entry.cost_credits) if entry.cost_credits is not None else None,
        "result_path": path, "result_file": Path(path).name if path else None,
        "result_folder": str(Path(path).parent) if path else None,
        "result_exists": exists,
        "error": entry.error,
        "verdict": found.decision.value,
        "collectable": found.decision is jr.Decision.ATTACH or found.download,
        "abandonable": found.decision is jr.Decision.UNCERTAIN,
    }


def abandon(journal: Journal, entry_id) -> dict:
    """Abandon for the panel and the ``abandon`` command: the entry's inputs may create a new task.

    NotFoundError for an entry the journal does not hold; InputError for one that is not an unresolved create.
    """
    entry = journal.by_id(int(entry_id)) if str(entry_id).isdigit() else None
    if entry is None:
        raise NotFoundError(f"there is no journal entry {str(entry_id)[:20]!r}", credits_may_be_spent=False,
                            hint="The entry numbers are in the tasks panel and in `python -m apikley_wan tasks`.")
    return {"ok": True, "task": task_row(journal.abandon(entry))}


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


def from_file(journal: Journal, path: Path) -> dict:
    """The task a result file names in its metadata, recorded in the journal when missing (nothing is
    sent to the API; collecting it is the panel's Collect). NoProvenanceError for a file without one."""
    found = provenance.read(path)
    return {"ok": True, "task": task_row(journal.adopt(found.task_id, found.params))}


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
