"""HDR references (HLG, PQ) turned into SDR BT.709 frames for the upload, one frame at a time.

The API's model expects SDR: an HLG or PQ clip uploaded as if it were SDR looks flat and
washed out. Each decoded frame is read as BT.2100 light, with HDR reference white (BT.2408:
HLG 75 %, PQ 203 cd/m²) as SDR white, converted to BT.709 primaries, and written with the
BT.709/BT.1886 curve (display gamma 2.4). An SDR picture carried in HLG or PQ therefore comes
back as itself up to ``KNEE``; brighter highlights roll off smoothly instead of clipping.
FFmpeg's scaler only changes the matrix, never the transfer, so the light is computed here
with numpy: table look-ups and one 3x3 product per frame at the upload size.
"""

from __future__ import annotations

import math
from typing import Iterable, Iterator

import av
import numpy as np
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, VideoReformatter

from .color import ColorTags

REFERENCE_WHITE_NITS = 203.0  # BT.2408 HDR reference white (= HLG 75 % on the 1000 cd/m² display)
HLG_DISPLAY_NITS = 1000.0     # BT.2100's nominal HLG display, whose system gamma is 1.2
HLG_SYSTEM_GAMMA = 1.2
PQ_PEAK_NITS = 10000.0
SDR_GAMMA = 2.4               # BT.1886
KNEE = 0.9                    # SDR signal kept as it is; above it highlights are compressed towards 1.0
STEPS = 2048                  # output table steps per unit of sqrt(light): finer than an 8-bit code near black

# CIE xy of the red, green and blue primaries; all with the D65 white
_PRIMARIES = {
    int(ColorPrimaries.BT709): ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060)),
    int(ColorPrimaries.BT2020): ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)),
    int(ColorPrimaries.SMPTE432): ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),  # Display P3
}
_D65 = (0.3127, 0.3290)
GBR = [1, 2, 0]  # planar RGB formats store green, blue, red: these are the R, G, B indexes of each plane
# YUV matrix of the source -> swscale's name for it; HDR without a matrix tag is BT.2020 in practice
_MATRICES = {1: Colorspace.ITU709, 5: Colorspace.ITU601, 6: Colorspace.ITU601, 9: Colorspace.BT2020,
             10: Colorspace.BT2020}


def to_sdr(frames: Iterable[av.VideoFrame], tags: ColorTags, width: int, height: int) -> Iterator[av.VideoFrame]:
    """The frames of an HDR clip (``tags.hdr`` is "HLG" or "PQ"), scaled to ``width`` x ``height``, as
    8-bit SDR BT.709 RGB frames (planar ``gbrp``) with their timestamps; encode them with ``color.BT709``."""
    convert = _SdrConverter(tags, width, height)
    for frame in frames:
        yield convert(frame)


