"""What a waiting user sees: a line (state, a retry in words, elapsed time, an estimate of what is left,
the cost) and a progress fraction (elapsed against the expected time, held below done until success)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

from ..record import entry as jr
from ..money.pricing import DEFAULT, PriceTable
from ..settings.settings import TYPICAL_SECONDS

# the progress a pending task may show: the estimate of its time can be wrong, its end cannot
PROGRESS_CAP = 0.95


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
    credits: Optional[float]
    note: Optional[str] = None  # what went wrong meanwhile, e.g. "connection refused, retry 2 of 4"
    prices: PriceTable = DEFAULT  # the table in force, for the dollar figure

    def line(self, now: Optional[float] = None) -> str:
        text = f"Wan 2.6 V2V: {self.state}" + (f"… {self.note}" if self.note else "")
        if self.task_id:
            text += f" | task {self.task_id[:12]}"
        if self.started_at:
            elapsed = (now or time.time()) - self.started_at
            left = self.typical_s - elapsed
            text += f" | {int(elapsed)}s elapsed"
            if self.state in jr.PENDING:
                text += f" (~{int(left)}s left, estimate)" if left > 0 else " (any moment now)"
        if self.credits is None:
            return text + " | cost unknown"
        return text + f" | ~{self.credits:g} credits (${self.prices.to_usd(self.credits):.2f}, estimate)"

    def progress(self, now: Optional[float] = None) -> float:
        """0 until the task exists, then elapsed / expected time, held at ``PROGRESS_CAP`` until success
        (the API reports no progress of its own: this is the estimate, never 'done' before it is)."""
        if not self.started_at or self.typical_s <= 0:
            return 0.0
        elapsed = (now or time.time()) - self.started_at
        return max(0.0, min(PROGRESS_CAP, elapsed / self.typical_s))


def status_for(task_id: Optional[str], state: str, params: dict, created: Optional[float] = None,
               note: Optional[str] = None, prices: PriceTable = DEFAULT) -> Status:
    """The status of a task with these journal params, priced by the table in force; an unknown
    duration/resolution has an unknown cost."""
    return Status(task_id=task_id, state=state, started_at=created,
                  typical_s=TYPICAL_SECONDS.get(str(params.get("duration")), TYPICAL_SECONDS["5"]),
                  credits=prices.price_of(params), note=note, prices=prices)
