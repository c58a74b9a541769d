"""Issue 18, item 5: one price table. The override saved in Settings (``<state folder>/prices.json``,
price_settings.py) prices the budget guard, the status line, the journal's estimate, the run report, the
estimate route and the page (GET/POST /apikley_wan/prices) alike; the estimate route gives the run's total
and what the guard itself would refuse of it (a dry run), so "would refuse" is the guard's own sentence."""

from __future__ import annotations

import asyncio
import json

import pytest

from apikley_wan import __main__ as cli
from apikley_wan.money import price_settings, pricing
from apikley_wan.money.budget import BudgetGuard
from apikley_wan.api.client import ApikleyClient
from apikley_wan.errors import BudgetError, ConfigError, InputError
from apikley_wan.run.pipeline import Pipeline
from apikley_wan.record.sqlite import Journal
from apikley_wan.run.request import GenerationRequest, Reference
from conftest import FAST, pack_module
from hostile_api import SAMPLE, HostileApi
from test_estimate import _run_node, _wan, inputs, pack  # noqa: F401 - fixtures
from test_routes import JSON, _call, talk

PROMPT = "character1 waves at the camera"


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "state"


# -- the core -----------------------------------------------------------------------------------
def test_an_override_is_saved_read_back_and_cleared(folder):
    assert price_settings.in_force(folder) is pricing.DEFAULT
    answer = price_settings.save({"override": "10/1080p=200; usd=0.01\n5s/720p = 60"}, folder)
    assert answer["msg"] == "Price override saved." and answer["overridden"] is True
    assert answer["credits"] == {"5/720p": 60.0, "5/1080p": 104.5, "10/720p": 140.0, "10/1080p": 200.0}
    assert answer["usd_per_credit"] == 0.01 and answer["override"] == "10/1080p=200, 5/720p=60, usd_per_credit=0.01"
    assert answer["default"] == {"credits": {"5/720p": 70.0, "5/1080p": 104.5, "10/720p": 140.0, "10/1080p": 209.5},
                                 "usd_per_credit": 0.005}
    assert json.loads((folder / "prices.json").read_text()) == {"credits": {"10/1080p": 200.0, "5/720p": 60.0},
                                                               "usd_per_credit": 0.01}
    table = price_settings.in_force(folder)
    assert table.estimate_credits("5", "720p") == 60 and table.to_usd(60) == 0.6 and table.dearest == 200
    cleared = price_settings.save({"override": ""}, folder)
    assert cleared["overridden"] is False and price_settings.in_force(folder) is pricing.DEFAULT


@pytest.mark.parametrize("bad, expected", [("10/1080p=-1", "positive number"), ("10/1080p", "one key=value"),
                                           ("hd=5", "duration/resolution"), ("5/1080p=abc", "positive number"),
                                           ("5/1080p=1=2", "one key=value"), ("7/720p=10", "the model offers"),
                                           ("5/720p=inf", "positive number")])
def test_a_bad_entry_is_named_and_nothing_is_saved(folder, bad, expected):
    price_settings.save({"override": "5/720p=60"}, folder)
    with pytest.raises(InputError) as refused:
        price_settings.save({"override": f"10/720p=150, {bad}"}, folder)
    assert f'"{bad}"' in refused.value.detail and expected in refused.value.detail
    assert price_settings.in_force(folder).estimate_credits("10", "720p") == 140, "nothing was saved"
    with pytest.raises(InputError):
        price_settings.save({"override": 5}, folder)
    with pytest.raises(InputError):
        price_settings.save({"prices": ""}, folder)


def test_a_damaged_file_refuses_clearly(folder):
    folder.mkdir()
    (folder / "prices.json").write_text('{"credits": {"5/720p": "lots"}}')
    with pytest.raises(ConfigError, match="prices.json cannot be read"):
        price_settings.in_force(folder)


# -- one table: guard, status line, journal, report -----------------------------------------------
def _gens(base_url, tmp_path, guard, key="sim-key"):
    client = ApikleyClient(api_key=key, base_url=base_url)
    return Pipeline(client, Journal(tmp_path / "journal.sqlite"), tmp_path / "results", timings=FAST, budget=guard)


