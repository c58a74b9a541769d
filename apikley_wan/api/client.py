"""The one place that speaks the apikley protocol: auth, the {code,msg,data} envelope,
retries, polling and downloads.

Money rule: ``create_task`` is re-sent only when the answer proves no task was made
(a 429/455 body, a refused connection), and at most ``CREATE_SENDS_PER_ENTRY`` requests
the API answered. Anything else after the request may have left the machine raises
``CreateUncertainError`` and is never re-posted.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import functools
import http.client
import io
import json
import logging
import math
import os
import re
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from . import simulated
from ..settings import config
from ..errors import (ApikleyError, BadResponseError, RunCancelledError, ConfigError, CreateUncertainError,
                     BalanceUnreadableError, DownloadError, InputError, MaintenanceError, NetworkError,
                     RateLimitError, ServerError, ApiValidationError, StorageError, error_for_code)
from ..files import open_part, write_all
from .hosts import refused_host
from ..record.entry import valid_task_id
from ..settings.settings import API_CALL_DEADLINE_S, CREATE_SENDS_PER_ENTRY, DURATIONS, MODEL, PROMPT_CHARS, RESOLUTIONS, amount

log = logging.getLogger("apikley_wan")

MAX_RESULT_BYTES = 2 * 1024 ** 3
SMALL_UPLOAD_BYTES = 1024 * 1024
# downloads read what has arrived, at most this much at a time, so Cancel is felt per read
_CHUNK = 64 * 1024
# a result link may redirect this many times (each hop checked like the first), no more
MAX_RESULT_REDIRECTS = 5
# the states recordInfo may report; anything else a server says is shown and stored as "waiting"
TASK_STATES = ("waiting", "queuing", "generating", "success", "fail")
# server text longer than this is cut (once scrubbed whole) before it reaches a message, a log line or the journal
MAX_SERVER_TEXT = 500
# a non-JSON answer is quoted up to this many characters
SNIPPET_CHARS = 120
# any run of this many of the key's characters is masked as the key (an echo cut short, a key split in two)
KEY_FRAGMENT_CHARS = 8
POLL_TIMEOUT = (10.0, 20.0)


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
                   fail_code=_text(data.get("failCode")), fail_msg=_text(data.get("failMsg")),
                   cost_time_s=_number(data.get("costTime")), create_time_ms=_number(data.get("createTime")),
                   complete_time_ms=_number(data.get("completeTime")),
                   consumed_credits=_number(data.get("consumeCredits")), **_task_settings(data.get("param")))


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


def _text(value, limit: int = MAX_SERVER_TEXT) -> Optional[str]:
    """Server text for a message: a string, cut to ``limit``; None when empty. The one place server text
    is cut: what it is given is already scrubbed whole (a cut first could leave most of the key)."""
    if value is None or value == "":
        return None
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _number(value) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return value


def _result_urls(raw) -> list:
    """``resultJson`` (a JSON string on the wire) → its http(s) result URLs."""
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
        urls = parsed.get("resultUrls") or []
    except (ValueError, AttributeError):
        return []
    return [u for u in urls if isinstance(u, str) and len(u) <= 4096
            and urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc] if isinstance(urls, list) else []


# hears each retry of a request in words: "connection refused, retry 2 of 4"
OnRetry = Optional[Callable[[str], None]]


def _tell(on_retry: OnRetry, exc: BaseException, attempt: int, attempts: int) -> None:
    if on_retry is not None:
        on_retry(f"{exc.briefly()}, retry {attempt} of {attempts - 1}")


class Cancel:
    """A cancel hook shared by the caller and the client: waits are sliced so it is felt within a second,
    and a transfer blocked in a socket read is shut down the moment cancel is set."""

    def __init__(self, check: Optional[Callable[[], bool]] = None):
        self._event = threading.Event()
        self._check = check
        self._lock = threading.Lock()
        self._closers: list = []

    def set(self) -> None:
        self._event.set()
        with self._lock:
            closers, self._closers = self._closers, []
        for close in closers:
            try:
                close()
            except Exception:  # a transfer that already ended
                log.debug("closing a cancelled transfer failed", exc_info=True)

    @contextlib.contextmanager
    def closing(self, close: Callable[[], None]):
        """While inside, ``set()`` calls ``close`` (e.g. shuts down the socket a read blocks on)."""
        with self._lock:
            self._closers.append(close)
        if self._event.is_set():
            close()
        try:
            yield
        finally:
            with self._lock:
                if close in self._closers:
                    self._closers.remove(close)

    @property
    def requested(self) -> bool:
        return self._event.is_set() or bool(self._check and self._check())

    def sleep(self, seconds: float, task_id: Optional[str] = None) -> None:
        """A blocking retry backoff (on a worker) in slices of at most 0.2 s; raise RunCancelledError on cancel."""
        end = time.monotonic() + max(0.0, seconds)
        while True:
            self.raise_if_requested(task_id)
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.2, left))

    def raise_if_requested(self, task_id: Optional[str] = None) -> None:
        if self.requested:
            raise RunCancelledError("stopped by the user", task_id=task_id,
                                 credits_may_be_spent=task_id is not None)


def _nothing_was_sent(exc: BaseException) -> bool:
    """True when the connection was never made (refused, DNS, connect timeout)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (requests.exceptions.ConnectTimeout, urllib3.exceptions.NewConnectionError,
                            urllib3.exceptions.ConnectTimeoutError, ConnectionRefusedError)):
            return True
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            exc = exc.reason
            continue
        nxt = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc = nxt or exc.__cause__ or exc.__context__
    return False