class _SdrConverter:
    """One clip's tables, matrix and frame-sized buffers (re-used: fresh 25 MB arrays per frame cost
    more in page faults than the arithmetic)."""

    def __init__(self, tags: ColorTags, width: int, height: int):
        self.width, self.height, self.hlg = width, height, tags.hdr == "HLG"
        self.signal = _hlg_light() if self.hlg else _pq_light()
        primaries = tags.primaries if tags.primaries in _PRIMARIES else int(ColorPrimaries.BT2020)
        # the planes come as G, B, R: the matrix and the luma weights take them in that order
        to_709 = (np.linalg.inv(_rgb_to_xyz(int(ColorPrimaries.BT709))) @ _rgb_to_xyz(primaries))[:, GBR]
        self.luma = _rgb_to_xyz(primaries)[1][GBR].astype(np.float32)
        self.lift = np.float32(HLG_DISPLAY_NITS / REFERENCE_WHITE_NITS if self.hlg else 1.0)
        self.codes = _sdr_codes(float(self.signal[-1] * self.lift) * float(np.abs(to_709).sum(axis=1).max()))
        self.to_709 = to_709.astype(np.float32)
        self.matrix = _MATRICES.get(tags.matrix, Colorspace.BT2020)
        self.source_range = ColorRange.JPEG if tags.range == int(ColorRange.JPEG) else ColorRange.MPEG
        self.reformatter = VideoReformatter()
        self.light = np.empty((3, height, width), np.float32)
        self.sdr = np.empty_like(self.light)
        self.gain = np.empty((height, width), np.float32)
        self.index = np.empty((3, height, width), np.uint16)

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        rgb16 = self.reformatter.reformat(frame, width=self.width, height=self.height, format="gbrp16le",
                                          src_colorspace=self.matrix, src_color_range=self.source_range,
                                          interpolation="BICUBIC", threads=0)
        light, sdr = self.light, self.sdr
        for plane, out in zip(rgb16.planes, light):  # HLG: scene light 0..1; PQ: display light / reference white
            np.take(self.signal, _plane_view(plane, np.uint16, self.width, self.height), out=out)
        np.matmul(self.to_709, light.reshape(3, -1), out=sdr.reshape(3, -1))  # R, G, B in BT.709
        if self.hlg:  # the OOTF: display light = scene light x Y_s ** 0.2, x 1000/203 for reference white = 1
            np.matmul(self.luma, light.reshape(3, -1), out=self.gain.reshape(-1))
            np.power(self.gain, np.float32(HLG_SYSTEM_GAMMA - 1), out=self.gain)
            self.gain *= self.lift
            sdr *= self.gain
        np.maximum(sdr, 0, out=sdr)  # colours outside BT.709 lose their negative part
        np.sqrt(sdr, out=sdr)
        sdr *= np.float32(STEPS)
        np.copyto(self.index, sdr, casting="unsafe")
        out = av.VideoFrame(self.width, self.height, "gbrp")
        for plane, channel in zip(out.planes, GBR):  # "clip": light above the table's top is its top
            np.take(self.codes, self.index[channel], out=_plane_view(plane, np.uint8, self.width, self.height),
                    mode="clip")
        if frame.time_base is not None:  # decoded frames keep their timing; built ones are numbered in order
            out.pts, out.time_base = frame.pts, frame.time_base
        return out


def _plane_view(plane, dtype, width: int, height: int) -> np.ndarray:
    size = np.dtype(dtype).itemsize
    return np.frombuffer(plane, dtype).reshape(height, plane.line_size // size)[:, :width]


def _hlg_light() -> np.ndarray:
    """16-bit HLG signal -> scene light 0..1 (BT.2100 inverse OETF); the OOTF is applied per pixel."""
    a = 0.17883277
    b, c = 1 - 4 * a, 0.5 - a * math.log(4 * a)
    v = np.arange(65536, dtype=np.float64) / 65535
    light = np.where(v <= 0.5, v * v / 3, (np.exp((v - c) / a) + b) / 12)
    return light.astype(np.float32)


def _pq_light() -> np.ndarray:
    """16-bit PQ signal -> display light relative to reference white (BT.2100 EOTF / 203 cd/m²)."""
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    p = (np.arange(65536, dtype=np.float64) / 65535) ** (1 / m2)
    nits = PQ_PEAK_NITS * (np.maximum(p - c1, 0) / (c2 - c3 * p)) ** (1 / m1)
    return (nits / REFERENCE_WHITE_NITS).astype(np.float32)


def _sdr_codes(light_max: float) -> np.ndarray:
    """8-bit SDR code for each step of sqrt(light): BT.1886 inverse, then the highlight roll-off."""
    s = (np.arange(int(math.sqrt(light_max) * STEPS) + 2, dtype=np.float64) + 0.5) / STEPS  # a step's middle
    v = s ** (2 / SDR_GAMMA)
    rolled = KNEE + (1 - KNEE) * -np.expm1(-(v - KNEE) / (1 - KNEE))
    return np.round(255 * np.where(v <= KNEE, v, rolled)).astype(np.uint8)


def _rgb_to_xyz(primaries: int) -> np.ndarray:
    """The RGB -> XYZ matrix of a set of primaries with the D65 white (the Y row is the luma weights)."""
    columns = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in _PRIMARIES[primaries]]).T
    wx, wy = _D65
    white = np.array([wx / wy, 1.0, (1 - wx - wy) / wy])
    return columns * np.linalg.solve(columns, white)

