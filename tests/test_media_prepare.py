"""prepare_clip on real files: what is passed through, what is converted, what is refused."""

from __future__ import annotations

import abc
import hashlib
import io
import os
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
import torch

from apikley_wan.errors import InputError
from apikley_wan.media import MAX_UPLOAD_BYTES, decode_video, prepare_clip, probe
from apikley_wan.media.clips import frames_rgb, image_batch, tone, write_clip, write_sound
from apikley_wan.media.encode import write_video


class FileVideo:
    """Duck-typed like ComfyUI's VideoFromFile: a file path or an in-memory file behind it."""

    def __init__(self, source):
        self.source = source

    def get_stream_source(self):
        if isinstance(self.source, io.BytesIO):
            self.source.seek(0)
        return self.source

    def save_to(self, path, format="auto", codec="auto", metadata=None):
        data = self.source.getvalue() if isinstance(self.source, io.BytesIO) else Path(self.source).read_bytes()
        Path(path).write_bytes(data)

    def get_components(self):
        raise AssertionError("a file-backed VIDEO must not be decoded to components")


class VideoBase(abc.ABC):
    """Like ComfyUI's VideoInput: the default get_stream_source encodes the whole video."""

    @abc.abstractmethod
    def get_components(self): ...

    @abc.abstractmethod
    def save_to(self, path, format="auto", codec="auto", metadata=None): ...

    def get_stream_source(self):
        buffer = io.BytesIO()
        self.save_to(buffer)
        return buffer


class ComponentsVideo(VideoBase):
    """Like ComfyUI's VideoFromComponents: frames, a Fraction frame rate, optional AUDIO."""

    def __init__(self, images, frame_rate, audio=None):
        self.components = SimpleNamespace(images=images, frame_rate=frame_rate, audio=audio)

    def get_components(self):
        return self.components

    def save_to(self, path, format="auto", codec="auto", metadata=None):
        raise AssertionError("preparing a components VIDEO must not go through its slow save_to")


def comfy_audio(seconds: float, *, rate: int = 48000, channels: int = 2) -> dict:
    return {"waveform": torch.from_numpy(tone(seconds, rate=rate, channels=channels).samples)[None],
            "sample_rate": rate}


def sha(path) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()


def test_image_batch_with_audio_round_trips(tmp_path):
    frames = image_batch(48, 64, 48)
    prepared = prepare_clip(torch.from_numpy(frames), tmp_path, fps=24, audio=comfy_audio(2.5))
    info = probe(prepared.path)
    assert (info.codec, info.pix_fmt, info.audio_codec) == ("h264", "yuv420p", "aac")
    assert not prepared.passed_through and prepared.has_audio
    assert (prepared.width, prepared.height, prepared.fps, info.frame_count) == (64, 48, 24.0, 48)
    assert prepared.duration == pytest.approx(2.0, abs=1 / 24)
    assert prepared.size_bytes == os.path.getsize(prepared.path)
    decoded = decode_video(prepared.path)
    assert decoded.images.shape == (48, 48, 64, 3) and decoded.fps == 24.0
    assert float((decoded.images - torch.from_numpy(frames)).abs().mean()) < 0.03  # same picture
    waveform = decoded.audio["waveform"]
    assert waveform.shape[:2] == (1, 2) and decoded.audio["sample_rate"] == 48000
    assert abs(waveform.shape[2] - 2 * 48000) <= 48000 / 24  # audio cut to the video, within a frame


def test_numpy_frames_keep_an_ntsc_frame_rate(tmp_path):
    prepared = prepare_clip(image_batch(60, 32, 32), tmp_path, fps=30000 / 1001)
    assert prepared.fps == pytest.approx(29.97, abs=0.01)
    assert decode_video(prepared.path, want_audio=False).frame_count == 60


def test_rgba_frames_lose_only_their_alpha(tmp_path):
    rgb = image_batch(48, 32, 32)
    rgba = np.concatenate([rgb, np.full((48, 32, 32, 1), 0.5, np.float32)], axis=-1)
    decoded = decode_video(prepare_clip(rgba, tmp_path, fps=24).path).images
    assert float((decoded - torch.from_numpy(rgb)).abs().mean()) < 0.03


