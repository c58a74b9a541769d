"""``python -m apikley_wan batch``: many jobs on one loop, paced to the API's create limit, resumable
without paying twice, checked line by line before anything is paid, within a budget, with a report.

In-process against a ``Simulator`` with its real rate limiter on (20 creates per window); the window
is shrunk to 1 s on both sides (simulator and pacer) so the suite stays fast. The pacer itself, and
several processes on one account: test_pacing.py.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import time
from pathlib import Path

import pytest

from apikley_wan.batch import batch, plan
from apikley_wan.batch.command import command
from apikley_wan.batch.progress import Progress
from apikley_wan.money import price_settings
from apikley_wan.settings import settings
from apikley_wan.__main__ import _parser
from apikley_wan.api.client import ApikleyClient
from apikley_wan.batch.jobs import load_jobs
from apikley_wan.record.sqlite import Journal
from apikley_wan.run.request import fingerprint
from apikley_wan.settings.settings import Timings
from apikley_wan.simulator import Simulator
from conftest import FAST_CLI, fast_runtime

FAST = Timings(poll_first_s=0.2, slice_s=0.05)
WINDOW_S = 1.0


@pytest.fixture
def fast_sim(state_dir, monkeypatch):
    """A simulator enforcing 20 creates per 1 s, and the client's pacer shrunk alike."""
    monkeypatch.setattr(settings, "CREATE_WINDOW_S", WINDOW_S)
    with Simulator(api_key="sim-key", task_seconds=0.5, null_seconds=0.1, credits=1e6,
                   creates_per_10s=settings.CREATES_PER_WINDOW) as sim:
        sim.rate_window.seconds = WINDOW_S
        monkeypatch.setenv("APIKLEY_BASE_URL", sim.base_url)
        yield sim


def _run(sim, journal, jobs_file: Path, *extra, endpoint=None) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    args = _parser().parse_args(["batch", str(jobs_file), *extra])

    def here():
        import contextlib

        @contextlib.contextmanager
        def ctx():
            yield sim.base_url, "sim-key"
        return ctx()
    rc = command(args, runtime=fast_runtime(journal=journal, timings=FAST), out=out, err=err,
                       endpoint=endpoint or here)
    return rc, out.getvalue(), err.getvalue()


def _url_jobs(sim, folder: Path, reference_clip: Path, count: int, name="jobs.jsonl", start_take=0) -> Path:
    if not hasattr(sim, "clip_url"):  # one upload per simulator: every job refers to the same clip
        sim.clip_url = ApikleyClient(api_key="sim-key", base_url=sim.base_url).upload(reference_clip)
    url = sim.clip_url
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"video_url": url, "prompt": "character1 dances in the rain", "duration": "5",
                         "resolution": "720p", "take": start_take + i, "out": f"out/{start_take + i}.mp4"})
             for i in range(count)]
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _answers_429(sim) -> int:
    return sum(1 for method, path, code in sim.requests_log if path.endswith("/createTask") and code == 429)


def test_40_jobs_make_exactly_40_tasks_paced_under_the_limit(fast_sim, tmp_path, reference_clip):
    jobs = _url_jobs(fast_sim, tmp_path, reference_clip, 40)
    journal = Journal(tmp_path / "journal.sqlite")
    started = time.monotonic()
    rc, out, err = _run(fast_sim, journal, jobs, "--concurrency", "40", "--report", str(tmp_path / "r.json"))
    took = time.monotonic() - started
    print(f"40 jobs, 20 creates per {WINDOW_S:g} s: {took:.2f}s, {_answers_429(fast_sim)} answers of 429")
    assert rc == 0, out + err
    assert fast_sim.create_count == 40 and len(fast_sim.tasks) == 40
    assert _answers_429(fast_sim) <= 2, fast_sim.requests_log
    assert took >= WINDOW_S  # 40 creates at 20 per window: the second 20 wait for the window
    assert all((tmp_path / "out" / f"{i}.mp4").is_file() for i in range(40))
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["totals"]["paid"] == 40 and report["totals"]["done"] == 40
    assert "40/40 done: 40 paid now (2800 credits ($14.00), " in out  # estimates (a last task alone: measured)


