"""One contract, two stores: every test here runs against the SQLite journal AND the PostgreSQL one (farm
mode), through the same public API, with a second journal object on the same store standing in for a
second worker (another process, another machine).

The PostgreSQL leg uses ``APIKLEY_TEST_PG_URL`` when set, else starts its own throw-away server once per
run (``initdb`` + ``pg_ctl`` into a temporary folder, on a free loopback port; as root, as an unprivileged
user, since PostgreSQL refuses to run as root). Each test gets a schema of its own. When no server can be
had the leg is skipped, saying why, unless ``APIKLEY_REQUIRE_PG`` is set (CI): then it fails.
"""

from __future__ import annotations

import asyncio
import atexit
import glob
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from apikley_wan.record import entry as jr
from timings import BEAT
from apikley_wan.record import journals
from apikley_wan.record import sqlite as sqlite_journal
from apikley_wan.record.sqlite import Journal
from conftest import errors_when_run_at_once, wait_until
from apikley_wan.errors import InputError, JournalError, TaskIdTakenError

try:
    import psycopg
except ImportError:  # the PostgreSQL leg then skips (or fails under APIKLEY_REQUIRE_PG)
    psycopg = None

PG_URL_ENV = "APIKLEY_TEST_PG_URL"
REQUIRE_ENV = "APIKLEY_REQUIRE_PG"
PG_USER_ENV = "APIKLEY_TEST_PG_USER"  # the unprivileged user that runs the test server when we are root


# -- a PostgreSQL server for the tests ---------------------------------------------------------
class NoServer(Exception):
    pass


_SERVER: dict = {}  # once per test process: {"url": ..., "start_s": ...} or {"reason": ...}


def pg_url() -> str:
    """The base URL of a PostgreSQL server for this run (started on first use), or skip/fail saying why."""
    if not _SERVER:
        started = time.monotonic()
        try:
            _SERVER["url"] = _server_url()
        except NoServer as exc:
            _SERVER["reason"] = str(exc)
        _SERVER["start_s"] = time.monotonic() - started
    if "url" in _SERVER:
        return _SERVER["url"]
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{REQUIRE_ENV} is set but no PostgreSQL server could be had: {_SERVER['reason']}", pytrace=False)
    pytest.skip(f"PostgreSQL leg skipped: {_SERVER['reason']} (set {PG_URL_ENV}, or install PostgreSQL's server)")


def _server_url() -> str:
    if psycopg is None:
        raise NoServer('psycopg is not installed (pip install -r requirements-test.txt, or "psycopg[binary]")')
    given = os.environ.get(PG_URL_ENV, "").strip()
    if given:
        try:
            psycopg.connect(given, connect_timeout=10).close()
        except psycopg.Error as exc:
            raise NoServer(f"{PG_URL_ENV} does not answer: {' '.join(str(exc).split())[:300]}") from None
        return given
    return start_server()


