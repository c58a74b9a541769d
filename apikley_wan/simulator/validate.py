"""createTask body validation with the documented limits of wan/2-6-video-to-video (§2)."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..settings.settings import DURATIONS, MODEL, RESOLUTIONS


class Invalid(ValueError):
    """The reason becomes the ``msg`` of a code-422 envelope."""


def is_http_url(value) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def validate_create(body) -> tuple[dict, str | None]:
    """Return (input, callBackUrl) as sent, or raise Invalid with the first problem found."""
    if not isinstance(body, dict):
        raise Invalid("request body must be a JSON object")
    if body.get("model") != MODEL:
        raise Invalid(f"model must be {MODEL}")
    callback = body.get("callBackUrl")
    if callback is not None and not is_http_url(callback):
        raise Invalid("callBackUrl must be an http(s) URL")
    data = body.get("input")
    if not isinstance(data, dict):
        raise Invalid("input is required")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not 2 <= len(prompt) <= 5000:
        raise Invalid("input.prompt must be 2 to 5000 characters")
    urls = data.get("video_urls")
    if not isinstance(urls, list) or not 1 <= len(urls) <= 3 or not all(map(is_http_url, urls)):
        raise Invalid("input.video_urls must be a list of 1 to 3 http(s) URLs")
    if data.get("duration", "5") not in DURATIONS:
        raise Invalid("input.duration must be one of " + ", ".join(f'"{d}"' for d in DURATIONS))
    if data.get("resolution", "1080p") not in RESOLUTIONS:
        raise Invalid("input.resolution must be one of " + ", ".join(f'"{r}"' for r in RESOLUTIONS))
    if not isinstance(data.get("multi_shots", False), bool):
        raise Invalid("input.multi_shots must be a boolean")
    return data, callback
