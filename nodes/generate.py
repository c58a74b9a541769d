"""The generating nodes: all-in-one (prepare → upload → create → wait → download) and Submit."""

from __future__ import annotations

from ..apikley_wan.run.pipeline import Pipeline
from . import results, service
from .inputs import CATEGORY, COST_NOTE, generation_inputs, to_request
from .task import TASK_TYPE, task_value
from .waiting import run_pipeline


class Wan26VideoToVideo:
    """A declaration and a hand-off: widgets → core request → the result VIDEO and its task id.

    An output node: the result is archived under output/apikley_wan/ and previewed on the node,
    so Load Video → this node alone is a complete graph.
    """

    DESCRIPTION = ("Wan 2.6 video-to-video on apikley: the reference clip(s) and prompt become a new video, "
                   "saved under output/apikley_wan/ and played on the node. Identical inputs never pay twice "
                   "(a journal survives restarts). For frames, sound and fps wire Video to Frames. " + COST_NOTE)
    CATEGORY = CATEGORY
    # more words the node search box matches (ComfyUI after 0.3.64 sends them; 0.3.64 ignores them)
    SEARCH_ALIASES = ["wan", "wan 2.6", "wan2.6", "video to video", "video2video", "v2v", "apikley",
                      "restyle video", "video edit"]
    RETURN_TYPES = results.RESULT_TYPES
    RETURN_NAMES = results.RESULT_NAMES
    OUTPUT_TOOLTIPS = results.RESULT_TOOLTIPS
    OUTPUT_NODE = True
    FUNCTION = "generate"

    @classmethod
    def INPUT_TYPES(cls):
        return generation_inputs()

    async def generate(self, prompt, duration, resolution, unique_id=None, **optional):
        request = to_request(prompt, duration, resolution, **optional, api_base=service.state().config.base_url)

        async def work(cancel, board):
            pipeline: Pipeline = service.state().pipeline(cancel)
            report = await pipeline.generate_video(request, board.update)
            return results.finished(report, board)

        return await run_pipeline(work, unique_id)


class Wan26Submit:
    DESCRIPTION = ("Prepare, upload and create a Wan 2.6 video-to-video task; returns at once so several "
                   "tasks can run side by side (wire into Poll, then Fetch). " + COST_NOTE)
    CATEGORY = CATEGORY
    SEARCH_ALIASES = ["wan 2.6 submit", "apikley submit", "fan out"]
    RETURN_TYPES = (TASK_TYPE,)
    RETURN_NAMES = ("task",)
    FUNCTION = "submit"

    @classmethod
    def INPUT_TYPES(cls):
        return generation_inputs()

    async def submit(self, prompt, duration, resolution, unique_id=None, **optional):
        request = to_request(prompt, duration, resolution, **optional, api_base=service.state().config.base_url)

        async def work(cancel, board):
            pipeline = service.state().pipeline(cancel)
            submitted = await pipeline.submit(request, board.update)
            results.announce(pipeline.report(submitted.entry, submitted.outcome, board.started_at, submitted.notes), board)
            return (task_value(submitted.entry),)

        return await run_pipeline(work, unique_id)
