"""HDR and 10-bit references: real 10-bit HLG / PQ files in, an 8-bit SDR BT.709 upload out.

The patches are placed at the HDR signal levels that BT.2408 gives an SDR picture (SDR white =
HDR reference white: HLG 75 %, PQ 203 cd/m²), computed here from BT.2100's formulas (not the
pack's), so the upload must bring them back close to the SDR levels they stand for.
"""

from __future__ import annotations

import math
from fractions import Fraction

import av
import numpy as np
import pytest
from av.video.reformatter import ColorPrimaries, ColorRange, ColorTrc, Colorspace

from apikley_wan.media import prepare_clip, probe
from apikley_wan.media.color import BT709, ColorTags, tags_of
from apikley_wan.media.encode import write_video

PATCH = 64
WHITE_NITS, HLG_DISPLAY_NITS = 203.0, 1000.0
HLG = ColorTags(int(ColorPrimaries.BT2020), int(ColorTrc.ARIB_STD_B67), 9, int(ColorRange.MPEG))
PQ = ColorTags(int(ColorPrimaries.BT2020), int(ColorTrc.SMPTE2084), 9, int(ColorRange.MPEG))
# BT.2087: linear BT.709 RGB -> linear BT.2020 RGB
BT709_TO_BT2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])

# SDR BT.709 signal of each patch (R, G, B): BT.2408's 18 % grey card (26 cd/m² at 203 = white),
# a near-white, SDR white itself (HDR reference white), and a colour
GREY = (26 / 203) ** (1 / 2.4)  # 0.425
PATCHES = {"mid-grey": (GREY,) * 3, "near-white": (0.9,) * 3, "white": (1.0,) * 3, "orange": (0.8, 0.45, 0.2)}


def pq_signal(nits):
    m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 32, 3424 / 4096, 2413 / 128, 2392 / 128
    y = (np.asarray(nits, dtype=float) / 10000) ** m1
    return ((c1 + c2 * y) / (1 + c3 * y)) ** m2


def hlg_signal(nits_rgb):
    """BT.2100 inverse OOTF (1000 cd/m² display, gamma 1.2), then the HLG OETF."""
    rgb = np.asarray(nits_rgb, dtype=float) / HLG_DISPLAY_NITS
    y_display = rgb @ np.array([0.2627, 0.6780, 0.0593])
    scene = rgb / y_display ** ((1.2 - 1) / 1.2)
    a = 0.17883277
    b, c = 1 - 4 * a, 0.5 - a * math.log(4 * a)
    return np.where(scene <= 1 / 12, np.sqrt(3 * np.maximum(scene, 0)), a * np.log(np.maximum(12 * scene - b, 1e-9)) + c)


def hdr_signal(sdr_rgb, transfer: str):
    """An SDR BT.709 signal as HDR BT.2020 R'G'B' (BT.2408 display-light mapping)."""
    nits = BT709_TO_BT2020 @ (np.asarray(sdr_rgb, dtype=float) ** 2.4) * WHITE_NITS
    return hlg_signal(nits) if transfer == "HLG" else pq_signal(nits)


