"""Whether the API is the simulator, so that "no real credits" is said only when it is true.

"Not the default URL" is not it: behind a proxy or a regional base URL real credits are spent. The
simulator says so itself, in a header only it sends on every answer, and it is believed only when the
API is on a loopback address (a remote server cannot make a run look free). The client learns it from
the API's answers (``ApikleyClient.simulator``); everything that shows money asks that one fact.
"""

from __future__ import annotations

from typing import Mapping, Optional
from urllib.parse import urlsplit

from .hosts import is_loopback

HEADER = "X-Apikley-Simulator"
VALUE = "1"
# RunReport.api and the routes' "api": what the web renders (data, never a sentence)
SIMULATOR = "simulator"  # no real credits
REAL = "apikley"         # real credits (any API that does not announce itself, proxies included)


def may_be_simulator(base_url: str) -> bool:
    """Only an API on a loopback address can be the simulator (a remote one is never asked)."""
    return is_loopback(urlsplit(base_url).hostname or "")


def announced(base_url: str, headers: Mapping[str, str]) -> bool:
    """Whether an answer of the API at ``base_url`` says it is the simulator (and may be believed)."""
    return headers.get(HEADER) == VALUE and may_be_simulator(base_url)


def api_kind(simulator: Optional[bool]) -> str:
    """``SIMULATOR`` only when the API said so; unknown counts as real credits."""
    return SIMULATOR if simulator else REAL
