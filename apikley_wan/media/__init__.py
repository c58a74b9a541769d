"""Media for the remote step: prepare an upload-ready clip, fingerprint inputs, decode results.

Core code: PyAV and numpy only; torch is imported lazily where a tensor is
handed in or out, so the command-line runner works without it.
"""

from .audio import silence
from .decode import DecodedVideo, decode_video
from .fingerprint import fingerprint_source
from .policy import MAX_LONG_SIDE, MAX_SHORT_SIDE, MAX_REFERENCE_SECONDS, MAX_UPLOAD_BYTES, MIN_REFERENCE_SECONDS
from .prepare import PreparedClip, prepare_clip
from .probe import ClipInfo, picture, probe
from .verify import NotAVideo, check_video

__all__ = [
    "ClipInfo", "DecodedVideo", "MAX_LONG_SIDE", "MAX_SHORT_SIDE", "MAX_REFERENCE_SECONDS", "MAX_UPLOAD_BYTES",
    "MIN_REFERENCE_SECONDS", "NotAVideo", "PreparedClip", "check_video", "decode_video", "fingerprint_source",
    "picture", "prepare_clip", "probe", "silence",
]
