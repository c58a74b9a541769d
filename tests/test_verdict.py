"""One verdict (``journal.verdict``): what a run does with the newest journal entry of its inputs.

The table below is written out by hand, state by state, and every journal state x heartbeat liveness x
result-file presence is checked against it. Then the same real journal row, in each state, is put to the
estimate route's core (``estimate.reuse``), the batch plan and the pipeline (``Pipeline.submit`` on the
simulator): all three must say what the verdict says, each in its own words.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from apikley_wan.batch import plan
from apikley_wan.run import estimate
from apikley_wan.record import entry as jr
from apikley_wan.api.client import ApikleyClient
from apikley_wan.errors import CreateUncertainError
from apikley_wan.run.pipeline import Pipeline
from apikley_wan.batch.jobs import Job
from apikley_wan.record.entry import Decision, JournalEntry
from apikley_wan.record.sqlite import Journal
from apikley_wan.money.report import PAID, REATTACHED, REUSED
from apikley_wan.run.request import GenerationRequest, Reference, fingerprint
from apikley_wan.settings.settings import TIMINGS
from conftest import FAST

NOW = 1_000_000.0  # far from the real clock: a verdict that read the clock instead of ``now`` would differ
STALE_S = TIMINGS.stale_s
FUTURE_STATE = "a state of a later release"

# heartbeat_at of a row, by its writer's liveness at NOW
LIVENESS = {"fresh": NOW - 1.0, "stale": NOW - STALE_S - 1.0, "none": None}

C, R, A, W, U = Decision.CREATE, Decision.REUSE, Decision.ATTACH, Decision.WAIT_FOR_CREATOR, Decision.UNCERTAIN
# state, task id recorded?, decision when the writer's heartbeat is fresh / stale / missing
TABLE = [
    (jr.CREATING, False, W, U, U),     # a live run is creating it: wait; its writer gone: a lost answer
    (jr.UNCERTAIN, False, U, U, U),    # the create's answer was lost: never re-sent
    (jr.REFUSED, False, C, C, C),      # the API proved no task was made
    (jr.ABANDONED, False, C, C, C),    # the user gave the lost create up
    (jr.FAIL, True, C, C, C),          # failed on the provider, unbilled
    (jr.SUCCESS, True, R, R, R),       # finished: re-used
    ("waiting", True, A, A, A),
    ("queuing", True, A, A, A),
    ("generating", True, A, A, A),
    (jr.NOT_FOUND, True, A, A, A),     # a typed-in id: polled again, never replaced
    (FUTURE_STATE, True, A, A, A),     # a task id is never replaced, whatever its state
    (FUTURE_STATE, False, U, U, U),    # no id and not understood: never paid for twice
]
PAYS = {C: True, R: False, A: False, W: None, U: None}


def _entry(state: str, has_task_id: bool, heartbeat_at) -> JournalEntry:
    return JournalEntry(id=7, fingerprint="fp", state=state, task_id="t-7" if has_task_id else None, params={},
                        result_url=None, result_path="/out/wan26_v2v_t-7.mp4" if state == jr.SUCCESS else None,
                        cost_credits=None, error=None, owner="host:1", created_at=NOW - 60, updated_at=NOW - 60,
                        task_created_at=None, finished_at=None, heartbeat_at=heartbeat_at)


@pytest.mark.parametrize("on_disk", [True, False], ids=["file on disk", "file missing"])
@pytest.mark.parametrize("liveness", list(LIVENESS))
@pytest.mark.parametrize("state, has_id, fresh, stale, none", TABLE,
                         ids=[f"{row[0]}{'' if row[1] else ' (no task id)'}" for row in TABLE])
def test_every_state_liveness_and_result_file_has_one_verdict(state, has_id, fresh, stale, none, liveness, on_disk):
    entry = _entry(state, has_id, LIVENESS[liveness])
    found = jr.verdict(entry, NOW, stale_s=STALE_S, result_on_disk=on_disk)
    expected = {"fresh": fresh, "stale": stale, "none": none}[liveness]
    assert found.decision is expected and found.entry is entry
    assert found.pays is PAYS[expected]
    assert found.download is (expected is R and not on_disk)  # a missing result is fetched again, free


def test_no_entry_is_a_create():
    assert jr.verdict(None, NOW, stale_s=STALE_S).decision is C
    assert jr.verdict(None, NOW, stale_s=STALE_S, result_on_disk=True).pays is True


def test_abandon_accepts_exactly_the_uncertain_verdicts(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite", clock=lambda: NOW)  # the journal asks its own clock
    for state, has_id, *by_liveness in TABLE:
        for heartbeat_at, expected in zip(LIVENESS.values(), by_liveness):
            entry = _entry(state, has_id, heartbeat_at)
            assert journal.verdict(entry).decision is expected, (state, heartbeat_at)
            assert journal.abandonable(entry) is (expected is U), (state, heartbeat_at)


# -- the same row, asked by the estimate route, the batch plan and the pipeline -----------------------------
# each caller's words for each verdict: estimate.reuse, the batch plan's kind, what the pipeline's submit does
WORDS = {C: (False, plan.NEW, PAID), R: (True, plan.REUSE, REUSED), A: (True, plan.ATTACH, REATTACHED),
         W: (None, plan.WAIT, "waited, then " + REATTACHED), U: (None, plan.UNCERTAIN, "stopped, not sent")}
ROWS = ["creating (live)", "creating (writer gone)", jr.UNCERTAIN, jr.REFUSED, jr.ABANDONED, jr.FAIL, jr.SUCCESS,
        "waiting", "queuing", "generating", jr.NOT_FOUND]


def _row(journal: Journal, fp: str, name: str) -> JournalEntry:
    """A real journal row for ``fp`` in the state ``name``, written as the pipeline writes it."""
    entry, _ = journal.claim(fp, {"prompt": "character1 walks on the moon", "duration": "5", "resolution": "720p"})
    if name == "creating (live)":
        return entry  # this process's heartbeat keeps it fresh
    if name == "creating (writer gone)":
        journal.release(entry.id)
        return journal.update(entry.id, heartbeat_at=time.time() - journal.timings.stale_s - 60)
    if name in (jr.UNCERTAIN, jr.REFUSED, jr.ABANDONED):
        return journal.update(entry.id, state=name)
    entry = journal.record_task_id(entry.id, f"t-{name.replace(' ', '-')}")
    return journal.update(entry.id, state=name)


async def _pipeline_says(gens: Pipeline, request: GenerationRequest, journal: Journal, row: JournalEntry) -> str:
    """What the pipeline's submit does with the row; a live creator records its task id while it waits."""
    async def creator_records_its_id():
        await asyncio.sleep(0.3)
        await asyncio.to_thread(journal.record_task_id, row.id, "t-by-the-creator")

    creator = asyncio.ensure_future(creator_records_its_id()) if row.state == jr.CREATING and journal.owner_alive(row) else None
    try:
        submitted = await gens.submit(request)
    except CreateUncertainError:
        return "stopped, not sent"
    if creator is None:
        return submitted.outcome
    assert creator.done() and submitted.entry.task_id == "t-by-the-creator"  # it waited for the creator's id
    return "waited, then " + submitted.outcome


@pytest.mark.parametrize("name", ROWS)
def test_the_estimate_the_batch_plan_and_the_pipeline_agree_on_the_same_row(name, sim, tmp_path, reference_clip):
    request = GenerationRequest("character1 walks on the moon", "5", "720p", [Reference(source=str(reference_clip))])
    journal = Journal(tmp_path / "journal.sqlite")
    row = _row(journal, fingerprint(request, sim.base_url)[0], name)
    decision = journal.verdict(row).decision

    reuse = estimate.reuse(journal, request, sim.base_url)
    (planned,), problems = plan.plan([Job(1, request, tmp_path / "out.mp4")], journal, sim.base_url)
    gens = Pipeline(ApikleyClient(api_key="sim-key", base_url=sim.base_url, backoff_start_s=0.05), journal,
                    tmp_path / "results", timings=FAST)
    pipeline = asyncio.run(_pipeline_says(gens, request, journal, row))

    assert not problems and (reuse, planned.kind, pipeline) == WORDS[decision], name
    assert sim.create_requests == (1 if decision is C else 0)  # only a create verdict sends one
