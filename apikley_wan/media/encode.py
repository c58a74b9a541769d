"""Write video frames and optional PCM sound into a file with PyAV.

One writer serves the upload encode and the synthetic test clips (which need
other codecs, pixel formats and bitrates), so both go through the same
timestamp, scaling and audio handling.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Iterable, Optional

import av
import av.video.reformatter

from .audio import Pcm
from .color import ColorTags, set_tags

SCALE_THREADS = 0  # swscale picks the thread count (all cores): RGB -> YUV is a third of an encode
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def aac_bitrate(channels: int) -> int:
    """Bits per second for the AAC track: 64 kb/s per channel, at most 256 kb/s."""
    return min(64_000 * channels, 256_000)


def write_video(path: str | os.PathLike, frames: Iterable[av.VideoFrame], *, width: int, height: int,
                fps: Fraction, codec: str = "libx264", pix_fmt: str = "yuv420p",
                options: Optional[dict] = None, audio: Optional[Pcm] = None,
                audio_codec: str = "aac", rotation: int = 0, color: Optional[ColorTags] = None) -> int:
    """Encode ``frames`` (any size/format; scaled and converted here) and return how many were written.

    ``color`` tags the stream; RGB frames are then converted to YUV with its matrix and range
    (YUV frames keep their values: they already are in the tagged matrix).

    A frame's timestamp is kept (relative to the first frame, on a 1/fps grid)
    when it has one, else frames are numbered in order, so decoded input stays
    in sync with its sound and generated frames play at ``fps``.
    """
    path = os.fspath(path)
    mp4_like = path.lower().endswith((".mp4", ".mov", ".m4v"))
    with av.open(path, mode="w", options={"movflags": "+faststart"} if mp4_like else {}) as output:
        video = output.add_stream(codec, rate=fps, options=dict(options or {}))
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.thread_type = "AUTO"  # frame threads in x264: fastest for a whole-file encode
        if rotation:  # a phone clip's display rotation travels on, so it is not uploaded sideways
            video.set_display_rotation(rotation)
        if color is not None:
            set_tags(video.codec_context, color)
        sound = _add_audio(output, audio, audio_codec) if audio is not None else None
        if sound is not None:  # sound first: the muxer then buffers only the small audio packets
            _encode(output, sound, _audio_frame(audio))
        count = _encode_video(output, video, frames, fps, color)
    return count


def _add_audio(output: av.container.OutputContainer, audio: Pcm, codec: str) -> av.audio.stream.AudioStream:
    rate = audio.rate if audio.rate in AAC_RATES else 48000  # PyAV's encoder resamples to the stream rate
    stream = output.add_stream(codec, rate=rate)
    stream.layout = _layout(audio.channels)
    stream.bit_rate = aac_bitrate(audio.channels)
    return stream


def _layout(channels: int) -> av.AudioLayout:
    return av.AudioLayout("mono" if channels == 1 else "stereo")


def _audio_frame(audio: Pcm) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(audio.samples, format="fltp", layout=_layout(audio.channels))
    frame.sample_rate = audio.rate
    frame.pts = 0
    frame.time_base = Fraction(1, audio.rate)
    return frame


def _encode(output: av.container.OutputContainer, stream, frame) -> None:
    output.mux(stream.encode(frame))
    output.mux(stream.encode(None))


def _encode_video(output: av.container.OutputContainer, stream, frames: Iterable[av.VideoFrame],
                  fps: Fraction, color: Optional[ColorTags]) -> int:
    reformatter = av.video.reformatter.VideoReformatter()  # keeps one scaler context for all frames
    time_base = Fraction(1, 1) / fps
    count, last_pts, start = 0, -1, None
    for frame in frames:
        if frame.time is None:
            pts = last_pts + 1
        else:
            start = frame.time if start is None else start
            pts = max(last_pts + 1, round((frame.time - start) * fps))
        matrix = {"dst_colorspace": color.matrix, "dst_color_range": color.range} \
            if color is not None and frame.format.is_rgb else {}
        frame = reformatter.reformat(frame, width=stream.width, height=stream.height, format=stream.pix_fmt,
                                     interpolation="BICUBIC", threads=SCALE_THREADS, **matrix)
        frame.pts, frame.time_base = pts, time_base
        output.mux(stream.encode(frame))
        count, last_pts = count + 1, pts
    output.mux(stream.encode(None))
    return count