def yuv10_frame(signals, matrix=(0.2627, 0.0593)) -> av.VideoFrame:
    """A yuv420p10le frame (limited range, BT.2020 NCL by default) of side-by-side patches."""
    kr, kb = matrix
    width = PATCH * len(signals)
    frame = av.VideoFrame(width, PATCH, "yuv420p10le")
    planes = [np.frombuffer(p, np.uint16).reshape(p.height, p.line_size // 2) for p in frame.planes]
    for i, (r, g, b) in enumerate(signals):
        y = kr * r + (1 - kr - kb) * g + kb * b
        codes = (64 + 876 * y, 512 + 896 * (b - y) / (2 * (1 - kb)), 512 + 896 * (r - y) / (2 * (1 - kr)))
        for plane, code, scale in zip(planes, codes, (1, 2, 2)):
            plane[:, i * PATCH // scale:(i + 1) * PATCH // scale] = round(code)
    return frame


def write_patches(path, signals, tags: ColorTags, *, frames=48, **kw) -> str:
    write_video(path, (yuv10_frame(signals, **kw) for _ in range(frames)), width=PATCH * len(signals),
                height=PATCH, fps=Fraction(24), pix_fmt="yuv420p10le", options={"qp": "0", "preset": "veryfast"},
                color=tags)
    return str(path)


def measured(path) -> tuple[ColorTags, str, list]:
    """The upload's tags, pixel format and each patch's mean 8-bit RGB (centre 32x32, BT.709 matrix)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frame = next(container.decode(stream))
        rgb = frame.reformat(format="rgb24", src_colorspace=Colorspace.ITU709,
                             src_color_range=ColorRange.MPEG).to_ndarray().astype(float)
        tags, pix_fmt = tags_of(stream.codec_context), stream.codec_context.pix_fmt
    q = PATCH // 4
    return tags, pix_fmt, [rgb[q:-q, i * PATCH + q:(i + 1) * PATCH - q].mean(axis=(0, 1))
                           for i in range(rgb.shape[1] // PATCH)]


@pytest.mark.parametrize("transfer", ["HLG", "PQ"])
def test_hdr_reference_is_tone_mapped_to_sdr_bt709(tmp_path, transfer):
    signals = [hdr_signal(rgb, transfer) for rgb in PATCHES.values()]
    source = write_patches(tmp_path / f"{transfer}.mp4", signals, HLG if transfer == "HLG" else PQ)
    assert probe(source).color.hdr == transfer and probe(source).bit_depth == 10
    prepared = prepare_clip(source, tmp_path / "work")
    tags, pix_fmt, patches = measured(prepared.path)
    values = dict(zip(PATCHES, patches))
    print(transfer, "signals", {k: np.round(s, 3).tolist() for k, s in zip(PATCHES, signals)},
          "-> 8-bit RGB", {k: np.round(v, 1).tolist() for k, v in values.items()}, "tags", tags)

    assert (tags.primaries, tags.transfer, tags.matrix, tags.range) == (1, 1, 1, 1) and tags == BT709
    assert pix_fmt == "yuv420p" and not prepared.passed_through
    assert prepared.hdr_source == transfer and prepared.note.startswith("HDR reference converted to SDR for upload")
    grey, near_white, white = (values[k].mean() for k in ("mid-grey", "near-white", "white"))
    assert abs(grey - GREY * 255) <= 3      # 108: not darkened (HDR read as SDR) nor lifted
    assert abs(near_white - 0.9 * 255) <= 3  # 229.5: comes back as itself
    assert 238 <= white <= 250               # reference white lands at SDR white, rolled off, not clipped
    assert np.ptp(values["mid-grey"]) <= 2   # grey stays grey
    # the colour keeps its hue and saturation (a BT.2020 picture read as BT.709 would wash it out)
    assert np.abs(values["orange"] - np.array(PATCHES["orange"]) * 255).max() <= 6


def test_highlights_above_reference_white_roll_off_instead_of_clipping(tmp_path):
    """HLG 0.75 (203 cd/m²), 0.85 (~400) and 1.0 (1000 cd/m²) stay in order below 255."""
    signals = [(v, v, v) for v in (0.75, 0.85, 1.0)]
    prepared = prepare_clip(write_patches(tmp_path / "hi.mp4", signals, HLG), tmp_path / "work")
    white, bright, peak = (p.mean() for p in measured(prepared.path)[2])
    print("HLG 0.75/0.85/1.0 ->", round(white, 1), round(bright, 1), round(peak, 1))
    assert 238 <= white < bright < peak <= 255


def test_ten_bit_sdr_becomes_8_bit_with_its_tags_kept(tmp_path):
    tags = ColorTags(int(ColorPrimaries.BT709), int(ColorTrc.BT709), 1, int(ColorRange.MPEG))
    signals = [(GREY,) * 3, (0.9,) * 3, PATCHES["orange"]]
    source = write_patches(tmp_path / "sdr10.mp4", signals, tags, matrix=(0.2126, 0.0722))
    prepared = prepare_clip(source, tmp_path / "work")
    out_tags, pix_fmt, patches = measured(prepared.path)
    print("10-bit SDR -> 8-bit RGB", [np.round(p, 1).tolist() for p in patches], "tags", out_tags)
    assert pix_fmt == "yuv420p" and out_tags == tags
    assert prepared.hdr_source is None and prepared.note == "10-bit reference converted to 8-bit for upload"
    for patch, expected in zip(patches, signals):
        assert np.abs(patch - np.array(expected) * 255).max() <= 3  # no tone mapping: values as they were


def test_other_sdr_tags_are_kept_too(tmp_path):
    """A BT.601 (smpte170m) 10-bit clip keeps its matrix: re-tagging it BT.709 would shift its colours."""
    tags = ColorTags(int(ColorPrimaries.SMPTE170M), int(ColorTrc.SMPTE170M), 6, int(ColorRange.MPEG))
    source = write_patches(tmp_path / "sd.mp4", [(GREY,) * 3], tags, matrix=(0.299, 0.114))
    assert measured(prepare_clip(source, tmp_path / "work").path)[0] == tags


def test_an_8_bit_hlg_mp4_is_tone_mapped_not_passed_through(tmp_path):
    from apikley_wan.media.clips import write_clip

    source = write_clip(tmp_path / "hlg8.mp4", seconds=2, width=96, height=64, audio_rate=None, color=HLG)
    info = probe(source)
    assert (info.pix_fmt, info.codec, info.color.hdr) == ("yuv420p", "h264", "HLG")
    prepared = prepare_clip(source, tmp_path / "work")
    assert not prepared.passed_through and prepared.hdr_source == "HLG"
    assert measured(prepared.path)[0] == BT709


def test_image_frames_are_uploaded_as_before(tmp_path):
    """The IMAGE path (already SDR) is not tone-mapped, not re-tagged and says nothing."""
    frames = np.full((48, 64, 64, 3), 0.5, dtype=np.float32)
    prepared = prepare_clip(frames, tmp_path / "work", fps=24)
    assert prepared.note is None and prepared.hdr_source is None
    with av.open(prepared.path) as container:
        assert tags_of(container.streams.video[0].codec_context) == ColorTags()


def test_a_run_with_an_hdr_reference_says_so_in_its_status_and_report(sim, tmp_path, reference_clip):
    """The note is data on the run's report (the node's summary and the command line's last line show it)."""
    import asyncio

    from apikley_wan.api.client import ApikleyClient
    from apikley_wan.run.pipeline import Pipeline
    from apikley_wan.record.sqlite import Journal
    from apikley_wan.media.clips import write_clip
    from apikley_wan.run.request import GenerationRequest, Reference
    from conftest import FAST

    hlg = write_clip(tmp_path / "hlg.mp4", seconds=2, pix_fmt="yuv420p10le", color=HLG)
    gens = Pipeline(ApikleyClient(api_key="sim-key", base_url=sim.base_url), Journal(tmp_path / "j.sqlite"),
                    tmp_path / "results", timings=FAST)
    statuses = []

    def run(clip):
        request = GenerationRequest(prompt="a walk", duration="5", resolution="720p",
                                    references=[Reference(source=str(clip))])
        return asyncio.run(gens.generate_video(request, statuses.append))

    report = run(hlg)
    note = "HDR reference converted to SDR for upload (HLG to BT.709)"
    assert report.notes == (note,) and report.as_dict()["notes"] == (note,)
    assert f"· {note}" in report.line()
    assert any(s.note == note and note in s.line() for s in statuses)
    assert run(reference_clip).notes == ()  # an 8-bit SDR reference is sent as it is, and nothing is said


def test_a_trimmed_hdr_video_is_tone_mapped_from_its_components(tmp_path):
    """ComfyUI hands a trimmed VIDEO's frames as the file's own HLG values (not tone-mapped): the
    upload treats them like the file, while plain IMAGE frames stay as they are."""
    from types import SimpleNamespace

    signals = [hdr_signal(rgb, "HLG") for rgb in PATCHES.values()]
    source = write_patches(tmp_path / "hlg.mp4", signals, HLG)
    frames = np.concatenate([np.broadcast_to(np.float32(s), (48, PATCH, PATCH, 3)) for s in signals], axis=2)

    class Trimmed:  # shaped like core 0.33's VideoFromFile after Trim Video
        def get_stream_source(self):
            return source

        def get_active_trim_window(self):
            return 0.0, 2.0

        def get_components(self):
            return SimpleNamespace(images=frames, audio=None, frame_rate=Fraction(24), metadata=None)

    prepared = prepare_clip(Trimmed(), tmp_path / "work")
    tags, _, patches = measured(prepared.path)
    values = dict(zip(PATCHES, (p.mean() for p in patches)))
    print("trimmed HLG VIDEO -> 8-bit", {k: round(v, 1) for k, v in values.items()})
    assert tags == BT709 and prepared.hdr_source == "HLG"
    assert abs(values["mid-grey"] - GREY * 255) <= 3 and abs(values["near-white"] - 0.9 * 255) <= 3
    assert measured(prepare_clip(frames, tmp_path / "work", fps=24).path)[0] == ColorTags()  # IMAGE: as before
