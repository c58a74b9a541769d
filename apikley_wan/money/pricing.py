"""The one price table for wan/2-6-video-to-video, so nodes, client and simulator agree.

Prices are per video (not per second), from the kie.ai catalogue (api-reference §9);
apikley publishes none of its own. 1 credit = $0.005. The user may override entries in Settings
(price_settings.py): the table in force (``PriceTable``) then prices the guard, the status line, the
journal's estimates, the estimate route and the page alike. The module functions are the pack's own table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

from ..settings.settings import PRICE_CREDITS as CREDITS, USD_PER_CREDIT

__all__ = ["CREDITS", "DEFAULT", "USD_PER_CREDIT", "PriceTable", "credits_to_usd", "estimate_credits", "price_of"]


@dataclass(frozen=True)
class PriceTable:
    """Credits per task by ``(duration, resolution)`` and the dollar rate; ``overridden``: the user changed it."""

    credits: Mapping[tuple, float] = field(default_factory=lambda: dict(CREDITS))
    usd_per_credit: float = USD_PER_CREDIT
    overridden: bool = False

    def estimate_credits(self, duration, resolution) -> float:
        """Credits one task costs; ValueError for a combination the model does not offer."""
        try:
            return self.credits[(str(duration), resolution)]
        except (KeyError, TypeError):
            raise ValueError(f"no price for duration={duration!r} resolution={resolution!r}") from None

    def price_of(self, params: dict) -> Optional[float]:
        """The estimate for a task's journal params; None when its settings are unknown (never a guess)."""
        return self.credits.get((str(params.get("duration")), params.get("resolution")))

    def to_usd(self, credits: float) -> float:
        return round(credits * self.usd_per_credit, 4)

    @property
    def dearest(self) -> float:
        """What a task whose settings are not known is counted at."""
        return max(self.credits.values())


DEFAULT = PriceTable()


def estimate_credits(duration: str, resolution: str) -> float:
    """Credits one task costs by the pack's own table; ValueError for a combination the model does not offer."""
    return DEFAULT.estimate_credits(duration, resolution)


def price_of(params: dict) -> Optional[float]:
    return DEFAULT.price_of(params)


def credits_to_usd(credits: float) -> float:
    return DEFAULT.to_usd(credits)
