"""Budget caps saved in ComfyUI's Settings (``<state folder>/budget.json``): the environment wins cap by cap,
the guard reads the caps in force at each check (no restart), bad values are refused naming the field,
and the routes ``GET/POST /apikley_wan/budget`` keep their contract. The command line honours the file of
its own state folder."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from apikley_wan.money import budget_settings
from apikley_wan.money.budget import BudgetGuard
from apikley_wan.api.client import ApikleyClient
from apikley_wan.errors import BudgetError, ConfigError, InputError
from apikley_wan.run.pipeline import Pipeline
from apikley_wan.record.sqlite import Journal
from apikley_wan.run.request import GenerationRequest, Reference
from conftest import FAST, FAST_CLI, load_pack, use_pack_runtime
from test_routes import JSON, _call, talk

REPO = Path(__file__).resolve().parents[1]
NO_CAPS = {"session_usd": None, "day_usd": None, "min_balance": None}
ENV_VARS = {"session_usd": "APIKLEY_BUDGET_SESSION_USD", "day_usd": "APIKLEY_BUDGET_DAY_USD",
            "min_balance": "APIKLEY_MIN_BALANCE"}


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "state"


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path / "journal.sqlite")


def _save(payload, folder, journal, guard=None):
    return budget_settings.save(payload, folder, guard or BudgetGuard(), journal)


# -- the core -----------------------------------------------------------------------------------
def test_nothing_saved_means_no_caps_and_the_answer_has_the_routes_shape(folder, journal):
    assert budget_settings.status(folder, BudgetGuard(), journal) == {
        "ok": True, "caps": NO_CAPS, "source": NO_CAPS, "spent": {"session_usd": 0.0, "day_usd": 0.0},
        "env_vars": ENV_VARS}


def test_saved_caps_are_kept_cleared_and_left_alone_field_by_field(folder, journal):
    answer = _save({"session_usd": 5, "day_usd": "12.5", "min_balance": None}, folder, journal)
    assert answer["caps"] == {"session_usd": 5.0, "day_usd": 12.5, "min_balance": None}
    assert answer["source"] == {"session_usd": "settings", "day_usd": "settings", "min_balance": None}
    assert answer["msg"] == "Budget caps saved."
    assert json.loads((folder / "budget.json").read_text()) == answer["caps"]
    assert _save({"min_balance": 500}, folder, journal)["caps"] == {"session_usd": 5.0, "day_usd": 12.5,
                                                                      "min_balance": 500.0}  # a missing key: kept
    assert _save({"session_usd": "", "day_usd": None}, folder, journal)["caps"] == {
        "session_usd": None, "day_usd": None, "min_balance": 500.0}  # "" and null clear
    budget, _ = budget_settings.in_force(folder)
    assert (budget.session_usd, budget.min_balance, budget.from_settings) == (None, 500.0, {"min_balance"})


def test_the_environment_wins_cap_by_cap_and_the_answer_says_so(folder, journal, monkeypatch):
    _save({"session_usd": 5, "day_usd": 3}, folder, journal)
    monkeypatch.setenv("APIKLEY_BUDGET_DAY_USD", "20")
    answer = _save({"session_usd": 4, "day_usd": 7}, folder, journal)
    assert answer["caps"] == {"session_usd": 4.0, "day_usd": 20.0, "min_balance": None}
    assert answer["source"] == {"session_usd": "settings", "day_usd": "env", "min_balance": None}
    assert "APIKLEY_BUDGET_DAY_USD is set in ComfyUI's environment and wins" in answer["msg"]
    assert json.loads((folder / "budget.json").read_text())["day_usd"] == 3  # not overwritten by the refused 7
    assert "wins" not in _save({"session_usd": 4, "day_usd": None}, folder, journal)["msg"]  # nothing asked of it
    monkeypatch.delenv("APIKLEY_BUDGET_DAY_USD")
    assert budget_settings.in_force(folder)[0].day_usd == 3.0  # the saved cap is back once the variable goes


@pytest.mark.parametrize("field, value", [("session_usd", -1), ("day_usd", "ten"), ("min_balance", True),
                                          ("session_usd", "nan"), ("day_usd", "inf"), ("min_balance", [5])])
def test_a_bad_value_is_refused_naming_its_field_and_nothing_is_saved(folder, journal, field, value):
    _save({"session_usd": 5}, folder, journal)
    before = (folder / "budget.json").read_bytes()
    with pytest.raises(InputError) as refused:
        _save({"day_usd": 1, field: value}, folder, journal)
    assert refused.value.user_message().startswith(f"Invalid input: {field} must be a number >= 0")
    assert "nothing was saved" in str(refused.value) and (folder / "budget.json").read_bytes() == before


def test_an_unknown_field_or_a_non_object_is_refused(folder, journal):
    with pytest.raises(InputError, match="unknown field 'sesion_usd'"):
        _save({"sesion_usd": 5}, folder, journal)
    with pytest.raises(InputError, match="JSON object"):
        _save([5], folder, journal)
    assert not (folder / "budget.json").exists()


def test_a_damaged_file_refuses_runs_clearly_until_saved_again(folder, journal):
    folder.mkdir()
    (folder / "budget.json").write_text("{not json")
    guard = BudgetGuard()
    guard.caps_folder = folder
    with pytest.raises(ConfigError) as refused:
        guard.check(journal, client=None, credits=70)
    assert "budget.json" in str(refused.value) and "Save the caps again in Settings" in str(refused.value)
    assert _save({"session_usd": 1}, folder, journal)["caps"]["session_usd"] == 1.0  # a save repairs it
    guard.check(journal, client=None, credits=70)


def test_a_change_in_settings_holds_the_next_run_without_a_restart(sim, tmp_path, folder, journal, reference_clip):
    guard = BudgetGuard()
    guard.caps_folder = folder
    client = ApikleyClient(api_key="sim-key", base_url=sim.base_url)
    gens = Pipeline(client, journal, tmp_path / "results", timings=FAST, budget=guard)
    url = client.upload(reference_clip)
    request = GenerationRequest("character1 dances in the rain", "5", "720p", [Reference(url=url)])
    _save({"session_usd": 0.3}, folder, journal, guard)
    with pytest.raises(BudgetError) as refused:
        asyncio.run(gens.generate_video(request))
    message = refused.value.user_message()
    assert "the per-session cap (saved in Settings) is $0.30" in message and "clear it in Settings" in message
    assert sim.create_requests == 0
    _save({"session_usd": ""}, folder, journal, guard)
    assert asyncio.run(gens.generate_video(request)).charged and sim.create_count == 1
    assert budget_settings.status(folder, guard, journal)["spent"] == {"session_usd": 0.35, "day_usd": 0.35}


def test_the_command_line_honours_the_caps_saved_in_its_state_folder(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "budget.json").write_text(json.dumps({"session_usd": 0.2}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIKLEY_")}
    env.update(APIKLEY_STATE_DIR=str(state))
    result = subprocess.run([sys.executable, str(FAST_CLI), "v2v", "--simulator", "--video",
                             "samples/reference.mp4", "--prompt", "character1 dances in the rain", "--out",
                             str(tmp_path / "r.mp4")], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: Budget cap reached: the per-session cap (saved in Settings) is $0.20")
    assert not (tmp_path / "r.mp4").exists()


# -- the routes -----------------------------------------------------------------------------------
@pytest.fixture
def routes(state_dir, sim, tmp_path, monkeypatch):
    pack = load_pack()
    monkeypatch.setenv("APIKLEY_BASE_URL", sim.base_url)
    use_pack_runtime(pack, tmp_path / "output", monkeypatch)
    return importlib.import_module(f"{pack.__name__}.nodes.routes")


def test_the_routes_read_and_save_the_caps(routes, state_dir, monkeypatch):
    monkeypatch.setenv("APIKLEY_MIN_BALANCE", "100")
    path = "/apikley_wan/budget"

    async def script(client):
        return (await _call(client, "GET", path),
                await _call(client, "POST", path, json={"session_usd": 5, "day_usd": None, "min_balance": 50}),
                await _call(client, "GET", path),
                await _call(client, "POST", path, json={"session_usd": "five"}),
                await _call(client, "POST", path, json={"session_usd": 1}, headers={"Origin": "http://evil.example"}),
                await _call(client, "POST", path, data='{"session_usd": 1}', headers={"Content-Type": "text/plain"}))

    first, saved, again, bad, foreign, form = talk(routes, script)
    assert first == (200, {"ok": True, "caps": {**NO_CAPS, "min_balance": 100.0},
                           "source": {**NO_CAPS, "min_balance": "env"},
                           "spent": {"session_usd": 0.0, "day_usd": 0.0}, "env_vars": ENV_VARS})
    status, body = saved
    assert status == 200 and body["caps"] == {"session_usd": 5.0, "day_usd": None, "min_balance": 100.0}
    assert body["source"] == {"session_usd": "settings", "day_usd": None, "min_balance": "env"}
    assert "APIKLEY_MIN_BALANCE is set in ComfyUI's environment and wins" in body["msg"]
    assert again == (200, {k: v for k, v in body.items() if k != "msg"})
    assert bad[0] == 400 and bad[1]["ok"] is False and "session_usd must be a number >= 0" in bad[1]["msg"]
    assert foreign[0] == 403 and form[0] == 415
    assert json.loads((state_dir / "budget.json").read_text()) == {"session_usd": 5.0, "day_usd": None,
                                                                    "min_balance": None}


def test_the_routes_spent_counts_todays_tasks_of_the_journal(routes, state_dir):
    service = importlib.import_module(f"{load_pack().__name__}.nodes.service")
    journal = service.state().journal
    entry, _ = journal.claim("fp-today", {"duration": "5", "resolution": "720p"})
    journal.update(entry.id, state="success", task_id="t-today", cost_credits=104.5, cost_kind="measured")

    async def script(client):
        return await _call(client, "GET", "/apikley_wan/budget", headers=JSON)

    status, body = talk(routes, script)
    assert status == 200 and body["spent"] == {"session_usd": 0.0, "day_usd": 0.5225}