def _chain(exc: BaseException) -> list:
    """``exc`` and everything it wraps (reasons, arguments, causes, contexts), each once."""
    found, todo = [], [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
    return found


# (kinds, words) in order of precedence: the first kind found anywhere in the chain names the cause
_CAUSES = (
    ((urllib3.exceptions.NameResolutionError, socket.gaierror), "name not resolved"),
    ((ConnectionRefusedError,), "connection refused"),
    ((requests.exceptions.ProxyError, urllib3.exceptions.ProxyError), "the proxy failed"),
    ((requests.exceptions.SSLError, ssl.SSLError), "TLS (https) handshake failed"),
    ((requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError, socket.timeout), "timed out"),
    ((ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.RemoteDisconnected,
      urllib3.exceptions.ProtocolError), "connection closed by the server"),
)
_ERRNO_WORDS = {errno.ENETUNREACH: "network unreachable", errno.EHOSTUNREACH: "no route to host",
                errno.ECONNREFUSED: "connection refused"}


def network_cause(exc: BaseException) -> str:
    """A transport failure in a few words ("connection refused", "timed out", "name not resolved"),
    never a library's message (those quote URLs and internals)."""
    chain = _chain(exc)
    for kinds, words in _CAUSES:
        if any(isinstance(e, kinds) for e in chain):
            return words
    for e in chain:
        if isinstance(e, OSError) and e.errno in _ERRNO_WORDS:
            return _ERRNO_WORDS[e.errno]
    return f"network error ({type(exc).__name__})"


def _host(url: str) -> str:
    """Where a request went, for a message: host and port only (a signed link's query stays out)."""
    return urlsplit(url).netloc.rpartition("@")[2]


_BEARER = re.compile(r"(?i)bearer\s+\S+")


def scrub(text: str, secret: Optional[str]) -> str:
    """Remove the key, every run of ``KEY_FRAGMENT_CHARS`` or more of its characters, and anything shaped
    like an Authorization value from text we did not write."""
    if not text:
        return text
    if secret:
        text = _mask_fragments(text.replace(secret, "•••"), secret)
    return _BEARER.sub("Bearer •••", text)


def _mask_fragments(text: str, secret: str) -> str:
    """Each stretch covered by the key's n-character pieces (n = ``KEY_FRAGMENT_CHARS``) becomes •••:
    every piece of the key at least that long is such a stretch."""
    n = KEY_FRAGMENT_CHARS
    if len(secret) < n:
        return text
    pieces = {secret[i:i + n] for i in range(len(secret) - n + 1)}
    spans: list = []  # [start, end) of each stretch, merged where pieces overlap or touch
    for match in re.finditer("(?=(?:" + "|".join(map(re.escape, sorted(pieces))) + "))", text):
        if spans and match.start() <= spans[-1][1]:
            spans[-1][1] = match.start() + n
        else:
            spans.append([match.start(), match.start() + n])
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], "•••"]
        last = end
    return "".join(out) + text[last:]


