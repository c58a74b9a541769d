"""The pack's routes under a hostile web page (issue 16, items 13 and 14, and the raw 500s): a page that
only loads an <img>, a DNS-rebinding page that the browser takes for ComfyUI's own origin, and bodies or
ids made to crash a handler. Through a real aiohttp server, against the hostile stand-in API
(tests/hostile_api.py), which counts every call the pack makes."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from conftest import load_pack, pack_module, use_pack_runtime
from hostile_api import HostileApi

KEY = "sk-hostile-routes-key-5e8d1b"
BALANCE = "/api/v1/chat/credit"
EVIL = "rebind.attacker.example:8188"  # the attacker's name, resolved to 127.0.0.1 once the page has loaded


@pytest.fixture
def api():
    with HostileApi(KEY) as running:
        yield running


@pytest.fixture
def routes(state_dir, api, tmp_path, monkeypatch, caplog):
    """The pack's routes module, fresh state, its key in the environment and its API the hostile one."""
    pack = load_pack()
    monkeypatch.setenv("APIKLEY_API_KEY", KEY)
    monkeypatch.setenv("APIKLEY_BASE_URL", api.base_url)
    monkeypatch.delenv("APIKLEY_ALLOWED_HOSTS", raising=False)
    use_pack_runtime(pack, tmp_path / "output", monkeypatch)
    caplog.set_level(logging.DEBUG)
    yield pack_module(pack, "nodes.routes")
    assert KEY not in caplog.text


class _Server:
    def __init__(self):
        self.routes = web.RouteTableDef()


def talk(routes, script):
    """``await script(client)`` against an aiohttp app holding the pack's routes (ComfyUI's body limit)."""
    server = _Server()
    routes.register(server, pack_module(load_pack(), "nodes.service").state())
    app = web.Application(client_max_size=100 * 1024 * 1024)
    app.add_routes(server.routes)

    async def main():
        async with TestClient(TestServer(app)) as client:
            return await script(client)

    return asyncio.run(main())


async def _send(client, method, path, **kw) -> tuple:
    resp = await client.request(method, path, **kw)
    text = await resp.text()
    assert KEY not in text
    return resp.status, text


