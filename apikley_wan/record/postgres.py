"""The task journal on PostgreSQL: farm mode, one journal shared by every worker on every machine.

``APIKLEY_JOURNAL_URL=postgresql://user@host:port/db`` selects it (``open_journal.open_journal``). It is the
SQLite journal's logic (``store.JournalStore``: same API, states, heartbeat, schema versions) over
another store:

- the claim is atomic across processes and machines: one transaction takes a transaction-level
  advisory lock keyed by the fingerprint, reads the newest row for it, and inserts a 'creating' row
  only when that row's verdict (``entry.verdict``) is CREATE. Claimers of the same inputs queue on the lock; each one reads
  after the previous one committed, so exactly one of them gets ``is_new``;
- schema versions: the same ordered migrations as the SQLite file (``_MIGRATIONS`` below is their
  PostgreSQL twin, index by index), the version in the table ``apikley_journal_schema``, applied in
  one transaction under a session advisory lock, and a newer version refused before anything is written;
- every call opens one short connection (a few ms on a LAN), as the SQLite journal does: nothing is
  shared between threads or forked processes, and a restarted server costs no stale connection;
- every failure becomes a ``JournalError`` (never a driver traceback), and no message holds the
  URL's password.

psycopg 3 is an optional extra (``pip install "psycopg[binary]"``), imported only here.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from typing import Callable, Iterator
from urllib.parse import unquote

from ..errors import JournalError
from .entry import COLUMNS, CREATING, SCHEMA_VERSION, row_to_entry
from ..settings.settings import TIMINGS, Timings
from .store import COST_KIND_OF_OLD_ROW, JournalStore, check_migrations

try:
    import psycopg
    from psycopg import conninfo as _conninfo
except ImportError:  # the optional extra is not installed: PgJournal says how to install it
    psycopg = None

VERSION_TABLE = "apikley_journal_schema"
CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT = "30s"  # like the SQLite journal's busy timeout: a claim waits this long for another claimer

# _MIGRATIONS[n - 1] takes the database from version n - 1 to n, in one transaction (PostgreSQL's DDL is
# transactional). The PostgreSQL twin of sqlite._MIGRATIONS: same versions, same columns in the same
# order; DOUBLE PRECISION for SQLite's REAL (timestamps need 8 bytes) and BIGSERIAL for its AUTOINCREMENT
# (ids never reused). No IF NOT EXISTS: a PostgreSQL journal has no version-0 past to adopt, and an
# unrelated 'tasks' table is refused, not taken over. Never edit a released migration: append the next one.
_MIGRATIONS = (
    ("""CREATE TABLE tasks (
    id BIGSERIAL PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    task_id TEXT UNIQUE,
    params TEXT NOT NULL DEFAULT '{}',
    result_url TEXT,
    result_path TEXT,
    cost_credits DOUBLE PRECISION,
    cost_reported INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    owner TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    task_created_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION
)""",
     "CREATE INDEX tasks_fingerprint ON tasks (fingerprint, id)",
     "CREATE INDEX tasks_state ON tasks (state)"),                        # 1: the first schema
    ("ALTER TABLE tasks ADD COLUMN heartbeat_at DOUBLE PRECISION",),      # 2: liveness of 'creating' rows
    ("ALTER TABLE tasks ADD COLUMN cost_kind TEXT NOT NULL DEFAULT 'unknown'",  # 3: cost_kind replaces cost_reported
     f"UPDATE tasks SET cost_kind = {COST_KIND_OF_OLD_ROW}",
     "ALTER TABLE tasks DROP COLUMN cost_reported"),
    ("""CREATE TABLE create_slots (
    id BIGSERIAL PRIMARY KEY,
    account TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    answered_at DOUBLE PRECISION,
    refused_at DOUBLE PRECISION
)""",                                                                      # 4: the accounts' create windows
     "CREATE INDEX create_slots_account ON create_slots (account, started_at)"),
)
_MIGRATIONS = check_migrations("PostgreSQL", _MIGRATIONS)


def _lock_key(text: str) -> int:
    """A signed 64-bit advisory lock key (a rare collision only makes two claims queue)."""
    return int.from_bytes(hashlib.sha256(b"apikley-journal\0" + text.encode()).digest()[:8], "big", signed=True)


_MIGRATION_LOCK = _lock_key("\0schema")

_PASSWORD_IN_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*?:)([^/?#@]*)(@)")
_PASSWORD_PARAM = re.compile(r"((?:^|[?&\s])password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)", re.IGNORECASE)


def scrub_url(url: str) -> str:
    """The URL for messages: its password (in the authority or a ``password=`` parameter) is ``***``."""
    url = _PASSWORD_IN_URL.sub(r"\1***\3", url)
    return _PASSWORD_PARAM.sub(r"\1***", url)


def _secrets(url: str) -> set:
    """Every spelling of the URL's password, to cut from any message a driver builds."""
    found = set()
    match = _PASSWORD_IN_URL.match(url)
    if match:
        found.add(match.group(2))
    found.update(m.group(2).strip("'") for m in _PASSWORD_PARAM.finditer(url))
    found |= {unquote(s) for s in found}
    return {s for s in found if s and s != "***"}


