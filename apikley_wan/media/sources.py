"""Sort whatever the graph holds into one of two shapes: a file to read, or frames to encode.

Preparation and fingerprinting both start here, so they always agree on what
"the input" of a VIDEO object, a file path or an IMAGE batch is.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Optional, Union

from ..errors import InputError
from .audio import comfy_sample_rate
from .color import ColorTags
from .probe import picture

MAX_FPS = 240  # far above any video frame rate; a higher number is a wrong input, not a clip


@dataclass(frozen=True)
class FileInput:
    source: Union[str, io.BytesIO]


@dataclass(frozen=True)
class FramesInput:
    images: Any  # tensor, array or list of frames; checked by FrameBatch
    fps: Fraction
    audio: Optional[dict]
    # the tags of the HDR file whose pixels these frames are, unconverted (a trimmed VIDEO); SDR: none
    color: ColorTags = ColorTags()


def as_rate(fps: Any) -> Fraction:
    """A frame rate as an exact fraction (24, 24.0 and Fraction(24) are equal; 29.97 → 2997/100)."""
    try:
        rate = Fraction(fps).limit_denominator(1001)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: infinity
        raise InputError(f"the frame rate {fps!r} is not a finite number") from exc
    if rate <= 0:
        raise InputError(f"the frame rate must be positive, got {fps!r}")
    if rate > MAX_FPS:
        raise InputError(f"the frame rate {float(rate):g} fps is too high; it must be at most {MAX_FPS} fps")
    return rate


def resolve_source(source: Any, *, fps: Any = None, audio: Optional[dict] = None) -> FileInput | FramesInput:
    """``fps`` and ``audio`` belong to an IMAGE batch; a file or VIDEO brings its own."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise InputError(f"the video file {path!r} does not exist")
        return FileInput(path)
    if isinstance(source, io.BytesIO):
        return FileInput(source)
    if hasattr(source, "get_components"):
        return _from_video_object(source)
    if fps is None:
        raise InputError("a frame rate (fps) is needed to turn images into a clip")
    return _frames_input(source, fps, audio)


def _frames_input(images: Any, fps: Any, audio: Optional[dict]) -> FramesInput:
    if audio is not None:  # a malformed AUDIO is refused before it is hashed or encoded
        comfy_sample_rate(audio)
    return FramesInput(images, as_rate(fps), audio)


def _from_video_object(video: Any) -> FileInput | FramesInput:
    """A ComfyUI VIDEO: its file when it has one and it holds exactly what the VIDEO shows,
    else its decoded components (a trimmed or cropped VIDEO of newer ComfyUI still points at
    the whole, unedited file)."""
    stream, edited = stream_of(video), _is_edited(video)
    if stream is not None and not edited:
        return resolve_source(stream)
    components = video.get_components()
    frames = _frames_input(components.images, components.frame_rate, components.audio)
    tags = picture(stream)[1] if stream is not None else ColorTags()  # ComfyUI does not tone-map components
    return replace(frames, color=tags) if tags.hdr else frames


def stream_of(video: Any) -> Union[str, os.PathLike, io.BytesIO, None]:
    """The file (or in-memory file) a VIDEO was loaded from; None for one built from frames."""
    if not _has_own_stream_source(video):
        return None
    stream = video.get_stream_source()
    return stream if isinstance(stream, (str, os.PathLike, io.BytesIO)) else None


def _is_edited(video: Any) -> bool:
    """True when the VIDEO shows less or other than its stream source (2026: trim, crop)."""
    pending = getattr(video, "has_pending_frame_edits", None)
    if callable(pending) and pending():
        return True
    window = getattr(video, "get_active_trim_window", None)
    if callable(window):
        start, duration = window()
        return bool(start or duration)
    return False


def _has_own_stream_source(video: Any) -> bool:
    """False when ``get_stream_source`` is the abstract base's fallback, which would encode the
    whole video (ComfyUI's VideoFromComponents) — reading the components is cheaper then."""
    for klass in type(video).__mro__:
        if "get_stream_source" in vars(klass):
            return not getattr(getattr(klass, "get_components", None), "__isabstractmethod__", False)
    return False