def test_an_img_on_any_page_makes_no_balance_call_only_the_packs_own_post_does(routes, api):
    """``<img src=".../apikley_wan/credits?refresh=1">`` sends a GET with no Origin and no JSON: 30 of them
    made 30 authenticated balance calls. Now none; the pack's page asks with a same-origin JSON POST."""
    async def script(client):
        loads = [await _send(client, "GET", "/apikley_wan/credits?refresh=1") for _ in range(30)]
        after_loads = api.count("GET", BALANCE)
        foreign = await _send(client, "POST", "/apikley_wan/credits", json={"refresh": True},
                              headers={"Origin": "https://attacker.example"})
        form = await _send(client, "POST", "/apikley_wan/credits", data="refresh=1",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        after_foreign = api.count("GET", BALANCE)
        own = [await _send(client, "POST", "/apikley_wan/credits", json={"refresh": True},
                           headers={"Origin": f"http://{client.host}:{client.port}"}) for _ in range(2)]
        cached = await _send(client, "POST", "/apikley_wan/credits", json={})
        return loads, after_loads, foreign, form, after_foreign, own, cached

    loads, after_loads, foreign, form, after_foreign, own, cached = talk(routes, script)
    print(f"30 cross-site <img> loads of credits?refresh=1: {after_loads} balance calls")
    assert after_loads == 0 and all(status != 200 for status, _ in loads)
    assert foreign[0] == 403 and "another site" in foreign[1]
    assert form[0] == 415 and after_foreign == 0
    assert all(status == 200 and '"credits": 100' in text for status, text in own)
    assert cached[0] == 200 and api.count("GET", BALANCE) == 2  # two refreshes; the plain read was cached


# what a rebinding page does once its name points at 127.0.0.1: to the browser it is its own origin
REBINDING = (("POST", "/apikley_wan/key", {"json": {"key": "sk-attackers-own-key-0000"}}),
             ("POST", "/apikley_wan/key/remove", {"json": {}}),
             ("GET", "/apikley_wan/tasks", {}),
             ("GET", "/apikley_wan/key", {}),
             ("POST", "/apikley_wan/credits", {"json": {"refresh": True}}),
             ("POST", "/apikley_wan/budget", {"json": {"session_usd": None}}),
             ("POST", "/apikley_wan/estimate", {"json": {"prompt": {}}}))


def test_a_dns_rebinding_page_is_refused_on_every_route(routes, api, state_dir):
    async def script(client):
        answers = []
        for method, path, kw in REBINDING:
            answers.append(await _send(client, method, path, **kw,
                                       headers={"Host": EVIL, "Origin": f"http://{EVIL}"}))
        callback = await _send(client, "POST", "/apikley_wan/callback/nosuchsecret", json={}, headers={"Host": EVIL})
        own = await _send(client, "GET", "/apikley_wan/key")
        return answers, callback, own

    answers, callback, own = talk(routes, script)
    accepted = [path for (_, path, _), (status, _) in zip(REBINDING, answers) if status != 403]
    print(f"rebinding requests accepted: {len(accepted)} of {len(REBINDING)}")
    assert accepted == []
    assert all("APIKLEY_ALLOWED_HOSTS" in text and "rebind.attacker.example" in text for _, text in answers)
    assert api.count("GET", BALANCE) == 0 and not (state_dir / "api_key").exists()
    assert callback[0] == 404  # the provider's callback answers under any name: its secret guards it
    assert own[0] == 200 and '"source": "env"' in own[1]


def test_the_names_comfyui_is_reached_by_are_accepted(routes, monkeypatch):
    """Loopback names and addresses when ComfyUI listens on loopback; a listed tunnel name; any address
    (never a name) when it listens on all; IPv6 and odd spellings parsed, not matched as text."""
    host = pack_module(load_pack(), "nodes.host")

    def statuses(*hosts):
        async def script(client):
            return [(await _send(client, "GET", "/apikley_wan/key", headers={"Host": h}))[0] for h in hosts]
        return talk(routes, script)

    assert statuses("127.0.0.1:8188", "localhost:8188", "LOCALHOST", "[::1]:8188", "127.0.0.2") == [200] * 5
    assert statuses("192.168.1.20:8188", "my.tunnel.example", "localhost.attacker.example", "") == [403] * 4
    monkeypatch.setenv("APIKLEY_ALLOWED_HOSTS", "https://My.Tunnel.example, box.lan:8188")
    pack_module(load_pack(), "nodes.service").use(None)  # ComfyUI restarted, as the refusal says: read again
    assert statuses("my.tunnel.example", "box.lan:8188", "other.example") == [200, 200, 403]
    monkeypatch.setattr(host, "listen_addresses", lambda: ("0.0.0.0", "::"))
    assert statuses("192.168.1.20:8188", "[fe80::1]:8188", "localhost", "box.lan", "mybox") == [200, 200, 200, 200, 403]
    monkeypatch.setattr(host, "listen_addresses", lambda: ("192.168.1.20",))
    assert statuses("192.168.1.20:8188", "192.168.1.21", "localhost") == [200, 403, 403]


def test_comfyuis_listen_address_comes_from_its_command_line(monkeypatch):
    import sys
    import types
    host = pack_module(load_pack(), "nodes.host")
    assert host.listen_addresses() == ("127.0.0.1",)  # no ComfyUI: its default
    cli_args = types.ModuleType("comfy.cli_args")
    cli_args.args = types.SimpleNamespace(listen="0.0.0.0,::", port=8188)
    monkeypatch.setitem(sys.modules, "comfy", types.ModuleType("comfy"))
    monkeypatch.setitem(sys.modules, "comfy.cli_args", cli_args)
    assert host.listen_addresses() == ("0.0.0.0", "::")


def test_a_huge_entry_id_and_deeply_nested_json_are_400s_that_say_why(routes):
    deep = "[" * 100_000 + "]" * 100_000
    deep_object = '{"prompt": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"

    async def script(client):
        return [await _send(client, "POST", "/apikley_wan/entries/" + "9" * 40 + "/abandon", json={}),
                await _send(client, "POST", "/apikley_wan/entries/" + "9" * 19 + "/abandon", json={}),
                await _send(client, "POST", "/apikley_wan/key", data=deep, headers={"Content-Type": "application/json"}),
                await _send(client, "POST", "/apikley_wan/estimate", data=deep_object,
                            headers={"Content-Type": "application/json"}),
                await _send(client, "POST", "/apikley_wan/budget", data=deep, headers={"Content-Type": "application/json"}),
                await _send(client, "POST", "/apikley_wan/credits", data=deep, headers={"Content-Type": "application/json"})]

    (huge, long_, *nested) = talk(routes, script)
    assert huge[0] == 400 and "at most 18 digits" in huge[1] and "9" * 21 not in huge[1]
    assert long_[0] == 400
    assert [status for status, _ in nested] == [400] * 4
    assert all("nested too deeply" in text for _, text in nested)


@pytest.mark.parametrize("depth", [500, 100_000])
def test_a_providers_deeply_nested_answer_is_a_clear_502_not_a_raw_500(routes, api, depth):
    """Every byte from the provider is untrusted: a balance answer nested deeper than a decoder goes."""
    nested = b'{"code": 200, "data": ' + b"[" * depth + b"]" * depth + b"}"
    api.on("GET", BALANCE, lambda h: h.raw(nested, "application/json"))

    status, text = talk(routes, lambda client: _send(client, "POST", "/apikley_wan/credits", json={"refresh": True}))
    assert status == 502 and "body starts" in text and '"ok": false' in text