class PgJournal(JournalStore):
    """The shared journal in one PostgreSQL database; every call opens a short connection."""

    _PLACEHOLDER = "%s"
    _INSERT_ADOPTED = ("INSERT INTO tasks (fingerprint, state, task_id, params, created_at, updated_at, task_created_at)"
                       " VALUES (?, 'waiting', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")

    def __init__(self, url: str, *, timings: Timings = TIMINGS, clock: Callable[[], float] = time.time):
        self._secret_words = _secrets(url)
        self._where = scrub_url(url)
        self._key = f"postgresql:{self._where}"
        self._keep_time(timings, clock)
        if not re.match(r"postgres(ql)?://", url, re.IGNORECASE):
            raise JournalError(f"APIKLEY_JOURNAL_URL must be a postgresql:// URL, not {self._where[:120]!r}",
                               hint=self._hint())
        if psycopg is None:
            raise JournalError("APIKLEY_JOURNAL_URL asks for the shared PostgreSQL journal, but psycopg is not "
                               'installed', hint='Run pip install "psycopg[binary]" in the Python that runs the pack '
                                                 "(or unset APIKLEY_JOURNAL_URL to use the local journal file).")
        try:
            params = _conninfo.conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise self._error(exc) from None
        params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        params.setdefault("application_name", "apikley-journal")
        self._params = params
        self._migrate()

    # -- errors ----------------------------------------------------------------------------
    def _hint(self) -> str:
        return (f"The shared journal {self._where} (APIKLEY_JOURNAL_URL) could not be used. Check that the "
                "PostgreSQL server runs and is reachable from this machine, and the URL's user, database and "
                "password (or ~/.pgpass / PGPASSWORD). Nothing is created while the journal cannot be used.")

    def _scrub(self, text: str) -> str:
        for word in sorted(self._secret_words, key=len, reverse=True):
            text = text.replace(word, "***")
        return text

    def _error(self, exc: BaseException, detail: str = "") -> JournalError:
        message = " ".join(str(exc).split()) or type(exc).__name__
        return JournalError(self._scrub(detail or f"{message[:400]} (PostgreSQL)"), hint=self._hint())

    @contextlib.contextmanager
    def _session(self) -> Iterator["psycopg.Connection"]:
        """One short autocommit connection (``db.transaction()`` where several statements must be one);
        any driver error becomes one JournalError, with the password cut out."""
        db = None
        try:
            db = psycopg.connect(autocommit=True, **self._params)
            yield db
        except psycopg.Error as exc:
            raise self._error(exc) from None
        finally:
            if db is not None:
                with contextlib.suppress(Exception):
                    db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator["psycopg.Connection"]:
        with self._session() as db, db.transaction():
            yield db

    # -- schema ----------------------------------------------------------------------------
    @staticmethod
    def _version(db) -> int:
        if db.execute("SELECT to_regclass(%s)", (VERSION_TABLE,)).fetchone()[0] is None:
            return 0
        row = db.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        """Bring the database to SCHEMA_VERSION in one transaction under an advisory lock (two openers:
        one migrates, the other then finds nothing to do). A newer database is refused untouched."""
        with self._session() as db:
            version = self._version(db)
            self._refuse_newer(version)
            if version == SCHEMA_VERSION:
                return
            # A session lock, taken before the transaction: a transaction started after the lock sees every
            # catalog change of the opener before it (one already running may keep a stale "no such table"
            # cached). Closing the connection releases the lock, whatever happens below.
            db.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            db.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            with db.transaction():
                version = self._version(db)  # read again: another opener may have migrated meanwhile
                self._refuse_newer(version)
                if version == SCHEMA_VERSION:
                    return
                if version == 0:
                    if db.execute("SELECT to_regclass('tasks')").fetchone()[0] is not None:
                        raise JournalError(
                            "this database already has a table named 'tasks' that is not an apikley journal",
                            hint=f"Point APIKLEY_JOURNAL_URL at a database of its own (or a schema of its own, "
                                 f"e.g. ?options=-csearch_path%3Dapikley); {self._where} was not changed.")
                    db.execute(f"CREATE TABLE {VERSION_TABLE} (version INTEGER NOT NULL)")
                    db.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (0)")
                for migration in _MIGRATIONS[version:]:
                    for sql in migration:
                        db.execute(sql)
                db.execute(f"UPDATE {VERSION_TABLE} SET version = %s", (SCHEMA_VERSION,))
            db.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))

    def by_id(self, entry_id):
        """As on SQLite, an id that is not a number finds nothing (PostgreSQL would refuse the query)."""
        try:
            entry_id = int(entry_id)
        except (TypeError, ValueError):
            return None
        return super().by_id(entry_id) if -2**63 <= entry_id < 2**63 else None

    # -- liveness and the claim --------------------------------------------------------------
    def _beat(self, ids: set) -> set:
        with self._session() as db:
            if db.execute("SELECT to_regclass('tasks')").fetchone()[0] is None:
                return set()  # the journal was dropped: never recreate it
            return self._beat_rows(db, ids)

    @contextlib.contextmanager
    def _window_transaction(self, db, account: str) -> Iterator[None]:
        """One transaction holding the account's advisory lock: takers of its window queue, each reading
        after the one before committed."""
        with db.transaction():
            db.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("\0create-window\0" + account),))
            yield

    def _insert_id(self, db, sql: str, args: tuple) -> int:
        return db.execute(self._sql(sql) + " RETURNING id", args).fetchone()[0]

    def _claim_row(self, fingerprint: str, params: str, owner: str, now: float) -> tuple:
        """Read the newest row and insert a 'creating' one in one transaction, holding the fingerprint's
        advisory lock until it commits: concurrent claimers of these inputs queue, and each reads only
        after the one before committed (READ COMMITTED takes a new snapshot per statement)."""
        columns = ", ".join(COLUMNS)
        with self._session() as db:
            with db.transaction():
                db.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                db.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(fingerprint),))
                row = db.execute(f"SELECT {columns} FROM tasks WHERE fingerprint = %s ORDER BY id DESC LIMIT 1",
                                 (fingerprint,)).fetchone()
                holder = self._holder(row)
                if holder is not None:
                    return holder, False
                row = db.execute("INSERT INTO tasks (fingerprint, state, params, owner, created_at, updated_at, "
                                 f"heartbeat_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {columns}",
                                 (fingerprint, CREATING, params, owner, now, now, now)).fetchone()
        return row_to_entry(row), True
