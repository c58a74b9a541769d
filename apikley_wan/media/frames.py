"""IMAGE-like frames (ComfyUI's float ``[B, H, W, C]`` tensor, a numpy array, or a list of
``[H, W, C]`` frames) checked once and then read one frame at a time.

Reading per frame keeps temporaries at one frame's size (a 121-frame 720p batch
is 1.3 GB of floats; converting it whole would double that) and keeps them in cache.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np

from ..errors import InputError


def is_tensor(value: Any) -> bool:
    """A torch tensor, recognised without importing torch."""
    return type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach")


class FrameBatch:
    """Validated frames: at least one, all the same size, RGB or RGBA."""

    def __init__(self, images: Any):
        if is_tensor(images) or isinstance(images, np.ndarray):
            if images.ndim == 3:
                images = images[None]
            if images.ndim != 4:
                raise InputError(f"expected images shaped [frames, height, width, channels], "
                                 f"got shape {tuple(images.shape)}")
            self._frames = images
        else:
            self._frames = list(images)
        if len(self._frames) == 0:
            raise InputError("the clip has no frames")
        shapes = {tuple(frame.shape) for frame in self._frames} if isinstance(self._frames, list) \
            else {tuple(self._frames.shape[1:])}
        if any(len(shape) != 3 for shape in shapes):
            raise InputError("each frame in a list must be shaped [height, width, channels]")
        if len(shapes) > 1:
            sizes = sorted(f"{s[1]}x{s[0]}" for s in shapes)
            raise InputError(f"the frames have different sizes ({', '.join(sizes)}); "
                             "all frames of a clip must be the same size")
        self.height, self.width, channels = shapes.pop()
        if channels not in (3, 4):
            raise InputError(f"expected RGB or RGBA frames, got {channels} channels")
        dtypes = {frame.dtype for frame in self._frames} if isinstance(self._frames, list) else {self._frames.dtype}
        for dtype in dtypes:
            _check_dtype(dtype)

    def __len__(self) -> int:
        return len(self._frames)

    def __iter__(self) -> Iterator[Any]:
        """The frames as given (tensor or array slices), e.g. for hashing."""
        return iter(self._frames)

    def rgb24(self) -> Iterator[np.ndarray]:
        """Each frame as contiguous uint8 RGB ``[H, W, 3]``; floats are read as 0..1 and rounded."""
        for index, frame in enumerate(self._frames):
            yield np.ascontiguousarray(_to_uint8(frame, index)[..., :3])


def _check_dtype(dtype: Any) -> None:
    """Only floats (read as 0..1) and uint8 have a meaning as pixels; integers or booleans
    would silently turn into black or white frames."""
    name = str(dtype).removeprefix("torch.")
    if name != "uint8" and not name.startswith(("float", "bfloat")):
        raise InputError(f"the images are of type {name}, but an IMAGE must hold float values from 0 to 1",
                         hint="Convert the frames to float (divide 0..255 values by 255), then run again; "
                              "nothing was sent to the API.")


def _check_finite(low: float, high: float, index: int) -> None:
    """NaN and infinity have no colour; converting them would give arbitrary pixels."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputError(f"the image at index {index} holds NaN or infinite values; an IMAGE must hold "
                         "finite values from 0 to 1",
                         hint="Check the node that made the frames, then run again; nothing was sent to the API.")


def _to_uint8(frame: Any, index: int) -> np.ndarray:
    if is_tensor(frame):
        import torch

        frame = frame.detach()
        if frame.dtype != torch.uint8:  # convert where the frame lives (maybe a GPU), move 1/4 the bytes
            _check_finite(float(frame.min()), float(frame.max()), index)  # min/max propagate NaN
            frame = frame.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
        return frame.cpu().numpy()
    frame = np.asarray(frame)
    if frame.dtype == np.uint8:
        return frame
    _check_finite(float(frame.min()), float(frame.max()), index)
    scaled = np.multiply(frame, 255, dtype=np.float32)
    scaled += 0.5
    return np.clip(scaled, 0, 255, out=scaled).astype(np.uint8)
