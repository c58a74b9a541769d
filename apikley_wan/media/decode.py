"""Decode a result clip into ComfyUI's IMAGE and AUDIO without holding the frames twice.

Frames go straight into one preallocated float32 tensor (sized from the
stream's frame count), converted in place frame by frame; ComfyUI's own path
builds a list of per-frame tensors and stacks them, which peaks at ~3x the output.
The uint8 -> float conversion is one single-threaded numpy pass per frame: it
gives the same values as ``tensor / 255`` and leaves the other cores to the
decoder threads instead of making torch's thread pool compete with them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from av.video.reformatter import VideoReformatter

from ..errors import InputError, TooLargeError
from .audio import pcm_to_comfy, read_pcm
from .encode import SCALE_THREADS
from .probe import Readable, open_input

GROWTH = 1.25  # when the frame-count estimate is short, grow by a quarter at a time
MEMORY_SHARE = 0.8  # without APIKLEY_MAX_DECODE_GB, the IMAGE may take this share of the free memory
_255 = np.float32(255)


@dataclass
class DecodedVideo:
    images: Any          # torch.FloatTensor [N, H, W, 3] in 0..1, or None
    fps: float           # rate of the returned frames (source fps / stride)
    audio: Optional[dict]  # ComfyUI AUDIO {"waveform": [1, C, T] float32, "sample_rate": int}, or None
    frame_count: int


def decode_video(source: Readable, *, want_images: bool = True, want_audio: bool = True,
                 max_frames: Optional[int] = None, stride: int = 1) -> DecodedVideo:
    """Frames (every ``stride``-th, at most ``max_frames``) and sound of a clip.

    When ``max_frames`` cuts the clip short, the sound is cut at the same time.
    Without ``want_images`` nothing is decoded and ``frame_count`` is the
    container's count (or its estimate).
    """
    if stride < 1 or (max_frames is not None and max_frames < 1):
        raise ValueError("stride and max_frames must be at least 1")
    with open_input(source) as container:
        if not container.streams.video:
            raise InputError("the file has no video stream")
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        if not rate:
            raise InputError("the video's frame rate could not be read")
        estimate = _estimated_frames(stream, container, rate)
        wanted = math.ceil(estimate / stride)
        if max_frames is not None:
            wanted = min(wanted, max_frames)
        images, count = (_decode_frames(container, stream, wanted, stride, max_frames) if want_images
                         else (None, wanted))
    seconds = None
    if max_frames is not None and count >= max_frames:
        seconds = count * stride / rate
    pcm = read_pcm(source, max_seconds=seconds) if want_audio else None
    return DecodedVideo(images=images, fps=rate / stride, audio=pcm_to_comfy(pcm) if pcm else None,
                        frame_count=count)


def _estimated_frames(stream, container, rate: float) -> int:
    if stream.frames:
        return stream.frames
    if stream.duration and stream.time_base:
        return math.ceil(float(stream.duration * stream.time_base) * rate)
    if container.duration:
        return math.ceil(container.duration / 1_000_000 * rate)
    return 1


def _decode_frames(container, stream, wanted: int, stride: int, max_frames: Optional[int]):
    import torch

    stream.thread_type = "AUTO"
    height, width = stream.codec_context.height, stream.codec_context.width
    _check_fits(max(wanted, 1), height, width)
    out = torch.empty((max(wanted, 1), height, width, 3), dtype=torch.float32)
    pixels = out.numpy()  # same memory
    reformatter = VideoReformatter()  # one scaler context for all frames, on all cores
    count = 0
    for index, frame in enumerate(container.decode(stream)):
        if index % stride:
            continue
        if count == out.shape[0]:
            out = _grown(out, count)
            pixels = out.numpy()
        rgb = reformatter.reformat(frame, width=width, height=height, format="rgb24",
                                   threads=SCALE_THREADS).to_ndarray()
        np.divide(rgb, _255, out=pixels[count], dtype=np.float32)
        count += 1
        if count == max_frames:
            break
    if count == 0:
        raise InputError("the video has no frames")
    return (out if count == out.shape[0] else out[:count]), count


def _grown(out, filled: int):
    import torch

    frames, height, width = math.ceil(out.shape[0] * GROWTH) + 1, out.shape[1], out.shape[2]
    _check_fits(frames, height, width)
    bigger = torch.empty((frames, *out.shape[1:]), dtype=out.dtype)
    bigger[:filled].copy_(out[:filled])
    return bigger


def _check_fits(frames: int, height: int, width: int) -> None:
    """Refuse an IMAGE that would not fit in memory, before allocating it: an 8K result of 10 s
    needs ~100 GB as float32, and the system would swap or kill ComfyUI instead of saying so."""
    needed = frames * height * width * 3 * 4
    limit, source = _decode_limit()
    if limit is not None and needed > limit:
        raise TooLargeError(f"{frames} frames of {width}x{height} need {_gb(needed)} GB of memory as an IMAGE, "
                            f"more than {_gb(limit)} GB ({source})",
                            hint="The video file itself is kept: use the VIDEO output, and scale or trim it "
                                 "before decoding, or raise APIKLEY_MAX_DECODE_GB.")


def _gb(size: float) -> str:
    return f"{size / 1e9:,.1f}" if size >= 1e8 else f"{size / 1e9:.2g}"


def _decode_limit() -> tuple[Optional[float], str]:
    """Bytes an IMAGE may take, and where that number comes from; ``None`` when unknown."""
    setting = os.environ.get("APIKLEY_MAX_DECODE_GB", "").strip()
    if setting:
        try:
            gigabytes = float(setting)
        except ValueError:
            gigabytes = math.nan
        if not gigabytes > 0:  # NaN too
            raise InputError(f"APIKLEY_MAX_DECODE_GB is {setting!r}, which is not a positive number of gigabytes",
                             hint="Set it to a number such as 16, or remove it to allow "
                                  f"{MEMORY_SHARE:.0%} of the available memory.")
        return gigabytes * 1e9, "the APIKLEY_MAX_DECODE_GB setting"
    available = _available_memory()
    if available is None:
        return None, ""
    return available * MEMORY_SHARE, f"{MEMORY_SHARE:.0%} of the available memory"


def _available_memory() -> Optional[int]:
    """Free memory in bytes (Linux: MemAvailable, which counts reclaimable cache), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
