"""Audio as planar float32 samples (``Pcm``), and its conversions to and from ComfyUI's AUDIO.

One in-between form lets a clip's sound travel from a file or an AUDIO input
to the encoder, and from a result file back to an AUDIO output, unchanged in length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import av
import numpy as np

from ..errors import InputError
from .probe import Readable, open_input


@dataclass(frozen=True)
class Pcm:
    samples: np.ndarray  # float32, [channels, samples]
    rate: int

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def seconds(self) -> float:
        return self.samples.shape[1] / self.rate

    def at_most_stereo(self) -> "Pcm":
        """Surround sound folded to stereo (odd channels left, even right): uploads carry AAC stereo."""
        if self.channels <= 2:
            return self
        left, right = self.samples[0::2].mean(axis=0), self.samples[1::2].mean(axis=0)
        return Pcm(np.ascontiguousarray(np.stack([left, right]), dtype=np.float32), self.rate)

    def trimmed(self, seconds: float) -> "Pcm":
        """At most ``seconds`` long (rounded up to a whole sample), so sound never outlasts the picture."""
        return Pcm(self.samples[:, :math.ceil(seconds * self.rate)], self.rate)


def pcm_from_comfy(audio: Optional[dict]) -> Optional[Pcm]:
    """The first item of a ComfyUI AUDIO (``{"waveform": [B, C, T], "sample_rate": int}``)."""
    if audio is None:
        return None
    rate = comfy_sample_rate(audio)
    waveform: Any = audio["waveform"]
    if hasattr(waveform, "detach"):  # a torch tensor, possibly on a GPU
        waveform = waveform.detach().float().cpu().numpy()
    samples = np.asarray(waveform, dtype=np.float32)
    if samples.ndim == 3:
        samples = samples[0]
    if samples.ndim == 1:
        samples = samples[None, :]
    if samples.ndim != 2:
        raise InputError(f"the AUDIO waveform is shaped {tuple(np.shape(waveform))}; "
                         "expected [batch, channels, samples]")
    if samples.shape[1] == 0:
        return None
    if not np.isfinite(samples).all():  # the AAC encoder would turn them into noise or silence
        raise InputError("the AUDIO waveform holds NaN or infinite samples; audio samples must be "
                         "finite values from -1 to 1",
                         hint="Check the node that made the sound, then run again; nothing was sent to the API.")
    return Pcm(np.ascontiguousarray(samples), rate)


def comfy_sample_rate(audio: Any) -> int:
    """The sample rate of a ComfyUI AUDIO, refused unless it is a positive whole number
    (checked before hashing or encoding, so a malformed AUDIO is one clear error)."""
    if not isinstance(audio, dict) or "waveform" not in audio:
        raise InputError("the AUDIO input is not a ComfyUI AUDIO (a dict with 'waveform' and 'sample_rate')")
    value = audio.get("sample_rate")
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = math.nan
    if not (rate > 0 and rate.is_integer()):
        raise InputError(f"the AUDIO sample rate is {value!r}; it must be a positive whole number of "
                         "samples per second, such as 44100")
    return int(rate)


def pcm_to_comfy(pcm: Pcm) -> dict:
    """A ComfyUI AUDIO dict: float32 waveform ``[1, C, T]`` sharing the samples' memory."""
    import torch

    return {"waveform": torch.from_numpy(pcm.samples).unsqueeze(0), "sample_rate": pcm.rate}


def silence(seconds: float, rate: int = 44100) -> dict:
    """A silent ComfyUI AUDIO of the given length (stereo)."""
    return pcm_to_comfy(Pcm(np.zeros((2, max(1, int(seconds * rate))), dtype=np.float32), rate))


def read_pcm(source: Readable, *, max_seconds: Optional[float] = None) -> Optional[Pcm]:
    """Decode the first audio stream to planar float32 (``None`` if the file has no sound)."""
    with open_input(source) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler: Optional[av.AudioResampler] = None
        rate = stream.sample_rate
        chunks = []
        for frame in container.decode(stream):
            if resampler is None:  # keep the stream's own rate and channels, only make it fltp
                rate = frame.sample_rate
                resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=rate)
            chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
        if resampler is not None:
            chunks.extend(f.to_ndarray() for f in resampler.resample(None))
        if not chunks:
            return None
        pcm = Pcm(np.concatenate(chunks, axis=1).astype(np.float32, copy=False), rate)
    return pcm.trimmed(max_seconds) if max_seconds is not None else pcm
