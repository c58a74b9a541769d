"""Synthetic clips: a coloured disc moving over a drifting gradient, with a sine tone.

Tests, the benchmark, the simulator and the shipped sample need real video files
with known content and no external assets; everything here is deterministic.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from typing import Iterator, Optional

import av
import numpy as np

from .audio import Pcm
from .color import ColorTags
from .encode import write_video


def frames_rgb(count: int, width: int, height: int, *, grain: float = 0.0,
               seed: int = 0) -> Iterator[np.ndarray]:
    """``count`` uint8 RGB frames ``[H, W, 3]``; ``grain`` (0..1) adds fresh noise to every frame,
    which makes a clip expensive to compress (for size-limit tests)."""
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    xs = np.linspace(0.0, 1.0, 2 * width, dtype=np.float32)[None, :]
    wave = 0.5 + 0.5 * np.sin(2 * math.pi * xs)  # periodic across the doubled width, so it can scroll
    gradient = np.stack([np.broadcast_to(wave, (height, 2 * width)),
                         np.broadcast_to(ys * 0.8 + 0.1, (height, 2 * width)),
                         1.0 - 0.5 * (wave * ys + ys)], axis=-1)
    gradient = (gradient * 255 + 0.5).astype(np.uint8)
    radius = max(2, min(width, height) // 6)
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disc = xx * xx + yy * yy <= radius * radius
    rng = np.random.default_rng(seed)
    for i in range(count):
        shift = (i * max(1, width // 96)) % width
        frame = np.ascontiguousarray(gradient[:, shift:shift + width])
        phase = 2 * math.pi * i / 48
        cx = int((width - 2 * radius - 1) * (0.5 + 0.5 * math.sin(phase))) + radius
        cy = int((height - 2 * radius - 1) * (0.5 + 0.5 * math.cos(0.7 * phase))) + radius
        patch = frame[cy - radius:cy + radius + 1, cx - radius:cx + radius + 1]
        patch[disc[:patch.shape[0], :patch.shape[1]]] = (
            int(127 + 120 * math.sin(phase)), 60, int(127 + 120 * math.cos(phase)))
        if grain:
            noise = rng.integers(-int(grain * 255), int(grain * 255) + 1, size=frame.shape, dtype=np.int16)
            frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
        yield frame


def image_batch(count: int, width: int, height: int, *, grain: float = 0.0, seed: int = 0) -> np.ndarray:
    """A ComfyUI-layout IMAGE batch as numpy: float32 ``[N, H, W, 3]`` in 0..1."""
    out = np.empty((count, height, width, 3), dtype=np.float32)
    for i, frame in enumerate(frames_rgb(count, width, height, grain=grain, seed=seed)):
        np.multiply(frame, np.float32(1 / 255), out=out[i])
    return out


def tone(seconds: float, *, rate: int = 48000, channels: int = 2, freq: float = 440.0) -> Pcm:
    """A sine tone, one octave higher on each further channel (so channels are distinguishable)."""
    t = np.arange(int(round(seconds * rate)), dtype=np.float32) / rate
    samples = np.stack([0.3 * np.sin(2 * np.pi * freq * (2 ** c) * t) for c in range(channels)])
    return Pcm(samples.astype(np.float32), rate)


def write_clip(path: str | os.PathLike, *, seconds: float = 3.0, width: int = 480, height: int = 270,
               fps: float | Fraction = 24, codec: str = "libx264", pix_fmt: str = "yuv420p",
               options: Optional[dict] = None, audio_rate: Optional[int] = 48000, audio_channels: int = 2,
               grain: float = 0.0, seed: int = 0, color: Optional[ColorTags] = None) -> str:
    """Write a synthetic clip (``audio_rate=None`` for no sound) and return its path.

    ``color`` tags the stream (e.g. as HLG, for timing; the pixels stay the SDR picture).
    ``options`` go to the encoder, e.g. ``{"crf": "28"}`` or ``{"b": "8M"}``;
    libx264 defaults to the ``veryfast`` preset here to keep tests quick.
    """
    rate = Fraction(fps).limit_denominator(1001)
    count = int(round(seconds * rate))
    if codec == "libx264":
        options = {"preset": "veryfast", **(options or {})}
    audio = tone(count / rate, rate=audio_rate, channels=audio_channels) if audio_rate else None
    frames = (av.VideoFrame.from_ndarray(f, format="rgb24")
              for f in frames_rgb(count, width, height, grain=grain, seed=seed))
    write_video(path, frames, width=width, height=height, fps=rate, codec=codec, pix_fmt=pix_fmt,
                options=options, audio=audio, color=color)
    return os.fspath(path)


def write_sound(path: str | os.PathLike, seconds: float = 2.0, *, rate: int = 48000) -> str:
    """A file with an AAC tone and no video stream at all (what a clip must not be)."""
    with av.open(os.fspath(path), "w") as out:
        stream = out.add_stream("aac", rate=rate)
        frame = av.AudioFrame.from_ndarray(tone(seconds, rate=rate).samples, format="fltp", layout="stereo")
        frame.sample_rate = rate
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return os.fspath(path)
