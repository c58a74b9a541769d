"""Issue 16, the create: what is fingerprinted is what is sent, a task id the journal already holds,
nothing left 'creating' when nothing was sent, a provider that answers 429 but creates anyway, and text
that cannot be sent. Against the hostile stand-in (tests/hostile_api.py), through the command line;
creates are counted in the stand-in's request record.
"""

# ruff: noqa: F811 - the stand-in's fixtures (api, env) come from test_hostile_api and are taken as arguments

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import replace

import pytest

from apikley_wan.record import entry as jr
from apikley_wan.record.sqlite import Journal
from conftest import REPO, wait_until
from timings import BEAT, FAST
from hostile_api import SAMPLE, TASK_ID
from test_hostile_api import KEY, PROMPT, api, env, run_cli, v2v  # noqa: F401

CREATE = ("POST", "/api/v1/jobs/createTask")


def _rows(state_dir) -> list:
    return Journal(state_dir / "journal.sqlite").recent()


def _a_new_task_per_create(api) -> None:
    """A healthy provider: every create makes a task of its own (the stand-in's default answers one id)."""
    api.on(*CREATE, lambda h: h.json({"code": 200, "data": {"taskId": uuid.uuid4().hex}}))


# -- 3. the fingerprint is made of what is sent -------------------------------------------------------
def test_prompts_differing_only_by_surrounding_whitespace_are_one_paid_task(api, env, tmp_path, capsys):
    _a_new_task_per_create(api)
    outcomes = []
    for i, prompt in enumerate((PROMPT, PROMPT + "\n", "  " + PROMPT + " \n\n")):
        code, text = run_cli(capsys, "v2v", "--video", str(SAMPLE), "--prompt", prompt, "--duration", "5",
                             "--resolution", "720p", "--out", str(tmp_path / f"o{i}.mp4"))
        assert code == 0, text
        outcomes.append(text)
    assert api.count(*CREATE) == 1  # was 3: one identical create body each time
    assert "Re-used" in outcomes[1] and "Re-used" in outcomes[2]
    sent = {json.loads(b)["input"]["prompt"] for m, p, _, b in api.requests if (m, p) == CREATE}
    assert sent == {PROMPT} and _rows(env)[0].params["prompt"] == PROMPT


# -- 7. a task id this journal already holds for other inputs ----------------------------------------
def test_a_task_id_the_journal_holds_for_other_inputs_is_its_own_error_and_stays_uncertain(
        api, env, tmp_path, capsys):
    assert v2v(capsys, tmp_path / "first.mp4")[0] == 0  # the stand-in answers the same id to every create
    other = ("v2v", "--video", str(SAMPLE), "--prompt", "character1 walks in the snow", "--duration", "5",
             "--resolution", "720p", "--out", str(tmp_path / "second.mp4"))
    code, text = run_cli(capsys, *other)
    assert code == 2
    assert "API answered a task id this journal already holds for other inputs" in text
    assert TASK_ID in text and "Credits may have been spent" in text
    assert "move it aside" not in text and "damaged" not in text
    newest, first = _rows(env)
    assert newest.state == jr.UNCERTAIN and newest.task_id is None
    assert first.state == jr.SUCCESS and first.task_id == TASK_ID  # the paid task keeps its entry
    code, text = run_cli(capsys, *other)  # the same inputs again: not re-sent
    assert code == 2 and "NOT sent again" in text
    assert api.count(*CREATE) == 2


# -- 8. nothing sent: the row is released ---------------------------------------------------------------
def test_a_balance_answer_of_another_shape_leaves_no_row_creating(api, env, tmp_path, capsys):
    api.on("GET", "/api/v1/chat/credit", lambda h: h.json({"code": 200, "data": {"credits": 100}}))
    try:
        v2v(capsys, tmp_path / "out.mp4")
    except TypeError:
        pass  # the pipeline's own balance read does not know this shape; what matters is the journal
    if api.count(*CREATE) == 0:
        assert [e.state for e in _rows(env)] in ([], [jr.REFUSED])
    api.on("GET", "/api/v1/chat/credit", lambda h: h.json({"code": 200, "data": 100}))
    code, text = v2v(capsys, tmp_path / "out.mp4")
    assert code == 0, text
    assert "earlier run" not in text and api.count(*CREATE) == 1


