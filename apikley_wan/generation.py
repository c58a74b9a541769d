"""One generation from inputs to a result file on disk, shared by the nodes and the command line.

submit: check inputs -> fingerprint -> journal (re-use / attach) -> prepare clips -> upload
        -> journal row -> createTask -> task id recorded
wait:   poll (or callback) until done; the result is downloaded at once, so what was paid
        for is on disk before anything else can fail
fetch:  the result file (downloaded again from the task if the archived file went missing)
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from urllib.parse import urlsplit

from . import MODEL, archive, journal as jr, media, pricing
from .callbacks import CallbackBoard
from .client import NULL_RECORD_GRACE_S, ApikleyClient, Cancel, TaskInfo
from .errors import (ApikleyError, CreateUncertainError, GenerationFailedError, InputError, JournalError,
                     NotFoundError, ResultInvalidError, TaskStillPendingError)
from .journal import Journal, JournalEntry

log = logging.getLogger("apikley_wan")

# typical provider time per task, for the "remaining" estimate only (no progress field exists)
TYPICAL_SECONDS = {"5": 150.0, "10": 270.0}
# a live process that wrote a 'creating' row gets this long to record its task id
CREATING_GRACE_S = 120.0
# a typed-in task id that the API keeps calling "recordInfo is null" is unknown after this long
ADOPTED_NULL_GRACE_S = 20.0
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


@dataclass
class Status:
    """What a waiting user is shown: state, elapsed, estimate of what is left, cost.

    Elapsed time is computed when the line is drawn, so a once-a-second ticker stays current
    between polls.
    """

    task_id: Optional[str]
    state: str
    started_at: Optional[float]
    typical_s: float
    credits: float

    def line(self, now: Optional[float] = None) -> str:
        text = f"Wan 2.6 V2V: {self.state}"
        if self.task_id:
            text += f" | task {self.task_id[:12]}"
        if self.started_at:
            elapsed = (now or time.time()) - self.started_at
            left = self.typical_s - elapsed
            text += f" | {int(elapsed)}s elapsed"
            if self.state in jr.PENDING:
                text += f" (~{int(left)}s left, estimate)" if left > 0 else " (any moment now)"
        text += f" | ~{self.credits:g} credits (${pricing.credits_to_usd(self.credits):.2f}, estimate)"
        return text


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


def _local_host(host: str) -> bool:
    """localhost, a private/loopback/link-local/reserved IP literal, or a name only a LAN knows."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".lan", ".home.arpa")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host  # a bare intranet name
    return not ip.is_global


def check_public_url(url: str, api_base: str) -> None:
    """A ``video_url`` the provider can fetch: short, http(s), and not on this machine or LAN (allowed
    only when the API itself runs there, e.g. the simulator). Refused before any paid call."""
    if len(url) > MAX_URL_LENGTH:
        raise InputError(f"video_url is {len(url)} characters long; at most {MAX_URL_LENGTH} are allowed")
    host = urlsplit(url).hostname or ""
    if _local_host(host) and not _local_host(urlsplit(api_base).hostname or ""):
        raise InputError(f"video_url points at {host!r}, a local or private address the provider cannot reach",
                         hint="Give a public http(s) link, or connect the clip to 'video' so it is uploaded.")


def fingerprint(request: GenerationRequest, api_base: str) -> tuple:
    """``(fingerprint, params)``: content of every reference plus every parameter, the take, and the
    API it goes to (a dry run on the simulator must never stand in for a real, paid result)."""
    refs = []
    for ref in request.references:
        if ref.url is not None:
            refs.append({"url": ref.url})
        else:
            refs.append({"content": media.fingerprint_source(ref.source, fps=ref.fps, audio=ref.audio)})
    params = {"api": api_base, "model": MODEL, "prompt": request.prompt, "duration": str(request.duration),
              "resolution": request.resolution, "multi_shots": bool(request.multi_shots),
              "take": int(request.take), "references": refs}
    return _hash_params(params), params


_locks_guard = threading.Lock()
_download_locks: dict = {}


def _download_lock(task_id: str) -> threading.Lock:
    with _locks_guard:
        return _download_locks.setdefault(task_id, threading.Lock())