def test_compliant_file_is_passed_through_byte_for_byte(tmp_path, reference_clip):
    before = sha(reference_clip)
    prepared = prepare_clip(reference_clip, tmp_path / "work")
    assert prepared.passed_through and prepared.path == str(reference_clip)
    assert sha(prepared.path) == before
    assert (prepared.width, prepared.height, prepared.fps, prepared.has_audio) == (480, 270, 24.0, True)
    assert prepared.duration == pytest.approx(3.0, abs=0.05)
    assert os.listdir(tmp_path / "work") == []


def test_video_object_backed_by_bytes_is_written_unchanged(tmp_path, reference_clip):
    data = reference_clip.read_bytes()
    prepared = prepare_clip(FileVideo(io.BytesIO(data)), tmp_path)
    assert prepared.passed_through
    assert Path(prepared.path).read_bytes() == data


def test_video_object_backed_by_a_non_compliant_file_is_converted(tmp_path):
    source = write_clip(tmp_path / "in.mkv", seconds=2, width=64, height=48, codec="ffv1", audio_rate=None)
    prepared = prepare_clip(FileVideo(source), tmp_path)
    info = probe(prepared.path)
    assert not prepared.passed_through and (info.codec, info.pix_fmt, info.frame_count) == ("h264", "yuv420p", 48)


def test_components_video_is_encoded_from_its_frames(tmp_path):
    video = ComponentsVideo(torch.from_numpy(image_batch(50, 40, 30)), Fraction(25), comfy_audio(2.0, channels=1))
    prepared = prepare_clip(video, tmp_path)
    info = probe(prepared.path)
    assert (info.width, info.height, info.fps, info.frame_count, info.audio_codec) == (40, 30, 25.0, 50, "aac")


def test_ten_bit_input_becomes_8_bit_yuv420p(tmp_path):
    source = write_clip(tmp_path / "10bit.mp4", seconds=2, width=96, height=64, pix_fmt="yuv420p10le")
    assert probe(source).pix_fmt == "yuv420p10le"
    prepared = prepare_clip(source, tmp_path)
    info = probe(prepared.path)
    assert not prepared.passed_through
    assert (info.pix_fmt, info.width, info.height, info.frame_count, info.fps) == ("yuv420p", 96, 64, 48, 24.0)
    assert info.audio_codec == "aac"


def test_odd_sizes_become_even(tmp_path):
    from_frames = prepare_clip(image_batch(48, 65, 33), tmp_path, fps=24)
    assert (from_frames.width, from_frames.height) == (66, 34)
    source = write_clip(tmp_path / "odd.mkv", seconds=2, width=101, height=77, codec="ffv1", audio_rate=None)
    from_file = prepare_clip(source, tmp_path)
    assert (from_file.width, from_file.height) == (102, 78)


def test_over_1080p_is_downscaled_keeping_aspect(tmp_path):
    # 2 s at 6 fps: the shortest clip allowed, in 12 large frames instead of 48
    wide = write_clip(tmp_path / "wide.mp4", seconds=2, fps=6, width=2304, height=384, audio_rate=None)
    prepared = prepare_clip(wide, tmp_path)
    assert not prepared.passed_through
    assert (prepared.width, prepared.height) == (1920, 320)
    assert decode_video(prepared.path, want_audio=False).images.shape == (12, 320, 1920, 3)
    portrait = prepare_clip(write_clip(tmp_path / "tall.mp4", seconds=2, fps=6, width=1296, height=2304,
                                       audio_rate=None), tmp_path)
    assert (portrait.width, portrait.height) == (1080, 1920)


def test_720p_and_1080p_are_kept_at_full_size(tmp_path):
    from_frames = prepare_clip(image_batch(12, 1280, 720), tmp_path, fps=6)  # 2 s in 12 frames
    assert (from_frames.width, from_frames.height) == (1280, 720)


