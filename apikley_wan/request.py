"""What the user asks for (references, prompt, settings, take), every cheap check on it before any
file work or paid call, and its fingerprint: the key under which the journal keeps its task."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from . import media
from .client import ApikleyClient, sent_prompt
from .errors import InputError
from .hosts import refused_host
from .settings import MODEL

# a public clip URL longer than this is refused (real storage links are far shorter)
MAX_URL_LENGTH = 2048


@dataclass
class Reference:
    """One reference clip: a local source (file path, VIDEO object, IMAGE frames) or a public URL."""

    source: Any = None
    fps: Optional[float] = None
    audio: Optional[dict] = None
    url: Optional[str] = None


@dataclass
class GenerationRequest:
    prompt: str
    duration: str
    resolution: str
    references: list = field(default_factory=list)
    multi_shots: bool = False
    take: int = 0


def _hash_params(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def check_request(request: GenerationRequest, api_base: str) -> None:
    """Every cheap check, before any file work, upload or paid call."""
    refs = request.references
    if not refs:
        raise InputError("no reference video: connect 'video', or 'images' with 'fps', or give 'video_url'")
    if len(refs) > 3:
        raise InputError(f"at most 3 reference videos are allowed (got {len(refs)})")
    for i, ref in enumerate(refs, 1):
        if ref.url is None and ref.source is None:
            raise InputError(f"reference {i} is empty")
    urls = [ref.url or "https://example.invalid/ref.mp4" for ref in refs]  # local clips: not uploaded yet
    ApikleyClient.build_create_body(request.prompt, urls, request.duration, request.resolution,
                                    request.multi_shots)
    for ref in refs:
        if ref.url is not None:
            check_public_url(ref.url, api_base)


def check_public_url(url: str, api_base: str) -> None:
    """A ``video_url`` the provider can fetch: short, http(s), and not on this machine or LAN (allowed
    only when the API itself runs there, e.g. the simulator). Refused before any paid call."""
    if len(url) > MAX_URL_LENGTH:
        raise InputError(f"video_url is {len(url)} characters long; at most {MAX_URL_LENGTH} are allowed")
    host = refused_host(url, api_base)
    if host is not None:
        raise InputError(f"video_url points at {host!r}, a local or private address the provider cannot reach",
                         hint="Give a public http(s) link, or connect the clip to 'video' so it is uploaded.")


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
