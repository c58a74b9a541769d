"""The task journal: one SQLite row per intended generation, written before any paid call.

It is what makes "never pay twice" true across re-runs, restarts and crashes: a
row keyed by the inputs' fingerprint exists before the create POST, then gains the
task id, states, the result URL and the local result path. Safe across threads and
processes (WAL, short transactions, ``BEGIN IMMEDIATE`` for the claim and migrations).

What an entry means for a run of its inputs (re-use, attach, wait for its creator, uncertain or create) is
decided once, by ``verdict``: the claim, the pipeline, the estimate, the batch plan and the tasks panel ask it.

Liveness of a 'creating' row is a heartbeat (``heartbeat_at``), not a process id: it works on every
OS and across machines sharing the file (given clocks agree within a few seconds).

Farm mode: with ``APIKLEY_JOURNAL_URL=postgresql://…`` set, ``open_journal`` returns the same journal
on one PostgreSQL database shared by every worker (``journal_pg.py``). Both backends share the logic
below (``_SqlJournal``): the queries, the state rules, the heartbeat and the schema versions.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import re
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from .errors import InputError, JournalError, TaskIdTakenError

log = logging.getLogger(__name__)

# states in the user's words
CREATING = "creating"        # row written, create POST about to be sent or in flight
UNCERTAIN = "uncertain"      # create sent, answer lost: a task may exist
REFUSED = "refused"          # the API proved no task was made
ABANDONED = "abandoned"      # the user chose to stop waiting for an uncertain create
SUCCESS = "success"
FAIL = "fail"
NOT_FOUND = "not found"      # a typed-in task id the API does not know
ADOPTED_PREFIX = "task:"     # fingerprint of a task recorded by id, not by inputs
PENDING = ("waiting", "queuing", "generating")
# a new task may be created only over these (no task exists, or it failed unbilled)
REPLACEABLE = (REFUSED, FAIL, ABANDONED)

# liveness: a 'creating' row's owner refreshes heartbeat_at every HEARTBEAT_S; older than STALE_S = gone.
# Module attributes, read at each use, so tests can monkeypatch them (and ``clock``) instead of waiting.
HEARTBEAT_S = 10.0
STALE_S = 3 * HEARTBEAT_S
clock = time.time

# what real task ids look like (32 hex, or short word characters): an id from the server or a user
# that does not match is refused, so none can ever become a path, a URL part or a log injection
TASK_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def valid_task_id(task_id) -> bool:
    """One apikley task id: 1-64 letters, digits, '_' or '-'."""
    return isinstance(task_id, str) and TASK_ID_PATTERN.fullmatch(task_id) is not None


def check_task_id(task_id) -> None:
    """InputError unless ``task_id`` is one apikley task id (a typed-in or pasted one)."""
    if not valid_task_id(task_id):
        raise InputError(f"{str(task_id)[:80]!r} is not an apikley task id (1-64 letters, digits, '_' or '-')",
                         hint="Copy the id from the apikley task log, a status line or a result's .json file.")


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

# how a recorded cost is known (report.py names them for runs): the API's own figure, the balance read
# before the create and after success while no other task of the process was in flight (metering.py),
# the price table, or not at all
COST_KINDS = ("reported", "measured", "estimate", "unknown")

# 3: the bool cost_reported becomes the text cost_kind (old rows: reported -> 'reported', a cost without it ->
# 'estimate', none -> 'unknown'). SQLite drops a column only since 3.35 (Debian 11 ships 3.34), so the table
# is rebuilt with the same ids, then renamed; cost_kind goes last, as PostgreSQL's ADD COLUMN puts it.
_COST_KIND_OF_OLD_ROW = ("CASE WHEN cost_reported = 1 THEN 'reported' WHEN cost_credits IS NOT NULL THEN 'estimate' "
                         "ELSE 'unknown' END")
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
    f"INSERT INTO tasks_v3 ({_V2_COLUMNS}, cost_kind) SELECT {_V2_COLUMNS}, {_COST_KIND_OF_OLD_ROW} FROM tasks",
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
# PostgreSQL twin to journal_pg._MIGRATIONS (same index, same version; a test holds them in step).
_MIGRATIONS = (
    tuple(sql.strip() for sql in _SCHEMA_V1.split(";") if sql.strip()),  # 1: IF NOT EXISTS adopts 0-files
    ("ALTER TABLE tasks ADD COLUMN heartbeat_at REAL",),                   # 2: liveness of 'creating' rows
    _REBUILD_V3,                                                            # 3: cost_kind replaces cost_reported
    _CREATE_SLOTS_V4,                                                       # 4: the accounts' create windows
)
SCHEMA_VERSION = len(_MIGRATIONS)

_COLUMNS = ("id", "fingerprint", "state", "task_id", "params", "result_url", "result_path", "cost_credits",
            "error", "owner", "created_at", "updated_at", "task_created_at", "finished_at", "heartbeat_at",
            "cost_kind")
# what a task collected by id brings to the entry it is linked to (link_task): all it knows of the task
_LINKED_COLUMNS = ("state", "result_url", "result_path", "cost_credits", "cost_kind", "error", "finished_at")


# an entry left unfinished (its end never seen) may move its account's balance this long after its claim
UNFINISHED_COUNTS_S = 24 * 3600.0
# a create slot older than this is history nobody counts any more: the next slot taken deletes it
CREATE_SLOTS_KEPT_S = 3600.0


@dataclass(frozen=True)
class CreateSlot:
    """One create request of an account, as the window sees it (pacing.py)."""

    started_at: float              # when its slot was taken, just before the request
    answered_at: Optional[float]   # when its answer came back; None while in flight
    refused_at: Optional[float]    # when the API last answered it 429/455 (the window was full)


@dataclass
class JournalEntry:
    id: int
    fingerprint: str
    state: str
    task_id: Optional[str]
    params: dict
    result_url: Optional[str]
    result_path: Optional[str]
    cost_credits: Optional[float]
    error: Optional[str]
    owner: Optional[str]
    created_at: float
    updated_at: float
    task_created_at: Optional[float]
    finished_at: Optional[float]
    heartbeat_at: Optional[float] = None  # last sign of life of the writer of a 'creating' row
    cost_kind: str = "unknown"            # one of COST_KINDS: how cost_credits is known

    @property
    def pending(self) -> bool:
        return self.task_id is not None and self.state in PENDING

    @property
    def abandonable(self) -> bool:
        """What ``abandon`` and ``link_task`` accept: the verdict is UNCERTAIN (a lost create answer, or a gone writer)."""
        return verdict(self, clock()).decision is Decision.UNCERTAIN

    def owner_alive(self, now: Optional[float] = None) -> bool:
        """Whether the writer of a 'creating' row still runs at ``now`` (default ``clock()``): its heartbeat
        is fresh (any OS, any host).

        A row without a heartbeat was written by a release before heartbeats: its writer is taken
        as gone (an upgrade restarts it). Were it taken as alive, nothing could ever resolve it.
        Taking it as gone never re-sends: the run says "an earlier run sent the create" instead.
        """
        now = clock() if now is None else now
        return self.heartbeat_at is not None and now - self.heartbeat_at < STALE_S


# -- the verdict: what a run of some inputs does, from the newest entry of their fingerprint ----------
class Decision(enum.Enum):
    """The one reading of a journal entry that the pipeline, the claim, the estimate route, the batch
    plan and the tasks panel share (each maps it to its own words; see ``verdict``)."""

    REUSE = "re-use"                    # finished: its result is re-used (fetched again if missing), free
    ATTACH = "attach"                   # a task with an id: wait for it and fetch its result, free
    WAIT_FOR_CREATOR = "wait for creator"  # a live run is creating it: wait for its id, then decide again
    UNCERTAIN = "uncertain"             # a create sent whose answer was lost (or whose writer is gone): never re-sent
    CREATE = "create"                   # no task, or one the API refused, failed or the user abandoned: pay anew


# would the run send a paid create? None: it cannot be told before running (see Verdict.pays)
_PAYS = {Decision.REUSE: False, Decision.ATTACH: False, Decision.CREATE: True,
         Decision.WAIT_FOR_CREATOR: None, Decision.UNCERTAIN: None}


@dataclass(frozen=True)
class Verdict:
    """A decision with what its callers need: the entry, and for REUSE whether the result is fetched again."""

    decision: Decision
    entry: Optional[JournalEntry]  # the entry it was read from (None: the journal has none)
    download: bool = False         # REUSE: the caller's copy of the result is missing, so it is fetched again

    @property
    def pays(self) -> Optional[bool]:
        """True: the run creates a paid task. False: no new charge. None: cannot be told before running
        (WAIT_FOR_CREATOR is free unless that other create is refused; UNCERTAIN stops the run without
        sending, and only an abandon lets a later run pay)."""
        return _PAYS[self.decision]


def verdict(entry: Optional[JournalEntry], now: float, result_on_disk: bool = False) -> Verdict:
    """What a run does with the newest entry of its inputs' fingerprint, at ``now`` (``clock()`` time),
    given whether the caller's copy of the result file is on disk. Pure: it reads only its arguments.

    Create only over no entry or a REPLACEABLE one (the claim asks the same). A row with a task id is
    never replaced: a state this release does not know is attached to (its task is polled), and one
    without an id that is not a live create is UNCERTAIN: never paid for twice.
    """
    if entry is None or entry.state in REPLACEABLE:
        return Verdict(Decision.CREATE, entry)
    if entry.state == CREATING:
        return Verdict(Decision.WAIT_FOR_CREATOR if entry.owner_alive(now) else Decision.UNCERTAIN, entry)
    if entry.state == UNCERTAIN or entry.task_id is None:
        return Verdict(Decision.UNCERTAIN, entry)
    if entry.state == SUCCESS:
        return Verdict(Decision.REUSE, entry, download=not result_on_disk)
    return Verdict(Decision.ATTACH, entry)  # waiting, queuing, generating; 'not found' is polled again


def check_linkable(entry_id: int, entry: Optional[JournalEntry]) -> None:
    """InputError unless the entry is an unresolved create without a task id: what ``link_task`` accepts."""
    if entry is None or not entry.abandonable or entry.task_id:
        state = f"'{entry.state}'" if entry else "gone"
        raise InputError(f"journal entry {entry_id} is {state}; only an uncertain create (sent, answer lost) can "
                         "be linked to a task id", hint="A task with a known id is collected, never linked again.")


def _row_to_entry(row: sqlite3.Row) -> JournalEntry:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["params"] = json.loads(values["params"] or "{}")
    return JournalEntry(**values)


class _Heartbeat:
    """One daemon thread per journal refreshing ``heartbeat_at`` of the rows its process is creating.

    Started on the first claim, it ends when it holds no row. A row leaves when this process moves
    it out of 'creating' (``Journal.update``/``release``), or when a beat finds it moved elsewhere.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._rows: dict = {}  # journal file -> (Journal, ids of its rows held 'creating')
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()

    def hold(self, journal: "Journal", entry_id: int) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's rows and thread are not its own
                self._rows, self._thread, self._pid = {}, None, os.getpid()
            self._rows.setdefault(journal._key, (journal, set()))[1].add(entry_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="apikley-journal-heartbeat", daemon=True)
                self._thread.start()
        self._wake.set()  # beat now, and pick up a changed HEARTBEAT_S

    def release(self, key: str, entry_id: int) -> None:
        with self._lock:
            self._rows.get(key, (None, set()))[1].discard(entry_id)

    def held(self, key: str) -> set:
        """The ids of the rows this process holds 'creating' in one journal."""
        with self._lock:
            return set(self._rows.get(key, (None, set()))[1]) if self._pid == os.getpid() else set()

    def _run(self) -> None:
        while True:
            self._wake.wait(HEARTBEAT_S)
            self._wake.clear()
            with self._lock:
                work = [(journal, set(ids)) for journal, ids in self._rows.values() if ids]
                if not work:
                    self._rows, self._thread = {}, None
                    return
            for journal, ids in work:
                try:
                    gone = ids - journal._beat(ids)
                except Exception as exc:  # a busy or broken file: keep the rows, try again next beat
                    log.warning("journal heartbeat failed (%s); retrying in %s s", exc, HEARTBEAT_S)
                    continue
                for entry_id in gone:
                    self.release(journal._key, entry_id)



