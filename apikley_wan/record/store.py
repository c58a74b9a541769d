"""What both journal stores share: the queries, the state rules, the heartbeat and the schema versions.

A store (``sqlite.Journal``, ``postgres.PgJournal``) gives the connection, the atomic claim and its
migrations; everything a caller asks of a journal is written once here, with ``?`` placeholders.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from typing import Callable, Optional

from ..errors import InputError, JournalError, TaskIdTakenError
from .entry import (ABANDONED, ADOPTED_PREFIX, COLUMNS, CREATING, FAIL, NOT_FOUND, PENDING, REFUSED, SCHEMA_VERSION,
                    SUCCESS, UNCERTAIN, CreateSlot, Decision, JournalEntry, Verdict, check_task_id, row_to_entry, verdict)
from ..settings.settings import Timings

log = logging.getLogger(__name__)

# 3 (both stores' migrations): the cost of an old row, from its bool cost_reported
COST_KIND_OF_OLD_ROW = ("CASE WHEN cost_reported = 1 THEN 'reported' WHEN cost_credits IS NOT NULL THEN 'estimate' "
                         "ELSE 'unknown' END")

# what a task collected by id brings to the entry it is linked to (link_task): all it knows of the task
_LINKED_COLUMNS = ("state", "result_url", "result_path", "cost_credits", "cost_kind", "error", "finished_at")

# an entry left unfinished (its end never seen) may move its account's balance this long after its claim
UNFINISHED_COUNTS_S = 24 * 3600.0
# a create slot older than this is history nobody counts any more: the next slot taken deletes it
CREATE_SLOTS_KEPT_S = 3600.0


def check_migrations(store: str, migrations: tuple) -> tuple:
    """``migrations`` if they take a store to SCHEMA_VERSION; a migration appended to one store only refuses
    to run at all."""
    if len(migrations) != SCHEMA_VERSION:
        raise RuntimeError(f"the {store} journal has {len(migrations)} migrations, the schema {SCHEMA_VERSION}")
    return migrations


class Heartbeat:
    """One daemon thread per journal refreshing ``heartbeat_at`` of the rows its process is creating.

    Started on the first claim, it ends when it holds no row. A row leaves when this process moves
    it out of 'creating' (``Journal.update``/``release``), or when a beat finds it moved elsewhere.
    """

    def __init__(self, beat_s: float):
        self._beat_s = beat_s
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._rows: dict = {}  # journal file -> (Journal, ids of its rows held 'creating')
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()

    def hold(self, journal: "JournalStore", entry_id: int) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's rows and thread are not its own
                self._rows, self._thread, self._pid = {}, None, os.getpid()
            self._rows.setdefault(journal._key, (journal, set()))[1].add(entry_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="apikley-journal-heartbeat", daemon=True)
                self._thread.start()
        self._wake.set()  # beat now

    def release(self, key: str, entry_id: int) -> None:
        with self._lock:
            self._rows.get(key, (None, set()))[1].discard(entry_id)

    def held(self, key: str) -> set:
        """The ids of the rows this process holds 'creating' in one journal."""
        with self._lock:
            return set(self._rows.get(key, (None, set()))[1]) if self._pid == os.getpid() else set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._beat_s)
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
                    log.warning("journal heartbeat failed (%s); retrying in %s s", exc, self._beat_s)
                    continue
                for entry_id in gone:
                    self.release(journal._key, entry_id)



class JournalStore:
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

    def _keep_time(self, timings: Timings, clock: Callable[[], float]) -> None:
        """The journal's clock (wall time: heartbeats cross machines) and its liveness timings, and the
        heartbeat of the rows this process creates in it. Every reader of one journal judges alike."""
        self.timings, self.clock = timings, clock
        self._heartbeat = Heartbeat(timings.heartbeat_s)  # this journal's own: the rows its process holds 'creating'

    def verdict(self, entry: Optional[JournalEntry], result_on_disk: bool = False) -> Verdict:
        """The one verdict on ``entry`` (``entry.verdict``) now, by this journal's clock and liveness: what
        the claim, the pipeline, the estimate route, the batch plan and the tasks panel ask."""
        return verdict(entry, self.clock(), stale_s=self.timings.stale_s, result_on_disk=result_on_disk)

    def owner_alive(self, entry: JournalEntry) -> bool:
        """Whether the writer of a 'creating' entry still runs, by its heartbeat (``JournalEntry.owner_alive``)."""
        return entry.owner_alive(self.clock(), self.timings.stale_s)

    def _holder(self, row) -> Optional[JournalEntry]:
        """The newest row of a fingerprint when it stops a new create (its verdict is not CREATE), else None."""
        entry = row_to_entry(row) if row is not None else None
        return entry if self.verdict(entry).decision is not Decision.CREATE else None

    def abandonable(self, entry: JournalEntry) -> bool:
        """What ``abandon`` accepts: the verdict is UNCERTAIN (a lost create answer, or a gone writer)."""
        return self.verdict(entry).decision is Decision.UNCERTAIN

    def check_linkable(self, entry_id: int, entry: Optional[JournalEntry]) -> None:
        """InputError unless the entry is an unresolved create without a task id: what ``link_task`` accepts."""
        if entry is None or not self.abandonable(entry) or entry.task_id:
            state = f"'{entry.state}'" if entry else "gone"
            raise InputError(f"journal entry {entry_id} is {state}; only an uncertain create (sent, answer lost) can "
                             "be linked to a task id", hint="A task with a known id is collected, never linked again.")

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
            row = db.execute(self._sql(f"SELECT {', '.join(COLUMNS)} FROM tasks {sql}"), args).fetchone()
        return row_to_entry(row) if row else None

    def _many(self, sql: str, args: tuple = ()) -> list:
        with self._session() as db:
            rows = db.execute(self._sql(f"SELECT {', '.join(COLUMNS)} FROM tasks {sql}"), args).fetchall()
        return [row_to_entry(r) for r in rows]

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
                   (self.clock(), CREATING, *ids))
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
        entry, is_new = self._claim_row(fingerprint, json.dumps(params, sort_keys=True), owner, self.clock())
        if is_new:
            self._heartbeat.hold(self, entry.id)
        return entry, is_new

    def adopt(self, task_id: str, params: Optional[dict] = None) -> JournalEntry:
        """Record a task created elsewhere (typed in by the user) so it can be collected."""
        check_task_id(task_id)
        existing = self.by_task_id(task_id)
        if existing:
            return existing
        now = self.clock()
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
        unknown = set(fields) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown journal fields: {sorted(unknown)}")
        if "params" in fields and not isinstance(fields["params"], str):
            fields["params"] = json.dumps(fields["params"], sort_keys=True)
        if fields.get("state") in (SUCCESS, FAIL) and "finished_at" not in fields:
            fields["finished_at"] = self.clock()
        fields["updated_at"] = self.clock()
        names = ", ".join(f"{k} = ?" for k in fields)
        values = tuple(int(v) if isinstance(v, bool) else v for v in fields.values())  # one type on every backend
        return db.execute(self._sql(f"UPDATE tasks SET {names} WHERE id = ?{where}"), (*values, entry_id, *args))

    def record_task_id(self, entry_id: int, task_id: str) -> JournalEntry:
        """The create's task id on its entry. An id another entry holds (ids are unique) is a
        TaskIdTakenError, not a damaged journal; the entry is left as it was."""
        try:
            return self.update(entry_id, task_id=task_id, state="waiting", task_created_at=self.clock(), error=None)
        except JournalError:
            holder = self.by_task_id(task_id)
            if holder is None or holder.id == entry_id:
                raise
            raise TaskIdTakenError(task_id, entry_id, holder.id) from None

    def abandon(self, entry: JournalEntry) -> JournalEntry:
        """The user gives up on a create whose answer was lost, so these inputs may create again.

        Only an unresolved create can be abandoned: a task with a known id is collected, never replaced.
        """
        if not self.abandonable(entry):
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
            row = db.execute(self._sql(f"SELECT {', '.join(COLUMNS)} FROM tasks WHERE id = ?"),
                             (entry_id,)).fetchone()
            entry = row_to_entry(row) if row else None
            self.check_linkable(entry_id, entry)
            row = db.execute(self._sql(f"SELECT {', '.join(COLUMNS)} FROM tasks WHERE task_id = ?"),
                             (task_id,)).fetchone()
            holder = row_to_entry(row) if row else None
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