def _request():
    return GenerationRequest(PROMPT, "5", "720p", [Reference(source=str(SAMPLE))])


def test_the_guard_counts_in_the_override(sim, tmp_path, folder):
    """A $0.40 session cap lets a 5 s 720p run by the pack's table ($0.35), not at 100 credits ($0.50)."""
    from apikley_wan.money import budget_settings
    guard = BudgetGuard()
    guard.caps_folder = folder
    budget_settings.save({"session_usd": 0.40}, folder, guard, Journal(tmp_path / "journal.sqlite"))
    price_settings.save({"override": "5/720p=100"}, folder)
    with pytest.raises(BudgetError) as refused:
        asyncio.run(_gens(sim.base_url, tmp_path, guard).generate_video(_request()))
    assert "$0.50 (100 credits, price-table estimate)" in refused.value.user_message()
    assert sim.create_requests == 0
    price_settings.save({"override": ""}, folder)
    assert asyncio.run(_gens(sim.base_url, tmp_path, guard).generate_video(_request())).charged


def test_the_status_line_the_journal_and_the_report_use_the_override(tmp_path, folder):
    """On an API whose balance never moves (no measured cost), the journal keeps the estimate: the override's."""
    guard = BudgetGuard()
    guard.caps_folder = folder
    price_settings.save({"override": "5/720p=100, usd_per_credit=0.01"}, folder)
    lines = []
    with HostileApi("sim-key") as api:
        report = asyncio.run(_gens(api.base_url, tmp_path, guard).generate_video(
            _request(), on_status=lambda s: lines.append(s.line())))
    assert lines and all(line.endswith("~100 credits ($1.00, estimate)") for line in lines), lines
    entry = Journal(tmp_path / "journal.sqlite").recent()[0]
    assert (entry.cost_credits, entry.cost_kind) == (100, "estimate")
    assert (report.cost_credits, report.cost_usd) == (100, 1.0) and "100 credits ($1.00, estimate)" in report.line()


def test_an_override_file_damaged_after_the_create_loses_nothing_paid_and_refuses_the_next_create(sim, tmp_path, folder):
    guard = BudgetGuard()
    guard.caps_folder = folder
    price_settings.save({"override": "5/720p=100"}, folder)
    gens = _gens(sim.base_url, tmp_path, guard)
    submitted = asyncio.run(gens.submit(_request()))
    (folder / "prices.json").write_text("{not json")
    entry = asyncio.run(gens.wait(submitted.entry, on_status=lambda s: s.line()))
    assert entry.state == "success" and entry.result_path and gens.report(entry, "paid", 0).charged
    with pytest.raises(ConfigError, match="prices.json cannot be read"):
        asyncio.run(gens.submit(GenerationRequest(PROMPT, "5", "720p", [Reference(source=str(SAMPLE))], take=1)))
    assert sim.create_count == 1


def test_the_command_line_honours_the_override_saved_in_its_state_folder(tmp_path, state_dir, monkeypatch, capsys):
    price_settings.save({"override": "5/720p=90"}, state_dir)
    with HostileApi("sim-key") as api:
        monkeypatch.setenv("APIKLEY_BASE_URL", api.base_url)
        monkeypatch.setenv("APIKLEY_API_KEY", "sim-key")
        code = cli.main(["v2v", "--video", str(SAMPLE), "--prompt", PROMPT, "--duration", "5", "--resolution", "720p",
                         "--out", str(tmp_path / "r.mp4")], timings=FAST)
    out = capsys.readouterr().out
    assert code == 0 and "Paid now: 90 credits ($0.45, estimate)" in out, out


# -- the routes: the page reads and saves the one table, and asks the guard ----------------------
def _routes(pack):  # noqa: F811
    return pack_module(pack, "nodes.routes")


@pytest.fixture
def guard(pack, state_dir):  # noqa: F811
    """The pack's guard: its Runtime is the test's own (node_pack), so its session counts only this test's runs."""
    return pack_module(pack, "nodes.service").state().guard


