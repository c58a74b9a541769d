"""The task nodes: Poll, Fetch, From Id and From File, around the APIKLEY_TASK value."""

from __future__ import annotations

from ..apikley_wan.results import provenance
from ..apikley_wan.errors import InputError
from ..apikley_wan.record.entry import valid_task_id
from ..apikley_wan.money.report import COLLECTED
from . import results, service
from .inputs import CATEGORY
from .waiting import run_pipeline

TASK_TYPE = "APIKLEY_TASK"


def task_value(entry) -> dict:
    """What travels on an APIKLEY_TASK wire: small, plain, enough to find the journal entry."""
    return {"task_id": entry.task_id, "journal_id": entry.id, "state": entry.state}


def _entry(store, task: dict):
    entry = store.by_id(task.get("journal_id")) if task.get("journal_id") else None
    return entry or store.adopt(task["task_id"])


async def _off_loop(fn, *args):
    """A journal or media step on the Runtime's file workers, never on ComfyUI's prompt loop."""
    return await service.state().lanes.run(fn, *args)


async def _fetched(task: dict, unique_id):
    """Wait for the task and hand on its result file (downloaded once, never re-created): Fetch's run."""
    async def work(cancel, board):
        pipeline = service.state().pipeline(cancel)
        entry = await pipeline.wait(await _off_loop(_entry, pipeline.journal, task), board.update)
        return results.finished(pipeline.report(entry, COLLECTED, board.started_at), board)

    return await run_pipeline(work, unique_id)


class ApikleyTaskPoll:
    DESCRIPTION = "Waits until the task is finished (or failed) and saves the result file at once."
    CATEGORY = CATEGORY
    SEARCH_ALIASES = ["apikley poll", "wait for task"]
    RETURN_TYPES = (TASK_TYPE,)
    RETURN_NAMES = ("task",)
    FUNCTION = "poll"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"task": (TASK_TYPE, {"tooltip": "From Submit or Task From Id."})},
                "hidden": {"unique_id": "UNIQUE_ID"}}

    async def poll(self, task, unique_id=None):
        async def work(cancel, board):
            pipeline = service.state().pipeline(cancel)
            entry = await pipeline.wait(await _off_loop(_entry, pipeline.journal, task), board.update)
            results.announce(pipeline.report(entry, COLLECTED, board.started_at), board)
            return (task_value(entry),)

        return await run_pipeline(work, unique_id)


class ApikleyTaskFetch:
    DESCRIPTION = ("Downloads the task's result once (re-downloading if the archived file is gone, never "
                   "re-creating) and hands on its VIDEO; wire Video to Frames for frames, sound and fps.")
    CATEGORY = CATEGORY
    SEARCH_ALIASES = ["apikley fetch", "download result"]
    RETURN_TYPES = results.RESULT_TYPES
    RETURN_NAMES = results.RESULT_NAMES
    OUTPUT_TOOLTIPS = results.RESULT_TOOLTIPS
    FUNCTION = "fetch"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"task": (TASK_TYPE, {"tooltip": "From Poll (or Submit / Task From Id)."})},
                "hidden": {"unique_id": "UNIQUE_ID"}}

    async def fetch(self, task, unique_id=None):
        return await _fetched(task, unique_id)


class ApikleyTaskFromId:
    DESCRIPTION = ("Turns a task id (from the apikley log, a status line or a sidecar file) into a task, to "
                   "collect its result without creating anything.")
    CATEGORY = CATEGORY
    SEARCH_ALIASES = ["apikley task id", "collect task"]
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

    async def from_id(self, task_id):
        message = self.VALIDATE_INPUTS(task_id or "")
        if message is not True:
            raise InputError(message)
        entry = await _off_loop(service.state().journal.adopt, task_id.strip())
        return (task_value(entry),)


class ApikleyTaskFromFile:
    DESCRIPTION = ("Reads which apikley task a result file came from (the pack writes it into the mp4) and "
                   "collects that task's result at no new charge: it never creates a task. Wire Load Video "
                   "with a result file (or a copy of one).")
    CATEGORY = CATEGORY
    SEARCH_ALIASES = ["apikley task from file", "collect result file"]
    RETURN_TYPES = results.RESULT_TYPES
    RETURN_NAMES = results.RESULT_NAMES
    OUTPUT_TOOLTIPS = results.RESULT_TOOLTIPS
    FUNCTION = "from_file"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"video": ("VIDEO", {"tooltip": "A result file the pack saved, e.g. from Load Video."})},
                "hidden": {"unique_id": "UNIQUE_ID"}}

    async def from_file(self, video, unique_id=None):
        found = await _off_loop(provenance.of_video, video)
        entry = await _off_loop(service.state().journal.adopt, found.task_id, found.params)
        return await _fetched(task_value(entry), unique_id)
