"""Inputs that are not what they claim: non-video downloads, broken files, bad numbers in IMAGE and AUDIO."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
import torch

from apikley_wan.errors import InputError
from apikley_wan.media import NotAVideo, check_video, fingerprint_source, prepare_clip
from apikley_wan.media.audio import pcm_from_comfy
from apikley_wan.media.clips import image_batch, tone, write_clip, write_sound
from apikley_wan.media.sources import as_rate


@pytest.fixture(scope="module")
def two_seconds(tmp_path_factory):
    """A real 2 s mp4 (index at the front, as uploads and results are written)."""
    return write_clip(tmp_path_factory.mktemp("hostile") / "two.mp4", seconds=2, width=64, height=48)


def top_level_boxes(data: bytes):
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        yield kind, data[offset:offset + size]
        offset += size


def broken(tmp_path, two_seconds, kind: str):
    data = open(two_seconds, "rb").read()
    if kind == "html":
        data = b"<!DOCTYPE html><html><body><h1>403 Forbidden</h1></body></html>\n" * 40
    elif kind == "zeros":
        data = bytes(1_000_000)
    elif kind == "empty":
        data = b""
    elif kind == "first half":
        data = data[:len(data) // 2]
    elif kind == "no moov":
        data = b"".join(box for name, box in top_level_boxes(data) if name != b"moov")
    path = tmp_path / "result.mp4"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind, reason", [
    ("html", "not a media container"),
    ("zeros", "not a media container"),
    ("empty", "not a media container"),
    ("first half", "truncated (23 of 48 frames present)"),
    ("no moov", "not a media container"),
])
def test_what_is_not_a_playable_video_is_named(tmp_path, two_seconds, kind, reason):
    with pytest.raises(NotAVideo) as err:
        check_video(broken(tmp_path, two_seconds, kind))
    assert err.value.reason == reason


def test_a_file_with_only_sound_is_not_a_video(tmp_path):
    path = write_sound(tmp_path / "sound.m4a", 1.0)
    with pytest.raises(NotAVideo, match="no video stream"):
        check_video(path)


def test_real_videos_pass_the_check(two_seconds, reference_clip):
    assert check_video(two_seconds).frame_count == 48
    info = check_video(reference_clip)
    assert (info.width, info.height, info.frame_count, info.duration) == (480, 270, 72, pytest.approx(3.0))


@pytest.mark.parametrize("images", [
    torch.zeros((48, 8, 8, 3), dtype=torch.int64),
    torch.zeros((48, 8, 8, 3), dtype=torch.bool),
    np.zeros((48, 8, 8, 3), np.int64),
    np.zeros((48, 8, 8, 3), bool),
    [np.zeros((8, 8, 3), np.float32)] * 47 + [np.zeros((8, 8, 3), np.int32)],
])
def test_integer_and_boolean_images_are_refused(tmp_path, images):
    with pytest.raises(InputError, match=r"the images are of type (int64|bool|int32), but an IMAGE must hold "
                                         r"float values from 0 to 1"):
        prepare_clip(images, tmp_path, fps=24)


def test_uint8_and_half_precision_images_are_accepted(tmp_path):
    as_bytes = (image_batch(48, 16, 16) * 255).astype(np.uint8)
    assert prepare_clip(as_bytes, tmp_path, fps=24).width == 16
    assert prepare_clip(torch.from_numpy(image_batch(48, 16, 16)).half(), tmp_path, fps=24).width == 16


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("as_tensor", [True, False])
def test_nan_or_infinite_pixels_are_refused(tmp_path, bad, as_tensor):
    frames = image_batch(48, 16, 16)
    frames[5, 3, 4, 1] = bad
    work = tmp_path / "work"
    with pytest.raises(InputError, match="the image at index 5 holds NaN or infinite values"):
        prepare_clip(torch.from_numpy(frames) if as_tensor else frames, work, fps=24)
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("fps, message", [
    (math.inf, "is not a finite number"),
    (-math.inf, "is not a finite number"),
    (math.nan, "is not a finite number"),
    ("fast", "is not a finite number"),
    (0, "must be positive"),
    (1000, "1000 fps is too high; it must be at most 240 fps"),
])
def test_impossible_frame_rates_are_refused(tmp_path, fps, message):
    with pytest.raises(InputError, match=message):
        as_rate(fps)
    with pytest.raises(InputError, match=message):
        prepare_clip(image_batch(48, 16, 16), tmp_path, fps=fps)
    assert as_rate(240) == 240


def comfy_audio(samples, rate=48000):
    return {"waveform": samples, "sample_rate": rate}


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_or_infinite_sound_is_refused(tmp_path, bad):
    samples = torch.from_numpy(tone(2.0).samples)[None].clone()
    samples[0, 1, 1000] = bad
    with pytest.raises(InputError, match="the AUDIO waveform holds NaN or infinite samples"):
        prepare_clip(image_batch(48, 16, 16), tmp_path, fps=24, audio=comfy_audio(samples))
    with pytest.raises(InputError, match="NaN or infinite"):
        pcm_from_comfy(comfy_audio(samples.numpy()))


@pytest.mark.parametrize("rate", [0, -44100, None, 44100.5, "fast", math.nan, math.inf])
def test_impossible_sample_rates_are_refused(tmp_path, rate):
    audio = comfy_audio(torch.from_numpy(tone(2.0).samples)[None], rate)
    with pytest.raises(InputError, match="the AUDIO sample rate is .*; it must be a positive whole number"):
        prepare_clip(image_batch(48, 16, 16), tmp_path, fps=24, audio=audio)
    with pytest.raises(InputError, match="sample rate"):  # refused before hashing, too
        fingerprint_source(image_batch(48, 16, 16), fps=24, audio=audio)


def test_an_audio_without_sample_rate_or_waveform_is_refused(tmp_path):
    samples = torch.from_numpy(tone(2.0).samples)[None]
    with pytest.raises(InputError, match="the AUDIO sample rate is None"):
        prepare_clip(image_batch(48, 16, 16), tmp_path, fps=24, audio={"waveform": samples})
    with pytest.raises(InputError, match="not a ComfyUI AUDIO"):
        prepare_clip(image_batch(48, 16, 16), tmp_path, fps=24, audio={"samples": samples, "sample_rate": 48000})
    with pytest.raises(InputError, match=r"shaped \(1, 1, 2, 96000\)"):
        pcm_from_comfy(comfy_audio(samples[None]))


def test_a_whole_number_sample_rate_given_as_float_is_accepted():
    assert pcm_from_comfy(comfy_audio(tone(0.1).samples, 44100.0)).rate == 44100
