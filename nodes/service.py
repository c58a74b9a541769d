"""The pack's process-wide pieces: the journal, the callback board, and a pipeline per run.

The journal lives in the pack's state folder under ComfyUI's user directory (never in the
pack's own folder, which updates replace).
"""

from __future__ import annotations

import os
import threading
from typing import Optional

from ..apikley_wan import config
from ..apikley_wan.callbacks import CallbackBoard
from ..apikley_wan.client import ApikleyClient, Cancel
from ..apikley_wan.generation import Generations
from ..apikley_wan.journal import Journal
from . import host

_lock = threading.Lock()
_journal: Optional[Journal] = None
callbacks = CallbackBoard()


def journal() -> Journal:
    global _journal
    with _lock:
        if _journal is None:
            user = host.user_dir()
            if user is not None:
                config.set_comfy_user_directory(user)
            _journal = Journal(config.state_dir() / "journal.sqlite")
        return _journal


def deadline_s() -> float:
    return float(os.environ.get("APIKLEY_DEADLINE_MIN") or 30) * 60


def generations(cancel: Cancel) -> Generations:
    """A pipeline bound to one run's cancel hook; the key is read now, never from a widget."""
    store = journal()
    return Generations(ApikleyClient(cancel=cancel), store, host.output_dir(), deadline_s=deadline_s(),
                       callbacks=callbacks, callback_base=config.callback_base_url())
