"""A stable sha256 of a clip's input (not of any encoder output), for de-duplicating paid runs.

The same file bytes, or the same frames, frame rate and sound, give the same
hex digest in every run and process; encoder output is never hashed because
x264 is not guaranteed to be bit-identical across builds and thread counts.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any, Optional

import numpy as np

from .frames import FrameBatch, is_tensor
from .sources import FileInput, resolve_source

CHUNK = 1 << 20
VERSION = b"apikley-media-fingerprint-v1\0"


def fingerprint_source(source: Any, *, fps: Any = None, audio: Optional[dict] = None) -> str:
    """Hex sha256 of a path's / BytesIO's / VIDEO's file bytes, or of IMAGE frames + fps + AUDIO."""
    src = resolve_source(source, fps=fps, audio=audio)
    digest = hashlib.sha256(VERSION)
    if isinstance(src, FileInput):
        digest.update(b"file\0")
        _update_file(digest, src.source)
        return digest.hexdigest()
    batch = FrameBatch(src.images)
    digest.update(f"frames\0{len(batch)}\0{src.fps}\0".encode())
    for frame in batch:
        _update_array(digest, frame)
    if src.audio is not None:
        digest.update(f"audio\0{int(src.audio['sample_rate'])}\0".encode())
        _update_array(digest, src.audio["waveform"])
    return digest.hexdigest()


def _update_file(digest, source: str | io.BytesIO) -> None:
    if isinstance(source, io.BytesIO):
        view = source.getbuffer()
        for start in range(0, len(view), CHUNK):
            digest.update(view[start:start + CHUNK])
        return
    with open(source, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)


def _update_array(digest, value: Any) -> None:
    """Dtype, shape and raw bytes of a tensor or array (a GPU tensor is copied to the CPU first)."""
    if is_tensor(value):
        import torch

        tensor = value.detach().cpu().contiguous()
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.view(torch.uint8).numpy().data if tensor.numel() else b"")
        return
    array = np.ascontiguousarray(value)
    digest.update(f"{array.dtype}{array.shape}\0".encode())
    digest.update(array.data)
