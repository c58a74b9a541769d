"""Turn an IMAGE batch, a VIDEO or a file into an mp4 the API accepts, with fps and sound kept.

A compliant file is passed through byte for byte (no generation loss, no time
spent); anything else is encoded once with fast x264 settings, capped by a
bitrate derived from the duration so the upload stays under the size limit.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Callable, Iterator, Optional

import av

from ..errors import InputError
from .audio import Pcm, pcm_from_comfy, read_pcm
from .color import BT709, MATRIX_BT709, ColorTags
from .encode import aac_bitrate, write_video
from .frames import FrameBatch
from .policy import (MAX_REFERENCE_SECONDS, MAX_UPLOAD_BYTES, MIN_REFERENCE_SECONDS, can_pass_through,
                     check_duration, output_size)
from .probe import ClipInfo, open_input, probe
from .sources import FileInput, FramesInput, as_rate, resolve_source
from .tonemap import to_sdr

X264_PRESET = "veryfast"  # several times faster than x264's default "medium"; the extra bits fit the cap
X264_CRF = "20"           # quality target for easy content; hard content is held down by the VBV cap
VBV_SECONDS = 1.0         # VBV buffer, in seconds at maxrate: the most a file can exceed maxrate x duration
CONTAINER_MARGIN = 0.97   # room for the mp4 index and headers
ENCODE_ATTEMPTS = 3
# above this cap, CRF 20 output practically never reaches the size limit, so the first pass skips
# the VBV cap (it costs ~25% encode time); a pass that still misses is redone with the cap
UNCAPPED_FIRST_PASS_BPS = 8_000_000


@dataclass(frozen=True)
class PreparedClip:
    path: str
    passed_through: bool
    duration: float
    width: int
    height: int
    fps: float
    has_audio: bool
    size_bytes: int
    # what the upload changed in the picture: the source's HDR transfer ("HLG", "PQ") when it was
    # tone-mapped to SDR BT.709, and the source's bit depth (above 8 when it was reduced to 8 bits)
    hdr_source: Optional[str] = None
    source_bit_depth: int = 8

    @property
    def note(self) -> Optional[str]:
        """What the user is told about the conversion, or None when the picture was sent as it was."""
        if self.hdr_source:
            return f"HDR reference converted to SDR for upload ({self.hdr_source} to BT.709)"
        if self.source_bit_depth > 8:
            return f"{self.source_bit_depth}-bit reference converted to 8-bit for upload"
        return None


@dataclass(frozen=True)
class _Job:
    """Everything one encode attempt needs; ``frames`` starts a fresh pass each time."""
    frames: Callable[[], Iterator[av.VideoFrame]]
    width: int
    height: int
    fps: Fraction
    duration: float
    audio: Optional[Pcm]
    rotation: int = 0
    color: Optional[ColorTags] = None  # the upload's colour tags; None for frames (untagged, as before)
    hdr_source: Optional[str] = None
    source_bit_depth: int = 8


def prepare_clip(source: Any, work_dir: str | os.PathLike, *, fps: Any = None, audio: Optional[dict] = None,
                 max_bytes: int = MAX_UPLOAD_BYTES, min_duration: float = MIN_REFERENCE_SECONDS,
                 max_duration: float = MAX_REFERENCE_SECONDS,
                 check_cancel: Optional[Callable[[], None]] = None) -> PreparedClip:
    """An upload-ready mp4 (H.264 yuv420p, even size, at most 1080p, AAC, ≤ ``max_bytes``).

    ``source`` is a file path, a BytesIO, a ComfyUI VIDEO, or IMAGE frames
    (then ``fps`` is required and ``audio`` is an optional ComfyUI AUDIO).
    Duration limits are checked before anything is encoded. A compliant file
    path is returned as it is; anything else is written into ``work_dir``.
    ``check_cancel`` is called before every frame is encoded; whatever it raises stops the encode.
    An HDR file (HLG or PQ) is tone-mapped to SDR BT.709; a 10-bit one becomes 8-bit with its
    colour tags kept; ``PreparedClip.note`` says so.
    """
    os.makedirs(work_dir, exist_ok=True)
    src = resolve_source(source, fps=fps, audio=audio)
    if isinstance(src, FileInput):
        info = probe(src.source)
        check_duration(info.duration, info.frame_count, min_seconds=min_duration, max_seconds=max_duration)
        if can_pass_through(info, max_bytes=max_bytes):
            return _pass_through(src.source, info, work_dir)
        job = _file_job(src.source, info)
    else:
        batch = FrameBatch(src.images)
        job = _frames_job(batch, src)
        check_duration(job.duration, len(batch), min_seconds=min_duration, max_seconds=max_duration)
    path = _new_output_path(work_dir)
    try:
        _encode_within(job, path, max_bytes, check_cancel)
        return replace(_prepared(path, probe(path), passed_through=False), hdr_source=job.hdr_source,
                       source_bit_depth=job.source_bit_depth)
    except BaseException:
        os.unlink(path)
        raise


def _frames_job(batch: FrameBatch, src: FramesInput) -> _Job:
    duration = float(len(batch) / src.fps)
    pcm = pcm_from_comfy(src.audio)
    width, height = output_size(batch.width, batch.height)
    hdr = src.color.hdr  # the frames of a trimmed HDR VIDEO hold its HLG / PQ values: tone-mapped like its file

    def frames():
        built = (av.VideoFrame.from_ndarray(rgb, format="rgb24") for rgb in batch.rgb24())
        return to_sdr(built, src.color, width, height) if hdr else built
    return _Job(frames, width, height, src.fps, duration, pcm.trimmed(duration).at_most_stereo() if pcm else None,
                color=BT709 if hdr else None, hdr_source=hdr)


def _file_job(source: str | io.BytesIO, info: ClipInfo) -> _Job:
    pcm = read_pcm(source)
    width, height = output_size(info.width, info.height)
    hdr = info.color.hdr
    frames = (lambda: to_sdr(_decoded_frames(source), info.color, width, height)) if hdr \
        else (lambda: _decoded_frames(source))
    return _Job(frames, width, height, as_rate(info.fps), info.duration,
                pcm.trimmed(info.duration).at_most_stereo() if pcm else None, _display_rotation(source),
                color=BT709 if hdr else _sdr_tags(info), hdr_source=hdr, source_bit_depth=info.bit_depth)


def _sdr_tags(info: ClipInfo) -> ColorTags:
    """An SDR file's own tags; RGB pixels are turned into BT.709 YUV (the usual, limited range)."""
    if info.pix_fmt and av.VideoFormat(info.pix_fmt).is_rgb:
        return replace(info.color, matrix=MATRIX_BT709, range=BT709.range)
    return info.color


