"""The budget guard: every paid create goes through it; a re-use never does.

Three caps (``settings.Budget``, from the environment or saved in ComfyUI's Settings, the environment winning
cap by cap: ``budget_settings.py``; read at each use, so a change applies to the next run; unset = no cap):

- per session (``APIKLEY_BUDGET_SESSION_USD``): what THIS process has created, at the price-table
  estimate of each task, plus the creates it has in flight;
- per day (``APIKLEY_BUDGET_DAY_USD``): the tasks the journal created since local midnight (so it
  survives restarts and, on a shared journal, covers the whole farm), each at its recorded cost or,
  when unknown, the price-table estimate, plus this process's creates in flight; a create whose answer
  was lost (uncertain, or abandoned since) counts at its estimate: it may have made a billed task;
- minimum balance (``APIKLEY_MIN_BALANCE``, credits): the balance ``client.credits()`` reports, less
  this run and this process's creates in flight, must stay at or above it. A balance that cannot be
  read refuses the create (the guard was asked for).

``Pipeline.submit`` asks ``check`` right after the re-use lookup, before any clip is prepared or
uploaded; the paid create (``run/create.py``) then ``reserve``s the run's estimate atomically with the others of
the process (one lock), claims the journal row under that lock, and re-counts the day once the row
is written (another worker of a shared journal may have claimed the room meanwhile). A create the
API refused ``release``s the reservation; a created (or possibly created) task ``spend``s it.
"""

from __future__ import annotations

import datetime
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from . import budget_settings, price_settings
from ..settings import settings
from ..errors import ApikleyError, BudgetError, RunCancelledError
from .pricing import DEFAULT, PriceTable
from ..settings.settings import Budget


def _usd(credits: float, prices: PriceTable) -> str:
    return f"${credits * prices.usd_per_credit:,.2f}"


def _run_cost(credits: float, prices: PriceTable) -> str:
    return f"this run would cost about {_usd(credits, prices)} ({credits:g} credits, price-table estimate)"


def _cap(budget: Budget, name: str) -> tuple:
    """How a message names a cap and how to change it: its environment variable, or Settings."""
    if name in budget.from_settings:
        return "(saved in Settings)", "clear it in Settings → apikley Wan 2.6"
    env = budget_settings.ENV_VARS[name]
    return env, f"unset {env}"


def local_midnight(now: float) -> float:
    """The start of ``now``'s calendar day in local time."""
    return datetime.datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def row_credits(entry, prices: PriceTable = DEFAULT) -> float:
    """What a journal row's task costs: its recorded figure, else the price of its settings (a row whose
    settings have no price, never written by this pack, counts at the dearest)."""
    if entry.cost_credits is not None:
        return float(entry.cost_credits)
    price = prices.price_of(entry.params)
    return prices.dearest if price is None else price


def _journal_key(journal) -> str:
    return getattr(journal, "_key", None) or f"journal@{id(journal)}"


@dataclass(eq=False)
class Reservation:
    """One create's estimate held against the caps until the create is refused or made."""

    guard: "BudgetGuard"
    journal_key: str
    credits: float
    entry_id: Optional[int] = None  # the journal row it claimed (then counted here, not from the journal)
    balance: Optional[float] = None  # the balance read for the minimum-balance cap, if any (metering re-uses it)

    def claim(self, claim: Callable[[], tuple]) -> tuple:
        """Run the journal's ``claim`` under the guard's lock and remember the row it wrote."""
        return self.guard._claim(self, claim)

    def recheck(self, journal) -> None:
        """After the row is written: BudgetError if the day is now over (another worker's rows)."""
        self.guard._recheck(self, journal)

    def spend(self) -> None:
        """The task was created (or may have been): the estimate becomes this session's spending."""
        self.guard._settle(self, spent=True)

    def release(self) -> None:
        """No task was made: give the room back (a no-op once spent or released)."""
        self.guard._settle(self, spent=False)


