"""The composition root: one ``Config`` read once, and one ``Runtime`` built from it that owns everything a
process keeps (journal, budget guard, meter, pacer, worker lanes, clock, per-task download locks, callback
board, the estimate's fingerprints). Nodes, routes, the command line and batch are handed a Runtime; the core
keeps no module state, so what a run depends on is what its Runtime holds. Tests build one with fast timings;
nothing here reads a test switch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .money import budget, metering, pacing
from .settings import config, settings
from .api.callbacks import CallbackBoard
from .api.cancel import Cancel
from .api.client import ApikleyClient
from .record.journals import journal_url, open_journal
from .record.store import JournalStore
from .settings.settings import Timings
from .run.estimate import Fingerprints
from .run.pipeline import Pipeline
from .run.watch import Clock
from .run.workers import Lanes, TaskLocks


@dataclass(frozen=True)
class Config:
    """What a process runs with, read once: the environment (every ``APIKLEY_*`` variable the pack reads),
    the folders, and the waits. The saved key file, caps (budget.json) and price override (prices.json)
    live in ``state_dir`` and are read where they are used, since Settings change them while ComfyUI runs."""

    state_dir: Path
    results_dir: Path
    base_url: str = config.DEFAULT_BASE_URL
    env_api_key: Optional[str] = field(default=None, repr=False)  # APIKLEY_API_KEY: wins over the key file
    callback_base: Optional[str] = None   # APIKLEY_CALLBACK_URL
    journal_url: Optional[str] = field(default=None, repr=False)  # APIKLEY_JOURNAL_URL (farm mode)
    allowed_hosts: frozenset = frozenset()  # APIKLEY_ALLOWED_HOSTS: names the routes answer under
    webhook_hmac_key: Optional[str] = field(default=None, repr=False)  # APIKLEY_WEBHOOK_HMAC_KEY
    deadline_s: float = settings.DEFAULT_DEADLINE_MIN * 60  # APIKLEY_DEADLINE_MIN
    timings: Timings = settings.TIMINGS

    @classmethod
    def from_env(cls, *, state_dir: Optional[Path] = None, results_dir: Optional[Path] = None,
                 timings: Timings = settings.TIMINGS) -> "Config":
        """The process's configuration, each variable parsed where it is defined (config, settings, journal);
        ``state_dir`` defaults to ``config.state_dir()`` (``APIKLEY_STATE_DIR``, else the per-user folder) and
        ``results_dir`` to its ``results`` subfolder."""
        folder = Path(state_dir) if state_dir is not None else config.state_dir()
        return cls(state_dir=folder, results_dir=Path(results_dir) if results_dir is not None else folder / "results",
                   base_url=config.base_url(), env_api_key=config.env_api_key(),
                   callback_base=config.callback_base_url(), journal_url=journal_url(),
                   allowed_hosts=config.allowed_hosts(), webhook_hmac_key=config.webhook_hmac_key(),
                   deadline_s=settings.deadline_s(), timings=timings)


class Runtime:
    """Everything one process keeps, built once from a Config."""

    def __init__(self, cfg: Config, *, journal: Optional[JournalStore] = None, clock: Optional[Clock] = None):
        self.config = cfg
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self.journal = journal if journal is not None else open_journal(cfg.state_dir / "journal.sqlite",
                                                                        url=cfg.journal_url, timings=cfg.timings)
        self.guard = budget.BudgetGuard()
        self.guard.caps_folder = cfg.state_dir  # the caps and prices saved in Settings hold this process
        self.meter = metering.Meter()
        self.pacer = pacing.Pacer(self.journal)
        self.lanes = Lanes()
        self.clock = clock or Clock()
        self.locks = TaskLocks()
        self.callbacks = CallbackBoard()
        self.fingerprints = Fingerprints()  # the estimate route's clip hashes, kept between questions
        # the host's interrupts so far (ComfyUI clears its flag in the first run that sees it): every run
        # started before the latest one stops, however many run side by side
        self.interrupts = 0

    @property
    def timings(self) -> Timings:
        return self.config.timings

    @property
    def folder(self) -> Path:
        return self.config.state_dir

    @property
    def results_dir(self) -> Path:
        return self.config.results_dir

    def api_key(self) -> Optional[str]:
        """The environment's key, else the key file's (read now: Settings may have saved one since)."""
        return self.config.env_api_key or config.api_key(self.folder)

    def client(self, cancel: Optional[Cancel] = None, **kw) -> ApikleyClient:
        return ApikleyClient(api_key=self.api_key() or "", base_url=self.config.base_url, cancel=cancel, **kw)

    def pipeline(self, cancel: Cancel, *, client: Optional[ApikleyClient] = None, **kw) -> Pipeline:
        """The pipeline bound to one run's cancel hook, on this runtime's parts; the key is read now, never
        from a widget."""
        kw.setdefault("deadline_s", self.config.deadline_s)
        kw.setdefault("callback_base", self.config.callback_base)
        kw.setdefault("timings", self.timings)
        return Pipeline(client or self.client(cancel), self.journal, kw.pop("results_dir", self.results_dir),
                        callbacks=self.callbacks, lanes=self.lanes, budget=self.guard, pacer=self.pacer,
                        clock=self.clock, meter=self.meter, locks=self.locks, **kw)
