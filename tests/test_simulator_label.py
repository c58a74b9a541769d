"""Issue 18, item 6: "simulator — no real credits" only when the API says it is the simulator (a header
only it sends) and is on a loopback address; "not the default URL" no longer means "simulator" (behind a
proxy or a regional base URL real credits are spent). The CLI, the node report, Settings' price table and
the estimate route all ask the client's one fact."""

from __future__ import annotations

import pytest

from apikley_wan import __main__ as cli
from apikley_wan.api import simulated
from apikley_wan.api.client import ApikleyClient, api_kind
from apikley_wan.record.sqlite import Journal
from apikley_wan.run.pipeline import Pipeline
from apikley_wan.run.request import GenerationRequest, Reference
from conftest import FAST, pack_module
from hostile_api import SAMPLE, HostileApi
from test_routes import _call, talk

KEY = "sim-key"
LABEL = "no real credits"


@pytest.fixture
def hostile():
    """Loopback and not the default URL, like a local proxy to the paid API: it does not announce itself."""
    with HostileApi(KEY) as running:
        yield running


def _run(base_url: str, tmp_path) -> tuple:
    client = ApikleyClient(api_key=KEY, base_url=base_url)
    gens = Pipeline(client, Journal(tmp_path / "journal.sqlite"), tmp_path / "out", timings=FAST)
    import asyncio
    request = GenerationRequest(prompt="character1 waves", duration="5", resolution="720p",
                                references=(Reference(source=str(SAMPLE)),))
    return asyncio.run(gens.generate_video(request)), client


def test_every_answer_of_the_simulator_says_so_and_the_stand_in_does_not(sim, hostile):
    import requests
    for path in ("/api/v1/chat/credit", "/no/such/route"):  # without a key: a refusal still says so
        assert requests.get(sim.base_url + path, timeout=5).headers.get(simulated.HEADER) == "1"
        assert simulated.HEADER not in requests.get(hostile.base_url + path, timeout=5).headers
    assert api_kind(sim.base_url) == "simulator" and api_kind(hostile.base_url) == "apikley"


def test_a_run_on_the_simulator_says_no_real_credits(sim, tmp_path):
    report, client = _run(sim.base_url, tmp_path)
    assert client.simulator is True and report.api == "simulator" and LABEL in report.line()


def test_a_run_on_a_loopback_api_that_does_not_announce_itself_spends_real_credits(hostile, tmp_path):
    report, client = _run(hostile.base_url, tmp_path)
    assert report.outcome == "paid" and client.simulator is False
    assert report.api == "apikley" and LABEL not in report.line(), report.line()


def test_a_re_use_that_asks_the_api_nothing_else_still_knows(sim, tmp_path):
    first, _ = _run(sim.base_url, tmp_path)
    again, client = _run(sim.base_url, tmp_path)  # a fresh client: it has heard nothing yet
    assert again.outcome == "reused" and again.api == "simulator" and LABEL in again.line()


def test_a_remote_api_is_never_believed_nor_asked(monkeypatch):
    assert not simulated.announced("https://proxy.example.com", {simulated.HEADER: "1"})
    assert not simulated.announced("http://10.0.0.5:8080", {simulated.HEADER: "1"}), "a LAN host is not loopback"
    assert simulated.announced("http://127.0.0.1:9", {simulated.HEADER: "1"})
    assert simulated.announced("http://localhost:9", {simulated.HEADER: "1"})
    client = ApikleyClient(api_key=KEY, base_url="https://eu.api.apikley.example")

    def no_request(*args, **kw):
        raise AssertionError("a remote API was asked whether it is the simulator")
    monkeypatch.setattr(client, "_new_session", no_request)
    assert client.announces_simulator() is False


def test_the_cli_labels_only_the_simulator(hostile, sim, tmp_path, monkeypatch, capsys, state_dir):
    monkeypatch.setenv("APIKLEY_API_KEY", KEY)
    printed = {}
    for name, api in (("proxy", hostile), ("simulator", sim)):
        monkeypatch.setenv("APIKLEY_BASE_URL", api.base_url)
        code = cli.main(["v2v", "--video", str(SAMPLE), "--prompt", "character1 waves", "--duration", "5",
                         "--resolution", "720p", "--out", str(tmp_path / f"{name}.mp4")], timings=FAST)
        printed[name] = capsys.readouterr().out
        assert code == 0, printed[name]
    assert "Paid now" in printed["proxy"] and LABEL not in printed["proxy"]
    assert "Paid now" in printed["simulator"] and LABEL in printed["simulator"]


@pytest.mark.parametrize("which, expected", [("hostile", "apikley"), ("sim", "simulator")])
def test_settings_prices_and_the_estimate_route_carry_the_one_fact(node_pack, which, expected, request, monkeypatch):
    api = request.getfixturevalue(which)
    monkeypatch.setenv("APIKLEY_BASE_URL", api.base_url)
    routes = pack_module(node_pack, "nodes.routes")
    _, prices = talk(routes, lambda client: _call(client, "GET", "/apikley_wan/prices"))
    _, estimate = talk(routes, lambda client: _call(client, "POST", "/apikley_wan/estimate", json={"prompt": {}}))
    assert prices["api"] == expected and estimate["api"] == expected