def test_interrupted_batch_resumes_without_paying_twice(fast_sim, tmp_path, reference_clip):
    fast_sim.task_seconds = 2.0
    jobs_file = _url_jobs(fast_sim, tmp_path, reference_clip, 40)
    journal = Journal(tmp_path / "journal.sqlite")
    jobs, problems = load_jobs(jobs_file, fast_sim.base_url)
    planned, _ = plan.plan(jobs, journal, fast_sim.base_url)
    assert not problems and len(planned) == 40
    run = batch.Batch(planned, base_url=fast_sim.base_url, api_key="sim-key",
                      runtime=fast_runtime(tmp_path / "results", journal, FAST), concurrency=4, out=io.StringIO())

    async def interrupt_after_12():
        task = asyncio.ensure_future(run.run())
        while fast_sim.create_count < 12:
            await asyncio.sleep(0.01)
        task.cancel()  # what Ctrl-C does to asyncio.run's main task
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupt_after_12())
    first = fast_sim.create_count
    print(f"interrupted after {first} tasks")
    assert 12 <= first < 40
    rows = run.rows()
    assert len(rows) == 40 and all(r.state == batch.INTERRUPTED for r in rows)
    assert sum(1 for r in rows if r.task_id) == first  # every created task is in the journal

    rc, out, err = _run(fast_sim, journal, jobs_file)
    assert rc == 0, out + err
    assert fast_sim.create_count == 40 and len(fast_sim.tasks) == 40
    assert f"{40 - first} paid now" in out and f"{first} re-attached" in out

    rc, out, err = _run(fast_sim, journal, jobs_file)
    assert rc == 0 and fast_sim.create_count == 40
    assert "0 paid now" in out and "40 re-used" in out


def test_dry_run_prints_the_estimate_and_the_reuse_count_without_network(fast_sim, tmp_path, reference_clip):
    journal = Journal(tmp_path / "journal.sqlite")
    three = _url_jobs(fast_sim, tmp_path, reference_clip, 3, name="three.jsonl")
    assert _run(fast_sim, journal, three)[0] == 0
    lines = three.read_text().splitlines()
    extra = [json.loads(lines[0]) | {"take": 7, "out": "out/7.mp4"},
             json.loads(lines[0]) | {"take": 8, "resolution": "1080p", "duration": 10, "out": "out/8.mp4"}]
    five = tmp_path / "five.jsonl"
    five.write_text("\n".join(lines + [json.dumps(e) for e in extra]) + "\n")
    seen = len(fast_sim.requests_log)

    def no_network():
        raise AssertionError("a dry run must not open the API")
    rc, out, err = _run(fast_sim, journal, five, "--dry-run", endpoint=no_network)
    assert rc == 0, err
    assert len(fast_sim.requests_log) == seen
    assert "dry run: 5 job(s): 2 new task(s) ~279.5 credits ($1.40)" in out
    assert "3 re-used" in out and out.count("re-use task") == 3
    assert "line 5: new task, ~209.5 credits ($1.05)" in out


def test_the_plan_the_progress_and_the_totals_price_by_the_table_in_force(fast_sim, state_dir, tmp_path, reference_clip):
    """The Settings price override (saved in the state folder) prices a batch like everything else: the dry
    run's estimates, --max-usd, and the dollars of what was paid."""
    price_settings.save({"override": "5/720p=60; usd=0.01"}, state_dir)
    journal = Journal(tmp_path / "journal.sqlite")
    two = _url_jobs(fast_sim, tmp_path, reference_clip, 2)
    rc, out, err = _run(fast_sim, journal, two, "--dry-run", "--max-usd", "0.60")
    assert rc == 0, err
    assert "line 1: new task, ~60 credits ($0.60)" in out and "1 new task(s) ~60 credits ($0.60)" in out
    assert "skipped for budget (would be a new task, ~60 credits ($0.60))" in out
    rc, out, err = _run(fast_sim, journal, two)
    assert rc == 0, err
    assert "2 paid now (120 credits ($1.20), estimate)" in out, out  # two at once: not measured


