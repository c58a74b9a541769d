"""Issue 16, items 5 and 6: a create already on the wire is never lost to Ctrl-C or to a journal outage,
and a create whose answer was lost can be linked to the task id the user found (command line and tasks
panel, one core function), after which the same inputs re-use that task: 0 new creates.

Against the hostile stand-in (tests/hostile_api.py): real HTTP on 127.0.0.1, a real subprocess hearing
SIGINT, a real SQLite file and a real PostgreSQL server (the contract tests' own).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from apikley_wan.record import entry as jr
from apikley_wan.record import journals
from apikley_wan.record.sqlite import Journal
from conftest import FAST, FAST_CLI, load_pack, wait_until
from hostile_api import SAMPLE, TASK_ID, HostileApi
from test_hostile_api import KEY, PROMPT, assert_key_nowhere, run_cli
from test_journal_contract import make_store, PgStore
from test_routes import _call, _module, long_key_sim, routes, talk  # noqa: F401 - fixtures used by name

REPO = Path(__file__).resolve().parents[1]
CREATE = ("POST", "/api/v1/jobs/createTask")



@pytest.fixture
def api():
    with HostileApi(KEY) as running:
        yield running


def _env(state: Path, api: HostileApi) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIKLEY_")}
    return {**env, "APIKLEY_STATE_DIR": str(state), "APIKLEY_API_KEY": KEY,
            "APIKLEY_BASE_URL": api.base_url}


def _v2v_argv(out: Path) -> list:
    return ["v2v", "--video", str(SAMPLE), "--prompt", PROMPT, "--duration", "5", "--resolution", "720p",
            "--out", str(out)]


def _held_create(api: HostileApi, hold_s: float) -> tuple:
    """The create answers only after ``hold_s`` (or once ``release`` is set): (received, release)."""
    received, release = threading.Event(), threading.Event()

    def answer(h):
        received.set()
        release.wait(hold_s)
        try:
            h.json({"code": 200, "data": {"taskId": TASK_ID}})
        except OSError:  # the client is gone
            pass
    api.on(*CREATE, answer)
    return received, release


def _ctrl_c_during_create(state: Path, api: HostileApi, out: Path, received: threading.Event) -> tuple:
    """``v2v`` in a real process, SIGINT the moment its create reaches the API: (code, stderr, seconds to exit)."""
    # a shell starts background jobs with SIGINT ignored and children inherit that (see test_cli.py)
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen([sys.executable, str(FAST_CLI), *_v2v_argv(out)], cwd=REPO,
                                env=_env(state, api), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, ignored)
    assert received.wait(120), "the create never reached the API"
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    return proc.returncode, stdout + stderr, time.monotonic() - sent


# -- 5. Ctrl-C during the create -------------------------------------------------------------------
def test_ctrl_c_while_the_create_is_on_the_wire_waits_for_its_answer_and_records_the_task(api, tmp_path, capsys,
                                                                                          monkeypatch):
    """Before: exit in 0.18 s, entry left 'creating' without an id. Now: exit ~1.6 s (the create's 1.5 s
    answer), the entry holds the task id, and the exact collect command is printed; a re-run: 0 new creates."""
    state, out = tmp_path / "state", tmp_path / "out.mp4"
    received, _ = _held_create(api, hold_s=1.5)
    code, text, took = _ctrl_c_during_create(state, api, out, received)
    entries = Journal(state / "journal.sqlite").recent()
    assert code == 130, text
    assert [(e.state, e.task_id) for e in entries] == [("waiting", TASK_ID)], (took, text)
    assert 1.2 < took < 5.0, f"exited {took:.2f} s after Ctrl-C"
    assert f"`python -m apikley_wan collect {TASK_ID} --out {out}`" in text and "may still finish and bill" in text
    assert api.count(*CREATE) == 1

    for name, value in _env(state, api).items():
        monkeypatch.setenv(name, value)
    code, again = run_cli(capsys, *_v2v_argv(out))
    assert code == 0 and "done: Re-attached" in again and TASK_ID in again
    assert api.count(*CREATE) == 1, "the re-run created again"
    assert_key_nowhere(tmp_path, text, again)


def test_ctrl_c_past_the_wait_leaves_an_uncertain_entry_and_the_command_that_links_it(api, tmp_path, capsys,
                                                                                     monkeypatch):
    """A create answer that does not come within the 5 s wait: exit within ~5 s, the entry is 'uncertain' at
    once (not 'creating' for 30 s more), and the message gives the command that links it; that command
    collects the task and the same inputs then re-use it (1 create in all)."""
    state, out = tmp_path / "state", tmp_path / "out.mp4"
    received, release = _held_create(api, hold_s=60)
    try:
        code, text, took = _ctrl_c_during_create(state, api, out, received)
    finally:
        release.set()
    assert code == 130 and 4.5 < took < 8.0, (took, text)
    [entry] = Journal(state / "journal.sqlite").recent()
    assert entry.state == jr.UNCERTAIN and entry.task_id is None and Journal(state / "journal.sqlite").abandonable(entry)
    command = f"python -m apikley_wan collect TASK_ID --entry {entry.id} --out {out}"
    assert f"`{command}`" in text and "a task may exist and may be billed" in text, text

    for name, value in _env(state, api).items():
        monkeypatch.setenv(name, value)
    code, linked = run_cli(capsys, *command.replace("TASK_ID", TASK_ID).split()[3:])
    assert code == 0 and f"journal entry {entry.id} linked to task {TASK_ID}" in linked, linked
    code, again = run_cli(capsys, *_v2v_argv(out))
    assert code == 0 and "done: Re-used" in again and TASK_ID in again
    assert api.count(*CREATE) == 1
    assert_key_nowhere(tmp_path, text, linked, again)


def test_batch_shares_the_stop_an_unanswered_create_of_a_stopped_batch_is_uncertain_at_once(api, tmp_path):
    """`batch` stops the same way (stopping.py): past the 5 s wait its unanswered create is 'uncertain' at
    once, so `collect TASK_ID --entry N` or `abandon N` work without waiting 30 s for its heartbeat to age."""
    state = tmp_path / "state"
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(f'{{"video": "{SAMPLE}", "prompt": "{PROMPT}", "out": "out/1.mp4"}}\n', encoding="utf-8")
    received, release = _held_create(api, hold_s=60)
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen([sys.executable, str(FAST_CLI), "batch", str(jobs)], cwd=REPO,
                                env=_env(state, api), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, ignored)
    try:
        assert received.wait(120), "the create never reached the API"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        release.set()
    assert proc.returncode == 130 and 4.5 < took < 8.0, (took, stdout, stderr)
    [entry] = Journal(state / "journal.sqlite").recent()
    assert entry.state == jr.UNCERTAIN and Journal(state / "journal.sqlite").abandonable(entry) and api.count(*CREATE) == 1


# -- 6a. the journal fails right after the create answered ------------------------------------------
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_task_id_the_journal_could_not_take_at_once_is_recorded_when_it_is_back(kind, api, tmp_path, capsys,
                                                                                  monkeypatch, caplog):
    """The journal goes away as the create answers and is back 3 s later (before: 3 writes in 2 s, then
    'collect it by id' and a dead end for these inputs). Now the write is retried for up to 30 s: the
    run finishes, the entry holds the task, and a re-run re-uses it (1 create)."""
    store = make_store(kind, tmp_path)
    try:
        monkeypatch.setenv("APIKLEY_STATE_DIR", str(tmp_path))  # SQLite: tmp_path/journal.sqlite, the store's file
        for name, value in _env(tmp_path, api).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv(journals.JOURNAL_URL_ENV, store.url if isinstance(store, PgStore) else "")
        caplog.set_level(logging.WARNING, logger="apikley_wan")
        back = []

        def create_then_lose_the_journal(h):
            store.execute("ALTER TABLE tasks RENAME TO tasks_away")
            timer = threading.Timer(3.0, lambda: (store.execute("ALTER TABLE tasks_away RENAME TO tasks"),
                                                  back.append(time.monotonic())))
            timer.start()
            h.json({"code": 200, "data": {"taskId": TASK_ID}})
        api.on(*CREATE, create_then_lose_the_journal)
        started = time.monotonic()
        code, text = run_cli(capsys, *_v2v_argv(tmp_path / "out.mp4"))
        wait_until(lambda: back, 10, "the journal coming back")
        retries = caplog.text.count("the journal could not record it")
        assert code == 0 and "done: Paid now" in text, text
        assert retries >= 3, f"{retries} retries"  # today's code gave up after 2 (then exit 2)
        [entry] = store.open().recent()
        assert (entry.state, entry.task_id) == ("success", TASK_ID)
        api.on(*CREATE, lambda h: h.json({"code": 200, "data": {"taskId": "another0task"}}))
        code, again = run_cli(capsys, *_v2v_argv(tmp_path / "out.mp4"))
        assert code == 0 and "done: Re-used" in again, again
        assert api.count(*CREATE) == 1
        assert time.monotonic() - started < 30
        assert_key_nowhere(tmp_path, text, again, caplog.text)
    finally:
        if isinstance(store, PgStore):
            store.drop()


def test_a_task_id_the_journal_never_takes_names_the_link_command(api, tmp_path, capsys, monkeypatch):
    """Past the retries (here 0.5 s): the error says the task WAS created and how to link it to its entry."""
    for name, value in _env(tmp_path / "state", api).items():
        monkeypatch.setenv(name, value)

    def create_then_break_the_journal(h):
        db = sqlite3.connect(tmp_path / "state" / "journal.sqlite")
        db.execute("ALTER TABLE tasks RENAME TO tasks_away")
        db.commit()
        db.close()
        h.json({"code": 200, "data": {"taskId": TASK_ID}})
    api.on(*CREATE, create_then_break_the_journal)
    code, text = run_cli(capsys, *_v2v_argv(tmp_path / "out.mp4"), timings=dataclasses.replace(FAST, record_retry_s=0.5))
    assert code == 2 and "The task WAS created" in text
    assert f"python -m apikley_wan collect {TASK_ID} --entry 1 --out FILE" in text, text
    assert_key_nowhere(tmp_path, text)


# -- 6b. collect TASK_ID --entry N --------------------------------------------------------------------
def test_collect_with_entry_links_a_lost_create_then_the_same_inputs_reuse_it(api, tmp_path, capsys, monkeypatch):
    """Lost create answer -> `collect TASK_ID --entry N` -> the same inputs: 'Re-used', 1 create in all."""
    for name, value in _env(tmp_path / "state", api).items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out.mp4"
    api.on(*CREATE, lambda h: h.hang_up())
    code, lost = run_cli(capsys, *_v2v_argv(out))
    journal = Journal(tmp_path / "state" / "journal.sqlite")
    [entry] = journal.recent()
    assert code == 2 and entry.state == jr.UNCERTAIN
    assert f"collect TASK_ID --entry {entry.id} --out FILE" in lost, lost
    code, blocked = run_cli(capsys, *_v2v_argv(out))
    assert code == 2 and f"collect TASK_ID --entry {entry.id}" in blocked  # the earlier-run message says it too

    before = len(api.requests)
    refusals = {"bad id": run_cli(capsys, "collect", "../etc", "--entry", str(entry.id), "--out", str(out)),
                "no entry": run_cli(capsys, "collect", TASK_ID, "--entry", "999", "--out", str(out))}
    with pytest.raises(SystemExit):
        run_cli(capsys, "collect", "--from-file", str(SAMPLE), "--entry", str(entry.id), "--out", str(out))
    assert refusals["bad id"][0] == 2 and "is not an apikley task id" in refusals["bad id"][1]
    assert refusals["no entry"][0] == 2 and "there is no journal entry '999'" in refusals["no entry"][1]
    assert len(api.requests) == before, "a refused link sent something"
    record_info = api.routes[("GET", "/api/v1/jobs/recordInfo")]
    api.on("GET", "/api/v1/jobs/recordInfo", lambda h: h.json({"code": 404, "msg": "Task not found"}))
    code, unknown = run_cli(capsys, "collect", "mistyped0id", "--entry", str(entry.id), "--out", str(out))
    assert code == 2 and "the API does not know task mistyped0id" in unknown and "No credits were spent" in unknown
    assert journal.by_id(entry.id).state == jr.UNCERTAIN and journal.by_task_id("mistyped0id") is None
    api.on("GET", "/api/v1/jobs/recordInfo", lambda h: h.json({"code": 500, "msg": "busy"}))
    code, unasked = run_cli(capsys, "collect", TASK_ID, "--entry", str(entry.id), "--out", str(out))
    assert code == 2 and "could not be checked" in unasked and "No credits were spent" in unasked, unasked
    assert journal.by_id(entry.id).state == jr.UNCERTAIN
    api.on("GET", "/api/v1/jobs/recordInfo", record_info)

    code, linked = run_cli(capsys, "collect", TASK_ID, "--entry", str(entry.id), "--out", str(out))
    assert code == 0 and f"journal entry {entry.id} linked to task {TASK_ID}" in linked and out.is_file(), linked
    assert (journal.by_id(entry.id).state, journal.by_id(entry.id).task_id) == ("success", TASK_ID)
    code, again = run_cli(capsys, *_v2v_argv(out))
    assert code == 0 and "done: Re-used" in again and TASK_ID in again
    code, twice = run_cli(capsys, "collect", TASK_ID, "--entry", str(entry.id), "--out", str(out))
    assert code == 2 and "only an uncertain create" in twice
    assert api.count(*CREATE) == 1 and len(journal.recent()) == 1
    assert_key_nowhere(tmp_path, lost, blocked, unknown, unasked, linked, again, twice)


def test_a_task_collected_by_id_first_moves_into_the_entry_it_is_linked_to(api, tmp_path, capsys, monkeypatch):
    """The issue's path: the id was printed and `collect ID` worked (an adopted row), yet the inputs stayed a
    dead end. Linking moves the task (and its saved result) into the lost entry: one row, no new download."""
    for name, value in _env(tmp_path / "state", api).items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out.mp4"
    api.on(*CREATE, lambda h: h.hang_up())
    assert run_cli(capsys, *_v2v_argv(out))[0] == 2
    code, _ = run_cli(capsys, "collect", TASK_ID, "--out", str(tmp_path / "by_id.mp4"))
    journal = Journal(tmp_path / "state" / "journal.sqlite")
    lost, adopted = sorted(journal.recent(), key=lambda e: e.id)
    assert code == 0 and adopted.task_id == TASK_ID and adopted.state == "success" and lost.task_id is None
    downloads = api.count("GET", "/files/result.mp4")

    code, linked = run_cli(capsys, "collect", TASK_ID, "--entry", str(lost.id), "--out", str(out))
    assert code == 0 and out.is_file(), linked
    [entry] = journal.recent()
    assert (entry.id, entry.state, entry.task_id, entry.result_path) == (lost.id, "success", TASK_ID,
                                                                          adopted.result_path)
    assert api.count("GET", "/files/result.mp4") == downloads
    code, again = run_cli(capsys, *_v2v_argv(out))
    assert code == 0 and "done: Re-used" in again and api.count(*CREATE) == 1
    assert_key_nowhere(tmp_path, linked, again)


# -- 6c. the tasks panel: "I know the task id…" ---------------------------------------------------------
def test_the_panel_links_a_task_id_to_an_uncertain_entry_through_the_same_core(routes, long_key_sim,  # noqa: F811
                                                                                tmp_path, monkeypatch):
    from apikley_wan.api.client import ApikleyClient
    from test_routes import KEY as SIM_KEY, _foreign_task
    monkeypatch.setenv("APIKLEY_API_KEY", SIM_KEY)
    task_id = _foreign_task(long_key_sim, SAMPLE)  # the task the lost create made
    journal = _module(load_pack(), "nodes.service").state().journal
    lost, _ = journal.claim("fp-lost", {"prompt": "lost answer", "duration": "5", "resolution": "720p"})
    lost = journal.update(lost.id, state=jr.UNCERTAIN, error="the create answer was lost")
    alive, _ = journal.claim("fp-in-flight", {"prompt": "in flight"})  # a live process is creating it
    other, _ = journal.claim("fp-other", {"prompt": "other"})
    other = journal.record_task_id(other.id, _foreign_task(long_key_sim, SAMPLE))
    client = ApikleyClient(api_key=SIM_KEY, base_url=long_key_sim.base_url)
    wait_until(lambda: client.get_task(task_id) and client.get_task(other.task_id), 10, "the tasks being known")

    async def script(client):
        def link(entry_id, body, **kw):
            return _call(client, "POST", f"/apikley_wan/entries/{entry_id}/link", json=body, **kw)
        answers = {
            "not json": await _call(client, "POST", f"/apikley_wan/entries/{lost.id}/link", data="{}",
                                    headers={"Content-Type": "text/plain"}),
            "other site": await link(lost.id, {"task_id": task_id}, headers={"Origin": "http://evil.example"}),
            "no id": await link(lost.id, {}),
            "bad id": await link(lost.id, {"task_id": "a/../b"}),
            "other inputs' task": await link(lost.id, {"task_id": other.task_id}),
            "unknown to the API": await link(lost.id, {"task_id": "no-such-task-9"}),
            "in flight": await link(alive.id, {"task_id": "new-task-2"}),
            "unknown": await link(99999, {"task_id": task_id}),
            "linked": await link(lost.id, {"task_id": task_id}),
            "again": await link(lost.id, {"task_id": task_id}),
        }
        answers["collected"] = await _call(client, "POST", f"/apikley_wan/tasks/{task_id}/collect", json={})
        return answers

    answers = talk(routes, script)
    codes = {name: status for name, (status, _) in answers.items()}
    assert codes == {"not json": 415, "other site": 403, "no id": 400, "bad id": 400, "other inputs' task": 400,
                     "unknown to the API": 404, "in flight": 400, "unknown": 404, "linked": 200, "again": 400, "collected": 200}
    assert "for other inputs" in answers["other inputs' task"][1]["msg"]
    row = answers["linked"][1]["task"]
    assert (row["entry_id"], row["task_id"], row["state"], row["collectable"], row["abandonable"]) == (
        lost.id, task_id, "waiting", True, False)
    assert answers["collected"][1]["task"]["state"] == "success"
    assert "mistyped id" in answers["unknown to the API"][1]["msg"]
    assert "entry 1 was not changed" in answers["unknown to the API"][1]["msg"]
    assert journal.by_id(alive.id).state == jr.CREATING and journal.by_task_id(other.task_id).id == other.id
    entry, is_new = journal.claim("fp-lost", {"prompt": "lost answer"})
    assert not is_new and entry.id == lost.id and entry.task_id == task_id, "the same inputs must re-use it"
    assert long_key_sim.create_count == 2  # only the two tasks made above
