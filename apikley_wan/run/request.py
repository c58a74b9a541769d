"""What the user asks for (references, prompt, settings, take), every cheap check on it before any
file work or paid call, and its fingerprint: the key under which the journal keeps its task.

``build_request`` is the one way in: the node's widgets, the command line's options and a batch line's
columns are the same raw inputs (video, video_2, video_3, video_url, prompt, duration, ...) and get the
same checks and the same messages."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from .. import media
from ..api.tasks import check_create_fields, check_reference_url, sent_prompt
from ..errors import InputError
from ..settings.settings import MODEL


@dataclass
class Reference:
    """One reference clip: a local source (file path, VIDEO object, IMAGE frames) or a public URL."""

    source: Any = None
    fps: Optional[float] = None
    audio: Optional[dict] = None
    url: Optional[str] = None


@dataclass(frozen=True)
class GenerationRequest:
    """A request that exists has passed every cheap check (``check_request``): none is needed later."""

    prompt: str
    duration: str
    resolution: str
    references: list = field(default_factory=list)
    multi_shots: bool = False
    take: int = 0

    def __post_init__(self):
        check_request(self)


def _hash_params(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def check_request(request: GenerationRequest) -> None:
    """Every cheap check, before any file work, upload or paid call, run as a request is made: the create
    body's own field checks (``check_create_fields``, which ``build_create_body`` runs too) on the
    request's fields, and each ``video_url``'s form."""
    refs = request.references
    for i, ref in enumerate(refs, 1):
        if ref.url is None and ref.source is None:
            raise InputError(f"reference {i} is empty")
    check_create_fields(request.prompt, len(refs), request.duration, request.resolution)
    for ref in refs:
        if ref.url is not None:
            check_reference_url(ref.url)


# the local clips' places, in the user's words: each is character1, character2, character3 in turn
CLIPS = ("video", "video_2", "video_3")
_TRUE, _FALSE = ("true", "1", "yes", "y", "on"), ("false", "0", "no", "n", "off", "")


def build_request(prompt, duration, resolution, *, video=None, video_2=None, video_3=None, images=None,
                  fps=24.0, audio=None, video_url=None, multi_shots=False, take=0,
                  api_base: Optional[str] = None) -> GenerationRequest:
    """The one way raw inputs become a request, every check included (InputError says what is wrong).

    A clip is a file path or a VIDEO; ``images`` (+ ``fps``, ``audio``) is character1 instead of ``video``;
    ``video_url`` (one link, or a list of them) comes after the clips. Text from a file is welcome: a
    duration of 5, 5.0 or "5", a take of "2", multi_shots "yes". With ``api_base`` (where the task will
    be created) a link on this machine or LAN is refused too (``build_create_body`` refuses it again)."""
    if video is not None and images is not None:
        raise InputError("give either 'video' or 'images' as character1, not both")
    if audio is not None and images is None:
        raise InputError("'audio' goes with 'images'; a VIDEO brings its own sound")
    refs = []
    if images is not None:
        if getattr(images, "ndim", 0) != 4 or images.shape[0] == 0:
            raise InputError("'images' must be a non-empty IMAGE batch")
        refs.append(Reference(source=images, fps=float(fps), audio=audio))
    clips = dict(zip(CLIPS, (video, video_2, video_3)))
    for i, name in enumerate(CLIPS):
        if clips[name] is None:
            continue
        if i and clips[CLIPS[i - 1]] is None and not (i == 1 and images is not None):
            raise InputError(f"'{name}' (character{i + 1}) is given, but '{CLIPS[i - 1]}' (character{i}) is not",
                             hint="Give the clips in order: video, video_2, video_3; nothing was sent to the API.")
        if isinstance(clips[name], (str, os.PathLike)) and not os.path.isfile(clips[name]):
            raise InputError(f"{name}: the file {os.fspath(clips[name])!r} does not exist")
        refs.append(Reference(source=clips[name]))
    links = list(video_url) if isinstance(video_url, (list, tuple)) else [video_url]
    for link in links:
        if link is not None and _text("video_url", link).strip():
            check_reference_url(link.strip(), api_base)
            refs.append(Reference(url=link.strip()))
    return GenerationRequest(prompt=prompt, duration=_duration(duration), resolution=str(resolution).strip(),
                             references=refs, multi_shots=_flag("multi_shots", multi_shots), take=_whole("take", take))


def _text(name: str, value) -> str:
    if not isinstance(value, str):
        raise InputError(f"{name} must be text (got {json.dumps(value)[:40]})")
    return value


def _duration(value) -> str:
    text = str(value).strip()
    return text[:-2] if text.endswith(".0") else text


def _flag(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise InputError(f"{name} must be true or false (got {str(value)[:40]!r})")


def _whole(name: str, value) -> int:
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a whole number (got {str(value)[:40]!r})") from None


def fingerprint(request: GenerationRequest, api_base: str) -> tuple:
    """``(fingerprint, params)``: content of every reference plus every parameter as the create body
    carries it (``sent_prompt``), the take, and the API it goes to (a dry run on the simulator must never
    stand in for a real, paid result)."""
    refs = []
    for ref in request.references:
        if ref.url is not None:
            refs.append({"url": ref.url})
        else:
            refs.append({"content": media.fingerprint_source(ref.source, fps=ref.fps, audio=ref.audio)})
    params = {"api": api_base, "model": MODEL, "prompt": sent_prompt(request.prompt), "duration": str(request.duration),
              "resolution": request.resolution, "multi_shots": bool(request.multi_shots),
              "take": int(request.take), "references": refs}
    return _hash_params(params), params
