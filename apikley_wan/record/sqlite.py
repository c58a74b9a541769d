"""The task journal on one SQLite file: one row per intended generation, written before any paid call.

It is what makes "never pay twice" true across re-runs, restarts and crashes: a row keyed by the inputs'
fingerprint exists before the create POST, then gains the task id, states, the result URL and the local
result path. Safe across threads and processes (WAL, short transactions, ``BEGIN IMMEDIATE`` for the
claim and migrations). The logic is the stores' shared one (``store.JournalStore``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Callable, Iterator

from ..errors import JournalError
from .entry import COLUMNS, CREATING, SCHEMA_VERSION
from ..settings.settings import TIMINGS, Timings
from .store import COST_KIND_OF_OLD_ROW, JournalStore, check_migrations



# the schema of the first releases, verbatim (they left user_version at 0)
_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    task_id TEXT UNIQUE,
    params TEXT NOT NULL DEFAULT '{}',
    result_url TEXT,
    result_path TEXT,
    cost_credits REAL,
    cost_reported INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    owner TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    task_created_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS tasks_fingerprint ON tasks (fingerprint, id);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state);
"""


# 3: the bool cost_reported becomes the text cost_kind (old rows: reported -> 'reported', a cost without it ->
# 'estimate', none -> 'unknown'). SQLite drops a column only since 3.35 (Debian 11 ships 3.34), so the table
# is rebuilt with the same ids, then renamed; cost_kind goes last, as PostgreSQL's ADD COLUMN puts it.
_V2_COLUMNS = ("id, fingerprint, state, task_id, params, result_url, result_path, cost_credits, error, owner, "
               "created_at, updated_at, task_created_at, finished_at, heartbeat_at")
_REBUILD_V3 = (
    """CREATE TABLE tasks_v3 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    task_id TEXT UNIQUE,
    params TEXT NOT NULL DEFAULT '{}',
    result_url TEXT,
    result_path TEXT,
    cost_credits REAL,
    error TEXT,
    owner TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    task_created_at REAL,
    finished_at REAL,
    heartbeat_at REAL,
    cost_kind TEXT NOT NULL DEFAULT 'unknown'
)""",
    f"INSERT INTO tasks_v3 ({_V2_COLUMNS}, cost_kind) SELECT {_V2_COLUMNS}, {COST_KIND_OF_OLD_ROW} FROM tasks",
    # the id counter carries over too: an id is never handed out twice
    "DELETE FROM sqlite_sequence WHERE name = 'tasks_v3'",
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'tasks_v3', seq FROM sqlite_sequence WHERE name = 'tasks'",
    "DROP TABLE tasks",
    "ALTER TABLE tasks_v3 RENAME TO tasks",
    "CREATE INDEX tasks_fingerprint ON tasks (fingerprint, id)",
    "CREATE INDEX tasks_state ON tasks (state)",
)

# 4: the account's create window (pacing.py): one row per create request in flight or lately answered,
# shared by every process and worker on the journal; the tasks table is left as it was
_CREATE_SLOTS_V4 = (
    """CREATE TABLE create_slots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    started_at REAL NOT NULL,
    answered_at REAL,
    refused_at REAL
)""",
    "CREATE INDEX create_slots_account ON create_slots (account, started_at)",
)

# _MIGRATIONS[n - 1] takes a file from version n - 1 to n, inside the opener's transaction (so no
# executescript, which commits). Never edit a released migration: append the next one, and its
# PostgreSQL twin to postgres._MIGRATIONS (same index, same version; a test holds them in step).
_MIGRATIONS = check_migrations("SQLite", (
    tuple(sql.strip() for sql in _SCHEMA_V1.split(";") if sql.strip()),  # 1: IF NOT EXISTS adopts 0-files
    ("ALTER TABLE tasks ADD COLUMN heartbeat_at REAL",),                   # 2: liveness of 'creating' rows
    _REBUILD_V3,                                                            # 3: cost_kind replaces cost_reported
    _CREATE_SLOTS_V4,                                                       # 4: the accounts' create windows
))


class Journal(JournalStore):
    """The journal file; every call opens a short-lived connection (threads and processes safe)."""

    def __init__(self, path: str | os.PathLike, *, timings: Timings = TIMINGS, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self._key = os.path.abspath(self.path)
        self._keep_time(timings, clock)
        self._where = str(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(f"its folder could not be created ({exc.strerror})", path=self.path) from None
        with self._session() as db:
            self._migrate(db)

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Bring the file to SCHEMA_VERSION in one ``BEGIN IMMEDIATE`` (two openers: one migrates,
        the other then finds nothing to do). A newer file is refused before anything writes to it."""
        version = db.execute("PRAGMA user_version").fetchone()[0]
        self._refuse_newer(version)
        db.execute("PRAGMA journal_mode=WAL")
        if version == SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        self._refuse_newer(version)
        for migration in _MIGRATIONS[version:]:
            for sql in migration:
                db.execute(sql)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        db.execute("COMMIT")

    @contextlib.contextmanager
    def _session(self) -> Iterator[sqlite3.Connection]:
        """One short connection; a damaged, locked or read-only file becomes one JournalError."""
        db = None
        try:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA synchronous=NORMAL")
            yield db
        except sqlite3.DatabaseError as exc:
            if db is not None and db.in_transaction:
                db.execute("ROLLBACK")
            raise JournalError(str(exc), path=self.path) from None
        except BaseException:
            if db is not None and db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            if db is not None:
                db.close()

    @contextlib.contextmanager
    def _window_transaction(self, db: sqlite3.Connection, account: str) -> Iterator[None]:
        """``BEGIN IMMEDIATE``: the file's write lock, so one taker at a time reads, then writes."""
        db.execute("BEGIN IMMEDIATE")
        yield
        db.execute("COMMIT")

    def _insert_id(self, db: sqlite3.Connection, sql: str, args: tuple) -> int:
        return db.execute(sql, args).lastrowid  # no RETURNING: SQLite has it only since 3.35

    def _beat(self, ids: set) -> set:
        if not self.path.exists():  # moved aside: never recreate it
            return set()
        return super()._beat(ids)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: the file's write lock, so what is read is still so when written."""
        with self._session() as db:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")

    def _claim_row(self, fingerprint: str, params: str, owner: str, now: float) -> tuple:
        """``BEGIN IMMEDIATE`` takes the file's write lock: one claimer at a time reads, then inserts."""
        with self._session() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(f"SELECT {', '.join(COLUMNS)} FROM tasks WHERE fingerprint = ? "
                             "ORDER BY id DESC LIMIT 1", (fingerprint,)).fetchone()
            holder = self._holder(row)
            if holder is not None:
                db.execute("COMMIT")
                return holder, False
            cur = db.execute("INSERT INTO tasks (fingerprint, state, params, owner, created_at, updated_at, "
                             "heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (fingerprint, CREATING, params, owner, now, now, now))
            db.execute("COMMIT")
            new_id = cur.lastrowid
        return self.by_id(new_id), True

