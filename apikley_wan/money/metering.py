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
the same key, a top-up). The caller keeps a measurement only when it is plausible (``plausible``), else the
price-table estimate stands.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Optional

# a difference above this many times the estimate is someone else's spending, not this task's
PLAUSIBLE_FACTOR = 3.0


def account_of(client) -> str:
    """Whose balance a client moves: its base URL and a digest of its key (never the key itself)."""
    digest = hashlib.sha256((client.api_key or "").encode()).hexdigest()[:16]
    return f"{client.base_url}#{digest}"


def plausible(difference: Optional[float], estimate: Optional[float]) -> bool:
    """A balance difference that can be one task's cost: more than nothing, at most 3x its estimate."""
    return difference is not None and estimate is not None and 0 < difference <= PLAUSIBLE_FACTOR * estimate


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

