"""What one run did with the user's money, as data: the frontend renders it, the command line prints
it, and nobody has to parse a sentence to tell a new charge from a re-use."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Optional

from . import pricing
from ..api.simulated import SIMULATOR, api_kind

# how a run came by its task
PAID = "paid"              # this run created the task: it is charged for it
REUSED = "reused"          # the task had finished before this run: no new charge
REATTACHED = "reattached"  # the task was created earlier and still running: no new charge
COLLECTED = "collected"    # a task picked up by id or by a Poll/Fetch node: no new charge

# how the cost is known
REPORTED = "reported"      # the API's own record says what it consumed
MEASURED = "measured"      # the balance before the create less the balance after success (metering.py)
ESTIMATE = "estimate"      # from the price table
UNKNOWN = "unknown"        # the task's settings are unknown, so is its price


@dataclass(frozen=True)
class RunReport:
    task_id: Optional[str]
    state: str                      # the journal state at the end (success, fail, waiting, ...)
    outcome: str                    # PAID, REUSED, REATTACHED or COLLECTED
    charged: bool                   # True only when this run created the task
    cost_credits: Optional[float]   # what the task costs (paid now or earlier); None when unknown
    cost_usd: Optional[float]
    cost_kind: str                  # REPORTED, MEASURED, ESTIMATE or UNKNOWN (the journal's cost_kind)
    elapsed_s: float                # this run's time
    result_path: Optional[str]
    task_created_at: Optional[float]
    finished_at: Optional[float]
    api: str                        # "simulator" only when the API said it is (simulated.py), else "apikley"
    notes: tuple = ()               # what this run's upload changed, e.g. "HDR reference converted to SDR for upload"
    output: Optional[str] = None    # the copy the user asked for (``--out``, a batch job's ``out``), once written

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """One line for a node's status, a terminal or a log; it leads with what happened to the money."""
        cost = "cost unknown" if self.cost_credits is None else (
            f"{self.cost_credits:g} credits (${self.cost_usd:.2f}" + _KIND_NOTE.get(self.cost_kind, ")"))
        what = {PAID: f"Paid now: {cost}", REUSED: "Re-used: no new charge",
                REATTACHED: "Re-attached to a running task: no new charge",
                COLLECTED: "Collected: no new charge"}[self.outcome]
        text = f"{what} · task {self.task_id} ({self.state}) · {self.elapsed_s:.0f}s"
        text += "".join(f" · {note}" for note in self.notes)
        return text + (" · simulator — no real credits" if self.api == SIMULATOR else "")


# how the one-line report qualifies a cost; the API's own figure needs no note
_KIND_NOTE = {ESTIMATE: ", estimate)", MEASURED: ", measured from the balance)"}


def report_for(entry, outcome: str, started_at: float, simulator: bool,
                prices: pricing.PriceTable = pricing.DEFAULT, now: Optional[float] = None,
                notes: tuple = ()) -> RunReport:
    """The report of a run that ends with ``entry`` (a journal entry); ``simulator``: the API said it is one;
    ``notes`` from its Submission."""
    credits = entry.cost_credits
    kind = entry.cost_kind if credits is not None else UNKNOWN
    return RunReport(task_id=entry.task_id, state=entry.state, outcome=outcome, charged=outcome == PAID,
                     cost_credits=credits, cost_usd=prices.to_usd(credits) if credits is not None else None,
                     cost_kind=kind, elapsed_s=round((now or time.time()) - started_at, 3),
                     result_path=entry.result_path, task_created_at=entry.task_created_at,
                     finished_at=entry.finished_at, api=api_kind(simulator), notes=tuple(notes))
