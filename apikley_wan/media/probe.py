"""Read a clip's container facts (codecs, pixel format, size, fps, duration) without decoding.

Deciding between pass-through and re-encode, and checking the duration before
any upload, must be cheap: only headers are read (packets are counted only for
a raw stream that states no duration).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Optional, Union

import av

from ..errors import InputError

Readable = Union[str, "os.PathLike[str]", io.BytesIO]


@dataclass(frozen=True)
class ClipInfo:
    container: str
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    duration: float
    frame_count: int
    has_audio: bool
    audio_codec: Optional[str]
    size: int


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
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        rate = video.average_rate or video.guessed_rate or 0
        frame_count = video.frames
        if video.duration and video.time_base:
            duration = float(video.duration * video.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:  # a raw stream: count packets (no decoding) to learn how long it is
            frame_count = frame_count or sum(1 for packet in container.demux(video) if packet.size)
            duration = frame_count / float(rate) if rate else 0.0
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
            size=source_size(source),
        )
