"""decode_video on real files: shapes, values, fps, audio, stride/max_frames, unknown frame counts."""

from __future__ import annotations

import io

import av
import pytest
import torch

from apikley_wan.errors import InputError, TooLargeError
from apikley_wan.media import decode_video
from apikley_wan.media.clips import frames_rgb, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """2 s, 96x64, 24 fps, stereo 48 kHz."""
    return write_clip(tmp_path_factory.mktemp("decode") / "clip.mp4", seconds=2, width=96, height=64)


def test_frames_audio_and_fps(clip):
    decoded = decode_video(clip)
    images = decoded.images
    assert images.dtype == torch.float32 and images.shape == (48, 64, 96, 3) and images.is_contiguous()
    assert decoded.frame_count == 48 and decoded.fps == 24.0
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0
    original = torch.from_numpy(next(frames_rgb(1, 96, 64))).float() / 255
    assert float((images[0] - original).abs().mean()) < 0.03
    waveform = decoded.audio["waveform"]
    assert waveform.dtype == torch.float32 and waveform.shape[:2] == (1, 2)
    assert decoded.audio["sample_rate"] == 48000
    assert abs(waveform.shape[2] - 2 * 48000) <= 48000 / 24
    rms = float(waveform[..., 4800:-4800].pow(2).mean().sqrt())
    assert 0.19 < rms < 0.23  # the 0.3-amplitude sine (RMS 0.212), not silence


def test_values_equal_comfyui_conversion(clip):
    """Same numbers as ComfyUI's ``torch.from_numpy(frame.to_ndarray(format='rgb24')) / 255.0``."""
    with av.open(clip) as container:
        expected = [torch.from_numpy(f.to_ndarray(format="rgb24")) / 255.0 for f in container.decode(video=0)]
    assert torch.equal(decode_video(clip, want_audio=False).images, torch.stack(expected))


def test_stride_and_max_frames_cut_audio_to_match(clip):
    strided = decode_video(clip, stride=2)
    assert strided.images.shape[0] == 24 and strided.fps == 12.0
    full = decode_video(clip, want_audio=False).images
    assert torch.equal(strided.images, full[::2])
    cut = decode_video(clip, max_frames=12)
    assert cut.frame_count == 12 and cut.images.shape[0] == 12
    assert abs(cut.audio["waveform"].shape[2] - 0.5 * 48000) <= 48000 / 24


def test_only_what_is_wanted(clip):
    sound_only = decode_video(clip, want_images=False)
    assert sound_only.images is None and sound_only.frame_count == 48 and sound_only.audio is not None
    assert decode_video(clip, want_audio=False).audio is None


def test_clip_without_sound(tmp_path):
    silent = write_clip(tmp_path / "silent.mp4", seconds=2, width=32, height=32, audio_rate=None)
    assert decode_video(silent).audio is None


def test_unknown_frame_count_grows_the_buffer(tmp_path):
    """A raw H.264 stream states no frame count or duration; the tensor must grow to fit."""
    raw = write_clip(tmp_path / "raw.h264", seconds=2, width=32, height=32, audio_rate=None)
    with av.open(raw) as container:
        assert not container.streams.video[0].frames and not container.duration
    decoded = decode_video(raw)
    assert decoded.frame_count == 48 and decoded.images.shape == (48, 32, 32, 3)


def test_in_memory_file(clip):
    with open(clip, "rb") as fh:
        decoded = decode_video(io.BytesIO(fh.read()))
    assert decoded.images.shape == (48, 64, 96, 3) and decoded.audio is not None


def test_ten_bit_clip_decodes_to_rgb(tmp_path):
    ten_bit = write_clip(tmp_path / "10.mp4", seconds=2, width=64, height=48, pix_fmt="yuv420p10le")
    images = decode_video(ten_bit, want_audio=False).images
    original = torch.from_numpy(next(frames_rgb(1, 64, 48))).float() / 255
    assert images.shape == (48, 48, 64, 3) and float((images[0] - original).abs().mean()) < 0.03


def test_unreadable_file_is_an_input_error(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InputError, match="could not be read"):
        decode_video(junk)


def test_an_image_too_big_for_the_memory_limit_is_refused_before_allocating(clip, monkeypatch):
    monkeypatch.setenv("APIKLEY_MAX_DECODE_GB", "0.0001")

    def no_allocation(*args, **kwargs):
        raise AssertionError("the IMAGE tensor must not be allocated")
    monkeypatch.setattr(torch, "empty", no_allocation)
    with pytest.raises(TooLargeError, match=r"48 frames of 96x64 need 0\.0035 GB of memory as an IMAGE, "
                                            r"more than 0\.0001 GB \(the APIKLEY_MAX_DECODE_GB setting\)") as err:
        decode_video(clip)
    message = str(err.value)
    assert "No credits were spent" not in message and "use the VIDEO output" in message
    assert "no result is lost" in message
    monkeypatch.undo()
    monkeypatch.setenv("APIKLEY_MAX_DECODE_GB", "0.0001")
    assert decode_video(clip, want_images=False).audio is not None  # sound alone is not limited
    assert decode_video(clip, max_frames=1).images.shape == (1, 64, 96, 3)  # a smaller IMAGE fits


def test_a_buffer_that_grows_past_the_limit_is_refused(tmp_path, monkeypatch):
    raw = write_clip(tmp_path / "raw.h264", seconds=2, width=32, height=32, audio_rate=None)
    monkeypatch.setenv("APIKLEY_MAX_DECODE_GB", "0.0002")  # room for 16 of its 48 frames
    with pytest.raises(TooLargeError, match="APIKLEY_MAX_DECODE_GB"):
        decode_video(raw)


def test_without_a_setting_the_limit_is_the_available_memory(monkeypatch):
    from apikley_wan.media import decode

    monkeypatch.delenv("APIKLEY_MAX_DECODE_GB", raising=False)
    available = decode._available_memory()
    if available is None or available * 0.8 >= 119.5e9:
        pytest.skip("this system does not tell its free memory, or has 150 GB free")
    with pytest.raises(TooLargeError, match=r"need 119\.4 GB .*\(80% of the available memory\)"):
        decode._check_fits(300, 4320, 7680)  # 8K, 10 s at 30 fps


@pytest.mark.parametrize("setting", ["lots", "0", "-1", "nan"])
def test_a_wrong_memory_setting_is_named(clip, monkeypatch, setting):
    monkeypatch.setenv("APIKLEY_MAX_DECODE_GB", setting)
    with pytest.raises(InputError, match="APIKLEY_MAX_DECODE_GB is .* not a positive number"):
        decode_video(clip)
