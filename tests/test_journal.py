"""The task journal on a real SQLite file: claims, states, queries, threads and processes,
schema migrations, and the heartbeat that tells a live 'creating' row from an orphan."""

from __future__ import annotations

import inspect
import multiprocessing
import socket
import sqlite3
import threading
import time

import pytest

from apikley_wan.record import entry as jr
from conftest import errors_when_run_at_once, wait_until
from apikley_wan.errors import InputError, JournalError
from apikley_wan.record.sqlite import Journal
from apikley_wan.record import sqlite as sqlite_journal
from timings import BEAT

# the schema as the first releases wrote it (user_version 0), copied verbatim: a fixed fixture,
# never to follow later changes of the journal (apikley_wan/record/sqlite.py)
V0_SCHEMA = """
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
V0_ROWS = [
    (1, "fp-creating", "creating", None, '{"prompt": "a"}', None, None, None, 0, None, "old-host:4242",
     1700000000.0, 1700000000.0, None, None),
    (2, "fp-success", "success", "t-done", '{"prompt": "b"}', "https://x/r.mp4", "/out/r.mp4", 12.5, 1, None,
     "old-host:4242", 1700000001.0, 1700000100.0, 1700000002.0, 1700000100.0),
    (3, "task:t-wait", "waiting", "t-wait", "{}", None, None, None, 0, None, None,
     1700000003.0, 1700000003.0, 1700000003.0, None),
]




def _v0_file(path, wal=True):
    db = sqlite3.connect(path)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    db.executescript(V0_SCHEMA)
    db.executemany(f"INSERT INTO tasks VALUES ({','.join('?' * 15)})", V0_ROWS)
    db.commit()
    db.close()
    return path


# what the migrations make of V0_ROWS' cost_reported (the 9th value): reported, else estimate if priced, else unknown
V0_COST_KINDS = ["unknown", "reported", "unknown"]


def _v0_columns(path):
    """V0_ROWS as the file holds them now: cost_reported is gone, cost_kind says what it said."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT id, fingerprint, state, task_id, params, result_url, result_path, cost_credits, "
                          "error, owner, created_at, updated_at, task_created_at, finished_at, cost_kind "
                          "FROM tasks ORDER BY id").fetchall()
    finally:
        db.close()


def _v0_rows_migrated():
    return [row[:8] + row[9:] + (kind,) for row, kind in zip(V0_ROWS, V0_COST_KINDS, strict=True)]


def _pragma(path, name):
    db = sqlite3.connect(path)
    try:
        return db.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        db.close()


def test_claim_writes_a_creating_row_then_attaches(tmp_path):
    store = Journal(tmp_path / "j.sqlite")
    entry, new = store.claim("fp1", {"prompt": "p"})
    assert new and entry.state == jr.CREATING and entry.task_id is None and store.owner_alive(entry)
    again, new_again = store.claim("fp1", {"prompt": "p"})
    assert not new_again and again.id == entry.id
    store.record_task_id(entry.id, "abc")
    assert store.by_task_id("abc").state == "waiting"
    assert store.by_fingerprint("fp1").task_id == "abc"