def test_long_high_bitrate_clip_is_forced_under_the_limit(tmp_path):
    # x264's fastest preset makes the same over-the-limit file (h264, yuv420p, aac: too big is its only
    # fault) in half the time, and it decodes faster too
    source = write_clip(tmp_path / "noisy.mp4", seconds=25, width=256, height=144, grain=0.3,
                        options={"b": "6M", "preset": "ultrafast"})
    assert os.path.getsize(source) > MAX_UPLOAD_BYTES
    prepared = prepare_clip(source, tmp_path)
    assert not prepared.passed_through and prepared.size_bytes <= MAX_UPLOAD_BYTES
    assert prepared.duration == pytest.approx(25.0, abs=0.1) and prepared.has_audio
    assert probe(prepared.path).frame_count == 600


def test_a_size_limit_that_cannot_be_met_is_a_clear_error(tmp_path):
    source = write_clip(tmp_path / "noisy.mp4", seconds=2, width=128, height=96, grain=0.3)
    with pytest.raises(InputError, match="could not be encoded under"):
        prepare_clip(source, tmp_path / "work", max_bytes=20_000)
    assert os.listdir(tmp_path / "work") == []


@pytest.mark.parametrize("images", [torch.zeros((0, 64, 64, 3)), np.zeros((0, 8, 8, 3), np.float32), []])
def test_zero_frames_are_refused(tmp_path, images):
    with pytest.raises(InputError, match="no frames"):
        prepare_clip(images, tmp_path, fps=24)


def test_mixed_frame_sizes_are_refused(tmp_path):
    frames = [np.zeros((48, 64, 3), np.float32)] * 40 + [np.zeros((32, 32, 3), np.float32)] * 10
    with pytest.raises(InputError, match=r"different sizes \(32x32, 64x48\)"):
        prepare_clip(frames, tmp_path, fps=24)


def test_frames_of_the_wrong_shape_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"\[height, width, channels\]"):
        prepare_clip([torch.zeros((1, 8, 8, 3))] * 48, tmp_path, fps=24)
    with pytest.raises(InputError, match="RGB or RGBA"):
        prepare_clip(torch.zeros((48, 8, 8, 2)), tmp_path, fps=24)


def test_file_without_video_is_refused(tmp_path):
    path = write_sound(tmp_path / "sound.m4a", 2.0)
    with pytest.raises(InputError, match="no video stream"):
        prepare_clip(path, tmp_path)


@pytest.mark.parametrize("seconds", [1.5, 31.0])
def test_reference_duration_outside_2_to_30_s_is_refused_before_encoding(tmp_path, seconds):
    work = tmp_path / "work"
    frames = int(seconds * 2)
    with pytest.raises(InputError, match=rf"{seconds:.2f} s of video \({frames} frames\); "
                                         "it must be between 2 and 30 s long") as err:
        prepare_clip(np.zeros((frames, 16, 16, 3), np.float32), work, fps=2)
    assert "nothing was sent" in str(err.value)
    assert os.listdir(work) == []


def test_short_file_is_refused(tmp_path):
    source = write_clip(tmp_path / "short.mp4", seconds=1.5, width=64, height=48)
    with pytest.raises(InputError, match=r"only 1.50 s of video \(36 frames\)"):
        prepare_clip(source, tmp_path)


def sound_longer_than_picture(path, frames: int, sound_seconds: float, *, codec: str = "libx264") -> str:
    """25 fps video of ``frames`` frames over ``sound_seconds`` of sound: players show the longer one."""
    video = (av.VideoFrame.from_ndarray(rgb, format="rgb24") for rgb in frames_rgb(frames, 64, 48))
    write_video(path, video, width=64, height=48, fps=Fraction(25), codec=codec, audio=tone(sound_seconds))
    return str(path)


@pytest.mark.parametrize("name, frames, expected", [
    ("still.mkv", 1, r"only 0\.04 s of video \(1 frame\); it must be between 2 and 30 s long, with at least 2 frames"),
    ("short.mp4", 25, r"only 1\.00 s of video \(25 frames\); it must be between 2 and 30 s long"),
])
def test_the_length_is_the_videos_not_the_sounds(tmp_path, name, frames, expected):
    """A clip whose sound runs 10 s but whose picture is shorter than 2 s would be paid for."""
    source = sound_longer_than_picture(tmp_path / name, frames, 10.0)
    with av.open(source) as container:
        assert container.duration / av.time_base >= 9.9  # the container itself says ~10 s
    work = tmp_path / "work"
    with pytest.raises(InputError, match=expected):
        prepare_clip(source, work)
    assert os.listdir(work) == []


