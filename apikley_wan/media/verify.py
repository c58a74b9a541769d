"""Is a downloaded file a playable video? Asked before a result is kept as paid-for output.

A result host can answer with an error page, an empty body or a cut-off file;
keeping one of those would hand the graph a broken VIDEO. One decoded frame is
enough to tell, so checking stays fast even for a long result.
"""

from __future__ import annotations

import os

import av

from .probe import ClipInfo, describe


class NotAVideo(Exception):
    """The file is not a playable video; ``reason`` says why in a few words."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def check_video(path: str | os.PathLike) -> ClipInfo:
    """The file's facts when it holds a decodable video stream with a length; else ``NotAVideo``."""
    path = os.fspath(path)
    with _opened(path) as container:
        if not container.streams.video:
            raise NotAVideo("no video stream")
        try:
            if next(container.decode(video=0), None) is None:
                raise NotAVideo("no decodable frame")
        except av.FFmpegError as exc:
            raise NotAVideo("no decodable frame") from exc
    with _opened(path) as container:  # a fresh pass: the packets are counted from the start
        stream = container.streams.video[0]
        declared = stream.frames
        indexed = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
        try:
            info = describe(container, os.path.getsize(path))
        except av.FFmpegError as exc:
            raise NotAVideo("damaged video packets") from exc
    if _cut_off(info, declared, indexed):
        raise NotAVideo(f"truncated ({info.frame_count} of {declared} frames present)")
    if info.duration <= 0:
        raise NotAVideo("zero duration")
    return info


def _cut_off(info: ClipInfo, declared: int, indexed: float) -> bool:
    """True when the index lists frames, and time, that the file no longer holds: a cut-off download.

    Both must be missing: a file trimmed by an edit list may index more frames than it plays, and an
    AVI header may count one dropped frame that has no packet.
    """
    frame = 1 / info.fps if info.fps else 0.0
    return bool(declared) and info.frame_count < declared - 1 and info.duration < indexed - frame


def _opened(path: str) -> av.container.InputContainer:
    try:  # odd metadata bytes do not make a file less of a video
        return av.open(path, mode="r", metadata_errors="replace")
    except (av.FFmpegError, OSError) as exc:
        raise NotAVideo("not a media container") from exc
