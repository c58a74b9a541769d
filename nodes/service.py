"""The pack's one state object inside ComfyUI (see ``apikley_wan.state``).

It is set up when the pack loads (``setup``: under ComfyUI's user folder, results under its
output folder); outside a running ComfyUI (tests, scripts) the first use sets it up the same way.
"""

from __future__ import annotations

import threading
from typing import Optional

from ..apikley_wan import config
from ..apikley_wan.state import PackState
from . import host

_lock = threading.Lock()
_state: Optional[PackState] = None


def setup() -> PackState:
    """(Re)build the state from ComfyUI's folders."""
    global _state
    with _lock:
        _state = PackState.open(config.state_dir(host.user_dir()), host.output_dir())
        return _state


def state() -> PackState:
    with _lock:
        current = _state
    return current or setup()

