"""What the API accepts, in one place: the limits, the duration check, the output
size, and whether a probed file may be uploaded untouched.

Keeping these rules together means preparation, validation and the simulator
can never disagree about what a compliant reference clip is.
"""

from __future__ import annotations

from ..errors import InputError
from .probe import ClipInfo

MAX_UPLOAD_BYTES = 10_000_000  # the API says "10MB": decimal, to be safe
# "at most 1080p": 1920 on the long side and 1080 on the short side (portrait or landscape)
MAX_LONG_SIDE = 1920
MAX_SHORT_SIDE = 1080
MIN_REFERENCE_SECONDS = 2.0
MAX_REFERENCE_SECONDS = 30.0


def check_duration(seconds: float, frames: int, *, min_seconds: float = MIN_REFERENCE_SECONDS,
                   max_seconds: float = MAX_REFERENCE_SECONDS) -> None:
    """Refuse a clip outside the API's range (in seconds of video, at least 2 frames) before
    anything is encoded or sent: a shorter reference would still be paid for."""
    if frames < 2 or not min_seconds <= seconds <= max_seconds:
        only = "only " if seconds < min_seconds or frames < 2 else ""
        plural = "" if frames == 1 else "s"
        raise InputError(f"the reference clip has {only}{seconds:.2f} s of video ({frames} frame{plural}); "
                         f"it must be between {min_seconds:g} and {max_seconds:g} s long"
                         + (", with at least 2 frames" if frames < 2 else ""),
                         hint="Trim or extend the clip, then run again; nothing was sent to the API.")


def output_size(width: int, height: int) -> tuple[int, int]:
    """Even dimensions, at most 1080p (1920 long side, 1080 short side), aspect ratio kept."""
    scale = min(1.0, MAX_LONG_SIDE / max(width, height), MAX_SHORT_SIDE / min(width, height))
    return (max(2, int(width * scale / 2 + 0.5) * 2), max(2, int(height * scale / 2 + 0.5) * 2))


def can_pass_through(info: ClipInfo, *, max_bytes: int = MAX_UPLOAD_BYTES) -> bool:
    """True when the file already is what we would produce, so its bytes can be sent as they are
    (8-bit SDR: an HDR transfer is tone-mapped even in an 8-bit file)."""
    return ("mp4" in info.container.split(",")
            and info.codec == "h264"
            and info.pix_fmt == "yuv420p"
            and info.color.hdr is None
            and (info.width, info.height) == output_size(info.width, info.height)
            and info.audio_codec in (None, "aac")
            and info.size <= max_bytes)
