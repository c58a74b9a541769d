"""The one price table for wan/2-6-video-to-video, so nodes, client and simulator agree.

Prices are per video (not per second), from the kie.ai catalogue (api-reference §9);
apikley publishes none of its own. 1 credit = $0.005.
"""

from __future__ import annotations

from typing import Optional

from .settings import PRICE_CREDITS as CREDITS, USD_PER_CREDIT

__all__ = ["CREDITS", "USD_PER_CREDIT", "credits_to_usd", "estimate_credits", "price_of"]


def estimate_credits(duration: str, resolution: str) -> float:
    """Credits one task costs; ValueError for a combination the model does not offer."""
    try:
        return CREDITS[(str(duration), resolution)]
    except KeyError:
        raise ValueError(f"no price for duration={duration!r} resolution={resolution!r}") from None


def price_of(params: dict) -> Optional[float]:
    """The estimate for a task's journal params; None when its settings are unknown (never a guess)."""
    return CREDITS.get((str(params.get("duration")), params.get("resolution")))


def credits_to_usd(credits: float) -> float:
    return round(credits * USD_PER_CREDIT, 4)