def test_the_routes_save_the_override_and_the_estimate_prices_by_it(pack, inputs, state_dir, guard):  # noqa: F811
    prompt = {"1": {"class_type": "LoadVideo", "inputs": {"file": "a.mp4"}}, "2": _wan()}

    async def script(client):
        return (await _call(client, "POST", "/apikley_wan/prices", json={"override": "5/720p=80, hd=5"}),
                await _call(client, "POST", "/apikley_wan/prices", json={"override": "5/720p=80"}),
                await _call(client, "GET", "/apikley_wan/prices"),
                await _call(client, "POST", "/apikley_wan/estimate", json={"prompt": prompt, "batch_count": 3}),
                await _call(client, "POST", "/apikley_wan/prices", json={"override": ""},
                            headers={"Origin": "http://evil.example"}))

    bad, saved, read, estimate, foreign = talk(_routes(pack), script)
    assert bad[0] == 400 and '"hd=5"' in bad[1]["msg"] and "nothing was saved" in bad[1]["msg"]
    assert saved[0] == 200 and saved[1]["credits"]["5/720p"] == 80 and saved[1]["api"] == "simulator"
    assert read == (200, {k: v for k, v in saved[1].items() if k != "msg"})
    status, body = estimate
    node = body["nodes"]["2"]
    assert (node["credits"], node["usd"], node["each"]) == (80, 0.4, {"credits": 80, "usd": 0.4})
    assert node["fingerprinted"] and node["paid_runs"] == 1, "identical inputs in 3 copies pay once"
    assert body["total"] == {"credits": 80, "usd": 0.4, "batch_count": 3, "at_least": False}
    assert body["refusal"] is None and foreign[0] == 403
    assert (state_dir / "prices.json").is_file()


def test_would_refuse_is_the_guards_own_sentence_then_the_guard_refuses_the_same(pack, inputs, sim, guard):  # noqa: F811
    prompt = {"1": {"class_type": "LoadVideo", "inputs": {"file": "a.mp4"}}, "2": _wan(), "3": _wan(take=1)}

    async def script(client):
        await _call(client, "POST", "/apikley_wan/budget", json={"session_usd": 0.5}, headers=JSON)
        return (await _call(client, "POST", "/apikley_wan/estimate", json={"prompt": {"1": prompt["1"], "2": prompt["2"]}}),
                await _call(client, "POST", "/apikley_wan/estimate", json={"prompt": prompt}),
                await _call(client, "POST", "/apikley_wan/prices", json={"override": "5/720p=110"}),
                await _call(client, "POST", "/apikley_wan/estimate", json={"prompt": {"1": prompt["1"], "2": prompt["2"]}}))

    one, two, _, dearer = talk(_routes(pack), script)
    assert one[1]["refusal"] is None, "one run of $0.35 is under $0.50"
    assert two[1]["total"]["credits"] == 140 and two[1]["refusal"]["cap"] == "APIKLEY_BUDGET_SESSION_USD"
    refusal = dearer[1]["refusal"]
    assert refusal and "$0.55 (110 credits, price-table estimate)" in refusal["msg"], "the override prices the verdict"
    with pytest.raises(pack_module(pack, "apikley_wan.errors").BudgetError) as refused:  # the pack's own class
        _run_node(pack, inputs / "a.mp4")
    assert refused.value.user_message() == refusal["msg"], "what the page said is what the guard does"
    assert sim.create_requests == 0


def test_a_minimum_balance_is_checked_against_the_balance_settings_shows(pack, inputs, sim, guard):  # noqa: F811
    sim.credits = 100
    prompt = {"1": {"class_type": "LoadVideo", "inputs": {"file": "a.mp4"}}, "2": _wan()}

    async def script(client):
        await _call(client, "POST", "/apikley_wan/budget", json={"min_balance": 50}, headers=JSON)
        return await _call(client, "POST", "/apikley_wan/estimate", json={"prompt": prompt})

    status, body = talk(_routes(pack), script)
    assert status == 200 and body["refusal"]["cap"] == "APIKLEY_MIN_BALANCE"
    assert "has 100 credits" in body["refusal"]["msg"] and "leaving 30" in body["refusal"]["msg"]
    assert sim.create_requests == 0
