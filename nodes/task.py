"""The task nodes: Poll, Fetch and From-id, around the APIKLEY_TASK value."""

from __future__ import annotations

from ..apikley_wan.errors import InputError
from ..apikley_wan.journal import valid_task_id
from ..apikley_wan.report import COLLECTED
from . import results, service
from .inputs import CATEGORY
from .waiting import run_pipeline

TASK_TYPE = "APIKLEY_TASK"


def task_value(entry) -> dict:
    """What travels on an APIKLEY_TASK wire: small, plain, enough to find the journal entry."""
    return {"task_id": entry.task_id, "journal_id": entry.id, "state": entry.state}


def _entry(task: dict):
    store = service.state().journal
    entry = store.by_id(task.get("journal_id")) if task.get("journal_id") else None
    return entry or store.adopt(task["task_id"])


class ApikleyTaskPoll:
    DESCRIPTION = "Waits until the task is finished (or failed) and saves the result file at once."
    CATEGORY = CATEGORY
    RETURN_TYPES = (TASK_TYPE,)
    RETURN_NAMES = ("task",)
    FUNCTION = "poll"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"task": (TASK_TYPE, {"tooltip": "From Submit or Task From Id."})},
                "hidden": {"unique_id": "UNIQUE_ID"}}

    async def poll(self, task, unique_id=None):
        async def work(cancel, board):
            gens = service.state().generations(cancel)
            entry = await gens.wait(_entry(task), board.update)
            results.announce(gens.report(entry, COLLECTED, board.started_at), board)
            return (task_value(entry),)

        return await run_pipeline(work, unique_id)


class ApikleyTaskFetch:
    DESCRIPTION = ("Downloads the task's result once (re-downloading if the archived file is gone, never "
                   "re-creating) and hands on its VIDEO; wire Video to Frames for frames, sound and fps.")
    CATEGORY = CATEGORY
    RETURN_TYPES = results.RESULT_TYPES
    RETURN_NAMES = results.RESULT_NAMES
    OUTPUT_TOOLTIPS = results.RESULT_TOOLTIPS
    FUNCTION = "fetch"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"task": (TASK_TYPE, {"tooltip": "From Poll (or Submit / Task From Id)."})},
                "hidden": {"unique_id": "UNIQUE_ID"}}

    async def fetch(self, task, unique_id=None):
        async def work(cancel, board):
            gens = service.state().generations(cancel)
            entry = await gens.wait(_entry(task), board.update)
            return results.finished(gens.report(entry, COLLECTED, board.started_at), board)

        return await run_pipeline(work, unique_id)


class ApikleyTaskFromId:
    DESCRIPTION = ("Turns a task id (from the apikley log, a status line or a sidecar file) into a task, to "
                   "collect its result without creating anything.")
    CATEGORY = CATEGORY
    RETURN_TYPES = (TASK_TYPE,)
    RETURN_NAMES = ("task",)
    FUNCTION = "from_id"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"task_id": ("STRING", {"default": "", "tooltip": "The apikley task id."})}}

    @classmethod
    def VALIDATE_INPUTS(cls, task_id):
        if task_id is None:  # wired from another node: checked when the node runs
            return True
        if not valid_task_id(task_id.strip()):
            return "Paste one apikley task id (e.g. 32 hex characters)."
        return True

    def from_id(self, task_id):
        message = self.VALIDATE_INPUTS(task_id or "")
        if message is not True:
            raise InputError(message)
        cleaned = task_id.strip()
        entry = service.state().journal.adopt(cleaned)
        return (task_value(entry),)
