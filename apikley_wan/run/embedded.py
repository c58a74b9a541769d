"""The embedded simulator of ``--simulator`` (``v2v``, ``collect``, ``credits``, ``batch``): the one place
that starts it, so every command gets the same fake API, key and journal identity (no key, no network)."""

from __future__ import annotations

import contextlib
from typing import Optional, TextIO

from ..settings.settings import TIMINGS, Timings

KEY = "sim-key"
# the journal's "api" for its tasks: its port changes with every command, its results stay re-usable
IDENTITY = "embedded-simulator"
# where a run with --simulator checks a video_url before the simulator is up: a loopback API
CHECK_BASE = "http://127.0.0.1"


@contextlib.contextmanager
def embedded_simulator(timings: Timings = TIMINGS, *, credits: Optional[float] = None,
                       out: Optional[TextIO] = None):
    """A running simulator (its task times from ``timings``) for one command; ``credits``: its account's
    start balance (the simulator's own default unless given); says where it listens on ``out``."""
    from ..simulator import Simulator
    more = {} if credits is None else {"credits": credits}
    with Simulator(api_key=KEY, task_seconds=timings.simulator_task_s, null_seconds=timings.simulator_null_s,
                   **more) as sim:
        print(f"simulator: {sim.base_url} (results on {sim.files_base_url})", file=out, flush=True)
        yield sim
