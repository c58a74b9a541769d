"""Measured cost: a task's balance difference becomes its cost only when it was the account's one task in
flight (in this process, and in the journal every process shares) from before its create until after
success, and the difference is plausible; the API's own figure
wins; the journal's cost_kind (migration 3) replaces the old cost_reported flag on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest

from apikley_wan.money import metering
from apikley_wan.record import entry as jr
from apikley_wan.api.client import ApikleyClient
from apikley_wan.api.tasks import build_create_body
from apikley_wan.run.pipeline import Pipeline
from apikley_wan.record.sqlite import Journal
from apikley_wan.money.report import ESTIMATE, MEASURED, REPORTED
from apikley_wan.run.request import GenerationRequest, Reference
from conftest import FAST, wait_until
from test_journal import V0_SCHEMA
from test_journal_contract import PgStore, pg_url, store  # noqa: F401 - store: the fixture of both journals


@pytest.fixture
def clip_url(sim, reference_clip):
    """The reference uploaded once: runs then skip preparing and uploading."""
    return ApikleyClient(api_key="sim-key", base_url=sim.base_url).upload(reference_clip)


def _gens(sim, tmp_path) -> Pipeline:
    client = ApikleyClient(api_key="sim-key", base_url=sim.base_url, backoff_start_s=0.05)
    return Pipeline(client, Journal(tmp_path / "journal.sqlite"), tmp_path / "results", timings=FAST)


def _request(url, prompt="character1 walks on the moon") -> GenerationRequest:
    return GenerationRequest(prompt, "5", "720p", [Reference(url=url)])


def _balance_reads(sim) -> int:
    return sum(1 for _, path, *_ in sim.requests_log if path == "/api/v1/chat/credit")


def test_a_task_alone_is_recorded_at_what_it_took_from_the_balance(sim, tmp_path, clip_url):
    sim.credits = 1000
    report = asyncio.run(_gens(sim, tmp_path).generate_video(_request(clip_url)))
    assert sim.credits == 930  # the simulator took the task's price on success
    assert (report.cost_credits, report.cost_kind, report.cost_usd) == (70, MEASURED, 0.35)
    assert "Paid now: 70 credits ($0.35, measured from the balance)" in report.line()
    entry = Journal(tmp_path / "journal.sqlite").by_task_id(report.task_id)
    assert (entry.cost_credits, entry.cost_kind) == (70, "measured")
    assert json.loads(Path(report.result_path).with_suffix(".json").read_text())["cost_kind"] == "measured"
    assert _balance_reads(sim) == 2  # before the create, after success


def test_the_budget_guards_balance_read_is_the_one_before_the_create(sim, tmp_path, clip_url, monkeypatch):
    monkeypatch.setenv("APIKLEY_MIN_BALANCE", "100")
    report = asyncio.run(_gens(sim, tmp_path).generate_video(_request(clip_url)))
    assert report.cost_kind == MEASURED and report.cost_credits == 70
    assert _balance_reads(sim) == 3  # the guard's look before upload, its reading at create (re-used), after


def test_overlapping_tasks_keep_the_estimate_and_one_after_another_are_measured(sim, tmp_path, clip_url):
    sim.task_seconds = 60  # both stay pending until finished below
    gens = _gens(sim, tmp_path)
    first = asyncio.run(gens.submit(_request(clip_url, "character1 walks"))).entry
    second = asyncio.run(gens.submit(_request(clip_url, "character1 runs"))).entry
    for entry in (first, second):
        sim.finish_task(entry.task_id)
    done = [asyncio.run(gens.wait(entry)) for entry in (first, second)]
    assert [(e.cost_credits, e.cost_kind) for e in done] == [(70, "estimate"), (70, "estimate")]

    sim.task_seconds = FAST.simulator_task_s
    later = [asyncio.run(gens.generate_video(_request(clip_url, f"character1 jumps {i}"))) for i in range(2)]
    assert [(r.cost_credits, r.cost_kind) for r in later] == [(70, MEASURED), (70, MEASURED)]


def test_a_task_left_pending_by_a_stopped_wait_still_counts_as_in_flight(sim, tmp_path, clip_url):
    """Submit returns at once (as after a Cancel): that task may be billed while another one runs."""
    sim.task_seconds = 60
    gens = _gens(sim, tmp_path)
    left = asyncio.run(gens.submit(_request(clip_url, "character1 waits"))).entry
    sim.task_seconds = FAST.simulator_task_s
    report = asyncio.run(gens.generate_video(_request(clip_url, "character1 hurries")))
    assert report.cost_kind == ESTIMATE
    sim.finish_task(left.task_id)
    assert asyncio.run(gens.wait(left)).cost_kind == "estimate"  # never alone either


@pytest.mark.parametrize("account", ["same", "other"])
def test_a_task_another_process_has_in_flight_on_the_account_keeps_the_estimate(sim, tmp_path, clip_url, account):
    """Another process (or farm worker) on the journal creates while this task runs: its own meter cannot see
    it, the journal can. A task of another account on the journal changes nothing."""
    sim.task_seconds = 60
    gens = _gens(sim, tmp_path)
    entry = asyncio.run(gens.submit(_request(clip_url))).entry
    elsewhere = Journal(tmp_path / "journal.sqlite")  # the other process's own journal object
    api = sim.base_url if account == "same" else "https://api.apikley.ru"
    other, _ = elsewhere.claim("fp-elsewhere", {"api": api, "duration": "5", "resolution": "720p"})
    elsewhere.record_task_id(other.id, "t-elsewhere")
    sim.finish_task(entry.task_id)
    done = asyncio.run(gens.wait(entry))
    assert (done.cost_credits, done.cost_kind) == (70, "estimate" if account == "same" else "measured")


def test_a_refused_or_long_finished_entry_of_the_account_does_not_count(sim, tmp_path, clip_url):
    journal = Journal(tmp_path / "journal.sqlite")
    refused, _ = journal.claim("fp-refused", {"api": sim.base_url})
    journal.update(refused.id, state=jr.REFUSED)
    finished, _ = journal.claim("fp-finished", {"api": sim.base_url})
    journal.update(finished.id, state=jr.SUCCESS, task_id="t-old")
    report = asyncio.run(_gens(sim, tmp_path).generate_video(_request(clip_url)))
    assert (report.cost_credits, report.cost_kind) == (70, MEASURED)


def test_every_worker_on_the_store_sees_another_entry_of_the_account_in_flight(store):  # noqa: F811
    mine, elsewhere = store.open(), store.open()
    entry, _ = mine.claim("fp-mine", {"api": "A"})
    since = time.time()
    other, _ = elsewhere.claim("fp-other", {"api": "A"})
    assert mine.busy_between("A", entry.id, since, time.time())
    assert not mine.busy_between("B", entry.id, since, time.time())  # another account; its own entry never counts
    elsewhere.update(other.id, state=jr.SUCCESS, task_id="t-other")
    after = time.time() + 0.001
    assert mine.busy_between("A", entry.id, since, after) and not mine.busy_between("A", entry.id, after, after + 1)
    refused, _ = elsewhere.claim("fp-refused", {"api": "A"})
    elsewhere.update(refused.id, state=jr.REFUSED)
    adopted = elsewhere.adopt("t-typed-in")  # whose account is unknown: it may be this one
    assert mine.busy_between("A", entry.id, after, time.time())
    elsewhere.update(adopted.id, state=jr.NOT_FOUND)
    assert not mine.busy_between("A", entry.id, after, time.time())


def test_the_apis_own_figure_wins_over_a_measurement(sim, tmp_path, clip_url):
    sim.record_credits = True  # recordInfo carries consumeCredits once the task is done
    report = asyncio.run(_gens(sim, tmp_path).generate_video(_request(clip_url)))
    assert (report.cost_credits, report.cost_kind) == (70, REPORTED)
    assert "Paid now: 70 credits ($0.35) ·" in report.line()
    assert _balance_reads(sim) == 1  # the reading before the create; none after: the API said it


@pytest.mark.parametrize("moved_by", [-500, +70], ids=["someone-else-spent", "a-refund-cancels-it-out"])
def test_an_implausible_difference_keeps_the_estimate(sim, tmp_path, clip_url, moved_by):
    """The account moves by other means during the task (another machine on the same key, a top-up):
    a difference over 3x the estimate, or none at all, is not this task's cost."""
    sim.task_seconds = 60
    gens = _gens(sim, tmp_path)
    entry = asyncio.run(gens.submit(_request(clip_url))).entry
    sim.credits += moved_by
    sim.finish_task(entry.task_id)
    done = asyncio.run(gens.wait(entry))
    assert (done.cost_credits, done.cost_kind) == (70, "estimate")