def test_sound_beyond_the_picture_is_not_counted_when_passing_through_or_encoding(tmp_path):
    compliant = prepare_clip(sound_longer_than_picture(tmp_path / "long_sound.mp4", 60, 6.0), tmp_path)
    assert compliant.passed_through and compliant.duration == pytest.approx(2.4)
    converted = prepare_clip(sound_longer_than_picture(tmp_path / "long_sound.mkv", 60, 6.0, codec="ffv1"), tmp_path)
    assert not converted.passed_through and converted.duration == pytest.approx(2.4, abs=0.01)
    sound = decode_video(converted.path, want_images=False).audio["waveform"]
    assert abs(sound.shape[2] - 2.4 * 48000) <= 48000 / 25  # cut to the picture


def test_the_sample_clip_is_measured_by_its_frames(reference_clip):
    info = probe(reference_clip)
    assert (info.frame_count, info.duration) == (72, pytest.approx(3.0))


def test_images_need_a_frame_rate(tmp_path):
    with pytest.raises(InputError, match="frame rate"):
        prepare_clip(image_batch(48, 16, 16), tmp_path)


def test_unusual_audio_rate_is_resampled_and_kept(tmp_path):
    prepared = prepare_clip(image_batch(48, 32, 32), tmp_path, fps=24, audio=comfy_audio(2.0, rate=11000))
    audio = decode_video(prepared.path, want_images=False).audio
    assert audio["sample_rate"] == 48000
    assert abs(audio["waveform"].shape[2] - 2 * 48000) <= 48000 / 24


class TrimmedFileVideo(FileVideo):
    """Like 2026 ComfyUI's VideoFromFile after Trim Video: the file is whole, the VIDEO is a window."""

    def __init__(self, source, start, duration):
        super().__init__(source)
        self.window = (start, duration)

    def get_active_trim_window(self):
        return self.window

    def get_components(self):
        start, duration = self.window
        decoded = decode_video(self.source)
        first = int(start * decoded.fps)
        return SimpleNamespace(images=decoded.images[first:first + int(duration * decoded.fps)],
                               frame_rate=Fraction(decoded.fps), audio=None)


def test_a_trimmed_video_is_uploaded_and_fingerprinted_as_its_window(tmp_path):
    from apikley_wan.media import fingerprint_source
    source = write_clip(tmp_path / "long.mp4", seconds=8, width=160, height=90, audio_rate=None)
    early, late = TrimmedFileVideo(source, 0.0, 3.0), TrimmedFileVideo(source, 4.0, 3.0)
    prepared = prepare_clip(early, tmp_path)
    assert not prepared.passed_through and abs(prepared.duration - 3.0) < 0.1
    assert fingerprint_source(early) != fingerprint_source(late) != fingerprint_source(source)
    assert fingerprint_source(TrimmedFileVideo(source, 0.0, 0.0)) == fingerprint_source(source)


def test_surround_sound_is_folded_to_stereo(tmp_path):
    prepared = prepare_clip(image_batch(48, 64, 48), tmp_path, fps=24, audio=comfy_audio(2.0, channels=6))
    assert decode_video(prepared.path, want_images=False).audio["waveform"].shape[1] == 2


def test_a_phone_clip_keeps_its_display_rotation(tmp_path):
    path = tmp_path / "phone.mov"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = 160, 90, "yuv420p"
        stream.set_display_rotation(90)
        for i, rgb in enumerate(image_batch(48, 160, 90)):
            frame = av.VideoFrame.from_ndarray((rgb * 255).astype(np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    prepared = prepare_clip(path, tmp_path)
    assert not prepared.passed_through
    with av.open(prepared.path) as c:
        assert next(c.decode(video=0)).rotation == 90


def test_cancel_stops_an_encode_between_frames_and_leaves_nothing(tmp_path):
    seen = []

    class Stop(Exception):
        pass

    def check_cancel():
        seen.append(1)
        if len(seen) > 10:
            raise Stop()
    work = tmp_path / "work"
    with pytest.raises(Stop):
        prepare_clip(image_batch(96, 320, 180), work, fps=24, check_cancel=check_cancel)
    assert len(seen) == 11 and not list(work.iterdir())
