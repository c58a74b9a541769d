"""One generation from inputs to a result file on disk, shared by the nodes and the command line.

submit: check inputs -> fingerprint -> journal (re-use / attach) -> budget (budget.py) -> prepare clips
        -> upload -> budget reserved -> journal row -> createTask -> task id recorded
wait:   poll (or callback) until done; the result is downloaded at once, so what was paid
        for is on disk before anything else can fail
fetch:  the result file (downloaded again from the task if the archived file went missing)

The pipeline is a coroutine: waiting holds no thread. Each blocking step (a journal write, an
encode, one HTTP call, a download) runs on bounded pools of daemon workers, one per kind of step
(workers.py: a re-use needs no worker an API call can hold), and the steps that
must not be split (claim -> create -> record the task id, create.py; download -> keep -> record the file)
run as one step, so a Cancel between awaits can never lose a paid task id or result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from .. import media
from ..api.callbacks import CallbackBoard
from ..api.cancel import Cancel
from ..api.client import ApikleyClient
from ..api.tasks import TaskInfo, build_create_body
from ..errors import (BudgetError, ConfigError, CreateUncertainError, GenerationFailedError, NotFoundError, ResultInvalidError,
                      link_hint)
from ..money import budget as budget_guard, metering, pacing, pricing
from ..money.report import (COLLECTED, ESTIMATE, MEASURED, PAID, REATTACHED, REPORTED, REUSED, UNKNOWN, RunReport,
                            report_for)
from ..record import entry as jr
from ..record.entry import JournalEntry
from ..record.store import JournalStore
from ..results import archive, outputs
from ..settings.settings import TIMINGS, Timings, deadline_s as default_deadline_s
from .create import CREATES_REFUSED, PaidCreate
from .request import GenerationRequest, fingerprint
from .status import Status, status_for
from .watch import Clock, pause, wait_for_task
from .workers import Lanes, TaskLocks

log = logging.getLogger("apikley_wan")

OnStatus = Optional[Callable[[Status], None]]


@dataclass(frozen=True)
class Submission:
    """The journal entry of the task for some inputs, and how this run came by it."""

    entry: JournalEntry
    outcome: str  # report.PAID, REUSED or REATTACHED
    notes: tuple = ()  # what preparing the references changed, e.g. "HDR reference converted to SDR for upload"


class Pipeline:
    """One generation's way from inputs to a kept result, over one client and one journal; its methods are
    coroutines."""

    def __init__(self, client: ApikleyClient, journal: JournalStore, results_dir: str | os.PathLike, *,
                 deadline_s: Optional[float] = None, callbacks: Optional[CallbackBoard] = None,
                 callback_base: Optional[str] = None, file_prefix: str = "wan26_v2v",
                 api_identity: Optional[str] = None, timings: Timings = TIMINGS, clock: Optional[Clock] = None,
                 lanes: Optional[Lanes] = None, budget: Optional[budget_guard.BudgetGuard] = None,
                 pacer: Optional[pacing.Pacer] = None, meter: Optional[metering.Meter] = None,
                 locks=None):
        """The parts a process shares (lanes, guard, pacer, meter, locks, clock) come from its Runtime
        (``Runtime.pipeline``); each one not given is this pipeline's own."""
        self.client = client
        # every paid create goes through the guard (the process's own unless given one); a re-use never does
        self.budget = budget_guard.BudgetGuard() if budget is None else budget
        # which API the journal's results belong to (the embedded simulator's port changes per run)
        self.api_identity = api_identity or client.base_url
        self.journal = journal
        # the account's create window, kept in the journal: shared with every process and worker on it
        self.pacer = pacer or pacing.Pacer(journal)
        self.results_dir = Path(results_dir)
        self.deadline_s = default_deadline_s() if deadline_s is None else deadline_s
        self.callbacks = callbacks
        self.callback_base = callback_base
        self.file_prefix = file_prefix
        self.timings = timings
        self.clock = clock or Clock()
        self._lanes = lanes or Lanes()
        self.meter = meter or metering.Meter()
        self.locks = TaskLocks() if locks is None else locks  # (an empty one is falsy: it has a length)
        self._paid_create = PaidCreate(client, journal, self.budget, self.meter, self.pacer, timings)

    @property
    def cancel(self) -> Cancel:
        return self.client.cancel

    async def _step(self, fn, *args, **kw):
        """One journal or file step on a worker; Cancel is looked at before it starts."""
        return await self._on(self._lanes.files, fn, *args, **kw)

    async def _call(self, fn, *args, **kw):
        """One step that asks the API or a result host, on their own workers: a re-use never waits for one."""
        return await self._on(self._lanes.api, fn, *args, **kw)

    async def _on(self, lane, fn, *args, **kw):
        self.cancel.raise_if_requested()
        return await lane.run(fn, *args, **kw)

    # -- whole runs ------------------------------------------------------------------------
    async def generate_video(self, request: GenerationRequest, on_status: OnStatus = None, *,
                             on_submitted: Optional[Callable[[Submission], None]] = None, gate=None,
                             out: Optional[str | os.PathLike] = None, overwrite: bool = False) -> RunReport:
        """One whole generation, the same for the node, ``v2v`` and each job of a batch: submit -> wait ->
        report (-> a copy at ``out``). ``on_submitted`` hears the task as soon as it is known (before the
        wait); ``gate`` (an async context manager, e.g. a batch's semaphore) is held while submitting only."""
        started = self.clock.now()
        async with gate or contextlib.nullcontext():
            submitted = await self.submit(request, on_status)
        if on_submitted is not None:
            on_submitted(submitted)
        entry = await self.wait(submitted.entry, on_status)
        return await self._saved(self.report(entry, submitted.outcome, started, submitted.notes), out, overwrite)

    async def collect(self, task_id: str, on_status: OnStatus = None, *, out: Optional[str | os.PathLike] = None,
                      overwrite: bool = False) -> RunReport:
        """Pick up a task by id (typed in, or left pending by a crash) without creating anything."""
        started = self.clock.now()
        entry = await self._step(self._known_or_adopted, task_id)
        return await self._saved(self.report(await self.wait(entry, on_status), COLLECTED, started), out, overwrite)

    async def _saved(self, report: RunReport, out, overwrite: bool) -> RunReport:
        """The report, with the paid result copied to ``out`` first when one is asked for (outputs.py). A
        Cancel does not stop it: the result is on disk and paid for."""
        if out is None:
            return report
        saved = await self._lanes.files.run(outputs.copy, report.result_path, out, report.task_id, overwrite=overwrite)
        return replace(report, output=str(saved))

    def report(self, entry: JournalEntry, outcome: str, started: float, notes: tuple = ()) -> RunReport:
        return report_for(entry, outcome, started, bool(self.client.simulator), self._prices(), now=self.clock.now(),
                          notes=notes)

    def _known_or_adopted(self, task_id: str) -> JournalEntry:
        return self.journal.by_task_id(task_id) or self.journal.adopt(task_id)

    # -- submit ----------------------------------------------------------------------------
    async def submit(self, request: GenerationRequest, on_status: OnStatus = None) -> Submission:
        """The task for these inputs, created only if none exists (then the outcome is PAID). The request was
        checked as it was made (request.py); a link the API cannot fetch is refused with the create body."""
        self.client.require_key()
        fp, params = await self._step(fingerprint, request, self.api_identity)
        existing = await self._reusable(fp)
        if existing is not None:
            await self._step(self.client.announces_simulator)  # a re-use may ask the API nothing else
            return existing
        credits = self.budget.prices.estimate_credits(request.duration, request.resolution)  # the table in force
        await self._call(self.budget.check, self.journal, self.client, credits)  # before any upload
        with tempfile.TemporaryDirectory(prefix="apikley_wan_") as work:
            clips, notes = {}, []  # every clip is checked and prepared before the first upload
            for i, ref in enumerate(request.references, 1):
                if ref.url is None:
                    self._status(on_status, None, f"preparing reference {i}", params)
                    prepared = await self._step(media.prepare_clip, ref.source, work, fps=ref.fps, audio=ref.audio,
                                                check_cancel=self.cancel.raise_if_requested)
                    clips[i] = prepared.path
                    if prepared.note:
                        notes.append(prepared.note if len(request.references) == 1 else f"reference {i}: {prepared.note}")
                        self._status(on_status, None, f"prepared reference {i}", params, note=prepared.note)
            urls = []
            for i, ref in enumerate(request.references, 1):
                if ref.url is not None:
                    urls.append(ref.url)
                    continue
                on_retry = self._begin(on_status, f"uploading reference {i}", params)
                urls.append(await self._call(self.client.upload, clips[i], on_retry=on_retry))
        return replace(await self._create(fp, params, request, urls, credits, on_status), notes=tuple(notes))

    async def _reusable(self, fp: str) -> Optional[Submission]:
        """The task to attach to, or None when a new task may be created (the journal's verdict)."""
        found = self.journal.verdict(await self._step(self.journal.by_fingerprint, fp))
        while found.decision is jr.Decision.WAIT_FOR_CREATOR:
            # another live process is creating this very task: wait for its id instead of paying again
            found = await self._await_creator(found.entry)
        if found.decision is jr.Decision.CREATE:
            return None
        entry = found.entry
        if found.decision is jr.Decision.UNCERTAIN:
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.updated_at))
            refused = entry.params.get(CREATES_REFUSED)
            raise CreateUncertainError(
                f"an earlier run sent the create request for these exact inputs at {since} and stopped before "
                f"the task id was recorded (journal entry {entry.id}"
                + (f", after the API refused {refused} of its create requests" if refused else "")
                + ")", hint=(
                    "It was NOT sent again, to avoid paying twice. Look for that task in your apikley task log. "
                    f"{link_hint(entry.id)} Or give it up with `python -m apikley_wan abandon {entry.id}` (or change "
                    "'take') to deliberately create a new one."))
        return Submission(entry, REUSED if found.decision is jr.Decision.REUSE else REATTACHED)

    async def _await_creator(self, entry: JournalEntry) -> jr.Verdict:
        """The entry's verdict once its creator records the id, is refused, or is seen to be gone."""
        deadline = self.clock.now() + self.timings.creating_grace_s
        while self.clock.now() < deadline:
            await pause(0.5, self.cancel, timings=self.timings, clock=self.clock)
            found = self.journal.verdict(await self._step(self.journal.by_id, entry.id))
            if found.decision is not jr.Decision.WAIT_FOR_CREATOR:
                return found
        raise CreateUncertainError("another process has been creating a task for these inputs for "
                                   f"{int(self.timings.creating_grace_s)} s without recording its id")

    async def _create(self, fp: str, params: dict, request: GenerationRequest, urls: list,
                      credits: float, on_status: OnStatus = None) -> Submission:
        callback_url = None
        if self.callbacks is not None and self.callback_base:
            secret = self.callbacks.new_secret()
            params = {**params, "callback_secret": secret}
            callback_url = self.callbacks.url_for(self.callback_base, secret)
        body = build_create_body(request.prompt, urls, request.duration, request.resolution, request.multi_shots,
                                 callback_url, api_base=self.client.base_url)
        params = {**params, "video_urls": urls}
        on_retry = self._begin(on_status, "creating the task", params)
        while True:
            # the account's create window (pacing.py), awaited on the loop before the row is claimed
            async with self.pacer.slot(self.api_identity, self.cancel, self._lanes.files.run, self.timings.slice_s) as slot:
                try:
                    entry, created = await self._on(self._lanes.creates, self._paid_create, fp, params, body, credits,
                                                    slot, on_retry)
                except BudgetError:
                    slot.used = False  # refused by the guard: no request was sent
                    raise
                slot.used = created
            if created:
                return Submission(entry, PAID)
            attached = await self._reusable(fp)  # None: the other creator was refused; claim again
            if attached is not None:
                return attached

    # -- wait + download -------------------------------------------------------------------
    async def wait(self, entry: JournalEntry, on_status: OnStatus = None) -> JournalEntry:
        """Wait for the task and download its result at once; return the finished entry."""
        entry = await self._step(self.journal.by_id, entry.id) or entry
        if entry.state == jr.SUCCESS:
            await self._call(self.client.announces_simulator)  # for the report: nothing else asks the API
            return await self._result_file(entry, on_status)
        if entry.state == jr.FAIL:
            raise GenerationFailedError(entry.error or "", task_id=entry.task_id)
        secret = entry.params.get("callback_secret")
        wake = self.callbacks.waiter(secret, entry.task_id) if self.callbacks else None
        created = entry.task_created_at or entry.created_at
        last_state = [entry.state]
        ticket = self.meter.watch(self.client, entry.task_id)  # the create's, or one never measured

        async def seen(info: TaskInfo) -> None:
            if info.state != last_state[0] and info.state in jr.PENDING:
                await self._step(self.journal.update, entry.id, state=info.state)
                last_state[0] = info.state
            self._status(on_status, entry.task_id, info.state, entry.params, created, note=info.problem)

        adopted = entry.fingerprint.startswith(jr.ADOPTED_PREFIX)
        try:
            info = await wait_for_task(self.client, entry.task_id, self._lanes.api.run, created_at=created,
                                       deadline_s=self.deadline_s, on_status=seen, wake=wake, timings=self.timings,
                                       clock=self.clock,
                                       null_grace_s=self.timings.adopted_null_grace_s if adopted else None)
        except GenerationFailedError as exc:
            ticket.close()
            await self._step(self.journal.update, entry.id, state=jr.FAIL, error=exc.detail)
            raise
        except NotFoundError as exc:
            if adopted:
                ticket.close()  # a typed-in id the API does not know: nothing of ours was created or paid
                await self._step(self.journal.update, entry.id, state=jr.NOT_FOUND, error=exc.detail)
                exc.credits_may_be_spent = False
                exc.hint = "Check the task id (copy it from the apikley task log or a result's .json file)."
            raise
        entry = await self._call(self._record_success, entry, info, ticket)  # may read the balance
        return await self._result_file(entry, on_status)

    async def _result_file(self, entry: JournalEntry, on_status: OnStatus) -> JournalEntry:
        """The result already saved (a file step), else downloaded (a step on the API's workers)."""
        return await self._step(self._kept_file, entry) or await self._call(self._ensure_file, entry, on_status)

    def _record_success(self, entry: JournalEntry, info: TaskInfo, ticket: metering.Ticket) -> JournalEntry:
        """Success, its result link and what it cost: the API's own figure when it gives one, else the
        balance it took while it was the account's only task (metering.py), else the price of the task's
        real settings (from the journal, or from the task's own record), else unknown. A callback never
        sets the cost: anyone who learns its URL could post one."""
        params = dict(entry.params)
        for name in ("duration", "resolution"):
            if params.get(name) is None and getattr(info, name) is not None:
                params[name] = getattr(info, name)
        estimate = self._prices().price_of(params)
        try:
            if info.consumed_credits is not None:
                cost, kind = info.consumed_credits, REPORTED
            else:
                measured = metering.measured_cost(ticket, self.client, self.journal, self.api_identity, entry.id,
                                                  estimate)
                cost, kind = (measured, MEASURED) if measured is not None else (
                    estimate, ESTIMATE if estimate is not None else UNKNOWN)
        finally:
            ticket.close()
        return self.journal.update(entry.id, state=jr.SUCCESS, result_url=info.result_urls[0], error=None,
                                   params=params, cost_credits=cost, cost_kind=kind)

    def _ensure_file(self, entry: JournalEntry, on_status: OnStatus = None) -> JournalEntry:
        """The result in THIS pipeline's results folder, downloaded (again) from the task when missing or
        broken; never re-created. A file another worker of a shared journal saved on its own disk (or
        that only looks shared, on the same machine) does not count: each worker keeps its own copy.

        One download per task at a time in this process; a second caller finds the file.
        """
        with self.locks.hold(entry.task_id):
            kept = self._kept_file(entry)
            if kept is not None:
                return kept
            entry = self.journal.by_id(entry.id) or entry
            on_retry = self._begin(on_status, "downloading", entry.params, entry.task_id, entry.task_created_at)
            return self._download(entry, archive.result_path(self.results_dir, self.file_prefix, entry.task_id), on_retry)

    def _kept_file(self, entry: JournalEntry) -> Optional[JournalEntry]:
        """The entry, its path recorded, when its result is in this pipeline's folder; else None. Takes no
        lock: a download in progress writes beside the file and renames it into place when it is done."""
        own = archive.result_path(self.results_dir, self.file_prefix, entry.task_id)
        entry = self.journal.by_id(entry.id) or entry
        if not (own.is_file() and archive.is_video(own)):
            return None
        return entry if entry.result_path == str(own) else self.journal.update(entry.id, result_path=str(own))

    def _download(self, entry: JournalEntry, dest: Path, on_retry=None) -> JournalEntry:
        """The task's result downloaded to ``dest`` and kept there (verified, tagged with its task, its sidecar
        beside it); the entry with its path recorded."""
        self.client.download(entry.result_url or self.client.result_url(entry.task_id), dest, task_id=entry.task_id,
                             on_retry=on_retry)
        try:
            archive.keep(dest, entry, self.client.api_key)
        except ResultInvalidError:
            # the next attempt asks the API for the result again instead of re-using this link
            self.journal.update(entry.id, result_url=None, result_path=None,
                                error="the downloaded result was not a video; it will be fetched again")
            raise
        return self.journal.update(entry.id, result_path=str(dest), error=None)

    # -- helpers ---------------------------------------------------------------------------
    def _prices(self) -> pricing.PriceTable:
        """The price table in force, for what is shown and recorded. Once a task may exist nothing may fail
        for it: a damaged override file prices by the pack's own table (and refuses the next create)."""
        try:
            return self.budget.prices
        except ConfigError:
            return pricing.DEFAULT

    def _status(self, on_status: OnStatus, task_id, state, params, created=None, note=None) -> None:
        if on_status is not None:
            on_status(status_for(task_id, state, params, created, note=note, prices=self._prices()))

    def _begin(self, on_status: OnStatus, state: str, params: dict, task_id: Optional[str] = None,
               created=None):
        """Say that a step begins, and give the client's retry hook for it: the step's status again, with the
        retry in words ("uploading reference 1… connection refused, retry 2 of 4")."""
        self._status(on_status, task_id, state, params, created)
        if on_status is None:
            return None
        return lambda note: self._status(on_status, task_id, state, params, note=note)
