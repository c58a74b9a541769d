"""The pack's one Runtime inside ComfyUI (see ``apikley_wan.runtime``).

Built once when the pack loads (``setup``: state under ComfyUI's user folder, results under its output
folder); ComfyUI makes node objects itself, so the nodes and routes find it here. A test hands in its own
(``use``); outside a running ComfyUI the first use builds one the same way.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

from ..apikley_wan.settings import config
from ..apikley_wan.runtime import Config, Runtime
from ..apikley_wan.settings.settings import TIMINGS, Timings
from . import host

_lock = threading.Lock()
_runtime: Optional[Runtime] = None


def use(runtime: Optional[Runtime]) -> Optional[Runtime]:
    """Make ``runtime`` the pack's (None: build one on next use)."""
    global _runtime
    with _lock:
        _runtime = runtime
    return runtime


def setup(timings: Timings = TIMINGS, results_dir: Optional[Path] = None) -> Runtime:
    """(Re)build the runtime from ComfyUI's folders (results: under its output folder unless ``results_dir``)
    and the environment."""
    return use(Runtime(Config.from_env(state_dir=config.state_dir(host.user_dir()),
                                       results_dir=results_dir or host.output_dir(), timings=timings)))


def state() -> Runtime:
    with _lock:
        current = _runtime
    return current or setup()
