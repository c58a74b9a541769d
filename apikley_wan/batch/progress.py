"""A batch's progress: a live line on a terminal (redrawn each second), plain lines otherwise; job events as
lines."""

from __future__ import annotations

import math
import time
from typing import Callable, Optional, TextIO

from ..money import pricing
from ..settings import settings
from .plan import money


class Progress:
    """A live line on a terminal (redrawn each second), plain lines otherwise; job events as lines."""

    def __init__(self, total: int, new_jobs: int, out: TextIO, tty: bool, clock: Callable[[], float] = time.monotonic,
                 typical_s: float = settings.TYPICAL_SECONDS[settings.DEFAULT_DURATION],
                 prices: pricing.PriceTable = pricing.DEFAULT):
        self.total, self.new_jobs, self.out, self.tty, self.clock = total, new_jobs, out, tty, clock
        self.prices = prices  # the table in force, for the dollars of what was spent
        self.typical_s = typical_s  # a task's time, for the ETA until the first job finishes
        self.started = clock()
        self.done = self.failed = self.running = 0
        self.credits = 0.0
        self._live = False

    def eta_s(self) -> Optional[float]:
        left = self.total - self.done - self.failed
        if left <= 0:
            return 0.0
        finished = self.done + self.failed
        elapsed = self.clock() - self.started
        if finished and elapsed > 0:
            return left * elapsed / finished
        rounds = max(0, math.ceil(self.new_jobs / max(1, settings.CREATES_PER_WINDOW)) - 1)
        return max(0.0, rounds * settings.CREATE_WINDOW_S + self.typical_s - elapsed)

    def line(self) -> str:
        eta = self.eta_s()
        eta_text = "-" if eta is None else (f"{int(eta // 60)}m{int(eta % 60):02d}s" if eta >= 60 else f"{int(eta)}s")
        return (f"batch: {self.done}/{self.total} done, {self.running} running, {self.failed} failed · "
                f"{money(self.credits, self.prices)} spent · ETA ~{eta_text}")

    def draw(self) -> None:
        if self.tty:
            self.out.write("\r\x1b[K" + self.line())
            self.out.flush()
            self._live = True

    def event(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\x1b[K" + text + "\n")
            self.draw()
        else:
            print(f"[{self.done + self.failed}/{self.total}] {text}", file=self.out, flush=True)

    def close(self) -> None:
        if self.tty and self._live:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._live = False