def _display_rotation(source: str | io.BytesIO) -> int:
    """The rotation a player applies to this file's frames (phones record landscape + a rotation)."""
    with open_input(source) as container:
        for frame in container.decode(video=0):
            return int(round(getattr(frame, "rotation", 0) or 0))
    return 0


def _decoded_frames(source: str | io.BytesIO) -> Iterator[av.VideoFrame]:
    with open_input(source) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield from container.decode(stream)


def _checked(frames: Iterator[av.VideoFrame], check_cancel: Optional[Callable[[], None]]):
    for frame in frames:
        if check_cancel is not None:
            check_cancel()
        yield frame


def _encode_within(job: _Job, path: str, max_bytes: int, check_cancel: Optional[Callable[[], None]] = None) -> None:
    """Encode; if the file still misses the size limit, encode again at a proportionally lower cap."""
    audio_bits = aac_bitrate(job.audio.channels) * job.duration if job.audio else 0.0
    maxrate = (max_bytes * 8 * CONTAINER_MARGIN - audio_bits) / (job.duration + VBV_SECONDS)
    capped = maxrate < UNCAPPED_FIRST_PASS_BPS
    for _ in range(ENCODE_ATTEMPTS):
        kbps = max(50, int(maxrate / 1000))
        options = {"preset": X264_PRESET, "crf": X264_CRF}
        if capped:
            options.update(maxrate=f"{kbps}k", bufsize=f"{kbps}k")
        count = write_video(path, _checked(job.frames(), check_cancel), width=job.width, height=job.height, fps=job.fps,
                            options=options, audio=job.audio, rotation=job.rotation, color=job.color)
        if count == 0:
            raise InputError("the clip has no frames")
        size = os.path.getsize(path)
        if size <= max_bytes:
            return
        if capped:
            maxrate *= 0.9 * max_bytes / size
        capped = True
    raise InputError(f"the clip could not be encoded under {max_bytes / 1e6:.1f} MB "
                     f"(last attempt: {size / 1e6:.1f} MB)", hint="Use a shorter or smaller clip; nothing was sent to the API.")


def _pass_through(source: str | io.BytesIO, info: ClipInfo, work_dir: str | os.PathLike) -> PreparedClip:
    """The original path, or the in-memory bytes written unchanged to a file."""
    if isinstance(source, io.BytesIO):
        path = _new_output_path(work_dir)
        with open(path, "wb") as fh:
            fh.write(source.getbuffer())
        return _prepared(path, info, passed_through=True)
    return _prepared(source, info, passed_through=True)


def _new_output_path(work_dir: str | os.PathLike) -> str:
    fd, path = tempfile.mkstemp(prefix="prepared-", suffix=".mp4", dir=work_dir)
    os.close(fd)
    return path


def _prepared(path: str, info: ClipInfo, *, passed_through: bool) -> PreparedClip:
    return PreparedClip(path=path, passed_through=passed_through, duration=info.duration, width=info.width,
                        height=info.height, fps=info.fps, has_audio=info.has_audio, size_bytes=info.size)
