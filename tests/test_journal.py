"""The task journal on a real SQLite file: claims, states, queries, threads and processes."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

from apikley_wan import journal as jr
from apikley_wan.journal import Journal


def test_claim_writes_a_creating_row_then_attaches(tmp_path):
    store = Journal(tmp_path / "j.sqlite")
    entry, new = store.claim("fp1", {"prompt": "p"})
    assert new and entry.state == jr.CREATING and entry.task_id is None and entry.owner_alive()
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
    store = Journal(tmp_path / "j.sqlite")
    entry, _ = store.claim("x", {})
    import socket
    store.update(entry.id, owner=f"{socket.gethostname()}:999999")
    assert not store.by_id(entry.id).owner_alive()