@pytest.mark.parametrize("invisible", ["\u200b", "\u00a0", "\x7f"])
def test_an_env_key_with_an_invisible_character_is_refused_before_any_request(
        invisible, api, env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("APIKLEY_API_KEY", KEY[:10] + invisible + KEY[10:])
    for _ in range(2):
        code, text = run_cli(capsys, "v2v", "--video-url", api.base_url + "/files/clip.mp4", "--prompt", PROMPT,
                             "--out", str(tmp_path / "out.mp4"))
        assert code == 2 and "APIKLEY_API_KEY" in text and "invisible" in text, text
        assert "No credits were spent" in text and "earlier run" not in text
    assert api.requests == []
    assert all(e.state == jr.REFUSED for e in _rows(env))


# -- 9. a provider that answers 429 and creates anyway ---------------------------------------------------
def test_a_provider_answering_429_gets_a_bounded_number_of_creates_and_the_user_is_told(api, env, tmp_path, capsys):
    api.on(*CREATE, lambda h: h.json({"code": 429, "msg": "Rate limit exceeded"}))
    code, text = v2v(capsys, tmp_path / "out.mp4")
    assert code == 2
    assert api.count(*CREATE) == 3  # was 6 per run
    assert "3 create requests were sent" in text and "task log" in text
    assert "1 create request sent" in text and "2 create requests sent" in text  # the status lines
    entry = _rows(env)[0]
    assert entry.state == jr.REFUSED and entry.params["creates_refused"] == 3


def test_a_run_killed_between_refused_creates_is_not_sent_again_by_the_next_and_says_how_many(
        api, env, tmp_path, capsys):
    """The count is in the journal before each re-send: a process killed in the back-off leaves it for the next."""
    answered = []
    api.on(*CREATE, lambda h: (answered.append(1), h.json({"code": 429, "msg": "Rate limit exceeded"})))
    run = subprocess.Popen([sys.executable, "-m", "apikley_wan", "v2v", "--video", str(SAMPLE), "--prompt", PROMPT,
                            "--out", str(tmp_path / "killed.mp4")], cwd=REPO, env=dict(os.environ),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:  # the second refusal is recorded; the back-off before the third send is 1 s
        wait_until(lambda: os.path.exists(env / "journal.sqlite") and _rows(env)
                   and _rows(env)[0].params.get("creates_refused") == 2, 60, "the second refusal being recorded")
    finally:
        run.kill()
    assert KEY.encode() not in run.communicate()[0]
    beating_fast = replace(FAST, heartbeat_s=BEAT.heartbeat_s, stale_s=BEAT.stale_s)  # its writer is gone in 0.3 s
    journal = Journal(env / "journal.sqlite", timings=beating_fast)
    wait_until(lambda: not journal.owner_alive(_rows(env)[0]), what="the killed run's heartbeat going stale")
    code, text = v2v(capsys, tmp_path / "out.mp4", timings=beating_fast)
    assert code == 2 and "NOT sent again" in text and "after the API refused 2 of its create requests" in text
    assert api.count(*CREATE) == 2 and len(answered) == 2


# -- 17. text that cannot be sent ------------------------------------------------------------------------
@pytest.mark.parametrize("prompt", [PROMPT + "\udcff", "\ud83d" + PROMPT])
def test_a_prompt_with_a_lone_surrogate_is_refused_before_any_upload_or_create(prompt, api, env, tmp_path, capsys):
    code, text = run_cli(capsys, "v2v", "--video", str(SAMPLE), "--prompt", prompt, "--duration", "5",
                         "--resolution", "720p", "--out", str(tmp_path / "o.mp4"))
    assert code == 2 and "Invalid input" in text and "No credits were spent" in text, text
    assert "cannot be sent" in text and "Traceback" not in text
    assert api.requests == [] and _rows(env) == []