class Generations:
    """The pipeline over one client and one journal. Blocking: run it off any event loop."""

    def __init__(self, client: ApikleyClient, journal: Journal, results_dir: str | os.PathLike, *,
                 deadline_s: float = 30 * 60, callbacks: Optional[CallbackBoard] = None,
                 callback_base: Optional[str] = None, file_prefix: str = "wan26_v2v",
                 api_identity: Optional[str] = None):
        self.client = client
        # which API the journal's results belong to (the embedded simulator's port changes per run)
        self.api_identity = api_identity or client.base_url
        self.journal = journal
        self.results_dir = Path(results_dir)
        self.deadline_s = deadline_s
        self.callbacks = callbacks
        self.callback_base = callback_base
        self.file_prefix = file_prefix

    @property
    def cancel(self) -> Cancel:
        return self.client.cancel

    # -- submit --------------------------------------------------------------------------
    def submit(self, request: GenerationRequest, on_status: Optional[Callable[[Status], None]] = None
               ) -> JournalEntry:
        """Return the journal entry of the task for these inputs, creating one only if none exists."""
        check_request(request, self.client.base_url)
        self.client.require_key()
        fp, params = fingerprint(request, self.api_identity)
        existing = self._reusable(fp)
        if existing is not None:
            return existing
        with tempfile.TemporaryDirectory(prefix="apikley_wan_") as work:
            clips = {}  # every clip is checked and prepared before the first upload
            for i, ref in enumerate(request.references, 1):
                if ref.url is None:
                    self._status(on_status, None, f"preparing reference {i}", params)
                    clips[i] = media.prepare_clip(ref.source, work, fps=ref.fps, audio=ref.audio,
                                                  check_cancel=self.cancel.raise_if_requested).path
            urls = []
            for i, ref in enumerate(request.references, 1):
                if ref.url is not None:
                    urls.append(ref.url)
                    continue
                self._status(on_status, None, f"uploading reference {i}", params)
                urls.append(self.client.upload(clips[i]))
                self.cancel.raise_if_requested()
        return self._create(fp, params, request, urls)

    def _reusable(self, fp: str) -> Optional[JournalEntry]:
        """The entry to attach to, or None when a new task may be created."""
        entry = self.journal.by_fingerprint(fp)
        if entry is None or entry.state in jr.REPLACEABLE:
            return None
        if entry.state == jr.CREATING and entry.owner_alive():
            return self._await_task_id(entry)
        if entry.state in (jr.CREATING, jr.UNCERTAIN):
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.updated_at))
            raise CreateUncertainError(f"an earlier run sent the create request for these exact inputs at {since} "
                                       "and stopped before the task id was recorded", hint=(
                "It was NOT sent again, to avoid paying twice. Look for that task in your apikley task log and "
                "collect it by its task id, or change 'take' to deliberately create a new one."))
        return entry

    def _await_task_id(self, entry: JournalEntry) -> Optional[JournalEntry]:
        """Another live process is creating this very task: wait for its id instead of paying again."""
        deadline = time.time() + CREATING_GRACE_S
        while time.time() < deadline:
            self.cancel.sleep(0.5)
            fresh = self.journal.by_id(entry.id)
            if fresh.state != jr.CREATING:
                return self._reusable(fresh.fingerprint)
        raise CreateUncertainError("another process has been creating a task for these inputs for "
                                   f"{int(CREATING_GRACE_S)} s without recording its id")

    def _create(self, fp: str, params: dict, request: GenerationRequest, urls: list) -> JournalEntry:
        callback_url = None
        if self.callbacks is not None and self.callback_base:
            secret = self.callbacks.new_secret()
            params = {**params, "callback_secret": secret}
            callback_url = self.callbacks.url_for(self.callback_base, secret)
        body = self.client.build_create_body(request.prompt, urls, request.duration, request.resolution,
                                             request.multi_shots, callback_url)
        params = {**params, "video_urls": urls}
        while True:
            entry, is_new = self.journal.claim(fp, params)  # written before the POST
            if is_new:
                break
            attached = self._reusable(fp)  # None: the other creator was refused; claim again
            if attached is not None:
                return attached
        try:
            task_id = self.client.create_task(body)
        except CreateUncertainError as exc:
            self.journal.update(entry.id, state=jr.UNCERTAIN, error=exc.user_message())
            raise
        except ApikleyError as exc:  # the API refused, or cancel came before sending: no task
            self.journal.update(entry.id, state=jr.REFUSED, error=exc.user_message())
            raise
        except BaseException as exc:  # anything else mid-create: a task may exist
            self.journal.update(entry.id, state=jr.UNCERTAIN, error=f"stopped during create ({type(exc).__name__})")
            raise
        log.warning("apikley task %s created (journal entry %d)", task_id, entry.id)
        return self._record_task_id(entry, task_id)

    def _record_task_id(self, entry: JournalEntry, task_id: str) -> JournalEntry:
        """A paid task's id must reach the journal: retry a busy database before giving up."""
        for attempt in range(3):
            try:
                return self.journal.record_task_id(entry.id, task_id)
            except JournalError as exc:
                if attempt == 2:
                    log.error("apikley task %s could not be recorded; collect it by id", task_id)
                    exc.task_id, exc.credits_may_be_spent = task_id, True
                    exc.hint = (f"The task WAS created: collect it by its id ({task_id}) once the journal "
                                "works again. " + exc.hint)
                    raise
                time.sleep(1.0)
        raise AssertionError("unreachable")

    # -- wait + download -----------------------------------------------------------------
    def wait(self, entry: JournalEntry, on_status: Optional[Callable[[Status], None]] = None) -> JournalEntry:
        """Wait for the task and download its result at once; return the finished entry."""
        entry = self.journal.by_id(entry.id) or entry
        if entry.state == jr.SUCCESS:
            return self._ensure_file(entry)
        if entry.state == jr.FAIL:
            raise GenerationFailedError(entry.error or "", task_id=entry.task_id)
        secret = entry.params.get("callback_secret")
        wake = self.callbacks.waiter(secret, entry.task_id) if self.callbacks else None
        created = entry.task_created_at or entry.created_at
        last_state = [entry.state]

        def seen(info: TaskInfo) -> None:
            if info.state != last_state[0] and info.state in jr.PENDING:
                self.journal.update(entry.id, state=info.state)
                last_state[0] = info.state
            self._status(on_status, entry.task_id, info.state, entry.params, created)

        adopted = entry.fingerprint.startswith(jr.ADOPTED_PREFIX)
        try:
            info = self.client.wait_for_task(entry.task_id, created_at=created, deadline_s=self.deadline_s,
                                             on_status=seen, wake=wake,
                                             null_grace_s=ADOPTED_NULL_GRACE_S if adopted else NULL_RECORD_GRACE_S)
        except GenerationFailedError as exc:
            self.journal.update(entry.id, state=jr.FAIL, error=exc.detail)
            raise
        except NotFoundError as exc:
            if adopted:  # a typed-in id the API does not know: nothing of ours was created or paid
                self.journal.update(entry.id, state=jr.NOT_FOUND, error=exc.detail)
                exc.credits_may_be_spent = False
                exc.hint = "Check the task id (copy it from the apikley task log or a result's .json file)."
            raise
        # the cost comes from the API's own record (a callback only wakes the waiter: anyone who
        # learns its URL could post one)
        reported = info.consumed_credits
        cost = reported if reported is not None else pricing.estimate_credits(
            entry.params.get("duration", "5"), entry.params.get("resolution", "1080p"))
        entry = self.journal.update(entry.id, state=jr.SUCCESS, result_url=info.result_urls[0], error=None,
                                    cost_credits=cost, cost_reported=reported is not None)
        return self._ensure_file(entry, on_status)

    def _ensure_file(self, entry: JournalEntry, on_status=None) -> JournalEntry:
        """The archived result, downloaded (again) from the task when missing; never re-created.

        One download per task at a time in this process; a second caller finds the file.
        """
        with _download_lock(entry.task_id):
            entry = self.journal.by_id(entry.id) or entry
            if entry.result_path and Path(entry.result_path).is_file() and archive.is_video(Path(entry.result_path)):
                return entry
            return self._download(entry, on_status)

    def _download(self, entry: JournalEntry, on_status) -> JournalEntry:
        dest = archive.result_path(self.results_dir, self.file_prefix, entry.task_id)
        url = entry.result_url
        if not url:
            info = self.client.get_task(entry.task_id)
            url = info.result_urls[0] if info and info.result_urls else None
            if not url:
                raise TaskStillPendingError("no result URL recorded yet", task_id=entry.task_id)
        self._status(on_status, entry.task_id, "downloading", entry.params, entry.task_created_at)
        self.client.download(url, dest, task_id=entry.task_id)
        try:
            archive.verify(dest, entry.task_id)
        except ResultInvalidError:
            # the next attempt asks the API for the result again instead of re-using this link
            self.journal.update(entry.id, result_url=None, result_path=None,
                                error="the downloaded result was not a video; it will be fetched again")
            raise
        archive.write_sidecar(entry, dest)
        return self.journal.update(entry.id, result_path=str(dest), error=None)

    # -- whole run -----------------------------------------------------------------------
    def run(self, request: GenerationRequest, on_status=None) -> JournalEntry:
        return self.wait(self.submit(request, on_status), on_status)

    def collect(self, task_id: str, on_status=None) -> JournalEntry:
        """Pick up a task by id (typed in, or left pending by a crash) without creating anything."""
        entry = self.journal.by_task_id(task_id) or self.journal.adopt(task_id)
        return self.wait(entry, on_status)

    def copy_result(self, entry: JournalEntry, out: str | os.PathLike) -> Path:
        out = Path(out)
        if Path(entry.result_path).resolve() != out.resolve():
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entry.result_path, out)
        return out

    def _status(self, on_status, task_id, state, params, created=None) -> None:
        if on_status is None:
            return
        duration = str(params.get("duration", "5"))
        on_status(Status(task_id=task_id, state=state, started_at=created,
                         typical_s=TYPICAL_SECONDS.get(duration, 150.0),
                         credits=pricing.estimate_credits(duration, params.get("resolution", "1080p"))))
