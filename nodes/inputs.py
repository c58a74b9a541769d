"""The generating nodes' inputs, and their mapping to a core GenerationRequest."""

from __future__ import annotations

from ..apikley_wan.money import pricing
from ..apikley_wan.settings import settings
from ..apikley_wan.run.request import GenerationRequest, build_request

CATEGORY = "video/Wan 2.6 (apikley)"


def _price_note() -> str:
    costs = [(d, r, pricing.estimate_credits(d, r)) for d in settings.DURATIONS for r in settings.RESOLUTIONS]
    rows = [f"{d} s {r}: ~{c:g} credits (${pricing.credits_to_usd(c):.2f})" for d, r, c in costs]
    return "Estimated cost per run (kie.ai price table; apikley's may differ): " + "; ".join(rows) + "."


COST_NOTE = _price_note()


def generation_inputs() -> dict:
    return {
        "required": {
            "prompt": ("STRING", {"multiline": True, "default": "",
                                  "tooltip": "What the new video shows (2–5000 characters). Refer to the "
                                             "reference clips as character1, character2, character3."}),
            "duration": (list(settings.DURATIONS), {
                "default": settings.DEFAULT_DURATION,
                "tooltip": "Length of the generated video in seconds. " + COST_NOTE}),
            "resolution": (list(settings.RESOLUTIONS), {"default": settings.DEFAULT_RESOLUTION,
                                               "tooltip": "Output resolution. " + COST_NOTE}),
        },
        "optional": {
            "video": ("VIDEO", {"tooltip": "Reference clip (character1), 2–30 s. Converted to an upload-ready "
                                           "mp4 (H.264, ≤1080p, ≤10 MB) when needed."}),
            "images": ("IMAGE", {"tooltip": "Reference frames instead of a VIDEO (character1). Set 'fps' to "
                                           "their real frame rate (wire Get Video Components' fps)."}),
            "fps": ("FLOAT", {"default": 24.0, "min": 1.0, "max": 120.0, "step": 0.001,
                              "tooltip": "Frame rate of 'images'."}),
            "audio": ("AUDIO", {"tooltip": "Sound for 'images' (e.g. from Get Video Components), so the "
                                           "reference keeps its voice."}),
            "video_url": ("STRING", {"default": "", "tooltip": "An already public http(s) clip URL. It is the "
                                                               "last reference: character1 when no clip is "
                                                               "connected, else after video, video_2, video_3."}),
            "video_2": ("VIDEO", {"tooltip": "Second reference clip (character2)."}),
            "video_3": ("VIDEO", {"tooltip": "Third reference clip (character3)."}),
            "multi_shots": ("BOOLEAN", {"default": False,
                                        "tooltip": "Multiple shots with transitions instead of one continuous shot."}),
            "take": ("INT", {"default": 0, "min": 0, "max": 2147483647, "control_after_generate": False,
                             "tooltip": "Identical inputs re-use the paid result. Change this number to "
                                        "deliberately pay for a new generation of the same inputs."}),
        },
        "hidden": {"unique_id": "UNIQUE_ID"},
    }


def to_request(prompt, duration, resolution, video=None, images=None, fps=24.0, audio=None, video_url="",
               video_2=None, video_3=None, multi_shots=False, take=0, api_base=None) -> GenerationRequest:
    """Widget values to a request, through the core's one builder (the command line's and a batch's too).
    References keep fixed places: video (or images) is character1, video_2 character2, video_3
    character3, and video_url comes after them."""
    return build_request(prompt, duration, resolution, video=video, video_2=video_2, video_3=video_3,
                         images=images, fps=fps, audio=audio, video_url=video_url, multi_shots=multi_shots,
                         take=take, api_base=api_base)
