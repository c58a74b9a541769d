"""One create window per account, kept in the journal: every process (and farm worker) sharing the journal
paces its creates together, and a 429 marks the window full for all of them.

The end-to-end tests run real ``python -m apikley_wan batch`` processes on one journal against one
simulator whose rate limiter counts every connection's creates in one window (the answers of 429 are
counted on the simulator's side). The window is shrunk to ``WINDOW_S`` on both sides: in the simulator,
and in each child process before the command runs (as ``monkeypatch`` does in-process).
"""

from __future__ import annotations

import asyncio
import json
import threading
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apikley_wan.money import pacing
from apikley_wan.record import entry as jr
from apikley_wan.api.cancel import Cancel
from apikley_wan.api.client import ApikleyClient
from apikley_wan.errors import RunCancelledError
from apikley_wan.record.sqlite import Journal
from apikley_wan.record import sqlite as sqlite_journal
from apikley_wan.run.workers import Lanes
from apikley_wan.simulator import Simulator
from conftest import FAST_CLI, errors_when_run_at_once
from test_journal_contract import store  # noqa: F401 - the fixture: each test runs on SQLite and PostgreSQL

REPO = Path(__file__).resolve().parents[1]
WINDOW_S = 3.0   # long enough to outlast one batch's end and the next one's start
LIMIT = 20       # the API's documented creates per window
JOBS = 25        # per batch: more than one window's worth

# the real command line, with the create window shrunk like the simulator's (test code, not a switch)
CHILD = ("import runpy, sys; from apikley_wan.settings import settings; settings.CREATE_WINDOW_S = float(sys.argv.pop(1)); "
         f"runpy.run_path({str(FAST_CLI)!r}, run_name='__main__')")


@pytest.fixture
def limited_sim():
    """A simulator allowing ``LIMIT`` creates per ``WINDOW_S`` in all, whichever connection sends them."""
    with Simulator(api_key="sim-key", task_seconds=0.3, null_seconds=0.05, credits=1e6,
                   creates_per_10s=LIMIT) as sim:
        sim.rate_window.seconds = WINDOW_S
        yield sim


def _answers_429(sim) -> int:
    return sum(1 for _method, path, code in sim.requests_log if path.endswith("/createTask") and code == 429)


def _jobs(sim, folder: Path, clip: Path, name: str, first_take: int) -> Path:
    if not hasattr(sim, "clip_url"):  # one upload: every job refers to the same clip, each its own take
        sim.clip_url = ApikleyClient(api_key="sim-key", base_url=sim.base_url).upload(clip)
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps({
        "video_url": sim.clip_url, "prompt": "character1 dances in the rain", "duration": "5", "resolution": "720p",
        "take": first_take + i, "out": f"out/{name}-{i}.mp4"}) + "\n" for i in range(JOBS)))
    return path