def test_bad_lines_are_reported_by_line_before_anything_is_paid(fast_sim, tmp_path, reference_clip):
    shutil.copy(reference_clip, tmp_path / "clip.mp4")
    good = {"video": "clip.mp4", "prompt": "character1 dances", "duration": "5", "resolution": "720p"}
    lines = [json.dumps(good | {"out": "a.mp4"}),
             json.dumps(good | {"video": "missing.mp4", "out": "b.mp4"}),
             "",
             json.dumps(good | {"resolution": "4k", "out": "c.mp4"}),
             json.dumps(good | {"prompt": "x", "out": "d.mp4"}),
             json.dumps(good | {"colour": "red", "out": "e.mp4"}),
             '{"video": "clip.mp4", "prompt": ',
             json.dumps(good | {"take": 1, "out": "g.mp4"})]
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("\n".join(lines) + "\n")
    journal = Journal(tmp_path / "journal.sqlite")
    rc, out, err = _run(fast_sim, journal, jobs)
    assert rc == 2 and "Traceback" not in err
    assert fast_sim.create_count == 0 and not fast_sim.requests_log
    for line, words in ((2, "missing.mp4"), (4, "unknown resolution '4k'"), (5, "prompt must be"),
                        (6, "unknown column(s) 'colour'"), (7, "not valid JSON")):
        assert f"line {line}: " in err and words in err.split(f"line {line}: ", 1)[1].splitlines()[0], err
    assert "line 1:" not in err and "line 8:" not in err and "nothing was sent or paid" in err

    rc, out, err = _run(fast_sim, journal, jobs, "--skip-invalid", "--report", str(tmp_path / "r.json"))
    assert rc == 1  # not every line is done
    assert fast_sim.create_count == 2 and (tmp_path / "a.mp4").is_file() and (tmp_path / "g.mp4").is_file()
    report = json.loads((tmp_path / "r.json").read_text())
    states = {row["line"]: row["state"] for row in report["jobs"]}
    assert states == {1: "done", 2: "invalid", 4: "invalid", 5: "invalid", 6: "invalid", 7: "invalid", 8: "done"}


def test_max_usd_starts_no_paid_work_past_the_budget(fast_sim, tmp_path, reference_clip):
    journal = Journal(tmp_path / "journal.sqlite")
    one = _url_jobs(fast_sim, tmp_path, reference_clip, 1, name="one.jsonl")
    assert _run(fast_sim, journal, one)[0] == 0  # take 0 is paid for already: re-used at no cost
    jobs = _url_jobs(fast_sim, tmp_path, reference_clip, 5)  # takes 0..4, $0.35 each when new
    rc, out, err = _run(fast_sim, journal, jobs, "--max-usd", "1.0", "--report", str(tmp_path / "r.json"))
    assert rc == 1, err
    assert fast_sim.create_count == 1 + 2  # $0.70 of new work fits under $1.00, a third would not
    rows = {r["line"]: r for r in json.loads((tmp_path / "r.json").read_text())["jobs"]}
    assert [rows[i]["state"] for i in range(1, 6)] == ["done", "done", "done", "skipped (budget)",
                                                        "skipped (budget)"]
    assert rows[1]["outcome"] == "reused" and rows[1]["charged"] is False
    assert rows[4]["task_id"] is None and "--max-usd" in rows[4]["error"]
    assert "2 paid now (140 credits ($0.70), " in out and "2 skipped for budget" in out


def test_a_job_another_run_is_creating_is_waited_for_and_counts_against_max_usd(fast_sim, tmp_path, reference_clip):
    """The journal's verdict WAIT_FOR_CREATOR: no new charge unless that other create is refused, and then this
    run creates, so --max-usd keeps room for it."""
    journal = Journal(tmp_path / "journal.sqlite")
    jobs_file = _url_jobs(fast_sim, tmp_path, reference_clip, 3)
    jobs, _ = load_jobs(jobs_file, fast_sim.base_url)
    journal.claim(fingerprint(jobs[0].request, fast_sim.base_url)[0], {})  # a live run is creating line 1's task
    rc, out, err = _run(fast_sim, journal, jobs_file, "--dry-run", "--max-usd", "0.70")
    assert rc == 0, err
    assert ("line 1: another run is creating this task now: waits for it (no new charge unless that create is "
            "refused, then a new task, ~70 credits ($0.35))") in out
    assert "line 2: new task, ~70 credits ($0.35)" in out and "line 3: skipped for budget" in out
    assert "1 new task(s) ~70 credits ($0.35)" in out and "1 being created by another run (waited for)" in out
    assert fast_sim.create_requests == 0