def scrub_tree(value, secret: Optional[str]):
    """Every string in a decoded server answer (keys and values, at any depth), scrubbed: what the
    server says can reach no message, log line, journal column or file with the key in it."""
    if isinstance(value, str):
        return scrub(value, secret)
    if isinstance(value, dict):
        return {scrub_tree(k, secret): scrub_tree(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_tree(v, secret) for v in value]
    return value


def _creates(count: int) -> str:
    return f"{count} create request{'' if count == 1 else 's'}"


def _refused_creates(exc: ApikleyError, sent: int) -> ApikleyError:
    """The last refusal of a create, saying how many create requests were sent and what that may mean."""
    exc.detail = (f"{exc.detail}; " if exc.detail else "") + (
        f"{_creates(sent)} {'was' if sent == 1 else 'were'} sent, and the API answered each with a refusal")
    exc.hint = (f"{exc.hint} A well-behaved API made no task for {'it' if sent == 1 else 'them'}; one that creates "
                f"tasks anyway may have made up to {sent}: look in your apikley task log before running again (the "
                "pack cannot ask the API for a task it was not told the id of).")
    exc.money_note = "No credits should have been spent: the API said it refused each request."
    return exc


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


def check_reference_url(url) -> None:
    """A reference link the create body may carry: http(s), with a host, text UTF-8 can carry."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise InputError(f"reference video URL must be http(s): {url!r}"[:300])
    _sendable(url, "a reference video URL")


class _Call(HTTPAdapter):
    """One API call's own connections: never retried by urllib3, every read of the answer waits at most
    until the call's deadline (a server dripping its answer a byte at a time cannot hold a worker longer
    than that), and ``shut`` shuts the answer's socket (Cancel). A SOCKS proxy's connections keep only
    the socket timeout."""

    def __init__(self, deadline_at: float):
        self.deadline_at = deadline_at
        self._lock = threading.Lock()
        self._sockets: list = []
        self._shut = False
        super().__init__(max_retries=0)  # never let urllib3 re-send anything behind our back

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self._watch(self.poolmanager)

    def proxy_manager_for(self, proxy, **kwargs):
        manager = super().proxy_manager_for(proxy, **kwargs)
        self._watch(manager)
        return manager

    def _watch(self, manager) -> None:
        if manager.pool_classes_by_scheme is urllib3.poolmanager.pool_classes_by_scheme:
            manager.pool_classes_by_scheme = {scheme: functools.partial(self._pool, cls)
                                              for scheme, cls in manager.pool_classes_by_scheme.items()}

    def _pool(self, cls, *args, **kwargs):
        pool = cls(*args, **kwargs)
        make = pool.ConnectionCls

        def connection(**kw):
            conn = make(**kw)
            conn.response_class = functools.partial(_Answer, call=self)
            return conn
        pool.ConnectionCls = connection
        return pool

    def answering(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            shut = self._shut
        if shut:
            _shut_down(sock)

    def shut(self) -> None:
        with self._lock:
            self._shut, sockets = True, list(self._sockets)
        for sock in sockets:
            _shut_down(sock)


def _shut_down(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


class _Answer(http.client.HTTPResponse):
    """An answer read within its call's deadline: each read of the socket waits at most what is left."""

    def __init__(self, sock, *args, call: _Call, **kwargs):
        super().__init__(sock, *args, **kwargs)
        self.fp.close()
        self.fp = io.BufferedReader(_Within(sock, call.deadline_at))
        call.answering(sock)


class _Within(io.RawIOBase):
    def __init__(self, sock: socket.socket, deadline_at: float):
        self._sock, self._raw, self._deadline_at = sock, sock.makefile("rb", buffering=0), deadline_at

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self._deadline_at - time.monotonic()
        if left <= 0:
            raise TimeoutError("the call's deadline passed")
        before = self._sock.gettimeout()
        self._sock.settimeout(left if before is None else min(before, left))
        try:
            return self._raw.readinto(buffer)
        finally:
            with contextlib.suppress(OSError):
                self._sock.settimeout(before)

    def close(self) -> None:
        self._raw.close()
        super().close()


