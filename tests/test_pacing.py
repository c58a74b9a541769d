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
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apikley_wan import pacing
from apikley_wan.client import ApikleyClient, Cancel
from apikley_wan.errors import CancelledError
from apikley_wan.journal import Journal
from apikley_wan.simulator import Simulator
from test_journal_contract import make_store

REPO = Path(__file__).resolve().parents[1]
WINDOW_S = 3.0   # long enough to outlast one batch's end and the next one's start
LIMIT = 20       # the API's documented creates per window
JOBS = 25        # per batch: more than one window's worth

# the real command line, with the create window shrunk like the simulator's (test code, not a switch)
CHILD = ("import sys; from apikley_wan import settings; settings.CREATE_WINDOW_S = float(sys.argv[1]); "
         "from apikley_wan.__main__ import main; sys.exit(main(sys.argv[2:]))")


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
               APIKLEY_TEST_TIMINGS="fast", PYTHONPATH=str(REPO))
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
