"""Issue 16, items 1, 2 and 4, against the hostile stand-in (tests/hostile_api.py) through the command line:
an ``out`` never destroys an input or a file that is not its task's result; an abandoned create keeps
counting for the day cap; a NaN, infinite or negative balance or cap is never a pass.

Each test counts the createTask requests that reached the stand-in.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from apikley_wan.money import budget
from apikley_wan.settings import settings
from apikley_wan.record import entry as jr
from apikley_wan.record.sqlite import Journal
from hostile_api import SAMPLE, TASK_ID
import test_hostile_api
from test_hostile_api import PROMPT, run_cli, v2v

api, env = test_hostile_api.api, test_hostile_api.env  # its fixtures: the stand-in, the command line pointed at it

CREATE = ("POST", "/api/v1/jobs/createTask")
RESULT = ("GET", "/files/result.mp4")
ONE_TASK_USD = "0.35"  # 5 s at 720p: 70 credits, the price of one task


def _tasks_of_their_own(api) -> list:
    """Every create makes a task with a new id (the stand-in's default answers one id for all)."""
    made: list = []

    def create(h):
        made.append(f"{TASK_ID[:-4]}{len(made):04d}")
        h.json({"code": 200, "data": {"taskId": made[-1]}})

    def record(h):
        task = parse_qs(urlsplit(h.path).query)["taskId"][0]
        h.json({"code": 200, "data": {"taskId": task, "state": "success", "resultJson": json.dumps(
            {"resultUrls": [api.base_url + "/files/result.mp4"]})}})
    api.on(*CREATE, create)
    api.on("GET", "/api/v1/jobs/recordInfo", record)
    return made


def _clip(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / "clip.mp4"
    shutil.copyfile(SAMPLE, clip)
    return clip


def _jobs(folder: Path, out: str, **more) -> Path:
    jobs = folder / "jobs.jsonl"
    jobs.write_text(json.dumps({"video": "clip.mp4", "prompt": PROMPT, "out": out, **more}) + "\n")
    return jobs


# -- 1. an out never overwrites an input, nor a file that is not this task's result ----------------------
@pytest.mark.parametrize("out", ["clip.mp4", "sub/../clip.mp4", "hardlink.mp4"])
def test_a_batch_out_that_is_its_own_input_clip_is_refused_and_no_resume_pays(api, env, tmp_path, capsys, out):
    _tasks_of_their_own(api)
    clip = _clip(tmp_path / "work")
    if out == "hardlink.mp4":
        os.link(clip, tmp_path / "work" / out)
    jobs = _jobs(tmp_path / "work", out)
    for _ in range(3):  # the first run and two resumes
        code, text = run_cli(capsys, "batch", str(jobs))
        assert code == 2 and "is the video of line 1: writing it would overwrite it" in text, text
        assert "nothing was sent or paid" in text
    print(f"out {out!r} = its own clip: {api.count(*CREATE)} creates in 3 runs")
    assert api.count(*CREATE) == 0  # before: 3 creates, the clip destroyed by the first
    assert clip.read_bytes() == SAMPLE.read_bytes()


def test_a_batch_out_that_is_the_jobs_file_is_refused_before_paying(api, env, tmp_path, capsys):
    _clip(tmp_path / "work")
    jobs = _jobs(tmp_path / "work", "jobs.jsonl")
    before = jobs.read_bytes()
    code, text = run_cli(capsys, "batch", str(jobs))
    assert code == 2 and "is the jobs file itself" in text, text
    assert api.count(*CREATE) == 0 and jobs.read_bytes() == before  # before: 1 create, the jobs file an mp4


@pytest.mark.parametrize("report", ["jobs.jsonl", "clip.mp4", "out.mp4"])
def test_a_batch_report_never_replaces_the_jobs_file_a_clip_or_an_out(api, env, tmp_path, capsys, report):
    _clip(tmp_path / "work")
    jobs = _jobs(tmp_path / "work", "out.mp4")
    before = jobs.read_bytes()
    code, text = run_cli(capsys, "batch", str(jobs), "--report", str(tmp_path / "work" / report))
    assert code == 2 and "--report" in text and "nothing was sent or paid" in text, text
    assert api.count(*CREATE) == 0 and jobs.read_bytes() == before  # before: the report replaced the jobs file


def test_a_batch_out_holding_another_file_is_refused_unless_overwrite_and_its_own_result_is_replaced(
        api, env, tmp_path, capsys):
    _tasks_of_their_own(api)
    _clip(tmp_path / "work")
    notes = tmp_path / "work" / "notes.mp4"
    notes.write_bytes(b"the user's own file")
    jobs = _jobs(tmp_path / "work", "notes.mp4")
    code, text = run_cli(capsys, "batch", str(jobs), "--dry-run")
    assert code == 2 and "already exists and is not a result of these inputs" in text and "--overwrite" in text
    code, text = run_cli(capsys, "batch", str(jobs))
    assert code == 2 and api.count(*CREATE) == 0 and notes.read_bytes() == b"the user's own file"
    code, text = run_cli(capsys, "batch", str(jobs), "--overwrite")
    assert code == 0 and api.count(*CREATE) == 1, text
    assert notes.read_bytes()[4:8] == b"ftyp"
    code, text = run_cli(capsys, "batch", str(jobs))  # its own earlier result: re-used and copied again
    assert code == 0 and api.count(*CREATE) == 1 and "1 re-used" in text, text


def test_v2v_out_that_is_its_own_reference_clip_is_refused_before_paying(api, env, tmp_path, capsys):
    clip = _clip(tmp_path / "work")
    for _ in range(2):
        code, text = run_cli(capsys, "v2v", "--video", str(clip), "--prompt", PROMPT, "--out", str(clip))
        assert code == 2 and "is the --video" in text and "Nothing was sent or paid." in text, text
    assert api.count(*CREATE) == 0 and clip.read_bytes() == SAMPLE.read_bytes()  # before: 2 creates


@pytest.mark.parametrize("victim", ["notes", "journal"])
def test_v2v_never_overwrites_a_file_that_is_not_its_result_unless_overwrite(api, env, tmp_path, capsys, victim):
    if victim == "journal":
        Journal(env / "journal.sqlite").recent()  # the journal file exists
        out = env / "journal.sqlite"
    else:
        out = tmp_path / "notes.mp4"
        out.write_bytes(b"the user's own file")
    before = out.read_bytes()
    code, text = v2v(capsys, out)
    assert code == 2 and "already exists and is not a result of these inputs" in text, text
    assert "--overwrite" in text and "Nothing was sent or paid." in text
    assert api.count(*CREATE) == 0 and out.read_bytes() == before  # before: 1 create, the file replaced
    if victim == "notes":
        assert v2v(capsys, out, "--overwrite")[0] == 0 and api.count(*CREATE) == 1
        code, text = v2v(capsys, out)  # this task's own earlier result: replaced without asking
        assert code == 0 and api.count(*CREATE) == 1 and "Re-used" in text, text


def test_collect_never_overwrites_a_file_that_is_not_the_tasks_result(api, env, tmp_path, capsys):
    notes = tmp_path / "notes.mp4"
    notes.write_bytes(b"the user's own file")
    code, text = run_cli(capsys, "collect", TASK_ID, "--out", str(notes))
    assert code == 2 and f"is not the result of task {TASK_ID}" in text, text
    assert api.count(*RESULT) == 0 and notes.read_bytes() == b"the user's own file"
    out = tmp_path / "result.mp4"
    assert run_cli(capsys, "collect", TASK_ID, "--out", str(out))[0] == 0
    assert run_cli(capsys, "collect", TASK_ID, "--out", str(out))[0] == 0  # its own result
    code, text = run_cli(capsys, "collect", "--from-file", str(out), "--out", str(out))
    assert code == 2 and "is the --from-file video" in text
    assert api.count(*CREATE) == 0


def test_a_file_that_appears_at_out_while_the_task_runs_is_kept_and_the_paid_result_is_not_lost(
        api, env, tmp_path, capsys):
    out = tmp_path / "out.mp4"

    def create_while_the_user_saves_something_there(h):
        out.write_bytes(b"saved by another program meanwhile")
        h.json({"code": 200, "data": {"taskId": TASK_ID}})
    api.on(*CREATE, create_while_the_user_saves_something_there)
    code, text = v2v(capsys, out)
    assert code == 2 and "The paid result is kept at" in text and f"Task id: {TASK_ID}" in text, text
    assert out.read_bytes() == b"saved by another program meanwhile"
    api.on(*CREATE, lambda h: h.json({"code": 200, "data": {"taskId": TASK_ID}}))
    code, text = v2v(capsys, out, "--overwrite")
    assert code == 0 and api.count(*CREATE) == 1 and out.read_bytes()[4:8] == b"ftyp", text


# -- 2. an abandoned (or uncertain) create keeps counting for its day ------------------------------------
def test_an_abandoned_create_still_counts_for_the_day_cap(api, env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(settings.BUDGET_DAY_ENV, ONE_TASK_USD)
    api.on(*CREATE, lambda h: h.hang_up())  # the create's answer is lost: a task may exist
    assert v2v(capsys, tmp_path / "a.mp4")[0] == 2
    code, text = v2v(capsys, tmp_path / "b.mp4", "--take", "1")  # uncertain: counted
    assert code == 2 and "per-day cap" in text and api.count(*CREATE) == 1, text
    entry = Journal(env / "journal.sqlite").recent()[0]
    assert run_cli(capsys, "abandon", str(entry.id))[0] == 0
    api.on(*CREATE, lambda h: h.json({"code": 200, "data": {"taskId": TASK_ID}}))
    code, text = v2v(capsys, tmp_path / "a.mp4")
    print(f"day cap of one task: {api.count(*CREATE)} create(s) after an abandon")
    assert code == 2 and "per-day cap APIKLEY_BUDGET_DAY_USD is $0.35" in text, text
    assert "today come to $0.35" in text and api.count(*CREATE) == 1  # before: a 2nd create under the cap


def test_the_day_count_holds_abandoned_and_uncertain_rows_at_their_estimate(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    for name, resolution in (("uncertain", "720p"), ("abandoned", "1080p")):
        entry, _ = journal.claim(name, {"duration": "5", "resolution": resolution})
        journal.update(entry.id, state=jr.UNCERTAIN)
    journal.abandon(journal.by_fingerprint("abandoned"))
    counted = sorted(budget.row_credits(e) for e in journal.created_since(budget.local_midnight(time.time())))
    assert counted == [70.0, 104.5]


# -- 4. a balance or cap that is not a finite number >= 0 -----------------------------------------------
@pytest.mark.parametrize("balance", [float("nan"), float("inf"), "Infinity", "NaN", -5])
def test_a_balance_that_is_not_a_finite_number_at_least_zero_cannot_be_read(api, env, tmp_path, capsys, monkeypatch,
                                                                            balance):
    monkeypatch.setenv(settings.MIN_BALANCE_ENV, "10")
    api.on("GET", "/api/v1/chat/credit", lambda h: h.json({"code": 200, "data": balance}))
    code, text = v2v(capsys, tmp_path / "out.mp4")
    assert code == 2 and "the account balance could not be read" in text, text
    assert "is not a number of credits >= 0" in text and settings.MIN_BALANCE_ENV in text
    assert api.count(*CREATE) == 0  # before: NaN and infinity passed the minimum balance (1 create)
    code, text = run_cli(capsys, "credits")
    assert code == 2 and "is not a number of credits >= 0" in text, text  # before: {"credits": NaN}


@pytest.mark.parametrize("cap", ["nan", "inf", "-Infinity", "-1"])
def test_batch_max_usd_that_is_not_a_finite_number_at_least_zero_is_refused(api, env, tmp_path, capsys, cap):
    _clip(tmp_path / "work")
    jobs = _jobs(tmp_path / "work", "out.mp4")
    with pytest.raises(SystemExit) as refused:
        run_cli(capsys, "batch", str(jobs), f"--max-usd={cap}")
    text = capsys.readouterr().err
    assert refused.value.code == 2 and "argument --max-usd" in text and "nothing was sent or paid" in text, text
    assert api.count(*CREATE) == 0  # before: nan and inf were no cap (1 create)


@pytest.mark.parametrize("where", ["env", "budget.json"])
@pytest.mark.parametrize("cap", ["nan", "Infinity", "-1"])
def test_a_cap_that_is_not_a_finite_number_at_least_zero_is_refused_naming_it(api, env, tmp_path, capsys, monkeypatch,
                                                                              where, cap):
    if where == "env":
        monkeypatch.setenv(settings.BUDGET_DAY_ENV, cap)
    else:
        env.mkdir(parents=True, exist_ok=True)
        (env / "budget.json").write_text(json.dumps({"day_usd": cap}))
    code, text = v2v(capsys, tmp_path / "out.mp4")
    assert code == 2 and api.count(*CREATE) == 0, text
    assert (settings.BUDGET_DAY_ENV if where == "env" else "budget.json") in text and cap in text, text
