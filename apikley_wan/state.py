"""Everything the pack keeps for the life of a process, set up once: its state folder (journal, key
file), where results are archived, the journal and the callback board. Nodes, routes and the command
line are handed one of these; nothing depends on which of them happened to run first."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import budget, config, settings
from .callbacks import CallbackBoard
from .client import ApikleyClient, Cancel
from .generation import Generations
from .journal import Journal, open_journal


@dataclass
class PackState:
    folder: Path
    results_dir: Path
    journal: Journal
    callbacks: CallbackBoard = field(default_factory=CallbackBoard)

    @classmethod
    def open(cls, folder: Path, results_dir: str | os.PathLike) -> "PackState":
        budget.GUARD.caps_folder = Path(folder)  # the caps saved in Settings (budget.json) hold this process
        return cls(folder=Path(folder), results_dir=Path(results_dir), journal=open_journal(Path(folder) / "journal.sqlite"))

    def api_key(self) -> Optional[str]:
        return config.api_key(self.folder)

    def generations(self, cancel: Cancel) -> Generations:
        """A pipeline bound to one run's cancel hook; the key is read now, never from a widget."""
        return Generations(ApikleyClient(api_key=self.api_key() or "", cancel=cancel), self.journal, self.results_dir,
                           callbacks=self.callbacks, callback_base=config.callback_base_url(),
                           timings=settings.timings())