def test_a_balance_that_cannot_be_read_never_blocks_the_create(sim, tmp_path, clip_url):
    sim.faults.server_errors, sim.faults.server_error_paths = 1, ("/api/v1/chat/credit",)
    report = asyncio.run(_gens(sim, tmp_path).generate_video(_request(clip_url)))
    assert report.state == "success" and report.charged and report.cost_kind == ESTIMATE
    assert sim.create_count == 1


def test_a_collected_task_is_never_measured(sim, tmp_path, clip_url):
    """Its create happened elsewhere (or before a restart): no balance of before it was read here."""
    client = ApikleyClient(api_key="sim-key", base_url=sim.base_url)
    task_id = client.create_task(build_create_body("a dog surfs a wave", [clip_url], "5", "720p"))
    wait_until(lambda: sim.tasks[task_id].done.is_set())
    report = asyncio.run(_gens(sim, tmp_path).collect(task_id))
    assert (report.cost_credits, report.cost_kind) == (70, ESTIMATE)


def test_plausible_is_more_than_nothing_and_at_most_three_times_the_estimate():
    assert metering.plausible(70, 70) and metering.plausible(0.5, 70) and metering.plausible(210, 70)
    assert not metering.plausible(0, 70) and not metering.plausible(-70, 70) and not metering.plausible(210.5, 70)
    assert not metering.plausible(70, None) and not metering.plausible(None, 70)


