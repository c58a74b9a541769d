"""Measured cost: what a task really took from the balance, when the API does not say.

recordInfo (and a callback, which may never set a cost) often carries no ``consumeCredits``. Then the
balance read before the create, less the balance read after success, is the task's cost, but only if
nothing else on the account could have moved the balance in between. So every create and every
wait on a pending task holds a *ticket* for its account from before the create (or from when the wait
begins) until the process sees the task finish. A ticket is *alone* while no other ticket of its account
existed at any moment of its life; only a ticket that is still alone after the second balance read is
measured. A task whose wait stopped early (Cancel, deadline) keeps its ticket until some run sees it
finish: it may be billed meanwhile.

Other processes and farm workers are seen through the journal they share: after the second balance read,
the journal is asked whether another entry of the account was in flight between the ticket's opening and
that read (``journal.busy_between``). What this cannot see: spending outside the journal (another tool on
the same key, a top-up). A measurement is kept only when it is plausible (``plausible``), else the
price-table estimate stands. ``balance_before`` and ``measured_cost`` are the two balance reads.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Optional

from ..errors import ApikleyError, RunCancelledError

log = logging.getLogger("apikley_wan")

# a difference above this many times the estimate is someone else's spending, not this task's
PLAUSIBLE_FACTOR = 3.0


def account_of(client) -> str:
    """Whose balance a client moves: its base URL and a digest of its key (never the key itself)."""
    digest = hashlib.sha256((client.api_key or "").encode()).hexdigest()[:16]
    return f"{client.base_url}#{digest}"


def plausible(difference: Optional[float], estimate: Optional[float]) -> bool:
    """A balance difference that can be one task's cost: more than nothing, at most 3x its estimate."""
    return difference is not None and estimate is not None and 0 < difference <= PLAUSIBLE_FACTOR * estimate


def balance_before(ticket: "Ticket", client, known: Optional[float]) -> None:
    """The balance before the create, for a measured cost: the guard's reading when it just made one,
    else one quick read, and only while this create is alone. A failed read only loses the measurement."""
    if not ticket.alone:
        return
    if known is None:
        try:
            known = client.credits(attempts=1)
        except RunCancelledError:
            raise
        except ApikleyError:
            ticket.spoil()
            return
    ticket.balance_before = known


def measured_cost(ticket: "Ticket", client, journal, api_identity: str, entry_id: int,
                  estimate: Optional[float]) -> Optional[float]:
    """The balance before the create less the balance now, when the task was alone from before its
    create until after this read (in this process, and in the journal every process on the account
    writes) and the difference is plausible; else None (the estimate stands)."""
    if ticket.balance_before is None or not ticket.alone:
        return None
    try:
        after = client.credits(attempts=1)
    except ApikleyError:  # Cancel included: the success must be recorded all the same
        return None
    difference = round(ticket.balance_before - after, 4)
    busy = journal.busy_between(api_identity, entry_id, ticket.opened_at, time.time())
    if ticket.alone and not busy and plausible(difference, estimate):
        return difference
    log.info("apikley task %s: balance moved by %g credits (estimate %s): not taken as its cost",
             ticket.task_id, difference, estimate)
    return None


class Ticket:
    """One task (or create about to be sent) of one account, as the meter sees it."""

    def __init__(self, meter: "Meter", account: str):
        self._meter = meter
        self.account = account
        self.alone = True
        self.balance_before: Optional[float] = None
        self.task_id: Optional[str] = None
        self.opened_at = time.time()  # before any balance read of its create: where the journal is asked from

    def spoil(self) -> None:
        """This ticket cannot be measured (e.g. the balance could not be read)."""
        self.alone = False

    def bind(self, task_id: str) -> None:
        """The create answered with this task: its wait (in this run or a later one) finds the ticket."""
        self._meter._bind(self, task_id)

    def close(self) -> None:
        """No task came of it, or its end was seen: it stops counting for the others."""
        self._meter._close(self)


class Meter:
    """The tickets of this process, per account."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open: dict = {}       # account -> set of open tickets
        self._by_task: dict = {}    # (account, task id) -> ticket

    def open(self, client) -> Ticket:
        """A ticket for a create about to happen: alone only if no other ticket of the account is open;
        every other open ticket of the account stops being alone."""
        ticket = Ticket(self, account_of(client))
        with self._lock:
            others = self._open.setdefault(ticket.account, set())
            for other in others:
                other.alone = False
            ticket.alone = not others
            others.add(ticket)
        return ticket

    def watch(self, client, task_id: str) -> Ticket:
        """The ticket of a task being waited for: the create's, or a new one that is never alone (its
        balance before the create was not read by this process)."""
        account = account_of(client)
        with self._lock:
            known = self._by_task.get((account, task_id))
        if known is not None:
            return known
        ticket = self.open(client)
        ticket.spoil()
        ticket.bind(task_id)
        return ticket

    def _bind(self, ticket: Ticket, task_id: str) -> None:
        with self._lock:
            ticket.task_id = task_id
            self._by_task.setdefault((ticket.account, task_id), ticket)

    def _close(self, ticket: Ticket) -> None:
        with self._lock:
            self._open.get(ticket.account, set()).discard(ticket)
            if ticket.task_id is not None and self._by_task.get((ticket.account, ticket.task_id)) is ticket:
                del self._by_task[(ticket.account, ticket.task_id)]

