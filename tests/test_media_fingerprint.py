"""fingerprint_source: the same input gives the same digest everywhere; any change gives another."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from apikley_wan.media import fingerprint_source
from apikley_wan.media.clips import image_batch, tone, write_clip
from test_media_prepare import ComponentsVideo, FileVideo

REPO = Path(__file__).resolve().parents[1]


def images():
    return torch.from_numpy(image_batch(8, 32, 24))


def audio(freq=440.0):
    return {"waveform": torch.from_numpy(tone(0.5, freq=freq).samples)[None], "sample_rate": 48000}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("fp") / "clip.mp4", seconds=2, width=64, height=48)


def test_same_input_same_digest_in_this_and_another_process(clip):
    here = (fingerprint_source(clip), fingerprint_source(images(), fps=24, audio=audio()))
    assert here == (fingerprint_source(clip), fingerprint_source(images(), fps=24, audio=audio()))
    code = ("import sys, torch; from apikley_wan.media import fingerprint_source as f; "
            "from apikley_wan.media.clips import image_batch, tone; "
            "a = {'waveform': torch.from_numpy(tone(0.5).samples)[None], 'sample_rate': 48000}; "
            "print(f(sys.argv[1])); print(f(torch.from_numpy(image_batch(8, 32, 24)), fps=24, audio=a))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code, clip], capture_output=True, text=True, check=True, env=env)
    assert tuple(out.stdout.split()) == here
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in here)


def test_file_bytes_decide_not_where_they_come_from(clip):
    data = Path(clip).read_bytes()
    digest = fingerprint_source(clip)
    assert fingerprint_source(io.BytesIO(data)) == digest
    assert fingerprint_source(FileVideo(clip)) == digest
    assert fingerprint_source(FileVideo(io.BytesIO(data))) == digest


def test_changed_file_byte_changes_digest(clip, tmp_path):
    data = bytearray(Path(clip).read_bytes())
    data[len(data) // 2] ^= 1
    (tmp_path / "changed.mp4").write_bytes(bytes(data))
    assert fingerprint_source(tmp_path / "changed.mp4") != fingerprint_source(clip)


def test_pixel_fps_and_audio_changes_change_digest():
    base = fingerprint_source(images(), fps=24)
    changed = images()
    changed[3, 5, 7, 1] += 1 / 255
    assert fingerprint_source(changed, fps=24) != base
    assert fingerprint_source(images(), fps=25) != base
    assert fingerprint_source(images(), fps=24, audio=audio()) != base
    assert fingerprint_source(images(), fps=24, audio=audio(880.0)) != fingerprint_source(
        images(), fps=24, audio=audio())


def test_equal_frame_rates_written_differently_agree():
    digests = {fingerprint_source(images(), fps=fps) for fps in (24, 24.0, Fraction(24), np.float64(24))}
    assert len(digests) == 1


def test_components_video_hashes_its_frames():
    video = ComponentsVideo(images(), Fraction(24), audio())
    assert fingerprint_source(video) == fingerprint_source(images(), fps=24, audio=audio())


def test_ten_megabytes_hash_quickly(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(np.random.default_rng(0).integers(0, 256, 10 * 1024 * 1024, dtype=np.uint8).tobytes())
    start = time.perf_counter()
    digest = fingerprint_source(io.BytesIO(big.read_bytes()))
    assert fingerprint_source(big) == digest
    assert time.perf_counter() - start < 1.0