class _SqlJournal:
    """What both journals share: the queries, the state rules, the heartbeat and the schema versions.

    A backend gives ``_session()`` (one short connection whose ``execute(sql, args)`` returns a cursor;
    errors become one JournalError), ``_claim_row`` (the atomic claim), ``_migrate``, ``_beat``, its
    placeholder, ``_key`` (the store's identity for the heartbeat) and ``_where`` (its name in messages).
    SQL is written once with ``?`` placeholders.
    """

    _key: str
    _where: str
    _PLACEHOLDER = "?"
    _INSERT_ADOPTED = ("INSERT OR IGNORE INTO tasks (fingerprint, state, task_id, params, created_at, updated_at,"
                       " task_created_at) VALUES (?, 'waiting', ?, ?, ?, ?, ?)")

    def _session(self):
        raise NotImplementedError

    def _claim_row(self, fingerprint: str, params: str, owner: str, now: float) -> tuple:
        raise NotImplementedError

    def _transaction(self):
        """One short connection inside one transaction (committed at the end, rolled back on an error)."""
        raise NotImplementedError

    @staticmethod
    def _holder(row) -> Optional[JournalEntry]:
        """The newest row of a fingerprint when it stops a new create (its verdict is not CREATE), else None."""
        entry = _row_to_entry(row) if row is not None else None
        return entry if verdict(entry, clock()).decision is not Decision.CREATE else None

    def _window_transaction(self, db, account: str):
        """A context: one transaction that no other taker of ``account``'s create window runs beside."""
        raise NotImplementedError

    def _insert_id(self, db, sql: str, args: tuple) -> int:
        """Run one INSERT; the new row's id."""
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql if self._PLACEHOLDER == "?" else sql.replace("?", self._PLACEHOLDER)

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise JournalError(f"it was written by a newer version of the pack (journal schema {version}, this "
                               f"pack knows {SCHEMA_VERSION}); update the pack", hint=(
                                   f"Update the apikley pack, then run again. The journal {self._where} was not "
                                   "changed; keep it: it records the tasks already paid for."))

    def _one(self, sql: str, args: tuple = ()) -> Optional[JournalEntry]:
        with self._session() as db:
            row = db.execute(self._sql(f"SELECT {', '.join(_COLUMNS)} FROM tasks {sql}"), args).fetchone()
        return _row_to_entry(row) if row else None

    def _many(self, sql: str, args: tuple = ()) -> list:
        with self._session() as db:
            rows = db.execute(self._sql(f"SELECT {', '.join(_COLUMNS)} FROM tasks {sql}"), args).fetchall()
        return [_row_to_entry(r) for r in rows]

    # -- queries -------------------------------------------------------------------------
    @property
    def where(self) -> str:
        """The journal's name for people: its file, or the shared URL without its password."""
        return self._where

    def by_fingerprint(self, fingerprint: str) -> Optional[JournalEntry]:
        """The newest entry for these inputs."""
        return self._one("WHERE fingerprint = ? ORDER BY id DESC LIMIT 1", (fingerprint,))

    def by_task_id(self, task_id: str) -> Optional[JournalEntry]:
        return self._one("WHERE task_id = ?", (task_id,))

    def by_id(self, entry_id: int) -> Optional[JournalEntry]:
        return self._one("WHERE id = ?", (entry_id,))

    def pending(self) -> list:
        """Entries that may still turn into a result: tasks not finished, and unresolved creates."""
        marks = ",".join("?" * (len(PENDING) + 2))
        return self._many(f"WHERE state IN ({marks}) ORDER BY id", (*PENDING, CREATING, UNCERTAIN))

    def recent(self, limit: int = 50) -> list:
        return self._many("ORDER BY id DESC LIMIT ?", (int(limit),))

    def created_since(self, since: float) -> list:
        """Entries this journal claimed for a create (not tasks adopted by id) at or after ``since``, in a
        state that is or may become a billed task: the budget guard's day count (budget.py). An abandoned
        create stays in it: the user gave up waiting, but the task it may have made may still be billed."""
        states = (CREATING, UNCERTAIN, ABANDONED, *PENDING, SUCCESS)
        marks = ",".join("?" * len(states))
        rows = self._many(f"WHERE created_at >= ? AND state IN ({marks}) ORDER BY id", (float(since), *states))
        return [e for e in rows if not e.fingerprint.startswith(ADOPTED_PREFIX)]

    def busy_between(self, account: str, entry_id: int, since: float, until: float) -> bool:
        """Whether an entry other than ``entry_id`` may have moved ``account``'s balance between ``since``
        and ``until`` (metering.py): claimed by ``until`` and not finished before ``since``, from any process
        or worker on this journal. A create the API refused, or an id it does not know, never did; an entry
        of unknown account (adopted by id) may have; one left unfinished counts for a day after its claim."""
        states = (REFUSED, NOT_FOUND)
        with self._session() as db:
            rows = db.execute(self._sql(
                "SELECT params, state, finished_at, updated_at FROM tasks WHERE id <> ? AND created_at <= ? AND "
                "created_at >= ? AND state NOT IN (?, ?)"), (entry_id, until, since - UNFINISHED_COUNTS_S,
                                                             *states)).fetchall()
        for params, state, finished_at, updated_at in rows:
            ended = finished_at if finished_at is not None else updated_at if state in (SUCCESS, FAIL) else None
            if ended is not None and ended < since:
                continue
            if json.loads(params or "{}").get("api", account) == account:
                return True
        return False

    # -- liveness ------------------------------------------------------------------------
    def _beat(self, ids: set) -> set:
        """Refresh the heartbeat of these rows while 'creating'; return those still 'creating'."""
        with self._session() as db:
            return self._beat_rows(db, ids)

    def _beat_rows(self, db, ids: set) -> set:
        marks = ",".join("?" * len(ids))
        db.execute(self._sql(f"UPDATE tasks SET heartbeat_at = ? WHERE state = ? AND id IN ({marks})"),
                   (clock(), CREATING, *ids))
        rows = db.execute(self._sql(f"SELECT id FROM tasks WHERE state = ? AND id IN ({marks})"),
                          (CREATING, *ids)).fetchall()
        return {row[0] for row in rows}

    # -- the account's create window (pacing.py) ---------------------------------------------
    def take_create_slot(self, account: str, now: float,
                         wait_for: Callable[[list], float]) -> tuple[Optional[int], float]:
        """One atomic step for every process and worker on this journal: read the account's create slots,
        ask ``wait_for(slots)`` how long until a create may start, and write a slot only when that is 0.
        ``(slot id, 0.0)``, or ``(None, seconds to wait)``."""
        with self._session() as db, self._window_transaction(db, account):
            db.execute(self._sql("DELETE FROM create_slots WHERE account = ? AND started_at < ?"),
                       (account, now - CREATE_SLOTS_KEPT_S))
            rows = db.execute(self._sql("SELECT started_at, answered_at, refused_at FROM create_slots "
                                        "WHERE account = ?"), (account,)).fetchall()
            wait = wait_for([CreateSlot(*row) for row in rows])
            if wait > 0:
                return None, wait
            return self._insert_id(db, "INSERT INTO create_slots (account, started_at) VALUES (?, ?)",
                                   (account, now)), 0.0

    def end_create_slot(self, slot_id: int, now: Optional[float]) -> None:
        """The create's answer came back at ``now``; None: no request was sent after all (the slot goes)."""
        with self._session() as db:
            if now is None:
                db.execute(self._sql("DELETE FROM create_slots WHERE id = ?"), (slot_id,))
            else:
                db.execute(self._sql("UPDATE create_slots SET answered_at = ? WHERE id = ?"), (now, slot_id))

    def refuse_create_slot(self, slot_id: int, now: float) -> None:
        """The API answered this slot's create with a refusal: its window is full for everyone."""
        with self._session() as db:
            db.execute(self._sql("UPDATE create_slots SET refused_at = ? WHERE id = ?"), (now, slot_id))

    def release(self, entry_id: int) -> None:
        """Stop this process's heartbeat of one row (done by every move out of 'creating')."""
        self._heartbeat.release(self._key, entry_id)

    # -- writes --------------------------------------------------------------------------
    def claim(self, fingerprint: str, params: dict) -> tuple:
        """Return ``(entry, True)`` with a fresh 'creating' row when a new task may be created,
        else ``(existing_entry, False)``. Atomic across processes (and, on PostgreSQL, machines).
        The new row's heartbeat runs until an update moves it out of 'creating'."""
        owner = f"{socket.gethostname()}:{os.getpid()}"  # for people reading the journal; liveness is heartbeat_at
        entry, is_new = self._claim_row(fingerprint, json.dumps(params, sort_keys=True), owner, time.time())
        if is_new:
            self._heartbeat.hold(self, entry.id)
        return entry, is_new

    def adopt(self, task_id: str, params: Optional[dict] = None) -> JournalEntry:
        """Record a task created elsewhere (typed in by the user) so it can be collected."""
        check_task_id(task_id)
        existing = self.by_task_id(task_id)
        if existing:
            return existing
        now = time.time()
        with self._session() as db:
            db.execute(self._sql(self._INSERT_ADOPTED),
                       (f"{ADOPTED_PREFIX}{task_id}", task_id, json.dumps(params or {}, sort_keys=True), now, now, now))
        return self.by_task_id(task_id)

    def update(self, entry_id: int, **fields) -> JournalEntry:
        """Set columns of one entry (``params`` may be a dict)."""
        with self._session() as db:
            self._update_row(db, entry_id, fields)
        if "state" in fields and fields["state"] != CREATING:
            self.release(entry_id)  # written: no longer this process's create in flight
        return self.by_id(entry_id)

    def _update_row(self, db, entry_id: int, fields: dict, where: str = "", args: tuple = ()):
        """``UPDATE`` one row on an open connection (``where``: more conditions); returns the cursor."""
        unknown = set(fields) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown journal fields: {sorted(unknown)}")
        if "params" in fields and not isinstance(fields["params"], str):
            fields["params"] = json.dumps(fields["params"], sort_keys=True)
        if fields.get("state") in (SUCCESS, FAIL) and "finished_at" not in fields:
            fields["finished_at"] = time.time()
        fields["updated_at"] = time.time()
        names = ", ".join(f"{k} = ?" for k in fields)
        values = tuple(int(v) if isinstance(v, bool) else v for v in fields.values())  # one type on every backend
        return db.execute(self._sql(f"UPDATE tasks SET {names} WHERE id = ?{where}"), (*values, entry_id, *args))

    def record_task_id(self, entry_id: int, task_id: str) -> JournalEntry:
        """The create's task id on its entry. An id another entry holds (ids are unique) is a
        TaskIdTakenError, not a damaged journal; the entry is left as it was."""
        try:
            return self.update(entry_id, task_id=task_id, state="waiting", task_created_at=time.time(), error=None)
        except JournalError:
            holder = self.by_task_id(task_id)
            if holder is None or holder.id == entry_id:
                raise
            raise TaskIdTakenError(task_id, entry_id, holder.id) from None

    def abandon(self, entry: JournalEntry) -> JournalEntry:
        """The user gives up on a create whose answer was lost, so these inputs may create again.

        Only an unresolved create can be abandoned: a task with a known id is collected, never replaced.
        """
        if not entry.abandonable:
            raise InputError(f"journal entry {entry.id} is '{entry.state}'; only an uncertain create "
                             "(sent, answer lost) can be abandoned",
                             hint="A task with a known id is collected, never abandoned.")
        return self.update(entry.id, state=ABANDONED, error="abandoned by the user: the next run creates a new task")

    def link_task(self, entry_id: int, task_id: str) -> JournalEntry:
        """Give an unresolved create (sent, answer lost) the task id the user found, so its inputs re-use
        that task instead of paying again. Only such an entry; one transaction, so a second link, or its
        writer recording an answer meanwhile, is never overwritten.

        A row that holds the id only because the task was collected by id (adopted) gives it up: that row
        goes and its state and result move over. InputError for a bad id, an entry that is not an
        unresolved create, or a task already the entry of other inputs.
        """
        check_task_id(task_id)
        with self._transaction() as db:
            row = db.execute(self._sql(f"SELECT {', '.join(_COLUMNS)} FROM tasks WHERE id = ?"),
                             (entry_id,)).fetchone()
            entry = _row_to_entry(row) if row else None
            check_linkable(entry_id, entry)
            row = db.execute(self._sql(f"SELECT {', '.join(_COLUMNS)} FROM tasks WHERE task_id = ?"),
                             (task_id,)).fetchone()
            holder = _row_to_entry(row) if row else None
            moved = {"state": "waiting", "error": None}
            if holder is not None:
                if not holder.fingerprint.startswith(ADOPTED_PREFIX) or holder.state == NOT_FOUND:
                    whose = ("the API does not know it" if holder.state == NOT_FOUND
                             else f"it is journal entry {holder.id}'s task, for other inputs")
                    raise InputError(f"task {task_id} cannot be linked to journal entry {entry_id}: {whose}",
                                     hint="Check the task id in your apikley task log; nothing was changed.")
                moved = {name: getattr(holder, name) for name in _LINKED_COLUMNS}
                db.execute(self._sql("DELETE FROM tasks WHERE id = ?"), (holder.id,))
            # the create was sent when the entry was claimed; a row another writer changed meanwhile stays
            if not self._update_row(db, entry_id, {"task_id": task_id, "task_created_at": entry.created_at, **moved},
                                    " AND task_id IS NULL").rowcount:
                raise InputError(f"journal entry {entry_id} changed while it was being linked", hint=(
                    "Look at it again in the tasks list; nothing was changed."))
        self.release(entry_id)
        return self.by_id(entry_id)

    def give_up_creates(self, reason: str) -> list:
        """This process is leaving with creates whose answer it will never record (Ctrl-C past the wait for
        them): each of its rows still 'creating' becomes 'uncertain' at once, so it can be linked or
        abandoned without waiting for its heartbeat to go stale. A row whose id arrived meanwhile is kept."""
        moved = []
        for entry_id in sorted(self._heartbeat.held(self._key)):
            with self._session() as db:
                changed = self._update_row(db, entry_id, {"state": UNCERTAIN, "error": reason},
                                           " AND state = ? AND task_id IS NULL", (CREATING,)).rowcount
            self.release(entry_id)
            if changed:
                moved.append(self.by_id(entry_id))
        return moved


