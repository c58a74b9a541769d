"""Which journal a process uses: the shared PostgreSQL one in farm mode, else the SQLite file."""

from __future__ import annotations

import os
from typing import Optional

from ..settings.settings import TIMINGS, Timings
from .sqlite import Journal
from .store import JournalStore

JOURNAL_URL_ENV = "APIKLEY_JOURNAL_URL"


def journal_url() -> Optional[str]:
    """The shared PostgreSQL journal's address (``APIKLEY_JOURNAL_URL``: farm mode); None when unset."""
    return os.environ.get(JOURNAL_URL_ENV, "").strip() or None


def open_journal(sqlite_path: str | os.PathLike, url: Optional[str] = None, *,
                 timings: Timings = TIMINGS) -> JournalStore:
    """The journal to use: the shared PostgreSQL one when ``APIKLEY_JOURNAL_URL`` is set (farm mode:
    every worker on every machine claims its rows there), else the SQLite file ``sqlite_path``.

    ``url`` is the Config's (read once); without it the variable is read now. ``timings`` give its heartbeat
    and when a silent writer counts as gone. Both journals have the same API and raise the same JournalError.
    """
    url = journal_url() if url is None else url
    if not url:
        return Journal(sqlite_path, timings=timings)
    from .postgres import PgJournal  # psycopg is an optional extra, imported only in farm mode
    return PgJournal(url, timings=timings)