def _binaries() -> Path:
    """A folder holding initdb, pg_ctl and postgres: the ones on PATH first, then Debian's, newest first."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    candidates += sorted((Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin")),
                         key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0, reverse=True)
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise NoServer("PostgreSQL's server programs (initdb, pg_ctl, postgres) were not found "
                   "(apt-get install postgresql)")


def _run_as() -> dict:
    """subprocess arguments that drop root (PostgreSQL refuses to run as root); nothing when not root."""
    if os.geteuid() != 0:
        return {}
    names = [os.environ[PG_USER_ENV]] if os.environ.get(PG_USER_ENV) else ["postgres", "nobody"]
    for name in names:
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    raise NoServer(f"running as root and none of the users {names} exists to run PostgreSQL")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> str:
    bin_dir, run_as = _binaries(), _run_as()
    base = Path(tempfile.mkdtemp(prefix="apikley-test-pg-", dir="/tmp" if run_as else None))
    if run_as:
        os.chown(base, run_as["user"], run_as["group"])
    kw = dict(cwd=base, capture_output=True, text=True, timeout=60,
              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}, **run_as)
    data, log = base / "data", base / "server.log"

    def stop() -> None:
        subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], **kw)
        shutil.rmtree(base, ignore_errors=True)

    try:
        made = subprocess.run([str(bin_dir / "initdb"), "-D", str(data), "-U", "apikley", "--auth=trust", "-E", "UTF8",
                               "--no-sync", "--no-instructions"], **kw)
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise NoServer(f"initdb could not run: {exc}") from None
    if made.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise NoServer(f"initdb failed: {made.stderr.strip()[-400:]}")
    for _ in range(3):  # a port found free may be taken before the server binds it: try another
        port = _free_port()
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={base} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        started = subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "30",
                                  "-o", options, "start"], **kw)
        if started.returncode == 0:
            atexit.register(stop)
            return f"postgresql://apikley@127.0.0.1:{port}/postgres"
    tail = log.read_text(errors="replace")[-400:] if log.exists() else started.stderr[-400:]
    stop()
    raise NoServer(f"pg_ctl start failed: {tail.strip()}")


# -- the two stores ----------------------------------------------------------------------------
class SqliteStore:
    name = "sqlite"

    def __init__(self, path: Path):
        self.path = path

    def open(self, **kw):
        return Journal(self.path, **kw)

    def env(self) -> dict:
        """What a worker's environment says for this store (with ``open_journal(self.path)``)."""
        return {journals.JOURNAL_URL_ENV: ""}

    def execute(self, sql: str, args: tuple = ()) -> list:
        db = sqlite3.connect(self.path)
        try:
            rows = db.execute(sql, args).fetchall()
            db.commit()
            return rows
        finally:
            db.close()

    def version(self) -> int:
        return self.execute("PRAGMA user_version")[0][0]

    def set_version(self, version: int) -> None:
        self.execute(f"PRAGMA user_version = {version:d}")

    def columns(self) -> list:
        return [row[1] for row in self.execute("PRAGMA table_info(tasks)")]

    def snapshot(self):
        """Something that changes when anything is written to the store."""
        return self.path.read_bytes(), Path(f"{self.path}-wal").exists() and Path(f"{self.path}-wal").read_bytes()


class PgStore:
    """A schema of its own on the test server; its URL names it, so every journal on it is isolated."""

    name = "postgresql"

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.schema = f"apikley_test_{uuid.uuid4().hex[:12]}"
        self.admin("CREATE SCHEMA " + self.schema)
        self.url = f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{self.schema}"
        self.path = None

    def admin(self, sql: str) -> None:
        with psycopg.connect(self.base_url, autocommit=True) as db:
            db.execute(sql)

    def drop(self) -> None:
        self.admin(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")

    def open(self, **kw):
        from apikley_wan.record.postgres import PgJournal
        return PgJournal(self.url, **kw)

    def env(self) -> dict:
        return {journals.JOURNAL_URL_ENV: self.url}

    def execute(self, sql: str, args: tuple = ()) -> list:
        with psycopg.connect(self.url, autocommit=True) as db:
            cur = db.execute(sql.replace("?", "%s"), args)
            return cur.fetchall() if cur.description else []

    def version(self) -> int:
        return self.execute("SELECT version FROM apikley_journal_schema")[0][0]

    def set_version(self, version: int) -> None:
        self.execute("UPDATE apikley_journal_schema SET version = ?", (version,))

    def columns(self) -> list:
        return [row[0] for row in self.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = 'tasks' "
            "ORDER BY ordinal_position", (self.schema,))]

    def snapshot(self):
        return self.execute("SELECT xmin::text, version FROM apikley_journal_schema") + self.execute(
            "SELECT c.relname, c.relfilenode, c.relnatts FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ? ORDER BY c.relname", (self.schema,))


def make_store(kind: str, tmp_path: Path):
    return SqliteStore(tmp_path / "journal.sqlite") if kind == "sqlite" else PgStore(pg_url())


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """An empty store of each kind; ``store.open()`` is one worker's journal on it."""
    made = make_store(request.param, tmp_path)
    yield made
    if isinstance(made, PgStore):
        made.drop()


@pytest.fixture
def pg_store():
    """An empty PostgreSQL store, for what only that backend has."""
    made = PgStore(pg_url())
    yield made
    made.drop()