# -- the journal's cost_kind: migration 3 on both stores ----------------------------------------
V2_ROWS = [  # cost_reported 1, a cost without it, no cost at all
    ("fp-reported", "success", "t-rep", 104.5, 1, 1700000001.0),
    ("fp-estimate", "success", "t-est", 70.0, 0, 1700000002.0),
    ("fp-pending", "waiting", "t-wait", None, 0, 1700000003.0),
]
EXPECTED_KINDS = {"t-rep": (104.5, "reported"), "t-est": (70.0, "estimate"), "t-wait": (None, "unknown")}


def _version_2_sqlite(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.executescript(V0_SCHEMA)
    db.execute("ALTER TABLE tasks ADD COLUMN heartbeat_at REAL")
    db.executemany("INSERT INTO tasks (fingerprint, state, task_id, cost_credits, cost_reported, created_at, "
                   "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", [row + (row[-1],) for row in V2_ROWS])
    db.execute("INSERT INTO tasks (fingerprint, state, created_at, updated_at) VALUES ('gone', 'refused', 1, 1)")
    db.execute("DELETE FROM tasks WHERE fingerprint = 'gone'")  # its id (4) must never be handed out again
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    return path


def test_a_version_2_sqlite_journal_gets_cost_kind_from_cost_reported(tmp_path):
    path = _version_2_sqlite(tmp_path / "j.sqlite")
    journal = Journal(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == jr.SCHEMA_VERSION == 4
    assert [row[1] for row in db.execute("PRAGMA table_info(tasks)")] == list(jr.COLUMNS)
    assert {row[1] for row in db.execute("PRAGMA index_list(tasks)")} >= {"tasks_fingerprint", "tasks_state"}
    db.close()
    for task_id, expected in EXPECTED_KINDS.items():
        entry = journal.by_task_id(task_id)
        assert (entry.cost_credits, entry.cost_kind) == expected
    assert journal.by_task_id("t-rep").created_at == 1700000001.0
    assert journal.claim("fp-reported", {})[1] is False  # still protects what was paid for
    assert journal.claim("fp-new", {})[0].id == 5
    Journal(path)  # opening again changes nothing
    assert journal.by_task_id("t-est").cost_kind == "estimate"


def test_a_version_2_postgresql_journal_gets_cost_kind_from_cost_reported():
    from apikley_wan.record import postgres as journal_pg
    store = PgStore(pg_url())  # noqa: F811 - a store of its own, not the fixture
    try:
        store.execute("CREATE TABLE apikley_journal_schema (version INTEGER NOT NULL)")
        store.execute("INSERT INTO apikley_journal_schema VALUES (2)")
        for migration in journal_pg._MIGRATIONS[:2]:
            for sql in migration:
                store.execute(sql)
        for fingerprint, state, task_id, cost, reported, at in V2_ROWS:
            store.execute("INSERT INTO tasks (fingerprint, state, task_id, cost_credits, cost_reported, created_at, "
                          "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)", (fingerprint, state, task_id, cost, reported, at, at))
        journal = store.open()
        assert store.version() == jr.SCHEMA_VERSION and store.columns() == list(jr.COLUMNS)
        for task_id, expected in EXPECTED_KINDS.items():
            entry = journal.by_task_id(task_id)
            assert (entry.cost_credits, entry.cost_kind) == expected
        done = journal.update(journal.by_task_id("t-wait").id, state=jr.SUCCESS, cost_credits=70, cost_kind="measured")
        assert store.open().by_id(done.id).cost_kind == "measured"
    finally:
        store.drop()
