"""The recent-tasks panel's data: journal entries as plain rows, and collecting one by task id.

Rows carry only what the panel shows (never the callback secret or uploaded URLs). Collecting
goes through ``Pipeline.collect``, which downloads an existing task's result and never
creates a task: a coroutine on the caller's loop (ComfyUI's server loop), its steps on the Runtime's
workers, stopped by ``Collector.cancel``. Functions return plain data or raise typed errors (the routes map them to HTTP).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ..record import entry as jr
from ..money import pricing
from ..results import provenance
from ..settings import settings
from ..api.cancel import Cancel
from ..api.client import ApikleyClient
from ..errors import ApikleyError, BusyError, InputError, NotFoundError, RunCancelledError
from ..record.entry import JournalEntry
from ..record.store import JournalStore

MAX_ROWS = 200
MAX_ENTRY_DIGITS = 18  # the journal's row ids are 64-bit integers: a longer number is none of them


def task_row(journal: JournalStore, entry: JournalEntry) -> dict:
    """One row. ``verdict`` is the journal's (``journal.verdict``) for the file the entry records: Collect is
    offered for a task to attach to, or a finished one whose file is gone; Abandon for an uncertain create."""
    params = entry.params or {}
    path = entry.result_path
    exists = bool(path) and Path(path).is_file()
    found = journal.verdict(entry, result_on_disk=exists)
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


def _entry(journal: JournalStore, entry_id) -> JournalEntry:
    """The entry a user named by number; NotFoundError for one the journal does not hold."""
    text = str(entry_id)
    if text.isascii() and text.isdigit() and len(text) > MAX_ENTRY_DIGITS:
        raise InputError(f"there is no journal entry {text[:20]}… (entry numbers have at most {MAX_ENTRY_DIGITS} "
                         "digits)", credits_may_be_spent=False,
                         hint="The entry numbers are in the tasks panel and in `python -m apikley_wan tasks`.")
    entry = journal.by_id(int(text)) if text.isascii() and text.isdigit() else None
    if entry is None:
        raise NotFoundError(f"there is no journal entry {str(entry_id)[:20]!r}", credits_may_be_spent=False,
                            hint="The entry numbers are in the tasks panel and in `python -m apikley_wan tasks`.")
    return entry


def abandon(journal: JournalStore, entry_id) -> dict:
    """Abandon for the panel and the ``abandon`` command: the entry's inputs may create a new task.

    NotFoundError for an entry the journal does not hold; InputError for one that is not an unresolved create.
    """
    return {"ok": True, "task": task_row(journal, journal.abandon(_entry(journal, entry_id)))}


def link(journal: JournalStore, entry_id, task_id, client: ApikleyClient) -> dict:
    """Link for the panel and ``collect TASK_ID --entry N``: the task id the user found becomes the task of an
    entry whose create answer was lost, so its inputs re-use it. The API is asked about the task first (a free
    read): a mistyped id linked would leave these inputs waiting on a task that does not exist.

    NotFoundError for an unknown entry or a task the API does not know; InputError for a bad task id or an
    entry that is not an unresolved create; the read's own error when the API cannot be asked.
    """
    entry = _entry(journal, entry_id)
    jr.check_task_id(task_id)
    journal.check_linkable(entry.id, entry)
    client.require_key()
    try:
        known = client.get_task(task_id, attempts=2) is not None  # None: "recordInfo is null"
    except NotFoundError:
        known = False
    except ApikleyError as exc:  # the API could not be asked: nothing is linked, nothing is spent
        exc.credits_may_be_spent = False
        exc.hint = (f"The task id could not be checked, so journal entry {entry.id} was not changed; try again "
                    "when the API answers.")
        raise
    if not known:
        raise NotFoundError(f"the API does not know task {task_id} (a mistyped id, or a task only seconds old)",
                            credits_may_be_spent=False, hint=(
                                "Check the id in your apikley task log, or try again in a minute; journal entry "
                                f"{entry.id} was not changed."))
    return {"ok": True, "task": task_row(journal, journal.link_task(entry.id, task_id))}


def recent(journal: JournalStore, limit=50, task_id=None) -> dict:
    """The newest entries (or the one with ``task_id``), newest first."""
    if task_id:
        entry = journal.by_task_id(task_id)
        return {"tasks": [task_row(journal, entry)] if entry else []}
    try:
        count = max(1, min(MAX_ROWS, int(limit)))
    except (TypeError, ValueError):
        raise InputError(f"limit must be a number (got {str(limit)[:20]!r})") from None
    return {"tasks": [task_row(journal, e) for e in journal.recent(count)]}


def from_file(journal: JournalStore, path: Path) -> dict:
    """The task a result file names in its metadata, recorded in the journal when missing (nothing is
    sent to the API; collecting it is the panel's Collect). NoProvenanceError for a file without one."""
    found = provenance.read(path)
    return {"ok": True, "task": task_row(journal, journal.adopt(found.task_id, found.params))}


class Collector:
    """Collects one journal task at a time per id (a double click must not download twice at once), each
    as a coroutine on one event loop (the only place ``_busy`` is touched); ``cancel`` stops one."""

    def __init__(self):
        self._busy: dict = {}  # task id -> the Cancel of its collect

    async def collect(self, runtime, task_id: str) -> dict:
        """Waits for a pending task (up to the pipeline's deadline, or until cancelled), then saves its result.

        NotFoundError for a task the journal does not hold, BusyError while it is being collected. Stopped by
        ``cancel``: ``{"ok": False, "stopped": True, "task": row}`` (the task stays recorded, collectable).
        """
        if not jr.valid_task_id(task_id):
            raise NotFoundError(f"no task {task_id[:80]!r} in the journal", credits_may_be_spent=False)
        if task_id in self._busy:
            raise BusyError("this task is already being collected", task_id=task_id)
        self._busy[task_id] = cancel = Cancel()
        try:
            if await runtime.lanes.run(runtime.journal.by_task_id, task_id) is None:
                raise NotFoundError(f"no task {task_id[:80]!r} in the journal", credits_may_be_spent=False)
            try:
                await runtime.pipeline(cancel).collect(task_id)
            except RunCancelledError:
                if not cancel.requested:
                    raise
                stopped = True
            else:
                stopped = False
            row = await runtime.lanes.run(lambda: task_row(runtime.journal, runtime.journal.by_task_id(task_id)))
            return {"ok": False, "stopped": True, "task": row} if stopped else {"ok": True, "task": row}
        except asyncio.CancelledError:  # the request went away: the work on the workers stops too
            cancel.set()
            raise
        finally:
            del self._busy[task_id]

    def cancel(self, task_id: str) -> bool:
        """Stop the collect of ``task_id``; False when none runs."""
        found = self._busy.get(task_id)
        if found is not None:
            found.set()
        return found is not None
