"""Result rendering: a real H.264 (yuv420p) + AAC mp4 visibly derived from the first reference clip.

Real Wan output is a new clip featuring the referenced subject; the simulator cannot do that,
so it loops the reference's frames over the requested duration, swaps their colours and sweeps
a bright bar across them. A person can tell the clip was "generated" from their input, and code
can check size, duration, frame rate and audio exactly as it would on a real result.
"""

from __future__ import annotations

import bisect
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np
from av.video.reformatter import VideoReformatter

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
WORK_SIZE = (640, 360)  # frames are kept and edited small, then upscaled once while encoding
# One reformatter per conversion keeps its scaler context; a fresh one per frame costs ~2 ms.
AUDIO_RATE = 48000
AUDIO_CHUNK = 1024  # AAC frame size
BAR_WIDTH = 8


class RenderError(Exception):
    """The reference could not be read; the message ends up in the task's failMsg."""


def output_size(resolution: str, portrait: bool) -> tuple[int, int]:
    width, height = SIZES[resolution]
    return (height, width) if portrait else (width, height)


def render(reference: Path, out: Path, *, resolution: str, seconds: int, fps: int,
           cancelled: Callable[[], bool] = lambda: False) -> None:
    """Write the result to ``out``; it appears only when complete (written aside, then renamed)."""
    try:
        with av.open(str(reference)) as src:
            frames, times, audio, portrait = _read_reference(src, seconds, fps)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise RenderError(f"could not decode video_urls[0]: {exc}") from exc
    if not frames:
        raise RenderError("could not decode video_urls[0]: no video frames")
    part = out.with_name(out.name + ".part")
    _encode(part, frames, times, audio, output_size(resolution, portrait), seconds, fps, cancelled)
    part.replace(out)


def _read_reference(src, seconds: int, fps: int):
    """Small yuv420p frames (at most one per output frame interval) and stereo float audio."""
    if not src.streams.video:
        raise ValueError("no video stream")
    video = src.streams.video[0]
    video.thread_type = "AUTO"
    portrait = video.height > video.width
    size = WORK_SIZE[::-1] if portrait else WORK_SIZE
    audio_stream = src.streams.audio[0] if src.streams.audio else None
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
    frames, times, chunks = [], [], []
    scalers = (VideoReformatter(), VideoReformatter())
    wanted_samples = seconds * AUDIO_RATE
    have_samples = 0
    video_done = False
    streams = [video] + ([audio_stream] if audio_stream else [])
    for packet in src.demux(*streams):
        for frame in packet.decode():
            if isinstance(frame, av.VideoFrame) and not video_done:
                t = float(frame.time or 0.0)
                if times and t - times[0] >= seconds:
                    video_done = True
                elif not times or t - times[-1] >= 1 / fps - 1e-6:
                    frames.append(_cover(frame, *size, scalers))
                    times.append(t)
            elif isinstance(frame, av.AudioFrame) and have_samples < wanted_samples:
                for piece in resampler.resample(frame):
                    chunks.append(piece.to_ndarray())
                    have_samples += piece.samples
        if video_done and (audio_stream is None or have_samples >= wanted_samples):
            break
    start = times[0] if times else 0.0
    audio = np.concatenate(chunks, axis=1) if chunks else None
    return frames, [t - start for t in times], audio, portrait


def _cover(frame: av.VideoFrame, width: int, height: int, scalers) -> np.ndarray:
    """Scale to cover width x height, centre-crop, and return the yuv420p planes as one array."""
    to_rgb, to_yuv = scalers
    scale = max(width / frame.width, height / frame.height)
    rgb = to_rgb.reformat(frame, width=max(width, 2 * round(frame.width * scale / 2)),
                          height=max(height, 2 * round(frame.height * scale / 2)), format="rgb24").to_ndarray()
    top, left = (rgb.shape[0] - height) // 2, (rgb.shape[1] - width) // 2
    rgb = np.ascontiguousarray(rgb[top:top + height, left:left + width])
    return to_yuv.reformat(av.VideoFrame.from_ndarray(rgb, format="rgb24"), format="yuv420p").to_ndarray()


def _stylise(planes: np.ndarray, index: int, total: int) -> np.ndarray:
    """Swap the chroma planes (a strong colour shift) and draw the sweeping bar on luma."""
    height = planes.shape[0] * 2 // 3
    quarter = height // 4
    out = planes.copy()
    out[height:height + quarter] = planes[height + quarter:]
    out[height + quarter:] = planes[height:height + quarter]
    x = index * (planes.shape[1] - BAR_WIDTH) // max(total - 1, 1)
    out[:height, x:x + BAR_WIDTH] = 235
    return out


def _soundtrack(audio: np.ndarray | None, seconds: int) -> np.ndarray:
    """The reference's audio looped to the duration, or a quiet 440 Hz tone if it has none."""
    total = seconds * AUDIO_RATE
    if audio is None or audio.shape[1] == 0:
        tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(total) / AUDIO_RATE)).astype(np.float32)
        return np.vstack([tone, tone])
    reps = -(-total // audio.shape[1])
    return np.ascontiguousarray(np.tile(audio, (1, reps))[:, :total])


def _encode(path: Path, frames, times, audio, size, seconds, fps, cancelled) -> None:
    width, height = size
    total = seconds * fps
    span = times[-1] + 1 / fps
    sound = _soundtrack(audio, seconds)
    with av.open(str(path), "w", format="mp4") as out:
        vstream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "26"})
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        astream = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        upscale = VideoReformatter()
        sent = 0
        for i in range(total):
            if cancelled():
                raise RenderError("cancelled")
            planes = frames[bisect.bisect_right(times, (i / fps) % span) - 1]
            frame = av.VideoFrame.from_ndarray(_stylise(planes, i, total), format="yuv420p")
            frame = upscale.reformat(frame, width=width, height=height)
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(vstream.encode(frame))
            until = min((i + 1) * AUDIO_RATE // fps, sound.shape[1])
            while sent + AUDIO_CHUNK <= until or (i == total - 1 and sent < until):
                chunk = np.ascontiguousarray(sound[:, sent:sent + AUDIO_CHUNK])
                aframe = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                aframe.sample_rate, aframe.pts = AUDIO_RATE, sent
                out.mux(astream.encode(aframe))
                sent += chunk.shape[1]
        out.mux(vstream.encode(None))
        out.mux(astream.encode(None))