# -- claims ------------------------------------------------------------------------------------
def test_a_claim_writes_a_creating_row_and_a_second_worker_gets_that_entry(store):
    first, second = store.open(), store.open()
    entry, new = first.claim("fp1", {"prompt": "p"})
    assert new and entry.state == jr.CREATING and entry.task_id is None and first.owner_alive(entry)
    assert entry.params == {"prompt": "p"} and entry.heartbeat_at is not None
    seen, new_again = second.claim("fp1", {"prompt": "p"})
    assert not new_again and seen.id == entry.id and seen.state == jr.CREATING and seen.owner == entry.owner
    first.record_task_id(entry.id, "abc")
    assert second.by_task_id("abc").state == "waiting" and second.by_fingerprint("fp1").task_id == "abc"
    assert second.claim("fp1", {})[0].task_id == "abc"  # the pipeline attaches to the first worker's task


def test_a_task_id_another_entry_holds_is_its_own_error_and_changes_neither_entry(store):
    first, second = store.open(), store.open()
    paid, _ = first.claim("fp-paid", {})
    first.record_task_id(paid.id, "same-id")
    other, _ = second.claim("fp-other", {})
    with pytest.raises(TaskIdTakenError) as taken:
        second.record_task_id(other.id, "same-id")
    assert "already holds for other inputs" in str(taken.value) and "move it aside" not in str(taken.value)
    assert not isinstance(taken.value, JournalError)
    assert first.by_id(other.id).state == jr.CREATING and first.by_id(other.id).task_id is None
    assert first.by_task_id("same-id").id == paid.id
    assert second.record_task_id(paid.id, "same-id").state == "waiting"  # its own id again is no conflict


def test_only_refused_failed_and_abandoned_entries_are_replaced(store):
    first, second = store.open(), store.open()
    for state in jr.REPLACEABLE:
        entry, _ = first.claim(f"fp-{state}", {})
        first.update(entry.id, state=state)
        fresh, new = second.claim(f"fp-{state}", {})
        assert new and fresh.id > entry.id and second.by_fingerprint(f"fp-{state}").id == fresh.id
    for state in (jr.UNCERTAIN, "waiting", "generating", jr.SUCCESS, jr.NOT_FOUND):
        entry, _ = first.claim(f"fp-{state}", {})
        first.update(entry.id, state=state)
        same, new = second.claim(f"fp-{state}", {})
        assert not new and same.id == entry.id and same.state == state


def test_a_claim_creates_exactly_when_the_verdict_of_the_newest_row_is_create(store):
    """The claim asks ``journal.verdict``, as the pipeline, estimate, batch plan and panel do: on both stores,
    a new row exactly over no row or a CREATE verdict, and every worker reads the same verdict."""
    first, second = store.open(), store.open()
    states = (jr.CREATING, jr.UNCERTAIN, *jr.REPLACEABLE, jr.SUCCESS, *jr.PENDING, jr.NOT_FOUND, "a later state")
    for state in states:
        for task_id in (None, f"t-{state.replace(' ', '-')}"):
            fp = f"fp-{state}-{task_id}"
            entry, _ = first.claim(fp, {})
            first.release(entry.id)  # no heartbeat: a 'creating' row's writer is gone
            first.update(entry.id, state=state, task_id=task_id, heartbeat_at=time.time() - first.timings.stale_s - 60)
            verdicts = {worker.verdict(worker.by_fingerprint(fp)).decision for worker in (first, second)}
            assert len(verdicts) == 1, (state, task_id, verdicts)
            claimed, new = second.claim(fp, {})
            assert new is (verdicts == {jr.Decision.CREATE}), (state, task_id)
            assert new or claimed.id == entry.id


def test_an_uncertain_create_stays_uncertain_for_everyone_until_abandoned(store):
    first, second = store.open(), store.open()
    entry, _ = first.claim("fp", {})
    first.update(entry.id, state=jr.UNCERTAIN, error="answer lost")
    for worker in (first, second, store.open()):
        seen, new = worker.claim("fp", {})
        assert not new and seen.id == entry.id and seen.state == jr.UNCERTAIN and seen.error == "answer lost"
    assert [e.id for e in second.pending()] == [entry.id]
    assert second.abandon(second.by_id(entry.id)).state == jr.ABANDONED
    again, new = first.claim("fp", {})
    assert new and again.id != entry.id


