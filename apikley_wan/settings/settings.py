"""Every setting of the model and the pack, defined once: node widgets, the command line, request
checks, the simulator and the price estimate all read them from here."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Mapping, Optional

from ..errors import ConfigError

MODEL = "wan/2-6-video-to-video"

DURATIONS = ("5", "10")             # seconds of generated video
RESOLUTIONS = ("720p", "1080p")
DEFAULT_DURATION = "5"
DEFAULT_RESOLUTION = "720p"

# kie.ai's public price table in credits per video (apikley publishes none); 1 credit = $0.005
USD_PER_CREDIT = 0.005
PRICE_CREDITS = {
    ("5", "720p"): 70.0,
    ("5", "1080p"): 104.5,
    ("10", "720p"): 140.0,
    ("10", "1080p"): 209.5,
}

# typical provider time per task, for the "remaining" estimate only (the API reports no progress)
TYPICAL_SECONDS = {"5": 150.0, "10": 270.0}

# the API's documented create limit, per account: at most 20 createTask in any 10 s (api-reference §7);
# every create of the account is paced to it on the client side, in a window every process on the journal
# shares (pacing.py); read at each use
CREATES_PER_WINDOW = 20
CREATE_WINDOW_S = 10.0
# create requests one journal entry may send that the API answers 429/455 ("refused, no task made"): that
# answer is proof only from a well-behaved provider, and the API has no way to look for a task by its inputs
CREATE_SENDS_PER_ENTRY = 3

# the longest one API call may take, its whole answer read (a provider dripping an answer a byte at a time
# holds a worker no longer); a result download is not bounded by it (its size decides)
API_CALL_DEADLINE_S = 180.0

DEFAULT_DEADLINE_MIN = 30.0
PROMPT_CHARS = (2, 5000)


def deadline_s() -> float:
    """How long a run waits for its task (``APIKLEY_DEADLINE_MIN``); the task stays recorded after."""
    try:
        minutes = float(os.environ.get("APIKLEY_DEADLINE_MIN") or DEFAULT_DEADLINE_MIN)
    except ValueError:
        minutes = DEFAULT_DEADLINE_MIN
    return max(1.0, minutes * 60)


# the budget guard's caps (budget.py); unset or empty = no cap. Read here and nowhere else. Each may also be saved
# in ComfyUI's Settings (budget_settings.py); the environment wins, cap by cap.
BUDGET_SESSION_ENV = "APIKLEY_BUDGET_SESSION_USD"   # USD this process may spend on new tasks
BUDGET_DAY_ENV = "APIKLEY_BUDGET_DAY_USD"           # USD the journal's tasks may cost per local calendar day
MIN_BALANCE_ENV = "APIKLEY_MIN_BALANCE"             # credits the account must keep after a create


@dataclass(frozen=True)
class Budget:
    """The caps every paid create is held to (``budget.py``); None = no such cap."""

    session_usd: Optional[float] = None
    day_usd: Optional[float] = None
    min_balance: Optional[float] = None  # credits
    # the caps saved in ComfyUI's Settings (budget_settings.py) rather than set in the environment: messages
    # then say where to change them
    from_settings: frozenset = field(default=frozenset(), compare=False)

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.session_usd, self.day_usd, self.min_balance))

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "Budget":
        """The caps from ``APIKLEY_BUDGET_SESSION_USD``, ``APIKLEY_BUDGET_DAY_USD`` and
        ``APIKLEY_MIN_BALANCE``; a value that is not a finite number >= 0 is a ConfigError naming it."""
        env = os.environ if environ is None else environ
        return cls(session_usd=_amount(env, BUDGET_SESSION_ENV, "an amount in USD such as 5 or 12.50"),
                   day_usd=_amount(env, BUDGET_DAY_ENV, "an amount in USD such as 20"),
                   min_balance=_amount(env, MIN_BALANCE_ENV, "a number of credits such as 500"))


def amount(raw) -> Optional[float]:
    """``raw`` as an amount of money or credits (a cap, a balance): a finite number >= 0, else None. The one
    check every cap and balance passes: NaN compares false with everything, so it would pass any limit."""
    if isinstance(raw, bool):
        return None
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _amount(env: Mapping[str, str], name: str, example: str) -> Optional[float]:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    value = amount(raw)
    if value is None:
        raise ConfigError(f"{name}={raw[:40]!r} is not a number >= 0", hint=(
            f"Set {name} to {example}, or unset it for no cap. Nothing was sent to the API."))
    return value


@dataclass(frozen=True)
class Timings:
    """Every wait of the pipeline and the journal in one place, so tests run them in fractions of a second."""

    poll_first_s: float = 2.0        # poll interval for the first 30 s after create
    poll_fast_until_s: float = 30.0
    poll_max_s: float = 15.0         # then growing by half each poll up to this
    null_grace_s: float = 180.0      # a fresh task may answer "recordInfo is null" this long
    adopted_null_grace_s: float = 20.0  # a typed-in id the API keeps calling null is unknown after this
    resume_window_s: float = 120.0   # re-attaching to a task older than the deadline still waits this long
    creating_grace_s: float = 120.0  # a live process that wrote a 'creating' row gets this long to record its id
    slice_s: float = 0.2             # how often a wait looks at Cancel and at a callback's wake-up
    record_retry_s: float = 30.0     # a created task's id is written again this long while the journal fails
    stop_grace_s: float = 5.0        # Ctrl-C: a create already sent gets this long to be answered and recorded
    simulator_task_s: float = 6.0    # `v2v --simulator`: how long the embedded simulator's task takes
    simulator_null_s: float = 1.0    # ... and how long it answers "recordInfo is null" first
    heartbeat_s: float = 10.0        # the writer of a 'creating' journal row refreshes its heartbeat this often
    stale_s: float = 30.0            # a row whose heartbeat is older has lost its writer (every process and
                                     # worker sharing a journal must agree on it, so it is part of the journal)

    def next_poll(self, since_create_s: float, previous: float) -> float:
        """2 s for the first 30 s after create, then growing by half each poll up to 15 s: a 300 s task
        costs about 36 polls, and one done within 30 s is seen within ~2 s."""
        if since_create_s < self.poll_fast_until_s:
            return self.poll_first_s
        return min(self.poll_max_s, max(self.poll_first_s * 1.5, previous * 1.5))


TIMINGS = Timings()
