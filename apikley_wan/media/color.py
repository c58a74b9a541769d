"""A clip's colour tags (primaries, transfer, matrix, range), read from a stream and written onto one.

The upload must say how its pixels are meant: a re-encode that drops the tags leaves the
receiver guessing, and an HDR transfer (HLG, PQ) read as SDR looks flat and washed out.
The numbers are FFmpeg's (and PyAV's) own enumerations, so they pass to and from PyAV unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from av.video.reformatter import ColorPrimaries, ColorRange, ColorTrc

UNSPECIFIED = 2  # FFmpeg's "unspecified" for primaries, transfer and matrix alike
MATRIX_BT709 = 1  # AVCOL_SPC_BT709 (PyAV names only swscale's matrices, which share these numbers)
HDR_TRANSFERS = {int(ColorTrc.ARIB_STD_B67): "HLG", int(ColorTrc.SMPTE2084): "PQ"}


@dataclass(frozen=True)
class ColorTags:
    primaries: int = UNSPECIFIED
    transfer: int = UNSPECIFIED
    matrix: int = UNSPECIFIED
    range: int = int(ColorRange.UNSPECIFIED)

    @property
    def hdr(self) -> Optional[str]:
        """"HLG" or "PQ" when the transfer is an HDR one, else None."""
        return HDR_TRANSFERS.get(self.transfer)


# what an HDR reference becomes: SDR BT.709 in the usual (limited) range
BT709 = ColorTags(int(ColorPrimaries.BT709), int(ColorTrc.BT709), MATRIX_BT709, int(ColorRange.MPEG))


def tags_of(codec_context) -> ColorTags:
    """The tags a decoder or stream reports (missing attributes count as unspecified)."""
    values = (getattr(codec_context, name, None) for name, _ in _FIELDS)
    return ColorTags(*(int(default if value is None else value) for value, (_, default) in zip(values, _FIELDS)))


def set_tags(codec_context, tags: ColorTags) -> None:
    """Write the tags on an encoder, which puts them in the bitstream and the container."""
    for (name, _), value in zip(_FIELDS, (tags.primaries, tags.transfer, tags.matrix, tags.range)):
        setattr(codec_context, name, value)


_FIELDS = (("color_primaries", UNSPECIFIED), ("color_trc", UNSPECIFIED), ("colorspace", UNSPECIFIED),
           ("color_range", int(ColorRange.UNSPECIFIED)))
