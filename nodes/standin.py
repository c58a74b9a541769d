"""A small VIDEO stand-in for use outside ComfyUI (command line, CI), shaped like VideoFromFile."""

from __future__ import annotations

import shutil
from fractions import Fraction
from types import SimpleNamespace

from ..apikley_wan import media


class VideoFile:
    def __init__(self, path: str):
        self.path = str(path)

    def get_stream_source(self) -> str:
        return self.path

    def save_to(self, path, format=None, codec=None, metadata=None) -> None:
        shutil.copyfile(self.path, path)

    def get_components(self):
        decoded = media.decode_video(self.path)
        return SimpleNamespace(images=decoded.images, audio=decoded.audio,
                               frame_rate=Fraction(decoded.fps).limit_denominator(1001), metadata=None)

    def get_dimensions(self) -> tuple:
        info = media.probe(self.path)
        return info.width, info.height

    def get_duration(self) -> float:
        return media.probe(self.path).duration