def _batch(sim, state_dir: Path, jobs: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIKLEY_")}
    env.update(APIKLEY_STATE_DIR=str(state_dir), APIKLEY_BASE_URL=sim.base_url, APIKLEY_API_KEY="sim-key",
               PYTHONPATH=str(REPO))
    report = jobs.with_suffix(".report.json")
    cmd = [sys.executable, "-c", CHILD, str(WINDOW_S), "batch", str(jobs), "--concurrency", str(JOBS),
           "--report", str(report)]
    return subprocess.Popen(cmd, cwd=jobs.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _finished(proc: subprocess.Popen, jobs: Path) -> dict:
    """The batch's totals (its output under "output" when it did not finish every job)."""
    output, _ = proc.communicate(timeout=120)
    totals = json.loads(jobs.with_suffix(".report.json").read_text())["totals"]
    return totals if proc.returncode == 0 else {**totals, "output": output}


def test_two_batches_on_one_account_back_to_back_and_at_once_hear_at_most_two_429(
        limited_sim, state_dir, tmp_path, reference_clip):
    sim = limited_sim
    started = time.monotonic()
    first, second = (_jobs(sim, tmp_path, reference_clip, name, take)
                     for name, take in (("first", 0), ("second", JOBS)))
    totals = [_finished(_batch(sim, state_dir, jobs), jobs) for jobs in (first, second)]  # one right after the other
    back_to_back = _answers_429(sim)
    took_back_to_back = time.monotonic() - started

    started = time.monotonic()
    third, fourth = (_jobs(sim, tmp_path, reference_clip, name, take)
                     for name, take in (("third", 2 * JOBS), ("fourth", 3 * JOBS)))
    procs = [(_batch(sim, state_dir, jobs), jobs) for jobs in (third, fourth)]
    totals += [_finished(proc, jobs) for proc, jobs in procs]
    at_once = _answers_429(sim) - back_to_back
    print(f"{JOBS} jobs a batch, {LIMIT} creates per {WINDOW_S:g} s: back to back {back_to_back} answers of 429 "
          f"({took_back_to_back:.1f} s), at once {at_once} ({time.monotonic() - started:.1f} s); jobs failed: "
          f"{[t['failed'] for t in totals]}")
    assert [t["done"] for t in totals] == [JOBS] * 4, [t.get("output") for t in totals]
    assert sim.create_count == 4 * JOBS and len(sim.tasks) == 4 * JOBS  # each job paid once
    assert back_to_back + at_once <= 2, sim.requests_log


# -- the pacer over each journal ----------------------------------------------------------------------
# ruff: noqa: F811 - ``store`` is the contract tests' fixture, taken as an argument

def _pacers(store, count: int, now: list, limit: int = 2, window_s: float = 10.0) -> list:
    """``count`` pacers, each on a journal object of its own (a process, a farm worker) on one store."""
    return [pacing.Pacer(store.open(), limit=limit, window_s=window_s, clock=lambda: now[0]) for _ in range(count)]


def test_every_journal_object_on_the_store_counts_the_same_window(store):
    now = [1000.0]
    one, two = _pacers(store, 2, now)
    a, _ = one.try_acquire("acct")
    b, _ = two.try_acquire("acct")
    assert (a is not None) and (b is not None) and a.id != b.id
    assert two.try_acquire("acct") == (None, pacing.ALL_IN_FLIGHT_RECHECK_S)  # both in flight, the other's too
    assert one.try_acquire("another account")[0] is not None  # another account has a window of its own
    now[0] = 1001.0
    one.release(a)
    now[0] = 1003.0
    two.release(b)
    slot, wait = one.try_acquire("acct")
    assert slot is None and wait == pytest.approx(8.0)  # counted from the first answer, not its start
    now[0] = 1011.0
    c, _ = two.try_acquire("acct")
    assert c is not None and one.try_acquire("acct")[0] is None  # b still counts till 1013
    c.used = False  # no request was sent after all: the slot is given back at once
    two.release(c)
    assert one.try_acquire("acct")[0] is not None


def test_a_refusal_marks_the_window_full_for_every_journal_object(store):
    now = [1000.0]
    one, two = _pacers(store, 2, now, limit=20)
    slot, _ = one.try_acquire("acct")
    now[0] = 1000.5
    one.refused(slot)  # the API answered 429: the server's count is not ours
    now[0] = 1002.0
    assert two.try_acquire("acct") == (None, pytest.approx(8.5))  # 1 of 20 taken, yet full for everyone
    now[0] = 1010.6
    assert two.try_acquire("acct")[0] is not None


def test_a_create_left_in_flight_by_a_killed_process_stops_counting_once_stale(store):
    now = [1000.0]
    (pacer,) = _pacers(store, 1, now, limit=1)
    assert pacer.try_acquire("acct")[0] is not None  # never released: the process died mid-create
    now[0] += pacing.IN_FLIGHT_STALE_S - 1
    assert pacer.try_acquire("acct")[0] is None
    now[0] += 2
    assert pacer.try_acquire("acct")[0] is not None


def test_takers_at_once_on_many_journal_objects_get_exactly_the_limit(store):
    now = [1000.0]
    pacers, taken, lock = _pacers(store, 8, now, limit=5), [], threading.Lock()
    turn = iter(range(8))

    def take() -> None:
        with lock:
            pacer = pacers[next(turn)]
        slot, _ = pacer.try_acquire("acct")
        if slot is not None:
            with lock:
                taken.append(slot.id)
    assert errors_when_run_at_once(take, count=8) == []
    assert len(taken) == len(set(taken)) == 5


def test_waiting_for_a_slot_holds_no_thread_and_feels_cancel(tmp_path):
    pacer = pacing.Pacer(Journal(tmp_path / "journal.sqlite"), limit=1, window_s=60.0)
    pacer.release(pacer.try_acquire("acct")[0])
    cancel = Cancel()

    async def blocked():  # the form the pipeline uses: waiting on the loop for a slot
        async with pacer.slot("acct", cancel, Lanes().run, slice_s=0.05):
            raise AssertionError("the window is full: no slot for a minute")

    async def cancel_while_waiting() -> float:
        waiting = asyncio.ensure_future(blocked())
        await asyncio.sleep(0.3)
        started = time.monotonic()
        cancel.set()
        with pytest.raises(RunCancelledError):
            await asyncio.wait_for(waiting, 2)
        return time.monotonic() - started
    assert asyncio.run(cancel_while_waiting()) < 1.0


def test_a_journal_written_by_schema_3_opens_with_its_rows_and_an_empty_window(store):
    """Today's journals (schema 3) gain the window table; every row reads as before."""
    from apikley_wan.record import postgres as journal_pg
    migrations = sqlite_journal._MIGRATIONS if store.name == "sqlite" else journal_pg._MIGRATIONS
    if store.name == "postgresql":
        store.execute("CREATE TABLE apikley_journal_schema (version INTEGER NOT NULL)")
        store.execute("INSERT INTO apikley_journal_schema VALUES (0)")
    for migration in migrations[:3]:
        for sql in migration:
            store.execute(sql)
    store.set_version(3)
    store.execute("INSERT INTO tasks (fingerprint, state, task_id, params, cost_credits, cost_kind, created_at, "
                  "updated_at) VALUES ('fp-paid', 'success', 't-paid', '{\"api\": \"x\"}', 70, 'reported', 1.5, 2.5)")
    journal = store.open()
    assert store.version() == jr.SCHEMA_VERSION == 4
    paid = journal.by_task_id("t-paid")
    assert (paid.state, paid.params, paid.cost_credits, paid.cost_kind) == ("success", {"api": "x"}, 70.0, "reported")
    assert journal.claim("fp-paid", {}) == (paid, False)
    assert pacing.Pacer(journal, limit=1).try_acquire("x")[0] is not None
