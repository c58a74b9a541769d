"""The one place that speaks the apikley protocol: auth, the {code,msg,data} envelope, retries, creating a
task, reading it and the balance, uploads, and downloads (each attempt at a result host is downloads.py). How one
call travels is transport.py; what a task's messages hold, tasks.py.

Money rule: ``create_task`` is re-sent only when the answer proves no task was made
(a 429/455 body, a refused connection), and at most ``CREATE_SENDS_PER_ENTRY`` requests
the API answered. Anything else after the request may have left the machine raises
``CreateUncertainError`` and is never re-posted.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlsplit

import requests
import urllib3

from . import simulated
from ..errors import (ApiValidationError, ApikleyError, BadResponseError, BalanceUnreadableError, ConfigError,
                      CreateUncertainError, DownloadError, MaintenanceError, NetworkError, RateLimitError, ServerError,
                      StorageError, TaskStillPendingError, error_for_code)
from ..record.entry import valid_task_id
from ..settings import config
from ..settings.settings import API_CALL_DEADLINE_S, CREATE_SENDS_PER_ENTRY, amount
from .cancel import Cancel
from .downloads import MAX_RESULT_BYTES, ResultExpired, ResultRefused, fetch_result
from .tasks import TaskInfo
from .transport import CallAdapter, CancellableBody, OnRetry, host_of, network_cause, nothing_was_sent, tell_retry
from .untrusted import scrub, scrub_tree, short_text

log = logging.getLogger("apikley_wan")

# a non-JSON answer is quoted up to this many characters
SNIPPET_CHARS = 120
POLL_TIMEOUT = (10.0, 20.0)
SMALL_UPLOAD_BYTES = 1024 * 1024


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
        """A session for one call: ``_send`` gives it the call's own connections (``CallAdapter``)."""
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
        call = CallAdapter(time.monotonic() + self.call_deadline_s)
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
                                   else network_cause(exc), host=host_of(url))
                err.nothing_sent = nothing_was_sent(exc)
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
            snippet = short_text(scrub(resp.text, self.api_key), SNIPPET_CHARS) or ""
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
            msg = short_text(body.get("msg") or body.get("message")) or ""
            raise error_for_code(code, msg, task_id=task_id, credits_may_be_spent=True if task_id else None)
        return body.get("data")

    def retried_call(self, method: str, path_or_url: str, *, action: str, task_id: Optional[str] = None,
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
                tell_retry(on_retry, exc, attempt, attempts)
                self.cancel.sleep(delay, task_id=task_id)
                delay = min(delay * 2, 30.0)

    # -- create ------------------------------------------------------------------------------
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
                                                   f"({short_text(task_id, 60)!r})")
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
                tell_retry(on_retry, proof, attempt, self.create_attempts)
            self.cancel.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")

    # -- reads -------------------------------------------------------------------------------
    def get_task(self, task_id: str, attempts: Optional[int] = None) -> Optional[TaskInfo]:
        """recordInfo; None while the API still answers 'recordInfo is null'."""
        try:
            data = self.retried_call("GET", "/api/v1/jobs/recordInfo", params={"taskId": task_id}, task_id=task_id,
                                     timeout=POLL_TIMEOUT, attempts=attempts, action="status")
        except ApiValidationError as exc:
            if "null" in exc.detail.lower():
                return None
            raise
        if not isinstance(data, dict):
            return None
        return TaskInfo.from_record(task_id, data)

    def result_url(self, task_id: str) -> str:
        """The task's result link, from its record (recordInfo); TaskStillPendingError while it has none."""
        info = self.get_task(task_id)
        if not (info and info.result_urls):
            raise TaskStillPendingError("no result URL recorded yet", task_id=task_id)
        return info.result_urls[0]

    def credits(self, attempts: Optional[int] = None) -> float:
        """The balance; a NaN, infinite, negative or non-number answer is a balance that cannot be read."""
        data = self.retried_call("GET", "/api/v1/chat/credit", attempts=attempts, action="balance")
        balance = amount(data)
        if balance is None:
            raise BalanceUnreadableError(  # a number, or only its type: server text may quote the key
                f"{float(data):g}" if isinstance(data, (int, float)) and not isinstance(data, bool) else
                f"a {type(data).__name__}")
        return balance

    # -- upload and download ----------------------------------------------------------------
    def fresh_download_url(self, url: str, task_id: Optional[str] = None) -> str:
        return str(self.retried_call("POST", "/api/v1/common/download-url", json={"url": url}, task_id=task_id,
                                     action="download"))

    def download(self, url: str, dest: str | os.PathLike, *, task_id: Optional[str] = None,
                 max_bytes: int = MAX_RESULT_BYTES, attempts: int = 4, on_retry: OnRetry = None) -> Path:
        """Stream a result to ``dest`` (temp file, renamed when complete), never with the key (downloads.py).

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
                fetch_result(current, dest, cancel=self.cancel, timeout=self.timeout, api_base=self.base_url,
                             secret=self.api_key, max_bytes=max_bytes, task_id=task_id)
                return dest
            except ResultExpired as exc:
                last = DownloadError(str(exc), task_id=task_id)
                if refreshed:
                    break
                current, refreshed = self.fresh_download_url(url, task_id=task_id), True
            except ResultRefused as exc:  # the same link would be refused again
                raise DownloadError(str(exc), task_id=task_id, hint=(
                    "The pack fetches results only from public hosts (local ones only when the API itself is "
                    "local); the task is kept: collect it by its task id once the provider gives a public link."
                )) from None
            except StorageError:
                raise
            except (DownloadError, NetworkError) as exc:
                last = exc if isinstance(exc, DownloadError) else DownloadError(exc.detail, task_id=task_id)
                if attempt < attempts:
                    tell_retry(on_retry, last, attempt, attempts)
                self.cancel.sleep(min(self.download_backoff_s * attempt, 10.0), task_id=task_id)
        raise last or DownloadError("unknown error", task_id=task_id)

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
            data = self.retried_call("POST", self.upload_base + "/api/file-base64-upload", json=payload, action="upload",
                                     on_retry=on_retry)
        else:
            # the whole body in memory (prepared clips are <= 10 MB), re-read from the start on each retry
            body, content_type = urllib3.encode_multipart_formdata(
                {"file": (name, path.read_bytes(), "video/mp4"), "uploadPath": upload_path, "fileName": name})
            data = self.retried_call("POST", self.upload_base + "/api/file-stream-upload",
                                     data_factory=lambda: CancellableBody(body, self.cancel),
                                     headers={"Content-Type": content_type}, action="upload", on_retry=on_retry)
        url = (data or {}).get("downloadUrl") or (data or {}).get("fileUrl")
        if not url:
            raise BadResponseError("the upload answer had no downloadUrl")
        return str(url)