class BudgetGuard:
    """The caps of one process. ``budget`` fixes them (tests); None reads the environment and the caps
    saved in ``caps_folder`` (the state folder, set by whoever opens it; None: the environment only) at
    each use. The prices it counts in are the table in force there (price_settings.py) unless ``prices``."""

    def __init__(self, budget: Optional[Budget] = None, *, now: Callable[[], float] = time.time,
                 prices: Optional[PriceTable] = None):
        self._budget = budget
        self._prices = prices
        self.caps_folder = None
        self._now = now
        self._lock = threading.Lock()
        self._spent = 0.0          # credits of the tasks this session created
        self._held: list = []      # Reservations of creates in flight

    @property
    def budget(self) -> Budget:
        return self._budget if self._budget is not None else budget_settings.in_force(self.caps_folder)[0]

    @property
    def prices(self) -> PriceTable:
        """The price table in force: every estimate of a run, its status line and its journal row use it."""
        return self._prices if self._prices is not None else price_settings.in_force(self.caps_folder)

    @property
    def session_spent_credits(self) -> float:
        with self._lock:
            return self._spent

    @property
    def reserved_credits(self) -> float:
        with self._lock:
            return sum(r.credits for r in self._held)

    def spent_usd(self, journal) -> dict:
        """What the session and day caps count now, in USD (creates in flight included)."""
        prices = self.prices
        with self._lock:
            session = self._spent + sum(r.credits for r in self._held)
            day = self._day_credits(journal, prices)
        return {"session_usd": prices.to_usd(session), "day_usd": prices.to_usd(day)}

    # -- the two checks --------------------------------------------------------------------
    def check(self, journal, client, credits: float) -> None:
        """BudgetError when a create of ``credits`` would cross a cap now; holds nothing (submit's
        early look, before any upload). ConfigError for a malformed cap."""
        budget = self.budget
        if not budget.active:
            return
        prices, balance = self.prices, self._balance(budget, client)
        with self._lock:
            self._refuse_if_over(budget, prices, journal, credits, balance)

    def reserve(self, journal, client, credits: float) -> Reservation:
        """Hold ``credits`` for one create, atomically with every other create of the process."""
        budget, prices = self.budget, self.prices
        balance = self._balance(budget, client) if budget.min_balance is not None else None
        with self._lock:
            if budget.active:
                self._refuse_if_over(budget, prices, journal, credits, balance)
            held = Reservation(self, _journal_key(journal), float(credits), balance=balance)
            self._held.append(held)
        return held

    # -- reservations ----------------------------------------------------------------------
    def _claim(self, held: Reservation, claim: Callable[[], tuple]) -> tuple:
        with self._lock:  # a count never sees the new row AND this reservation as two spendings
            entry, is_new = claim()
            if is_new:
                held.entry_id = entry.id
        return entry, is_new

    def _recheck(self, held: Reservation, journal) -> None:
        budget = self.budget
        if budget.day_usd is None:
            return
        prices = self.prices
        with self._lock:
            day = self._day_credits(journal, prices, exclude=held)
            if (day + held.credits) * prices.usd_per_credit > budget.day_usd + 1e-9:
                raise self._day_error(budget, prices, day, held.credits, extra=(
                    " (another worker of this shared journal claimed the room first)"))

    def _settle(self, held: Reservation, spent: bool) -> None:
        with self._lock:
            if held in self._held:
                self._held.remove(held)
                if spent:
                    self._spent += held.credits

    # -- the caps --------------------------------------------------------------------------
    def _refuse_if_over(self, budget: Budget, prices: PriceTable, journal, credits: float,
                        balance: Optional[float]) -> None:
        """Called under the lock."""
        reserved = sum(r.credits for r in self._held)
        if budget.session_usd is not None:
            spent = self._spent + reserved
            if (spent + credits) * prices.usd_per_credit > budget.session_usd + 1e-9:
                name, change = _cap(budget, "session_usd")
                raise BudgetError(
                    f"the per-session cap {name} is ${budget.session_usd:,.2f}; this process "
                    f"has spent {_usd(spent, prices)} (price-table estimates, creates in flight included) and "
                    f"{_run_cost(credits, prices)}", cap=settings.BUDGET_SESSION_ENV,
                    hint=f"Raise or {change}, or restart to begin a new session. "
                         "Re-using or collecting an existing task is never blocked.")
        if budget.day_usd is not None:
            day = self._day_credits(journal, prices)
            if (day + credits) * prices.usd_per_credit > budget.day_usd + 1e-9:
                raise self._day_error(budget, prices, day, credits)
        if budget.min_balance is not None and balance is not None:
            after = balance - reserved - credits
            if after < budget.min_balance - 1e-9:
                pending = f", less {reserved:g} credits of creates in flight," if reserved else ""
                name, change = _cap(budget, "min_balance")
                raise BudgetError(
                    f"the minimum balance {name} is {budget.min_balance:g} credits; the account "
                    f"has {balance:g} credits{pending} and {_run_cost(credits, prices)}, leaving {after:g}",
                    cap=settings.MIN_BALANCE_ENV,
                    hint=f"Top up the account, or lower or {change}. "
                         "Re-using or collecting an existing task is never blocked.")

    def _day_credits(self, journal, prices: PriceTable, exclude: Optional[Reservation] = None) -> float:
        """Today's tasks of ``journal`` plus this process's creates in flight on it (under the lock). A
        reservation whose row is written is counted once, as the reservation."""
        key = _journal_key(journal)
        mine = [r for r in self._held if r.journal_key == key and r is not exclude]
        claimed = {r.entry_id for r in self._held if r.journal_key == key and r.entry_id is not None}
        rows = journal.created_since(local_midnight(self._now()))
        return sum(row_credits(e, prices) for e in rows if e.id not in claimed) + sum(r.credits for r in mine)

    @staticmethod
    def _day_error(budget: Budget, prices: PriceTable, day: float, credits: float, extra: str = "") -> BudgetError:
        name, change = _cap(budget, "day_usd")
        return BudgetError(
            f"the per-day cap {name} is ${budget.day_usd:,.2f}; the tasks this journal created "
            f"today come to {_usd(day, prices)} (recorded costs, else price-table estimates, creates in flight "
            f"included){extra} and {_run_cost(credits, prices)}", cap=settings.BUDGET_DAY_ENV,
            hint=f"Raise or {change}, or wait until tomorrow (local time). "
                 "Re-using or collecting an existing task is never blocked.")

    @staticmethod
    def _balance(budget: Budget, client) -> Optional[float]:
        if budget.min_balance is None:
            return None
        try:
            return float(client.credits())
        except RunCancelledError:
            raise
        except ApikleyError as exc:
            reason = exc.what + (f": {exc.detail}" if exc.detail else "")
        except Exception as exc:  # anything else the balance call met: still refuse, clearly
            reason = f"{type(exc).__name__}: {exc}"
        name, change = _cap(budget, "min_balance")
        raise BudgetError(
            f"the minimum balance {name} is {budget.min_balance:g} credits, but the account "
            f"balance could not be read ({reason})", cap=settings.MIN_BALANCE_ENV,
            hint=f"Check the API key and the network, or {change} to create without the balance check.")