def api_kind(base_url: str) -> str:
    """``simulated.SIMULATOR`` when the API at ``base_url`` says it is the simulator, else ``REAL``. Blocking."""
    return simulated.api_kind(ApikleyClient(api_key="", base_url=base_url).announces_simulator())


class ApikleyClient:
    """Blocking client; run it off ComfyUI's event loop (on ``workers``)."""

    def __init__(self, api_key: Optional[str] = None, base_url: Optional[str] = None, *,
                 cancel: Optional[Cancel] = None, timeout: tuple = (10.0, 60.0),
                 read_attempts: int = 5, create_attempts: int = 6, backoff_start_s: float = 1.0,
                 create_backoff_start_s: float = 0.5, download_backoff_s: float = 2.0,
                 call_deadline_s: float = API_CALL_DEADLINE_S):
        self.api_key = api_key if api_key is not None else config.api_key()
        self.base_url = (base_url or config.base_url()).rstrip("/")
        self.upload_base = config.upload_base_url(self.base_url)
        self.cancel = cancel or Cancel()
        self.timeout = timeout
        self.read_attempts = read_attempts
        self.create_attempts = create_attempts
        self.backoff_start_s = backoff_start_s
        self.create_backoff_start_s = max(0.5, create_backoff_start_s)
        self.download_backoff_s = download_backoff_s  # a failed download waits this much longer each time
        self.call_deadline_s = call_deadline_s  # one API call, its whole answer read, takes at most this
        # whether the API said it is the simulator (simulated.py), from its latest answer; None before one
        self.simulator: Optional[bool] = None

    # -- transport -----------------------------------------------------------------------
    @staticmethod
    def _new_session() -> requests.Session:
        """A session for one call: ``_send`` gives it the call's own connections (``_Call``)."""
        return requests.Session()

    def require_key(self) -> None:
        """A key that can be sent: the same rule as a pasted one (``config.clean_key``), whatever its source."""
        if not self.api_key:
            raise ConfigError("no API key", hint="Set APIKLEY_API_KEY or save a key in the pack's key file "
                                                 "(ComfyUI Settings > apikley).")
        if config.clean_key(self.api_key) != self.api_key:
            raise ConfigError(f"the API key in use (APIKLEY_API_KEY, else the saved key file) is not {config.KEY_RULE}",
                              hint="A copy from a web page can carry invisible characters (a zero-width or "
                                   "non-breaking space): set APIKLEY_API_KEY again by typing or pasting it, or "
                                   "save the key in ComfyUI Settings > apikley.")

    def _auth_headers(self, url: str) -> dict:
        """The key goes only to the API host (same scheme, host and port as the base)."""
        self.require_key()
        base, target = urlsplit(self.base_url), urlsplit(url)
        if (base.scheme, base.netloc) != (target.scheme, target.netloc):
            return {}
        return {"Authorization": f"Bearer {self.api_key}"}

    def _send(self, method: str, url: str, session: Optional[requests.Session] = None, *,
              cancellable: bool = True, **kw) -> requests.Response:
        """One request on connections of its own, its answer read within ``call_deadline_s``; Cancel shuts
        a ``cancellable`` call's socket (a create's answer is awaited: it holds the task id)."""
        headers = {**kw.pop("headers", {}), **self._auth_headers(url)}
        call = _Call(time.monotonic() + self.call_deadline_s)
        with contextlib.ExitStack() as stack:
            session = stack.enter_context(session or self._new_session())
            session.mount("http://", call)
            session.mount("https://", call)
            if cancellable:
                stack.enter_context(self.cancel.closing(call.shut))
            try:
                # never follow a redirect: it would re-send the body (and the key) to another address
                resp = session.request(method, url, headers=headers, allow_redirects=False,
                                       timeout=kw.pop("timeout", self.timeout), **kw)
            except requests.exceptions.RequestException as exc:
                late = time.monotonic() >= call.deadline_at
                # a few words, never the library's text
                err = NetworkError(f"no complete answer within {self.call_deadline_s:g} s" if late
                                   else network_cause(exc), host=_host(url))
                err.nothing_sent = _nothing_was_sent(exc)
                raise err from None
        self._learn(url, resp)
        return resp

    def _learn(self, url: str, resp: requests.Response) -> None:
        """Whether the API is the simulator, from an answer of the API host (not the result host)."""
        base, target = urlsplit(self.base_url), urlsplit(url)
        if (base.scheme, base.netloc) == (target.scheme, target.netloc):
            self.simulator = simulated.announced(self.base_url, resp.headers)

    def announces_simulator(self) -> bool:
        """Whether the API said it is the simulator; before any answer, one quick look (without the key)
        at an API on a loopback address. A remote API is never asked: it is not the simulator. Blocking."""
        if self.simulator is None and simulated.may_be_simulator(self.base_url):
            try:
                # HEAD of the API's root: no route, nothing is read or changed (the simulator refuses it, saying so)
                with self._new_session() as session:
                    resp = session.head(self.base_url + "/", allow_redirects=False, timeout=(2.0, 2.0))
            except requests.exceptions.RequestException:
                return False  # no answer: unknown, which counts as real credits
            self._learn(self.base_url, resp)
        return bool(self.simulator)

    def _envelope(self, resp: requests.Response, task_id: Optional[str] = None):
        """Return ``data`` of a {code,msg,data} answer or raise the typed error for its code.

        Server text is scrubbed of the key before it can reach a message, a log or the journal;
        once a task exists, any error says credits may have been spent.
        """
        if resp.is_redirect or 300 <= resp.status_code < 400:
            raise BadResponseError(f"HTTP {resp.status_code} redirect (API calls never follow redirects)",
                                   task_id=task_id)
        try:
            body = scrub_tree(resp.json(), self.api_key)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than a decoder goes
            snippet = _text(scrub(resp.text, self.api_key), SNIPPET_CHARS) or ""
            if resp.status_code >= 500:
                raise ServerError(f"HTTP {resp.status_code} with a non-JSON body ({snippet!r})",
                                  task_id=task_id) from None
            raise BadResponseError(f"HTTP {resp.status_code}, body starts {snippet!r}", task_id=task_id) from None
        if not isinstance(body, dict) or "code" not in body:
            if resp.status_code >= 500:
                raise ServerError(f"HTTP {resp.status_code}", task_id=task_id)
            raise BadResponseError(f"HTTP {resp.status_code}, unexpected JSON", task_id=task_id)
        try:
            code = int(body.get("code") or 0)
        except (TypeError, ValueError):
            raise BadResponseError(f"HTTP {resp.status_code}, envelope code is not a number",
                                   task_id=task_id) from None
        if code != 200:
            msg = _text(body.get("msg") or body.get("message")) or ""
            raise error_for_code(code, msg, task_id=task_id, credits_may_be_spent=True if task_id else None)
        return body.get("data")

    def _read(self, method: str, path_or_url: str, *, action: str, task_id: Optional[str] = None,
              attempts: Optional[int] = None, on_retry: OnRetry = None, **kw):
        """A request that is safe to repeat: retried with backoff on network errors, 429, 455, 5xx.

        ``action`` names it for the user (``NetworkError.gave_up``); ``on_retry`` hears each retry in words."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        data_factory = kw.pop("data_factory", None)
        delay = self.backoff_start_s
        attempts = attempts or self.read_attempts
        for attempt in range(1, attempts + 1):
            self.cancel.raise_if_requested(task_id)
            if data_factory is not None:
                kw["data"] = data_factory()
            try:
                return self._envelope(self._send(method, url, **kw), task_id)
            except (NetworkError, RateLimitError, MaintenanceError, ServerError) as exc:
                self.cancel.raise_if_requested(task_id)  # a call Cancel shut is a cancel, not a network error
                if attempt == attempts:
                    if isinstance(exc, NetworkError):
                        exc.gave_up(action, attempts)
                    if task_id:
                        exc.task_id = task_id
                        exc.credits_may_be_spent = True
                        exc.hint = (f"{exc.hint} The task exists: re-queue the same inputs (or collect it by "
                                    "task id) to pick it up without paying again.")
                    raise
                log.info("apikley %s %s failed (%s); retry %d in %.1fs", method, urlsplit(url).path,
                         type(exc).__name__, attempt, delay)
                _tell(on_retry, exc, attempt, attempts)
                self.cancel.sleep(delay, task_id=task_id)
                delay = min(delay * 2, 30.0)

    # -- create ------------------------------------------------------------------------------
    @staticmethod
    def build_create_body(prompt: str, video_urls: list, duration: str, resolution: str,
                          multi_shots: bool = False, callback_url: Optional[str] = None) -> dict:
        """The createTask body, its fields checked first by the same ``check_create_fields`` a request is
        checked with before any upload (what is checked is what is sent)."""
        if not isinstance(video_urls, (list, tuple)):
            raise InputError(f"the reference video URLs must be a list (got {type(video_urls).__name__})")
        check_create_fields(prompt, len(video_urls), duration, resolution)
        for url in video_urls:
            check_reference_url(url)
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

    def create_task(self, body: dict, on_retry: OnRetry = None, on_refused: Optional[Callable[[int], None]] = None) -> str:
        """POST createTask; re-send only when the answer proves no task was made, and at most
        ``CREATE_SENDS_PER_ENTRY`` requests the API answered (a refused connection never reached it).

        ``on_refused(sent)`` hears each refusal the API answered, before any re-send (the journal keeps the
        count). A provider that answers 429 yet creates anyway cannot be caught: the API offers no way to
        look for a task but by its id (api-reference §3), so the count is said instead.
        """
        url = self.base_url + "/api/v1/jobs/createTask"
        delay = self.create_backoff_start_s
        sent = 0  # requests the API answered with a refusal
        for attempt in range(1, self.create_attempts + 1):
            self.cancel.raise_if_requested()
            # a fresh connection: a stale pooled socket must not turn into a "lost answer"
            with self._new_session() as session:
                try:
                    resp = self._send("POST", url, session=session, json=body, cancellable=False)
                    data = self._envelope(resp)
                except NetworkError as exc:
                    if not exc.nothing_sent:
                        raise CreateUncertainError(exc.detail) from None
                    proof = exc
                except (RateLimitError, MaintenanceError) as exc:
                    proof = exc  # the body itself says the request was refused
                    sent += 1
                    if on_refused is not None:
                        on_refused(sent)
                except (ServerError, BadResponseError) as exc:
                    raise CreateUncertainError(exc.detail) from None
                else:
                    task_id = data.get("taskId") if isinstance(data, dict) else None
                    if not task_id:
                        raise CreateUncertainError("the create answer had no taskId")
                    if not valid_task_id(task_id):
                        raise CreateUncertainError("the create answer's taskId is not a valid task id "
                                                   f"({_text(task_id, 60)!r})")
                    return task_id
            if not isinstance(proof, NetworkError) and (attempt == self.create_attempts or sent == CREATE_SENDS_PER_ENTRY):
                raise _refused_creates(proof, sent)
            if attempt == self.create_attempts:
                raise proof.gave_up("create", attempt) if isinstance(proof, NetworkError) else proof
            log.info("apikley createTask refused (%s); no task was made; retry %d in %.1fs",
                     type(proof).__name__, attempt, delay)
            if sent and on_retry is not None:
                on_retry(f"{proof.briefly()}, {_creates(sent)} sent (at most {CREATE_SENDS_PER_ENTRY}), sending again")
            else:
                _tell(on_retry, proof, attempt, self.create_attempts)
            self.cancel.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    # -- reads -------------------------------------------------------------------------------
    def get_task(self, task_id: str, attempts: Optional[int] = None) -> Optional[TaskInfo]:
        """recordInfo; None while the API still answers 'recordInfo is null'."""
        try:
            data = self._read("GET", "/api/v1/jobs/recordInfo", params={"taskId": task_id}, task_id=task_id,
                              timeout=POLL_TIMEOUT, attempts=attempts, action="status")
        except ApiValidationError as exc:
            if "null" in exc.detail.lower():
                return None
            raise
        if not isinstance(data, dict):
            return None
        return TaskInfo.from_record(task_id, data)

    def credits(self, attempts: Optional[int] = None) -> float:
        """The balance; a NaN, infinite, negative or non-number answer is a balance that cannot be read."""
        data = self._read("GET", "/api/v1/chat/credit", attempts=attempts, action="balance")
        balance = amount(data)
        if balance is None:
            raise BalanceUnreadableError(  # a number, or only its type: server text may quote the key
                f"{float(data):g}" if isinstance(data, (int, float)) and not isinstance(data, bool) else
                f"a {type(data).__name__}")
        return balance

    def fresh_download_url(self, url: str, task_id: Optional[str] = None) -> str:
        return str(self._read("POST", "/api/v1/common/download-url", json={"url": url}, task_id=task_id,
                              action="download"))

    # -- upload ------------------------------------------------------------------------------
    def upload(self, path: str | os.PathLike, upload_path: str = "videos/wan26-v2v", on_retry: OnRetry = None) -> str:
        """Upload a local file (free) and return its public URL (``data.downloadUrl``).

        Each upload gets a fresh name: the API overwrites (and caches) same-named uploads, so a
        user's edited ``clip.mp4`` must never be served as the old one.
        """
        path = Path(path)
        name = f"{uuid.uuid4().hex}{path.suffix or '.mp4'}"
        size = path.stat().st_size
        if size <= SMALL_UPLOAD_BYTES:
            payload = {"base64Data": base64.b64encode(path.read_bytes()).decode("ascii"),
                       "uploadPath": upload_path, "fileName": name}
            data = self._read("POST", self.upload_base + "/api/file-base64-upload", json=payload, action="upload",
                              on_retry=on_retry)
        else:
            # the whole body in memory (prepared clips are <= 10 MB), re-read from the start on each retry
            body, content_type = urllib3.encode_multipart_formdata(
                {"file": (name, path.read_bytes(), "video/mp4"), "uploadPath": upload_path, "fileName": name})
            data = self._read("POST", self.upload_base + "/api/file-stream-upload",
                              data_factory=lambda: _CancellableBody(body, self.cancel),
                              headers={"Content-Type": content_type}, action="upload", on_retry=on_retry)
        url = (data or {}).get("downloadUrl") or (data or {}).get("fileUrl")
        if not url:
            raise BadResponseError("the upload answer had no downloadUrl")
        return str(url)

    # -- download ----------------------------------------------------------------------------
    def download(self, url: str, dest: str | os.PathLike, *, task_id: Optional[str] = None,
                 max_bytes: int = MAX_RESULT_BYTES, attempts: int = 4, on_retry: OnRetry = None) -> Path:
        """Stream a result to ``dest`` (temp file, renamed when complete), never with the key.

        An expired URL (403/404/410) is swapped once for a fresh one from download-url. A local
        write failure (disk full) is not retried; ``on_retry`` hears each retry in words.
        """
        dest = Path(dest)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"the folder {dest.parent} could not be created ({exc.strerror})",
                               task_id=task_id) from None
        current, refreshed = url, False
        last: Optional[ApikleyError] = None
        for attempt in range(1, attempts + 1):
            self.cancel.raise_if_requested(task_id)
            try:
                self._stream_to(current, dest, max_bytes, task_id)
                return dest
            except _Expired as exc:
                last = DownloadError(str(exc), task_id=task_id)
                if refreshed:
                    break
                current, refreshed = self.fresh_download_url(url, task_id=task_id), True
            except _Refused as exc:  # the same link would be refused again
                raise DownloadError(str(exc), task_id=task_id, hint=(
                    "The pack fetches results only from public hosts (local ones only when the API itself is "
                    "local); the task is kept: collect it by its task id once the provider gives a public link."
                )) from None
            except StorageError:
                raise
            except (DownloadError, NetworkError) as exc:
                last = exc if isinstance(exc, DownloadError) else DownloadError(exc.detail, task_id=task_id)
                if attempt < attempts:
                    _tell(on_retry, last, attempt, attempts)
                self.cancel.sleep(min(self.download_backoff_s * attempt, 10.0), task_id=task_id)
        raise last or DownloadError("unknown error", task_id=task_id)

    def _open_result(self, url: str, task_id: Optional[str]) -> requests.Response:
        """GET a result link, its redirects followed by hand (at most ``MAX_RESULT_REDIRECTS``), each hop
        refused when it is local or private and the API is not (as a ``video_url`` is). A plain request:
        result hosts never see the Authorization header. ``identity``: the length a host states is then
        the length of the file (a host that encodes anyway is decoded, its length checked on the wire)."""
        for _ in range(MAX_RESULT_REDIRECTS + 1):
            self.cancel.raise_if_requested(task_id)
            if urlsplit(url).scheme not in ("http", "https"):
                raise _Refused(f"the result link is not http(s) ({_text(urlsplit(url).scheme, 20)!r})")
            host = refused_host(url, self.base_url)
            if host is not None:
                raise _Refused(f"the result link points at {_text(host, 80)!r}, a local or private address; "
                               "it was not fetched")
            try:
                resp = requests.get(url, stream=True, timeout=self.timeout, allow_redirects=False,
                                    headers={"Accept-Encoding": "identity"})
            except requests.exceptions.RequestException as exc:
                raise DownloadError(f"{network_cause(exc)} ({_host(url)})", task_id=task_id) from None
            if not resp.is_redirect:
                return resp
            resp.close()
            url = urljoin(url, scrub(resp.headers["Location"], self.api_key))  # it may end up in a message
        raise _Refused(f"the result link redirected more than {MAX_RESULT_REDIRECTS} times")

    def _stream_to(self, url: str, dest: Path, max_bytes: int, task_id: Optional[str]) -> None:
        resp = self._open_result(url, task_id)
        with resp, self.cancel.closing(resp.raw.shutdown):
            if resp.status_code in (401, 403, 404, 410):
                raise _Expired(f"HTTP {resp.status_code} from the result host (link expired?)")
            if resp.status_code != 200:
                raise DownloadError(f"HTTP {resp.status_code} from the result host", task_id=task_id)
            try:
                expected = int(resp.headers.get("Content-Length") or 0)
            except ValueError:
                expected = 0
            if expected > max_bytes:
                raise DownloadError(f"result is {expected} bytes, over the {max_bytes} cap", task_id=task_id)
            part, fh = open_part(dest, task_id)
            got = 0
            try:
                with fh:
                    while True:
                        # what has arrived (at most a chunk): a slow host cannot hold off Cancel
                        chunk = resp.raw.read1(_CHUNK, decode_content=True)
                        self.cancel.raise_if_requested(task_id)
                        if not chunk:
                            break
                        got += len(chunk)
                        if got > max_bytes:
                            raise DownloadError(f"result exceeds the {max_bytes}-byte cap", task_id=task_id)
                        write_all(fh, chunk, dest, task_id)
            except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                part.unlink(missing_ok=True)
                self.cancel.raise_if_requested(task_id)
                raise DownloadError(f"{network_cause(exc)} after {got} bytes ({_host(url)})",
                                    task_id=task_id) from None
            except BaseException:
                part.unlink(missing_ok=True)
                raise
            received = resp.raw.tell()  # the bytes on the wire, which Content-Length counts (got: decoded)
            if (expected and received != expected) or got == 0:
                part.unlink(missing_ok=True)
                raise DownloadError(f"truncated: got {received} of {expected or '?'} bytes", task_id=task_id)
        os.replace(part, dest)


class _Expired(Exception):
    pass


class _Refused(Exception):
    """A result link the pack will not fetch (not retried: the same link is refused again)."""


class _CancellableBody:
    """A request body read in blocks that checks cancel between them, so a long upload stops
    within a block of Cancel; ``len`` gives requests its Content-Length."""

    def __init__(self, data: bytes, cancel: Cancel):
        self._data, self._cancel, self._pos = data, cancel, 0

    def __len__(self) -> int:
        return len(self._data) - self._pos

    def read(self, size: int = -1) -> bytes:
        self._cancel.raise_if_requested()
        end = len(self._data) if size is None or size < 0 else min(len(self._data), self._pos + size)
        chunk, self._pos = self._data[self._pos:end], end
        return chunk
