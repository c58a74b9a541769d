"""Read a clip's facts (codecs, pixel format, size, fps, video length) without decoding.

Deciding between pass-through and re-encode, and checking the length before
any upload, must be cheap: headers are read and the video packets are
demuxed, never decoded. The length is the video's own: a container's
duration includes its sound, so one frame over 10 s of audio would pass as 10 s.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Union

import av

from ..errors import InputError
from .color import ColorTags, tags_of

Readable = Union[str, "os.PathLike[str]", io.BytesIO]


@dataclass(frozen=True)
class ClipInfo:
    container: str
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    duration: float  # seconds of video, not of the container
    frame_count: int  # video packets that hold a frame
    has_audio: bool
    audio_codec: Optional[str]
    size: int
    bit_depth: int  # bits of the deepest pixel component (8, 10, 12)
    color: ColorTags


def open_input(source: Readable) -> av.container.InputContainer:
    """Open a path or an in-memory file for reading; unreadable input is an InputError."""
    if isinstance(source, io.BytesIO):
        source.seek(0)
    try:
        return av.open(source if isinstance(source, io.BytesIO) else os.fspath(source), mode="r")
    except (av.FFmpegError, OSError) as exc:
        raise InputError(f"the video could not be read ({exc})") from exc


def source_size(source: Readable) -> int:
    if isinstance(source, io.BytesIO):
        return source.getbuffer().nbytes
    return os.path.getsize(source)


def probe(source: Readable) -> ClipInfo:
    """Facts about the first video stream and the first audio stream, if any."""
    with open_input(source) as container:
        if not container.streams.video:
            raise InputError("the file has no video stream")
        try:
            return describe(container, source_size(source))
        except av.FFmpegError as exc:
            raise InputError(f"the video could not be read ({exc})") from exc


def picture(source: Readable) -> tuple[int, ColorTags]:
    """The first video stream's bit depth and colour tags, from its header alone (nothing is demuxed)."""
    with open_input(source) as container:
        if not container.streams.video:
            raise InputError("the file has no video stream")
        ctx = container.streams.video[0].codec_context
        return bit_depth(ctx.pix_fmt), tags_of(ctx)


def describe(container: av.container.InputContainer, size: int) -> ClipInfo:
    """Facts about an open container whose first video stream exists (reads its packets)."""
    video = container.streams.video[0]
    audio = container.streams.audio[0] if container.streams.audio else None
    rate = video.average_rate or video.guessed_rate or 0
    frame_count, duration = _measure(container, video, rate)
    if video.duration and video.time_base:  # a header can overstate it (an mkv track may state the sound's length)
        duration = min(duration, float(video.duration * video.time_base))
    ctx = video.codec_context
    return ClipInfo(
        container=container.format.name,
        codec=ctx.name,
        pix_fmt=ctx.pix_fmt or "",
        width=ctx.width,
        height=ctx.height,
        fps=float(rate),
        duration=duration,
        frame_count=frame_count,
        has_audio=audio is not None,
        audio_codec=audio.codec_context.name if audio is not None else None,
        size=size,
        bit_depth=bit_depth(ctx.pix_fmt),
        color=tags_of(ctx),
    )


def bit_depth(pix_fmt: Optional[str]) -> int:
    """Bits of a pixel format's deepest component; 8 when the format is unknown."""
    try:
        return max(component.bits for component in av.VideoFormat(pix_fmt).components)
    except (TypeError, ValueError):
        return 8


def _measure(container: av.container.InputContainer, video, rate: Fraction) -> tuple[int, float]:
    """Frames and seconds of the video stream: from the first timestamp to the end of the last frame.

    A raw stream has no timestamps; then the frames' durations (or the rate) are added up.
    """
    time_base = video.time_base
    one_frame = 1 / rate / time_base if rate and time_base else 0
    count, start, end, summed = 0, None, None, 0
    for packet in container.demux(video):
        if not packet.size:
            continue
        count += 1
        length = packet.duration or one_frame
        summed += length
        if packet.pts is not None:
            start = packet.pts if start is None else min(start, packet.pts)
            end = packet.pts + length if end is None else max(end, packet.pts + length)
    if not time_base:
        return count, count / float(rate) if rate else 0.0
    seconds = float((summed if start is None else end - start) * time_base)
    # within a frame of the constant-rate length, the difference is timestamps rounded to the
    # time base (mkv: 1 ms, so 48 frames at 24 fps span 1.999 s), not missing video
    if rate and abs(seconds - count / float(rate)) < 1 / float(rate):
        seconds = count / float(rate)
    return count, seconds
