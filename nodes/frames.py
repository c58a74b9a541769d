"""Video to Frames: any VIDEO into IMAGE, AUDIO and fps, holding the frames only once.

Core Get Video Components stacks a list of per-frame tensors, which peaks at ~3x the IMAGE
(17 GB for a 10 s 1080p clip); the pack's decoder fills one preallocated tensor (1.0x).
Decoding lives in its own node so the generating nodes never decode a result nobody uses,
and ComfyUI's cache re-uses the outputs while the VIDEO upstream is unchanged.
"""

from __future__ import annotations

from ..apikley_wan import media
from ..apikley_wan.media.sources import FileInput, resolve_source
from .inputs import CATEGORY


class ApikleyVideoFrames:
    DESCRIPTION = ("Splits a video into its frames, sound and frame rate, like Get Video Components but with "
                   "about a third of the peak memory (the frames are held once, not three times). Takes any "
                   "VIDEO: the Wan result, Load Video, or a trimmed/edited/created one. A silent video gives "
                   "silent AUDIO of its length.")
    CATEGORY = CATEGORY
    SEARCH_ALIASES = ["get video components", "video to images", "split video"]
    RETURN_TYPES = ("IMAGE", "AUDIO", "FLOAT")
    RETURN_NAMES = ("images", "audio", "fps")
    OUTPUT_TOOLTIPS = ("Every frame, as an IMAGE batch (a 10 s 1080p clip is ~6 GB).",
                       "The sound (silence of the video's length when it has none).",
                       "The frame rate of the frames.")
    FUNCTION = "decode"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"video": ("VIDEO", {"tooltip": "The video to split into frames, sound and fps."})}}

    def decode(self, video):
        return video_frames(video)


def video_frames(video) -> tuple:
    """``(IMAGE, AUDIO, fps)``: the VIDEO's own file when it shows exactly that file, else its
    components (a trimmed, edited or frame-built VIDEO has no file that matches it)."""
    source = resolve_source(video)
    if isinstance(source, FileInput):
        decoded = media.decode_video(source.source)
        images, audio, fps = decoded.images, decoded.audio, float(decoded.fps)
    else:
        images, audio, fps = source.images, source.audio, float(source.fps)
    if audio is None:
        audio = media.silence(len(images) / fps)
    return images, audio, fps
