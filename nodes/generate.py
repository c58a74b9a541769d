"""The generating nodes: all-in-one (prepare → upload → create → wait → download) and Submit."""

from __future__ import annotations

from . import results, service
from .inputs import CATEGORY, COST_NOTE, generation_inputs, to_request
from .task import TASK_TYPE, task_value
from .waiting import run_blocking


class Wan26VideoToVideo:
    """A declaration and a hand-off: widgets → core request → five outputs."""

    DESCRIPTION = ("Wan 2.6 video-to-video on apikley: the reference clip(s) and prompt become a new video. "
                   "Identical inputs never pay twice (a journal survives restarts). " + COST_NOTE)
    CATEGORY = CATEGORY
    RETURN_TYPES = results.RESULT_TYPES
    RETURN_NAMES = results.RESULT_NAMES
    OUTPUT_TOOLTIPS = ("The generated video (no decoding).", "Its frames, decoded only when connected.",
                       "Its sound, decoded only when connected.", "Its frame rate.", "The apikley task id.")
    FUNCTION = "generate"

    @classmethod
    def INPUT_TYPES(cls):
        return generation_inputs()

    @classmethod
    def IS_CHANGED(cls, unique_id=None, **_):
        return results.wiring_key(unique_id)

    async def generate(self, prompt, duration, resolution, unique_id=None, graph=None, **optional):
        request = to_request(prompt, duration, resolution, **optional)
        linked = results.linked_outputs(graph, unique_id)

        def work(cancel, board):
            gens = service.generations(cancel)
            entry = gens.run(request, board.update)
            return results.finished(entry, linked, board)

        return await run_blocking(work, unique_id)


class Wan26Submit:
    DESCRIPTION = ("Prepare, upload and create a Wan 2.6 video-to-video task; returns at once so several "
                   "tasks can run side by side (wire into Poll, then Fetch). " + COST_NOTE)
    CATEGORY = CATEGORY
    RETURN_TYPES = (TASK_TYPE,)
    RETURN_NAMES = ("task",)
    FUNCTION = "submit"

    @classmethod
    def INPUT_TYPES(cls):
        return generation_inputs()

    async def submit(self, prompt, duration, resolution, unique_id=None, graph=None, **optional):
        request = to_request(prompt, duration, resolution, **optional)

        def work(cancel, board):
            entry = service.generations(cancel).submit(request, board.update)
            board.say(f"Submitted: task {entry.task_id} ({entry.state})")
            return (task_value(entry),)

        return await run_blocking(work, unique_id)