def test_the_day_count_keeps_uncertain_and_abandoned_creates_and_drops_what_was_never_billed(store):
    first, second = store.open(), store.open()
    for fp in ("uncertain", "abandoned", "refused", "failed"):
        entry, _ = first.claim(fp, {})
        first.update(entry.id, state=jr.UNCERTAIN if fp in ("uncertain", "abandoned") else
                     {"refused": jr.REFUSED, "failed": jr.FAIL}[fp])
    second.abandon(second.by_fingerprint("abandoned"))  # a task may exist: it may still be billed
    again, _ = first.claim("abandoned", {})  # its new create counts as well
    counted = sorted(e.fingerprint for e in second.created_since(time.time() - 60))
    assert counted == ["abandoned", "abandoned", "uncertain"] and again.id in {e.id for e in second.created_since(0)}


def test_claims_from_many_threads_on_many_journal_objects_create_one_row(store):
    journals = [store.open() for _ in range(4)]
    start, results, errors = threading.Barrier(16), [], []

    def claim(i):
        start.wait()
        try:
            results.append(journals[i % 4].claim("same", {"i": i}))
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
    threads = [threading.Thread(target=claim, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and [new for _, new in results].count(True) == 1
    assert len({entry.id for entry, _ in results}) == 1
    assert store.execute("SELECT COUNT(*) FROM tasks WHERE fingerprint = 'same'")[0][0] == 1


# -- queries, adopt, update --------------------------------------------------------------------
def test_pending_lists_unfinished_tasks_and_unresolved_creates_and_recent_is_newest_first(store):
    journal = store.open()
    a, _ = journal.claim("a", {})
    b, _ = journal.claim("b", {})
    c, _ = journal.claim("c", {})
    d, _ = journal.claim("d", {})
    journal.record_task_id(a.id, "ta")
    journal.update(b.id, state=jr.SUCCESS, task_id="tb")
    journal.update(d.id, state=jr.UNCERTAIN)
    assert [e.fingerprint for e in store.open().pending()] == ["a", "c", "d"]
    assert journal.by_id(b.id).finished_at is not None and journal.by_id(a.id).finished_at is None
    assert [e.fingerprint for e in journal.recent(2)] == ["d", "c"]
    assert [e.id for e in journal.recent()] == [d.id, c.id, b.id, a.id]
    assert journal.by_id(999999) is None and journal.by_task_id("nope") is None and journal.by_fingerprint("x") is None
    assert journal.by_id(str(a.id)).id == a.id and journal.by_id("x") is None and journal.by_id(None) is None


def test_adopt_records_a_foreign_task_once_and_refuses_what_is_not_a_task_id(store):
    first, second = store.open(), store.open()
    one = first.adopt("t-123", {"prompt": "typed in"})
    two = second.adopt("t-123")
    assert one.id == two.id and one.state == "waiting" and one.pending and one.fingerprint == "task:t-123"
    assert one.params == {"prompt": "typed in"} and one.task_created_at is not None
    for bad in ("../x", "", "a" * 65, None, "t 1"):
        with pytest.raises(InputError):
            first.adopt(bad)
    assert store.execute("SELECT COUNT(*) FROM tasks")[0][0] == 1


def test_update_round_trips_every_column_type(store):
    journal = store.open()
    entry, _ = journal.claim("fp", {"nested": {"a": [1, 2]}, "u": "é"})
    done = journal.update(entry.id, state=jr.SUCCESS, params={"x": 1.5}, cost_credits=104.5, cost_kind="measured",
                          result_url="https://r/x.mp4", result_path="/out/x.mp4", task_id="t-1")
    again = store.open().by_id(entry.id)
    assert again == done
    assert again.params == {"x": 1.5} and again.cost_credits == 104.5 and again.cost_kind == "measured"
    assert isinstance(again.id, int) and isinstance(again.created_at, float)
    assert again.finished_at >= again.created_at and abs(again.created_at - entry.created_at) < 1e-6
    assert journal.update(entry.id, cost_kind="unknown", cost_credits=None).cost_kind == "unknown"
    assert journal.update(entry.id, state=jr.FAIL, error="boom").finished_at is not None
    with pytest.raises(ValueError):
        journal.update(entry.id, no_such_column=1)


def test_abandon_refuses_a_known_task_and_a_live_create(store):
    journal = store.open()
    entry, _ = journal.claim("fp", {})
    with pytest.raises(InputError):  # its writer (this process) is alive
        store.open().abandon(journal.by_id(entry.id))
    journal.record_task_id(entry.id, "t-1")
    with pytest.raises(InputError):
        journal.abandon(journal.by_id(entry.id))


def test_link_task_gives_a_lost_create_the_found_task_and_nothing_else(store):
    first, second = store.open(), store.open()
    lost, _ = first.claim("fp-lost", {"prompt": "p"})
    first.update(lost.id, state=jr.UNCERTAIN, error="answer lost")
    live, _ = first.claim("fp-live", {})
    done, _ = first.claim("fp-done", {})
    first.record_task_id(done.id, "t-done")
    for entry_id, task_id in ((lost.id, "a/b"), (lost.id, ""), (live.id, "t-new"), (done.id, "t-new"),
                              (lost.id, "t-done"), (99999, "t-new")):
        with pytest.raises(InputError):
            second.link_task(entry_id, task_id)
    assert second.by_id(lost.id).task_id is None and second.by_id(live.id).state == jr.CREATING
    linked = second.link_task(lost.id, "t-found")
    assert (linked.state, linked.task_id, linked.error, linked.task_created_at) == ("waiting", "t-found", None,
                                                                                   lost.created_at)
    assert first.claim("fp-lost", {}) == (first.by_id(lost.id), False)  # the same inputs attach to it
    with pytest.raises(InputError):  # linked once: never again
        first.link_task(lost.id, "t-other")


def test_link_task_takes_over_a_task_collected_by_id(store):
    journal = store.open()
    lost, _ = journal.claim("fp-lost", {"prompt": "p"})
    journal.update(lost.id, state=jr.UNCERTAIN)
    adopted = journal.adopt("t-found", {"duration": "5"})
    journal.update(adopted.id, state=jr.SUCCESS, result_url="https://r/x.mp4", result_path="/r/x.mp4",
                   cost_credits=70.0, cost_kind="estimate")
    gone = journal.adopt("t-unknown")
    journal.update(gone.id, state=jr.NOT_FOUND)
    with pytest.raises(InputError):
        journal.link_task(lost.id, "t-unknown")
    linked = journal.link_task(lost.id, "t-found")
    assert (linked.id, linked.state, linked.result_path, linked.cost_credits, linked.cost_kind, linked.params) == (
        lost.id, jr.SUCCESS, "/r/x.mp4", 70.0, "estimate", {"prompt": "p"})
    assert journal.by_task_id("t-found").id == lost.id and journal.by_id(adopted.id) is None


def test_two_links_at_once_link_once(store):
    journal = store.open()
    lost, _ = journal.claim("fp-lost", {})
    journal.update(lost.id, state=jr.UNCERTAIN)
    ids = iter(f"t-{i}" for i in range(8))
    lock = threading.Lock()

    def link() -> None:
        with lock:
            task_id = next(ids)
        store.open().link_task(lost.id, task_id)
    errors = errors_when_run_at_once(link)
    assert len(errors) == 7 and all(isinstance(e, (InputError, JournalError)) for e in errors)
    assert journal.by_id(lost.id).task_id in {f"t-{i}" for i in range(8)}


def test_give_up_creates_makes_this_process_s_unanswered_creates_uncertain_at_once(store):
    journal = store.open()
    sent, _ = journal.claim("fp-sent", {})
    answered, _ = journal.claim("fp-answered", {})
    store.execute("UPDATE tasks SET task_id = 't-1', state = 'waiting' WHERE id = ?", (answered.id,))  # meanwhile
    elsewhere = time.time()
    store.execute("INSERT INTO tasks (fingerprint, state, owner, params, created_at, updated_at, heartbeat_at) "
                  "VALUES ('theirs', 'creating', 'other-host:1', '{}', ?, ?, ?)", (elsewhere, elsewhere, elsewhere))
    moved = journal.give_up_creates("stopped")
    assert [(e.id, e.state, e.error) for e in moved] == [(sent.id, jr.UNCERTAIN, "stopped")]
    other = store.open()
    assert other.abandonable(other.by_id(sent.id)) and journal.by_id(answered.id).state == "waiting"
    assert journal.by_fingerprint("theirs").state == jr.CREATING  # another process's create is its own
    assert journal.give_up_creates("again") == []


# -- liveness across workers -------------------------------------------------------------------
def test_the_heartbeat_is_seen_by_another_worker_and_its_silence_too(store):
    first, second = store.open(timings=BEAT), store.open(timings=BEAT)
    entry, _ = first.claim("fp", {})
    assert wait_until(lambda: second.by_id(entry.id).heartbeat_at > entry.heartbeat_at)
    assert second.owner_alive(second.by_id(entry.id))
    with pytest.raises(InputError):  # a live create is never abandoned, by anyone
        second.abandon(second.by_id(entry.id))
    first.release(entry.id)  # the first worker 'dies': its heartbeat stops
    time.sleep(2 * BEAT.heartbeat_s)
    assert wait_until(lambda: not second.owner_alive(second.by_id(entry.id)))
    assert second.claim("fp", {}) == (second.by_id(entry.id), False)  # still never re-sent blindly
    assert second.abandon(second.by_id(entry.id)).state == jr.ABANDONED


def test_a_row_written_by_a_worker_elsewhere_is_alive_until_its_heartbeat_stops(store):
    journal = store.open(timings=BEAT)
    now = time.time()
    store.execute("INSERT INTO tasks (fingerprint, state, owner, params, created_at, updated_at, heartbeat_at) "
                  "VALUES ('elsewhere', 'creating', 'other-host:1', '{}', ?, ?, ?)", (now, now, now))
    other = journal.by_fingerprint("elsewhere")
    assert journal.owner_alive(other) and other.owner == "other-host:1"
    assert journal.claim("elsewhere", {})[1] is False
    assert wait_until(lambda: not journal.owner_alive(journal.by_id(other.id)))


def test_leaving_creating_stops_the_heartbeat(store):
    journal = store.open(timings=BEAT)
    entry, _ = journal.claim("fp", {})
    keep, _ = journal.claim("other", {})
    journal.record_task_id(entry.id, "t-1")
    stopped = journal.by_id(entry.id).heartbeat_at
    assert wait_until(lambda: journal.by_id(keep.id).heartbeat_at > keep.heartbeat_at)
    time.sleep(5 * BEAT.heartbeat_s)
    assert journal.by_id(entry.id).heartbeat_at == stopped


def test_a_row_moved_by_another_worker_leaves_the_heartbeat(store):
    journal = store.open(timings=BEAT)
    entry, _ = journal.claim("fp", {})
    store.execute("UPDATE tasks SET state = 'uncertain' WHERE id = ?", (entry.id,))  # as another machine would
    assert wait_until(lambda: journal._heartbeat._thread is None)


def test_time_travel_past_stale_makes_a_silent_row_dead(store):
    journal = store.open()
    now = time.time()
    store.execute("INSERT INTO tasks (fingerprint, state, owner, params, created_at, updated_at, heartbeat_at) "
                  "VALUES ('silent', 'creating', 'other-host:1', '{}', ?, ?, ?)", (now, now, now))
    assert journal.owner_alive(journal.by_fingerprint("silent"))
    later = store.open(clock=lambda: time.time() + journal.timings.stale_s + 1)
    assert not later.owner_alive(later.by_fingerprint("silent"))


# -- schema versions ---------------------------------------------------------------------------
def test_a_new_store_is_at_the_latest_version_with_the_same_columns(store):
    store.open()
    assert store.version() == jr.SCHEMA_VERSION == 4
    assert store.columns() == list(jr.COLUMNS)


def test_opening_again_changes_nothing(store):
    store.open()
    before = store.snapshot()
    store.open()
    store.open()
    assert store.snapshot() == before


def test_many_openers_at_once_migrate_once(store):
    assert errors_when_run_at_once(store.open) == []
    assert store.version() == jr.SCHEMA_VERSION and store.columns() == list(jr.COLUMNS)


def test_a_newer_journal_is_refused_and_left_untouched(store):
    store.open().adopt("t-paid")  # a row, and no heartbeat writing to the store meanwhile
    store.execute("ALTER TABLE tasks ADD COLUMN from_the_future TEXT")
    store.set_version(jr.SCHEMA_VERSION + 1)
    before = store.snapshot()
    with pytest.raises(JournalError) as err:
        store.open()
    assert "written by a newer version of the pack" in str(err.value) and "update the pack" in str(err.value)
    assert "was not changed" in err.value.hint and not err.value.credits_may_be_spent
    assert store.snapshot() == before and store.version() == jr.SCHEMA_VERSION + 1


# -- farm mode end to end: two workers, one task -----------------------------------------------
def test_two_workers_with_the_same_inputs_pay_once_and_each_saves_the_result(store, sim, tmp_path, reference_clip):
    """Two pipelines (two ComfyUI machines: own journal object, own results folder) run the same inputs
    at once: one creates the task, the other attaches to it; a third one later re-uses it and downloads the
    result onto its own disk."""
    from apikley_wan.api.client import ApikleyClient
    from apikley_wan.run.pipeline import Pipeline
    from apikley_wan.run.request import GenerationRequest, Reference

    request = GenerationRequest(prompt="character1 walks on the moon", duration="5", resolution="720p",
                                references=[Reference(source=str(reference_clip))])
    reports, errors = {}, []

    def worker(name):
        gens = Pipeline(ApikleyClient(api_key="sim-key", base_url=sim.base_url, backoff_start_s=0.05),
                        store.open(), tmp_path / name)
        try:
            reports[name] = asyncio.run(gens.generate_video(request))
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
    threads = [threading.Thread(target=worker, args=(name,)) for name in ("machine-a", "machine-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and sim.create_count == 1
    a, b = reports["machine-a"], reports["machine-b"]
    assert a.task_id == b.task_id and sorted([a.outcome, b.outcome]) in (["paid", "reattached"], ["paid", "reused"])
    assert sorted([a.charged, b.charged]) == [False, True]
    assert all(Path(report.result_path).is_file() for report in reports.values())
    # a third machine does not see the others' disks: it downloads the result itself, and pays nothing
    for name in ("machine-a", "machine-b"):
        shutil.rmtree(tmp_path / name, ignore_errors=True)
    worker("machine-c")
    assert errors == [] and sim.create_count == 1 and reports["machine-c"].outcome == "reused"
    assert Path(reports["machine-c"].result_path).parent == tmp_path / "machine-c"


# -- the factory and the PostgreSQL journal's own promises -------------------------------------
def test_open_journal_is_sqlite_unless_the_url_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv(journals.JOURNAL_URL_ENV, raising=False)
    assert isinstance(journals.open_journal(tmp_path / "a.sqlite"), Journal)
    monkeypatch.setenv(journals.JOURNAL_URL_ENV, "  ")
    assert isinstance(journals.open_journal(tmp_path / "b.sqlite"), Journal)
    assert (tmp_path / "a.sqlite").is_file() and (tmp_path / "b.sqlite").is_file()


def test_open_journal_is_the_shared_postgresql_one_when_the_url_is_set(tmp_path, monkeypatch):
    pg = PgStore(pg_url())
    try:
        monkeypatch.setenv(journals.JOURNAL_URL_ENV, pg.url)
        from apikley_wan.record.postgres import PgJournal
        journal = journals.open_journal(tmp_path / "unused.sqlite")
        assert isinstance(journal, PgJournal) and not (tmp_path / "unused.sqlite").exists()
        entry, new = journal.claim("fp", {})
        assert new and pg.execute("SELECT id FROM tasks") == [(entry.id,)]
    finally:
        pg.drop()


def test_without_psycopg_the_url_asks_for_it_clearly(tmp_path, monkeypatch):
    from apikley_wan.record import postgres as journal_pg
    monkeypatch.setattr(journal_pg, "psycopg", None)
    monkeypatch.setenv(journals.JOURNAL_URL_ENV, "postgresql://farm:hunter2@db.example:5432/apikley")
    with pytest.raises(JournalError) as err:
        journals.open_journal(tmp_path / "j.sqlite")
    assert 'pip install "psycopg[binary]"' in str(err.value) and "hunter2" not in str(err.value)
    assert not (tmp_path / "j.sqlite").exists()  # never silently falls back to a private journal


def test_a_url_that_is_not_postgresql_is_refused(monkeypatch):
    from apikley_wan.record.postgres import PgJournal
    with pytest.raises(JournalError) as err:
        PgJournal("mysql://farm:hunter2@db/apikley")
    assert "postgresql://" in str(err.value) and "hunter2" not in str(err.value)


@pytest.mark.parametrize("password", ["Sup3r-S3cret", "p%40ss%2Fw0rd"])
def test_an_unreachable_server_is_a_journal_error_without_the_password(password):
    pytest.importorskip("psycopg")
    from apikley_wan.record.postgres import PgJournal
    url = f"postgresql://farm:{password}@127.0.0.1:{_free_port()}/apikley?connect_timeout=3"
    with pytest.raises(JournalError) as err:
        PgJournal(url)
    text = f"{err.value} {err.value!r} {err.value.hint} {err.value.detail}"
    assert password not in text and "p@ss/w0rd" not in text and "farm:***@127.0.0.1" in text
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no driver traceback chained


def test_a_driver_message_holding_the_password_is_scrubbed(pg_store, monkeypatch):
    from apikley_wan.record import postgres as journal_pg
    journal = journal_pg.PgJournal(pg_store.url.replace("apikley@", "apikley:t0p%40secret@", 1))

    def broken(*a, **kw):
        raise psycopg.OperationalError("FATAL: password t0p@secret (or t0p%40secret) was wrong")
    with monkeypatch.context() as patch, pytest.raises(JournalError) as err:
        patch.setattr(journal_pg.psycopg, "connect", broken)
        journal.by_id(1)
    assert "t0p" not in str(err.value) and "***" in str(err.value) and err.value.__cause__ is None


def test_a_broken_table_is_a_journal_error_not_a_driver_error(store):
    journal = store.open()
    store.execute("DROP TABLE tasks")
    with pytest.raises(JournalError):
        journal.claim("fp", {})
    with pytest.raises(JournalError):
        journal.recent()


def test_scrub_url_hides_every_password_spelling():
    from apikley_wan.record.postgres import scrub_url
    assert scrub_url("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert scrub_url("postgresql://u@h/db?password=pw&sslmode=require") == "postgresql://u@h/db?password=***&sslmode=require"
    assert scrub_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert scrub_url("postgres://h/db") == "postgres://h/db"


def test_a_foreign_tasks_table_is_refused_not_taken_over(pg_store):
    pg_store.execute("CREATE TABLE tasks (id SERIAL PRIMARY KEY, title TEXT)")
    with pytest.raises(JournalError) as err:
        pg_store.open()
    assert "not an apikley journal" in str(err.value) and "database of its own" in err.value.hint
    assert pg_store.columns() == ["id", "title"]


def test_postgresql_migrations_are_the_sqlite_ones_version_by_version(pg_store):
    """Each version has the same columns, in the same order, on both stores."""
    from apikley_wan.record import postgres as journal_pg
    assert len(journal_pg._MIGRATIONS) == len(sqlite_journal._MIGRATIONS) == jr.SCHEMA_VERSION
    lite = sqlite3.connect(":memory:")
    for version in range(1, jr.SCHEMA_VERSION + 1):
        for sql in sqlite_journal._MIGRATIONS[version - 1]:
            lite.execute(sql)
        for sql in journal_pg._MIGRATIONS[version - 1]:
            pg_store.execute(sql)
        assert pg_store.columns() == [row[1] for row in lite.execute("PRAGMA table_info(tasks)")], version


def test_a_version_1_postgresql_journal_is_migrated_and_keeps_its_rows(pg_store):
    from apikley_wan.record import postgres as journal_pg
    pg_store.execute("CREATE TABLE apikley_journal_schema (version INTEGER NOT NULL)")
    pg_store.execute("INSERT INTO apikley_journal_schema VALUES (1)")
    for sql in journal_pg._MIGRATIONS[0]:
        pg_store.execute(sql)
    pg_store.execute("INSERT INTO tasks (fingerprint, state, owner, created_at, updated_at) "
                  "VALUES ('fp-old', 'creating', 'old-host:1', 1700000000.5, 1700000000.5)")
    pg_store.execute("INSERT INTO tasks (fingerprint, state, task_id, cost_credits, cost_reported, created_at, updated_at)"
                  " VALUES ('fp-done', 'success', 't-done', 70, 1, 1700000001.25, 1700000002.75)")
    journal = pg_store.open()
    assert pg_store.version() == jr.SCHEMA_VERSION and pg_store.columns() == list(jr.COLUMNS)
    old, done = journal.by_fingerprint("fp-old"), journal.by_task_id("t-done")
    assert old.heartbeat_at is None and not journal.owner_alive(old) and old.created_at == 1700000000.5
    assert done.cost_credits == 70.0 and done.cost_kind == "reported" and done.updated_at == 1700000002.75
    assert journal.claim("fp-done", {}) == (done, False) and journal.claim("fp-old", {}) == (old, False)
    assert journal.abandon(old).state == jr.ABANDONED
