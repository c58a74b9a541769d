"""The budget guard (budget.py): every paid create goes through it, a re-use never does.

In-process against the simulator on the suite's fast timings; each guard is the test's own (a fresh
``BudgetGuard`` is a fresh process: its session starts at zero), the day is counted from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from apikley_wan.batch.command import command
from apikley_wan.money import budget
from apikley_wan.settings import settings
from apikley_wan.record import entry as jr
from apikley_wan.__main__ import _parser
from apikley_wan.money.budget import BudgetGuard
from apikley_wan.api.client import ApikleyClient
from apikley_wan.errors import BudgetError, ConfigError, InsufficientCreditsError
from apikley_wan.run.pipeline import Pipeline
from apikley_wan.record.sqlite import Journal
from apikley_wan.money.report import PAID, REATTACHED, REUSED
from apikley_wan.run.request import GenerationRequest, Reference
from apikley_wan.settings.settings import Budget
from conftest import FAST, FAST_CLI, fast_runtime

REPO = Path(__file__).resolve().parents[1]
RUN_USD = 0.35  # 5 s at 720p: 70 credits


@pytest.fixture
def clip_url(sim, reference_clip) -> str:
    """The sample clip uploaded once: runs referring to it skip preparing and uploading."""
    return ApikleyClient(api_key="sim-key", base_url=sim.base_url).upload(reference_clip)


def _gens(sim, tmp_path, guard: BudgetGuard, key: str = "sim-key") -> Pipeline:
    client = ApikleyClient(api_key=key, base_url=sim.base_url, backoff_start_s=0.05, download_backoff_s=0.01)
    return Pipeline(client, Journal(tmp_path / "journal.sqlite"), tmp_path / "results", timings=FAST,
                    budget=guard)


def _url_request(url: str, take: int = 0) -> GenerationRequest:
    return GenerationRequest("character1 walks on the moon", "5", "720p", [Reference(url=url)], take=take)


def _uploads(sim) -> int:
    return sum(1 for _, path, *_ in sim.requests_log if path.startswith("/file-upload"))


def _balance_reads(sim) -> int:
    return sum(1 for _, path, *_ in sim.requests_log if path.endswith("/chat/credit"))


def test_a_session_cap_refuses_before_any_upload_and_says_what_and_why(sim, tmp_path, reference_clip):
    guard = BudgetGuard(Budget(session_usd=0.30))
    request = GenerationRequest("character1 walks on the moon", "5", "720p", [Reference(source=str(reference_clip))])
    with pytest.raises(BudgetError) as refused:
        asyncio.run(_gens(sim, tmp_path, guard).submit(request))
    message = refused.value.user_message()
    assert refused.value.cap == settings.BUDGET_SESSION_ENV
    for said in (settings.BUDGET_SESSION_ENV, "$0.30", "spent $0.00", "$0.35", "70 credits", "No credits were spent."):
        assert said in message, message
    assert _uploads(sim) == 0 and sim.create_requests == 0
    assert Journal(tmp_path / "journal.sqlite").recent() == []  # not even a journal row


def test_the_session_cap_counts_what_this_session_created(sim, tmp_path, clip_url):
    guard = BudgetGuard(Budget(session_usd=0.50))
    first = asyncio.run(_gens(sim, tmp_path, guard).submit(_url_request(clip_url)))
    assert first.outcome == PAID and guard.session_spent_credits == 70 and guard.reserved_credits == 0
    with pytest.raises(BudgetError, match=r"spent \$0\.35"):
        asyncio.run(_gens(sim, tmp_path, guard).submit(_url_request(clip_url, take=1)))
    assert sim.create_count == 1
    # a new process is a new session: the same journal, a fresh guard
    again = asyncio.run(_gens(sim, tmp_path, BudgetGuard(Budget(session_usd=0.50))).submit(_url_request(clip_url, 1)))
    assert again.outcome == PAID and sim.create_count == 2


def test_the_day_cap_is_counted_from_the_journal_across_a_restart(sim, tmp_path, clip_url):
    day = Budget(day_usd=0.50)
    done = asyncio.run(_gens(sim, tmp_path, BudgetGuard(day)).generate_video(_url_request(clip_url)))
    assert done.cost_credits == 70
    # a restart: a new pipeline and a new guard on the same journal still sees today's task
    with pytest.raises(BudgetError) as refused:
        asyncio.run(_gens(sim, tmp_path, BudgetGuard(day)).submit(_url_request(clip_url, take=1)))
    assert refused.value.cap == settings.BUDGET_DAY_ENV
    assert "$0.50" in str(refused.value) and "today come to $0.35" in str(refused.value)
    assert sim.create_count == 1
    # a task created yesterday does not count today
    journal = Journal(tmp_path / "journal.sqlite")
    (entry,) = journal.recent()
    journal.update(entry.id, created_at=budget.local_midnight(time.time()) - 60)
    later = asyncio.run(_gens(sim, tmp_path, BudgetGuard(day)).submit(_url_request(clip_url, take=1)))
    assert later.outcome == PAID and sim.create_count == 2


def test_the_day_count_takes_recorded_costs_else_estimates_and_skips_what_was_never_billed(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    rows = {}
    for name, state, cost, resolution in (("reported", jr.SUCCESS, 50.0, "720p"), ("pending", "generating", None, "1080p"),
                                          ("uncertain", jr.UNCERTAIN, None, "720p"), ("refused", jr.REFUSED, None, "720p"),
                                          ("failed", jr.FAIL, None, "720p")):
        entry, _ = journal.claim(name, {"duration": "5", "resolution": resolution})
        rows[name] = journal.update(entry.id, state=state, cost_credits=cost)
    journal.adopt("typedin1")  # a task typed in by id was not created by this journal
    counted = sorted(budget.row_credits(e) for e in journal.created_since(budget.local_midnight(time.time())))
    assert counted == [50.0, 70.0, 104.5]


def test_a_minimum_balance_refuses_a_create_that_would_go_below_it(sim, tmp_path, clip_url):
    sim.credits = 100
    guard = BudgetGuard(Budget(min_balance=50))
    with pytest.raises(BudgetError) as refused:
        asyncio.run(_gens(sim, tmp_path, guard).submit(_url_request(clip_url)))
    message = str(refused.value)
    assert refused.value.cap == settings.MIN_BALANCE_ENV and "50 credits" in message and "100 credits" in message
    assert "leaving 30" in message and sim.create_requests == 0
    sim.credits = 120
    assert asyncio.run(_gens(sim, tmp_path, guard).submit(_url_request(clip_url))).outcome == PAID


def test_a_minimum_balance_that_cannot_be_read_refuses_clearly(sim, tmp_path, reference_clip):
    request = GenerationRequest("character1 walks on the moon", "5", "720p", [Reference(source=str(reference_clip))])
    with pytest.raises(BudgetError) as refused:
        asyncio.run(_gens(sim, tmp_path, BudgetGuard(Budget(min_balance=10)), key="wrong-key").submit(request))
    message = str(refused.value)
    assert settings.MIN_BALANCE_ENV in message and "could not be read" in message and "No credits were spent." in message
    assert _uploads(sim) == 0 and sim.create_requests == 0


def test_a_reuse_or_reattach_is_never_blocked_even_over_every_cap(sim, tmp_path, clip_url, monkeypatch):
    done = asyncio.run(_gens(sim, tmp_path, BudgetGuard(Budget())).generate_video(_url_request(clip_url)))
    sim.task_seconds = 60
    pending = asyncio.run(_gens(sim, tmp_path, BudgetGuard(Budget())).submit(_url_request(clip_url, take=1)))
    closed = BudgetGuard(Budget(session_usd=0, day_usd=0, min_balance=1e9))
    reads = _balance_reads(sim)
    again = asyncio.run(_gens(sim, tmp_path, closed).submit(_url_request(clip_url)))
    attached = asyncio.run(_gens(sim, tmp_path, closed).submit(_url_request(clip_url, take=1)))
    assert again.outcome == REUSED and again.entry.task_id == done.task_id
    assert attached.outcome == REATTACHED and attached.entry.task_id == pending.entry.task_id
    # nor by a malformed cap in the environment: the guard is not asked
    monkeypatch.setenv(settings.BUDGET_DAY_ENV, "lots")
    env_guarded = asyncio.run(_gens(sim, tmp_path, BudgetGuard()).submit(_url_request(clip_url)))
    assert env_guarded.outcome == REUSED
    assert sim.create_count == 2 and _balance_reads(sim) == reads


@pytest.mark.parametrize("cap", [Budget(session_usd=0.50), Budget(day_usd=0.50)], ids=["session", "day"])
def test_two_concurrent_runs_with_room_for_one_create_exactly_one(sim, tmp_path, clip_url, cap):
    guard = BudgetGuard(cap)
    both_looked = threading.Barrier(2)
    early_look = guard.check

    def look_then_wait_for_the_other(*args):  # both pass submit's early look before either creates
        early_look(*args)
        both_looked.wait(timeout=5)
    guard.check = look_then_wait_for_the_other

    async def both():
        return await asyncio.gather(_gens(sim, tmp_path, guard).submit(_url_request(clip_url, take=1)),
                                    _gens(sim, tmp_path, guard).submit(_url_request(clip_url, take=2)),
                                    return_exceptions=True)
    outcomes = asyncio.run(both())
    assert sorted(type(o).__name__ for o in outcomes) == ["BudgetError", "Submission"], outcomes
    assert sim.create_count == 1 and sim.create_requests == 1
    assert guard.reserved_credits == 0 and guard.session_spent_credits == 70


def test_a_create_the_api_refuses_gives_its_reservation_back(sim, tmp_path, clip_url):
    guard = BudgetGuard(Budget(session_usd=0.50, day_usd=0.50))
    sim.credits = 10  # the API answers 402: no task
    with pytest.raises(InsufficientCreditsError):
        asyncio.run(_gens(sim, tmp_path, guard).submit(_url_request(clip_url)))
    assert guard.reserved_credits == 0 and guard.session_spent_credits == 0 and sim.create_count == 0
    sim.credits = 1000  # the room is still there for the next try
    assert asyncio.run(_gens(sim, tmp_path, guard).submit(_url_request(clip_url))).outcome == PAID
    assert guard.session_spent_credits == 70


def test_a_row_another_worker_claims_meanwhile_refuses_at_the_create(sim, tmp_path, clip_url):
    """Both looks passed; another worker of the shared journal claimed the day's room just before our row:
    the count after our row is written sees it, and nothing is sent."""
    guard = BudgetGuard(Budget(day_usd=0.50))
    gens = _gens(sim, tmp_path, guard)
    own_claim = gens.journal.claim

    def other_worker_first(fp, params):
        Journal(tmp_path / "journal.sqlite").claim("another worker's inputs", {"duration": "5", "resolution": "720p"})
        return own_claim(fp, params)
    gens.journal.claim = other_worker_first
    with pytest.raises(BudgetError, match="claimed the room first"):
        asyncio.run(gens.submit(_url_request(clip_url)))
    assert sim.create_requests == 0 and guard.reserved_credits == 0
    ours = [e for e in gens.journal.recent() if e.fingerprint != "another worker's inputs"]
    assert [e.state for e in ours] == [jr.REFUSED]  # replaceable: the next run may claim again


@pytest.mark.parametrize("name", [settings.BUDGET_SESSION_ENV, settings.BUDGET_DAY_ENV, settings.MIN_BALANCE_ENV])
@pytest.mark.parametrize("raw", ["five", "-1", "nan", "inf", "5$"])
def test_an_invalid_cap_is_a_config_error_naming_the_variable(name, raw):
    with pytest.raises(ConfigError) as bad:
        Budget.from_env({name: raw})
    assert name in str(bad.value) and raw in str(bad.value)


def test_caps_are_read_from_the_environment_and_unset_means_none(monkeypatch):
    assert Budget.from_env({}) == Budget() and not Budget().active
    assert Budget.from_env({settings.BUDGET_SESSION_ENV: " 2.5 ", settings.BUDGET_DAY_ENV: "",
                            settings.MIN_BALANCE_ENV: "0"}) == Budget(session_usd=2.5, min_balance=0.0)
    monkeypatch.setenv(settings.BUDGET_DAY_ENV, "12")
    assert BudgetGuard().budget == Budget(day_usd=12.0)


def test_an_invalid_cap_refuses_a_paid_run_before_any_upload(sim, tmp_path, reference_clip, monkeypatch):
    monkeypatch.setenv(settings.BUDGET_SESSION_ENV, "ten")
    request = GenerationRequest("character1 walks on the moon", "5", "720p", [Reference(source=str(reference_clip))])
    with pytest.raises(ConfigError, match=settings.BUDGET_SESSION_ENV):
        asyncio.run(_gens(sim, tmp_path, BudgetGuard()).submit(request))
    assert _uploads(sim) == 0 and sim.create_requests == 0


def test_a_batch_skips_for_budget_the_jobs_past_a_cap(sim, tmp_path, clip_url, state_dir, monkeypatch):
    monkeypatch.setenv("APIKLEY_BASE_URL", sim.base_url)
    monkeypatch.setenv(settings.BUDGET_DAY_ENV, "0.5")  # the process's own guard, as the command uses it
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"video_url": clip_url, "prompt": "character1 dances in the rain",
                                        "take": take, "out": str(tmp_path / f"{take}.mp4")}) + "\n" for take in (1, 2)))
    out, err = io.StringIO(), io.StringIO()

    @contextlib.contextmanager
    def endpoint():
        yield sim.base_url, "sim-key"
    args = _parser().parse_args(["batch", str(jobs), "--concurrency", "2", "--report", str(tmp_path / "r.json")])
    rc = command(args, runtime=fast_runtime(journal=Journal(tmp_path / "journal.sqlite"),
                                                  state_dir=tmp_path / "state"), out=out, err=err, endpoint=endpoint)
    report = json.loads((tmp_path / "r.json").read_text())
    assert rc == 1 and sim.create_count == 1, out.getvalue() + err.getvalue()
    assert sorted(job["state"] for job in report["jobs"]) == ["done", "skipped (budget)"]
    assert "1 skipped for budget" in out.getvalue() and settings.BUDGET_DAY_ENV in out.getvalue()


def _cli(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("APIKLEY_")}
    clean.update(APIKLEY_STATE_DIR=str(tmp_path / "state"), **env)
    return subprocess.run([sys.executable, str(FAST_CLI), "v2v", "--simulator", "--video", "samples/reference.mp4",
                           "--prompt", "character1 dances in the rain", "--out", str(tmp_path / "r.mp4")],
                          cwd=REPO, env=clean, capture_output=True, text=True, timeout=60)


def test_the_command_line_refuses_over_a_cap_in_one_line_with_exit_2(tmp_path):
    result = _cli(tmp_path, APIKLEY_BUDGET_SESSION_USD="0.2")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: Budget cap reached: the per-session cap APIKLEY_BUDGET_SESSION_USD is $0.20")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.rstrip().endswith("No credits were spent.") and "uploading" not in result.stdout
    bad = _cli(tmp_path, APIKLEY_BUDGET_DAY_USD="lots")
    assert bad.returncode == 2 and bad.stderr.startswith("error: Not configured: APIKLEY_BUDGET_DAY_USD='lots'")
