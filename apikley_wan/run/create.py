"""The paid create, as one step that is never split: the budget reserved, the journal row written before the
POST, the POST, and the task id recorded right after it, so a Cancel between the pipeline's awaits can never
lose a paid task id. It runs on a worker of its own (``Lanes.creates``)."""

from __future__ import annotations

import logging
import time

from ..api.client import ApikleyClient
from ..errors import ApikleyError, CreateUncertainError, JournalError, TaskIdTakenError, link_hint
from ..money import budget as budget_guard, metering, pacing
from ..record import entry as jr
from ..record.entry import JournalEntry
from ..record.store import JournalStore
from ..settings.settings import Timings

log = logging.getLogger("apikley_wan")

# in an entry's params: how many of its create requests the API answered with a refusal (429/455), so far
CREATES_REFUSED = "creates_refused"


class PaidCreate:
    """One pipeline's paid create: called with what the task is (fingerprint, params, body, price) and the
    account's create slot, on its client, journal, budget guard, meter and pacer."""

    def __init__(self, client: ApikleyClient, journal: JournalStore, budget: budget_guard.BudgetGuard,
                 meter: metering.Meter, pacer: pacing.Pacer, timings: Timings):
        self.client, self.journal, self.budget = client, journal, budget
        self.meter, self.pacer, self.timings = meter, pacer, timings

    def __call__(self, fp: str, params: dict, body: dict, credits: float, slot: pacing.Slot,
                 on_retry=None) -> tuple:
        """One step: the budget is reserved, the journal row written before the POST, and the row gets
        the task id right after it.

        Returns ``(entry, True)`` when this call created the task, ``(existing_entry, False)`` when
        another run holds the fingerprint. BudgetError (nothing sent) when the run would cross a cap.
        """
        ticket = self.meter.open(self.client)  # before the guard may read the balance (metering.py)
        may_exist = False  # whether a task may have come of this call: then the ticket stays open
        try:
            held = self.budget.reserve(self.journal, self.client, credits)
            try:
                entry, is_new = held.claim(lambda: self.journal.claim(fp, params))
                if not is_new:
                    return entry, False
                try:  # nothing is sent yet: whatever stops the run here gives the row back for the next run
                    held.recheck(self.journal)
                    metering.balance_before(ticket, self.client, held.balance)
                except BaseException as exc:
                    self.journal.update(entry.id, state=jr.REFUSED, error=exc.user_message() if isinstance(
                        exc, ApikleyError) else f"stopped before the create was sent ({type(exc).__name__})")
                    raise
                may_exist = True  # from the POST on, unless the answer proves otherwise

                def refused(sent: int) -> None:  # kept before any re-send; the window is full for everyone
                    self.journal.update(entry.id, params={**params, CREATES_REFUSED: sent})
                    self.pacer.refused(slot)
                try:
                    task_id = self.client.create_task(body, on_retry=on_retry, on_refused=refused)
                except CreateUncertainError as exc:
                    held.spend()  # a task may exist: it counts
                    self.journal.update(entry.id, state=jr.UNCERTAIN, error=exc.user_message())
                    exc.hint = f"{exc.hint} {link_hint(entry.id)}"
                    raise
                except ApikleyError as exc:  # the API refused, or cancel came before sending: no task
                    may_exist = False
                    self.journal.update(entry.id, state=jr.REFUSED, error=exc.user_message())
                    raise
                except BaseException as exc:  # anything else mid-create: a task may exist
                    held.spend()
                    self.journal.update(entry.id, state=jr.UNCERTAIN,
                                        error=f"stopped during create ({type(exc).__name__})")
                    raise
                held.spend()
                ticket.bind(task_id)
            finally:
                held.release()  # no task was made (a no-op once spent)
        finally:
            if not may_exist:
                ticket.close()
        log.info("apikley task %s created (journal entry %d)", task_id, entry.id)
        return self._record_task_id(entry, task_id), True

    def _record_task_id(self, entry: JournalEntry, task_id: str) -> JournalEntry:
        """A paid task's id must reach the journal: the write is retried (a busy file, a database restarting)
        for up to ``timings.record_retry_s``; past that, the error names the id and how to link it later."""
        deadline, delay = time.monotonic() + self.timings.record_retry_s, 0.25
        while True:
            try:
                return self.journal.record_task_id(entry.id, task_id)
            except TaskIdTakenError as exc:  # a task may exist for this entry: it stays uncertain
                log.error("apikley task %s was answered for journal entry %d, but another entry holds it",
                          task_id, entry.id)
                self.journal.update(entry.id, state=jr.UNCERTAIN, error=exc.user_message())
                raise
            except JournalError as exc:
                if time.monotonic() + delay > deadline:
                    log.error("apikley task %s could not be recorded in journal entry %d; link it by id",
                              task_id, entry.id)
                    self.journal.release(entry.id)  # no heartbeat for it: others see it as uncertain
                    exc.task_id, exc.credits_may_be_spent = task_id, True
                    exc.hint = (f"The task WAS created. Once the journal works again: {link_hint(entry.id, task_id)} "
                                f"{exc.hint}")
                    raise
                log.warning("apikley task %s created, but the journal could not record it (%s); retrying in %.2g s",
                            task_id, exc.detail, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