class Journal(_SqlJournal):
    """The journal file; every call opens a short-lived connection (threads and processes safe)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._key = os.path.abspath(self.path)
        self._heartbeat = _Heartbeat()  # this journal's own: the rows its process holds 'creating'
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
            row = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM tasks WHERE fingerprint = ? "
                             "ORDER BY id DESC LIMIT 1", (fingerprint,)).fetchone()
            holder = self._holder(row)
            if holder is not None:
                db.execute("COMMIT")
                return holder, False
            cur = db.execute("INSERT INTO tasks (fingerprint, state, params, owner, created_at, updated_at, "
                             "heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (fingerprint, CREATING, params, owner, now, now, clock()))
            db.execute("COMMIT")
            new_id = cur.lastrowid
        return self.by_id(new_id), True


# -- which journal -------------------------------------------------------------------------
JOURNAL_URL_ENV = "APIKLEY_JOURNAL_URL"


def journal_url() -> Optional[str]:
    """The shared PostgreSQL journal's address (``APIKLEY_JOURNAL_URL``: farm mode); None when unset."""
    return os.environ.get(JOURNAL_URL_ENV, "").strip() or None


def open_journal(sqlite_path: str | os.PathLike, url: Optional[str] = None) -> _SqlJournal:
    """The journal to use: the shared PostgreSQL one when ``APIKLEY_JOURNAL_URL`` is set (farm mode:
    every worker on every machine claims its rows there), else the SQLite file ``sqlite_path``.

    ``url`` is the Config's (read once); without it the variable is read now. Both journals have the same API
    and raise the same JournalError.
    """
    url = journal_url() if url is None else url
    if not url:
        return Journal(sqlite_path)
    from .journal_pg import PgJournal  # psycopg is an optional extra, imported only in farm mode
    return PgJournal(url)
