"""Video to Frames: any VIDEO into IMAGE, AUDIO and fps (and, as core Get Video Components gives
them since 0.33, bit depth and colour space), holding the frames only once.

Core Get Video Components stacks a list of per-frame tensors, which peaks at ~3x the IMAGE
(17 GB for a 10 s 1080p clip); the pack's decoder fills one preallocated tensor (1.0x).
Decoding lives in its own node so the generating nodes never decode a result nobody uses,
and ComfyUI's cache re-uses the outputs while the VIDEO upstream is unchanged.
The two newer outputs come after the first three, so saved workflows keep their links.
"""

from __future__ import annotations

from ..apikley_wan import media
from ..apikley_wan.media.sources import FileInput, resolve_source, stream_of
from . import service
from .inputs import CATEGORY

# core's colour-space names (what Save Video's color_space takes), by the file's HDR transfer
COLOR_SPACES = {"HLG": "HDR", "PQ": "HDR PQ"}
SDR = "sRGB"


class ApikleyVideoFrames:
    DESCRIPTION = ("Splits a video into its frames, sound and frame rate (plus its bit depth and colour space), "
                   "like Get Video Components but with about a third of the peak memory (the frames are held "
                   "once, not three times). Takes any VIDEO: the Wan result, Load Video, or a "
                   "trimmed/edited/created one. A silent video gives silent AUDIO of its length.")
    CATEGORY = CATEGORY
    SEARCH_ALIASES = ["get video components", "video to images", "split video"]
    RETURN_TYPES = ("IMAGE", "AUDIO", "FLOAT", "INT", "COMBO")
    RETURN_NAMES = ("images", "audio", "fps", "bit_depth", "color_space")
    OUTPUT_TOOLTIPS = ("Every frame, as an IMAGE batch (a 10 s 1080p clip is ~6 GB).",
                       "The sound (silence of the video's length when it has none).",
                       "The frame rate of the frames.",
                       "The video's bit depth (8, 10, ...), as Get Video Components gives it.",
                       "sRGB, HDR (HLG) or HDR PQ: how the video's file is coded, as Get Video Components gives "
                       "it (e.g. for Save Video's color space); the frames are not converted.")
    FUNCTION = "decode"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"video": ("VIDEO", {"tooltip": "The video to split into frames, sound and fps."})}}

    async def decode(self, video):
        """PyAV's decode on the pack's file workers: ComfyUI's prompt loop keeps serving other runs' waits."""
        return await service.state().lanes.run(lambda: video_frames(video) + picture_of(video))


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


def picture_of(video) -> tuple:
    """``(bit_depth, color_space)`` in core's terms: from the VIDEO's file (a trimmed one's file is coded
    the same), else what the VIDEO says of itself (core 0.33), else 8-bit sRGB (frames)."""
    stream = stream_of(video)
    if stream is not None:
        depth, tags = media.picture(stream)
        return depth, COLOR_SPACES.get(tags.hdr, SDR)
    own_depth, own_space = getattr(video, "get_bit_depth", None), getattr(video, "get_color_space", None)
    return (int(own_depth()) if callable(own_depth) else 8), (own_space() if callable(own_space) else SDR)