def test_wal_mode_and_file_is_sqlite(tmp_path):
    Journal(tmp_path / "j.sqlite")
    db = sqlite3.connect(tmp_path / "j.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_refused_and_failed_entries_may_be_replaced(tmp_path):
    store = Journal(tmp_path / "j.sqlite")
    for state in (jr.REFUSED, jr.FAIL, jr.ABANDONED):
        entry, _ = store.claim(f"fp-{state}", {})
        store.update(entry.id, state=state)
        fresh, new = store.claim(f"fp-{state}", {})
        assert new and fresh.id != entry.id
    for state in (jr.UNCERTAIN, "waiting", jr.SUCCESS):
        entry, _ = store.claim(f"fp-{state}", {})
        store.update(entry.id, state=state)
        same, new = store.claim(f"fp-{state}", {})
        assert not new and same.id == entry.id


def test_pending_lists_unfinished_tasks_and_unresolved_creates(tmp_path):
    store = Journal(tmp_path / "j.sqlite")
    a, _ = store.claim("a", {})
    b, _ = store.claim("b", {})
    c, _ = store.claim("c", {})
    store.record_task_id(a.id, "ta")
    store.update(b.id, state=jr.SUCCESS, task_id="tb")
    pending = {e.fingerprint for e in store.pending()}
    assert pending == {"a", "c"}
    assert store.by_id(b.id).finished_at is not None
    assert [e.fingerprint for e in store.recent(2)] == ["c", "b"]


def test_adopt_records_a_foreign_task_once(tmp_path):
    store = Journal(tmp_path / "j.sqlite")
    first = store.adopt("t-123")
    second = store.adopt("t-123")
    assert first.id == second.id and first.state == "waiting" and first.pending


def test_claims_from_many_threads_create_one_row(tmp_path):
    store = Journal(tmp_path / "j.sqlite")
    results = []

    def claim():
        results.append(store.claim("same", {})[1])
    threads = [threading.Thread(target=claim) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1


def _claim_in_process(path, queue):
    queue.put(Journal(path).claim("shared", {"p": 1})[1])


def test_claims_from_many_processes_create_one_row(tmp_path):
    path = tmp_path / "j.sqlite"
    Journal(path)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_claim_in_process, args=(str(path), queue)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    outcomes = [queue.get(timeout=5) for _ in procs]
    assert outcomes.count(True) == 1
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM tasks WHERE fingerprint='shared'").fetchone()[0] == 1


def test_dead_owner_is_detected(tmp_path):
    """The process 'dies': its heartbeat stops (it is released), and after STALE_S the row is orphaned."""
    store = Journal(tmp_path / "j.sqlite", timings=BEAT)
    entry, _ = store.claim("x", {})
    assert store.owner_alive(store.by_id(entry.id))
    store.release(entry.id)
    time.sleep(BEAT.stale_s + 0.05)
    assert not store.owner_alive(store.by_id(entry.id))
    assert store.by_id(entry.id).owner == f"{socket.gethostname()}:{entry.owner.rpartition(':')[2]}"


# -- schema versions -------------------------------------------------------------------------
def test_fresh_file_is_at_the_latest_version(tmp_path):
    store = Journal(tmp_path / "j.sqlite")
    assert _pragma(store.path, "user_version") == jr.SCHEMA_VERSION == 4
    entry, _ = store.claim("fp", {})
    assert entry.heartbeat_at is not None and entry.cost_kind == "unknown"


@pytest.mark.parametrize("wal", [True, False])
def test_a_file_of_the_first_releases_is_migrated_and_keeps_its_rows(tmp_path, wal):
    path = _v0_file(tmp_path / "j.sqlite", wal=wal)
    assert _pragma(path, "user_version") == 0
    store = Journal(path)
    assert _pragma(path, "user_version") == jr.SCHEMA_VERSION
    assert _pragma(path, "journal_mode") == "wal"
    assert _v0_columns(path) == _v0_rows_migrated()
    creating, success, waiting = (store.by_id(i) for i in (1, 2, 3))
    assert creating.state == jr.CREATING and creating.heartbeat_at is None
    assert not store.owner_alive(creating)  # written before heartbeats: its writer is taken as gone
    assert success.result_path == "/out/r.mp4" and success.cost_kind == "reported" and success.params == {"prompt": "b"}
    assert [e.id for e in store.pending()] == [1, 3]
    assert store.claim("fp-success", {})[0].id == 2  # still protects what was paid for
    assert store.claim("fp-creating", {}) == (creating, False)
    assert store.abandon(creating).state == jr.ABANDONED  # an orphan can be let go


def test_opening_again_changes_nothing(tmp_path):
    path = _v0_file(tmp_path / "j.sqlite")
    Journal(path)
    watcher = sqlite3.connect(path)
    before = (watcher.execute("PRAGMA data_version").fetchone()[0],
              watcher.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall())
    Journal(path)
    Journal(path)
    after = (watcher.execute("PRAGMA data_version").fetchone()[0],
             watcher.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall())
    watcher.close()
    assert before == after  # data_version moves on any commit by another connection
    assert _pragma(path, "user_version") == jr.SCHEMA_VERSION


def test_many_openers_at_once_migrate_once(tmp_path):
    path = _v0_file(tmp_path / "j.sqlite")
    assert errors_when_run_at_once(lambda: Journal(path)) == []
    assert _pragma(path, "user_version") == jr.SCHEMA_VERSION
    assert _v0_columns(path) == _v0_rows_migrated()


def test_a_newer_journal_is_refused_and_left_untouched(tmp_path):
    path = _v0_file(tmp_path / "j.sqlite", wal=False)
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE tasks ADD COLUMN from_the_future TEXT")
    db.execute(f"PRAGMA user_version = {jr.SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(JournalError) as err:
        Journal(path)
    assert "written by a newer version of the pack" in str(err.value) and "update the pack" in str(err.value)
    assert "was not changed" in err.value.hint and not err.value.credits_may_be_spent
    assert path.read_bytes() == before  # not even switched to WAL
    assert _pragma(path, "user_version") == jr.SCHEMA_VERSION + 1


def test_migrations_are_ordered_and_the_first_is_the_first_schema():
    assert jr.SCHEMA_VERSION == len(sqlite_journal._MIGRATIONS)
    assert ";\n".join(sqlite_journal._MIGRATIONS[0]) + ";" == V0_SCHEMA.strip()


# -- heartbeat -------------------------------------------------------------------------------
def test_a_claimed_row_stays_alive_while_its_process_beats(tmp_path):
    store = Journal(tmp_path / "j.sqlite", timings=BEAT)
    entry, _ = store.claim("fp", {})
    # a beat after the first heartbeat would have gone stale (waited for, not guessed: a loaded machine
    # may hold the beating thread back, and then a row read right after a beat is alive all the same)
    assert wait_until(lambda: store.by_id(entry.id).heartbeat_at > entry.heartbeat_at + 2 * BEAT.stale_s,
                       timeout=30)
    fresh = store.by_id(entry.id)
    assert store.owner_alive(fresh) and fresh.heartbeat_at > entry.heartbeat_at


def test_time_travel_past_stale_makes_a_silent_row_dead(tmp_path):
    """Seen by a journal whose clock is past the stale time (the heartbeat that starts with the claim may
    still write its first beat meanwhile: it writes its own journal's time, not that moment)."""
    store = Journal(tmp_path / "j.sqlite")
    entry, _ = store.claim("fp", {})
    assert store.owner_alive(entry)
    later = Journal(tmp_path / "j.sqlite", clock=lambda: time.time() + store.timings.stale_s + 1)
    assert not later.owner_alive(later.by_id(entry.id))


def test_a_row_written_by_another_process_that_stopped_is_not_alive(tmp_path):
    """A second Journal object whose 'process' never beats: a raw row as another host would write it."""
    store = Journal(tmp_path / "j.sqlite", timings=BEAT)
    db = sqlite3.connect(store.path)
    db.execute("INSERT INTO tasks (fingerprint, state, owner, created_at, updated_at, heartbeat_at) "
               "VALUES ('elsewhere', 'creating', 'other-host:1', ?, ?, ?)", (time.time(),) * 3)
    db.commit()
    db.close()
    other = Journal(tmp_path / "j.sqlite", timings=BEAT).by_fingerprint("elsewhere")
    assert store.owner_alive(other)
    with pytest.raises(InputError):  # a live create is never abandoned
        store.abandon(other)
    time.sleep(BEAT.stale_s + 0.05)
    assert not store.owner_alive(store.by_id(other.id))
    assert store.abandon(store.by_id(other.id)).state == jr.ABANDONED


@pytest.mark.parametrize("leave", [
    lambda store, e: store.record_task_id(e.id, "t-1"),
    lambda store, e: store.update(e.id, state=jr.UNCERTAIN, error="lost"),
    lambda store, e: store.update(e.id, state=jr.REFUSED, error="no"),
    lambda store, e: store.abandon(store.update(e.id, state=jr.UNCERTAIN)),
    lambda store, e: store.release(e.id),
], ids=["record_task_id", "uncertain", "refused", "abandon", "release"])
def test_leaving_creating_stops_the_heartbeat(tmp_path, leave, request):
    store = Journal(tmp_path / "j.sqlite", timings=BEAT)
    entry, _ = store.claim("fp", {})
    keep, _ = store.claim("other", {})  # still creating: the thread keeps running for it
    leave(store, entry)
    if request.node.callspec.id == "release":  # the row is still 'creating': one beat may be in flight
        time.sleep(2 * BEAT.heartbeat_s)
    stopped = store.by_id(entry.id).heartbeat_at
    time.sleep(5 * BEAT.heartbeat_s)
    assert store.by_id(entry.id).heartbeat_at == stopped
    assert wait_until(lambda: store.by_id(keep.id).heartbeat_at > keep.heartbeat_at)
    assert entry.id not in store._heartbeat._rows[store._key][1]


def test_a_row_moved_by_another_process_leaves_the_heartbeat(tmp_path):
    store = Journal(tmp_path / "j.sqlite", timings=BEAT)
    entry, _ = store.claim("fp", {})
    db = sqlite3.connect(store.path)
    db.execute("UPDATE tasks SET state = 'abandoned' WHERE id = ?", (entry.id,))
    db.commit()
    db.close()
    assert wait_until(lambda: store._heartbeat._thread is None)  # nothing left to beat: the thread ended
    store.claim("next", {})
    assert store._heartbeat._thread.is_alive()  # and starts again on the next claim


def test_the_heartbeat_never_recreates_a_journal_moved_aside(tmp_path):
    store = Journal(tmp_path / "j.sqlite", timings=BEAT)
    store.claim("fp", {})
    store.path.rename(tmp_path / "aside.sqlite")
    time.sleep(5 * BEAT.heartbeat_s)
    assert not store.path.exists()


def test_liveness_never_signals_a_process():
    source = inspect.getsource(jr)
    assert "os.kill" not in source and "kill(" not in source