def test_report_has_every_job_with_task_outcome_cost_and_output(fast_sim, tmp_path, reference_clip):
    journal = Journal(tmp_path / "journal.sqlite")
    jobs = _url_jobs(fast_sim, tmp_path, reference_clip, 2)
    fast_sim.faults.fail_tasks = False
    rc, out, err = _run(fast_sim, journal, jobs, "--report", str(tmp_path / "rep" / "r.json"))
    assert rc == 0
    report = json.loads((tmp_path / "rep" / "r.json").read_text())
    assert report["jobs_file"] == str(jobs) and report["totals"]["paid_credits"] == 140
    first = report["jobs"][0]
    assert set(first) >= {"line", "state", "task_id", "outcome", "cost_credits", "cost_usd", "cost_kind", "output",
                          "error"}
    assert first["line"] == 1 and first["state"] == "done" and first["task_id"] in fast_sim.tasks
    assert first["outcome"] == "paid" and first["cost_credits"] == 70 and first["cost_usd"] == 0.35
    assert first["cost_kind"] in ("reported", "measured", "estimate") and first["error"] is None
    assert first["output"] == str(tmp_path / "out" / "0.mp4")


def test_a_failed_task_is_a_failed_job_not_a_crash(fast_sim, tmp_path, reference_clip):
    journal = Journal(tmp_path / "journal.sqlite")
    jobs = _url_jobs(fast_sim, tmp_path, reference_clip, 2)
    fast_sim.faults.fail_tasks = True
    rc, out, err = _run(fast_sim, journal, jobs, "--report", str(tmp_path / "r.json"))
    assert rc == 1 and "Traceback" not in out + err
    rows = json.loads((tmp_path / "r.json").read_text())["jobs"]
    assert all(r["state"] == "failed" and r["task_id"] and r["error"] for r in rows)


def test_csv_jobs_with_a_local_clip(fast_sim, tmp_path, reference_clip):
    folder = tmp_path / "shoot"
    folder.mkdir()
    shutil.copy(reference_clip, folder / "clip.mp4")
    jobs = folder / "jobs.csv"
    jobs.write_text('video,prompt,duration,resolution,out,take\n'
                    'clip.mp4,"character1 dances, then bows",5,720p,renders/a.mp4,\n'
                    'clip.mp4,character1 runs,5,1080p,renders/b.mp4,2\n')
    journal = Journal(tmp_path / "journal.sqlite")
    rc, out, err = _run(fast_sim, journal, jobs, "--dry-run")
    assert rc == 0 and "2 new task(s) ~174.5 credits ($0.87)" in out, out + err
    rc, out, err = _run(fast_sim, journal, jobs)
    assert rc == 0, out + err
    assert (folder / "renders" / "a.mp4").is_file() and (folder / "renders" / "b.mp4").is_file()
    prompts = sorted(t.input["prompt"] for t in fast_sim.tasks.values())
    assert prompts == ["character1 dances, then bows", "character1 runs"]
    # the same clip and settings via v2v's path share the journal entry: sniffed without the .csv suffix too
    sniffed = folder / "jobs.txt"
    sniffed.write_text(jobs.read_text())
    rc, out, err = _run(fast_sim, journal, sniffed)
    assert rc == 0 and fast_sim.create_count == 2 and "2 re-used" in out


def test_ctrl_c_on_the_real_command_then_run_again_pays_each_task_once(sim, state_dir, tmp_path, reference_clip):
    import os
    import signal
    import subprocess
    import sys
    repo = Path(__file__).resolve().parents[1]
    jobs = _url_jobs(sim, tmp_path, reference_clip, 6)
    sim.task_seconds = 60
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIKLEY_")}
    env.update(APIKLEY_STATE_DIR=str(state_dir), APIKLEY_BASE_URL=sim.base_url, APIKLEY_API_KEY="sim-key")
    cmd = [sys.executable, str(FAST_CLI), "batch", str(jobs), "--concurrency", "2"]
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while sim.create_count < 3 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "nothing is paid twice" in stderr and "interrupted" in stdout
    first = sim.create_count
    sim.task_seconds = 0.3
    again = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sim.create_count == 6 and f"{first} re-attached" in again.stdout
    assert all((tmp_path / "out" / f"{i}.mp4").is_file() for i in range(6))


def test_live_line_on_a_terminal_and_plain_lines_otherwise():
    class Tty(io.StringIO):
        def isatty(self):
            return True
    tty = Tty()
    progress = Progress(40, 40, tty, tty=True)
    progress.done, progress.running, progress.failed, progress.credits = 12, 8, 1, 840.0
    progress.event("line 3: done")
    text = tty.getvalue()
    assert text.startswith("\r\x1b[K") and "line 3: done\n" in text
    assert "batch: 12/40 done, 8 running, 1 failed · 840 credits ($4.20) spent · ETA ~" in text
    plain = io.StringIO()
    Progress(40, 40, plain, tty=False).event("line 3: done")
    assert plain.getvalue() == "[0/40] line 3: done\n"
