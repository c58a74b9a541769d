"""The task's two messages: the createTask body (its fields checked the same way before any upload and when
it is built: what is checked is what is sent) and the recordInfo answer, decoded into ``TaskInfo``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import urlsplit

from ..errors import InputError
from ..settings.settings import DURATIONS, MODEL, PROMPT_CHARS, RESOLUTIONS
from .hosts import refused_host
from .untrusted import plain_number, short_text

# a public clip URL longer than this is refused (real storage links are far shorter)
MAX_URL_LENGTH = 2048

# the states recordInfo may report; anything else a server says is shown and stored as "waiting"
TASK_STATES = ("waiting", "queuing", "generating", "success", "fail")


def sent_prompt(prompt) -> str:
    """The prompt as the create body carries it: without its surrounding whitespace. The one rule for
    both the body and the fingerprint (request.py), so prompts that differ only there are one task."""
    return prompt.strip() if isinstance(prompt, str) else ""


def _sendable(text: str, what: str) -> None:
    """Text the create body can carry as UTF-8 JSON. A lone surrogate (a broken emoji from a paste, or a
    command line's undecodable bytes) cannot be: refused before anything is uploaded or paid for."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(f"{what} has a character that cannot be sent (U+{ord(text[exc.start]):04X} at "
                         f"position {exc.start + 1}, half of a character pair); delete or retype it") from None


def check_create_fields(prompt, references: int, duration, resolution) -> None:
    """The create body's fields that are known before any upload (the prompt as ``sent_prompt`` makes it,
    how many references, duration, resolution): checked for a request before any paid step, and again by
    ``build_create_body``. One set of messages for the node, the command line and a batch."""
    if not isinstance(prompt, str):
        raise InputError(f"the prompt must be text (got {json.dumps(prompt)[:40]})")
    sent = sent_prompt(prompt)
    if not PROMPT_CHARS[0] <= len(sent) <= PROMPT_CHARS[1]:
        raise InputError(f"the prompt must be {PROMPT_CHARS[0]} to {PROMPT_CHARS[1]} characters (got {len(sent)})")
    _sendable(sent, "the prompt")
    if references < 1:
        raise InputError("no reference video: give 'video' (a clip) or 'video_url' (a public link)")
    if references > 3:
        raise InputError(f"at most 3 reference videos are allowed (got {references})")
    if str(duration) not in DURATIONS:
        raise InputError(f"unknown duration {str(duration)[:40]!r}; use {' or '.join(DURATIONS)} (seconds)")
    if resolution not in RESOLUTIONS:
        raise InputError(f"unknown resolution {str(resolution)[:40]!r}; use {' or '.join(RESOLUTIONS)}")


def check_reference_url(url, api_base: Optional[str] = None) -> None:
    """A reference link the create body may carry: http(s), with a host, short, text UTF-8 can carry; with
    ``api_base`` (where the body goes) also one the provider can fetch: not on this machine or LAN (allowed
    only when the API itself runs there, e.g. the simulator)."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise InputError(f"reference video URL must be http(s): {url!r}"[:300])
    if len(url) > MAX_URL_LENGTH:
        raise InputError(f"video_url is {len(url)} characters long; at most {MAX_URL_LENGTH} are allowed")
    _sendable(url, "a reference video URL")
    host = refused_host(url, api_base) if api_base is not None else None
    if host is not None:
        raise InputError(f"video_url points at {host!r}, a local or private address the provider cannot reach",
                         hint="Give a public http(s) link, or connect the clip to 'video' so it is uploaded.")


def build_create_body(prompt: str, video_urls: list, duration: str, resolution: str,
                      multi_shots: bool = False, callback_url: Optional[str] = None, *,
                      api_base: Optional[str] = None) -> dict:
    """The createTask body for the API at ``api_base``, its fields checked first by the same
    ``check_create_fields`` a request is checked with before any upload (what is checked is what is sent)."""
    if not isinstance(video_urls, (list, tuple)):
        raise InputError(f"the reference video URLs must be a list (got {type(video_urls).__name__})")
    check_create_fields(prompt, len(video_urls), duration, resolution)
    for url in video_urls:
        check_reference_url(url, api_base)
    prompt, duration = sent_prompt(prompt), str(duration)
    body = {"model": MODEL, "input": {"prompt": prompt, "video_urls": list(video_urls),
                                      "duration": duration, "resolution": resolution}}
    if multi_shots:
        body["input"]["multi_shots"] = True
    if callback_url:
        if urlsplit(callback_url).scheme not in ("http", "https"):
            raise InputError(f"callback URL must be http(s): {callback_url!r}")
        body["callBackUrl"] = callback_url
    return body


@dataclass
class TaskInfo:
    """One recordInfo answer, decoded (param and resultJson are JSON strings on the wire)."""

    task_id: str
    state: str
    result_urls: list = field(default_factory=list)
    fail_code: Optional[str] = None
    fail_msg: Optional[str] = None
    cost_time_s: Optional[float] = None
    create_time_ms: Optional[int] = None
    complete_time_ms: Optional[int] = None
    consumed_credits: Optional[float] = None
    duration: Optional[str] = None      # the task's own settings, from recordInfo's ``param``
    resolution: Optional[str] = None
    problem: Optional[str] = None       # a status check that failed, in words (watch.py; never from the server)

    @property
    def pending(self) -> bool:
        return self.state not in ("success", "fail")

    @classmethod
    def from_record(cls, task_id: str, data: dict) -> "TaskInfo":
        """Only what the record may hold: a known state, http(s) result URLs, short text, finite numbers.

        The task id is the one that was asked for, never the server's (it could be a path).
        """
        state = data.get("state")
        return cls(task_id=task_id, state=state if state in TASK_STATES else "waiting",
                   result_urls=_result_urls(data.get("resultJson")),
                   fail_code=short_text(data.get("failCode")), fail_msg=short_text(data.get("failMsg")),
                   cost_time_s=plain_number(data.get("costTime")), create_time_ms=plain_number(data.get("createTime")),
                   complete_time_ms=plain_number(data.get("completeTime")),
                   consumed_credits=plain_number(data.get("consumeCredits")), **_task_settings(data.get("param")))


def _task_settings(raw) -> dict:
    """``duration``/``resolution`` from ``param``: a JSON string whose ``input`` is JSON again.

    Only values the model offers are kept: a task whose settings are unknown has an unknown cost.
    """
    try:
        param = json.loads(raw) if isinstance(raw, str) else raw
        inner = param.get("input")
        inner = json.loads(inner) if isinstance(inner, str) else inner
        duration, resolution = str(inner.get("duration")), inner.get("resolution")
    except (ValueError, AttributeError, TypeError):
        return {}
    return {"duration": duration if duration in DURATIONS else None,
            "resolution": resolution if resolution in RESOLUTIONS else None}


def _result_urls(raw) -> list:
    """``resultJson`` (a JSON string on the wire) → its http(s) result URLs."""
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
        urls = parsed.get("resultUrls") or []
    except (ValueError, AttributeError):
        return []
    return [u for u in urls if isinstance(u, str) and len(u) <= 4096
            and urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc] if isinstance(urls, list) else []
