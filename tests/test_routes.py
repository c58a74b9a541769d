"""The pack's server routes (nodes/routes.py) on a plain aiohttp app, against the simulator:
request in, JSON out; the key is validated before it is saved, saved with mode 600, and never
echoed or logged."""

from __future__ import annotations

import asyncio
import importlib
import logging
import stat
import time
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from apikley_wan.simulator import Simulator
from conftest import load_pack, use_pack_runtime

KEY = "sk-test-0123456789A1B2"  # long enough to have a fingerprint: ••••A1B2
WRONG = "sk-wrong-99999999ZZZZ"
JSON = {"Content-Type": "application/json"}


def _module(pack, name):
    return importlib.import_module(f"{pack.__name__}.{name}")


@pytest.fixture
def long_key_sim():
    with Simulator(api_key=KEY, task_seconds=1.5, null_seconds=0.3) as running:
        yield running


@pytest.fixture
def routes(state_dir, long_key_sim, tmp_path, monkeypatch, caplog):
    """The routes module of the pack, fresh state, pointed at the simulator; logs captured."""
    pack = load_pack()
    monkeypatch.setenv("APIKLEY_BASE_URL", long_key_sim.base_url)
    module = _module(pack, "nodes.routes")
    use_pack_runtime(pack, tmp_path / "output", monkeypatch)  # set up again from this test's folders
    caplog.set_level(logging.DEBUG)
    return module


class _Server:
    """Stands in for PromptServer: register() only uses its route table."""

    def __init__(self):
        self.routes = web.RouteTableDef()


def talk(routes, script, cache=None):
    """Run ``await script(client)`` against an app holding the pack's routes (with ComfyUI's
    100 MB body limit, so the routes' own limits are what is tested)."""
    server = _Server()
    routes.register(server, _module(load_pack(), "nodes.service").state(), credits_cache=cache)
    app = web.Application(client_max_size=100 * 1024 * 1024)
    app.add_routes(server.routes)

    async def main():
        async with TestClient(TestServer(app)) as client:
            return await script(client)

    return asyncio.run(main())


async def _call(client, method, path, **kw):
    resp = await client.request(method, path, **kw)
    text = await resp.text()
    assert KEY not in text and WRONG not in text, "a route echoed the key"
    return resp.status, await resp.json()


def _key_file(state_dir: Path) -> Path:
    return state_dir / "api_key"


def test_a_valid_key_is_checked_then_saved_with_mode_600(routes, state_dir, caplog):
    async def script(client):
        before = await _call(client, "GET", "/apikley_wan/key")
        saved = await _call(client, "POST", "/apikley_wan/key", json={"key": f"  {KEY}\n"})
        after = await _call(client, "GET", "/apikley_wan/key")
        return before, saved, after

    before, (status, saved), after = talk(routes, script)
    assert before == (200, {"source": "none", "fingerprint": "", "env_var": "APIKLEY_API_KEY",
                            "key_file": str(_key_file(state_dir))})
    assert status == 200 and saved["ok"] is True and saved["fingerprint"] == "••••A1B2"
    assert saved["source"] == "file" and saved["credits"] == 1000.0 and "••••A1B2" in saved["msg"]
    path = _key_file(state_dir)
    assert path.read_text() == KEY and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert after[1]["source"] == "file" and after[1]["fingerprint"] == "••••A1B2"
    assert KEY not in caplog.text


def test_a_refused_key_keeps_the_old_one_and_says_why(routes, state_dir, long_key_sim, caplog):
    async def script(client):
        await _call(client, "POST", "/apikley_wan/key", json={"key": KEY})
        refused = await _call(client, "POST", "/apikley_wan/key", json={"key": WRONG})
        malformed = await _call(client, "POST", "/apikley_wan/key", json={"key": "two words"})
        missing = await _call(client, "POST", "/apikley_wan/key", data="not json", headers=JSON)
        return refused, malformed, missing

    (status, refused), malformed, missing = talk(routes, script)
    assert status == 422 and refused["ok"] is False
    assert "refused" in refused["msg"] and "401" in refused["msg"] and "unchanged" in refused["msg"]
    assert refused["source"] == "file" and refused["fingerprint"] == "••••A1B2"
    assert malformed[0] == 400 and missing[0] == 400
    assert _key_file(state_dir).read_text() == KEY
    assert WRONG not in caplog.text and KEY not in caplog.text
    assert ("GET", "/api/v1/chat/credit", 401) in long_key_sim.requests_log


def test_an_unreachable_api_saves_nothing(routes, state_dir, monkeypatch):
    monkeypatch.setenv("APIKLEY_BASE_URL", "http://127.0.0.1:9")  # discard port: nothing listens

    status, body = talk(routes, lambda client: _call(client, "POST", "/apikley_wan/key", json={"key": KEY}))
    assert status == 502 and body["ok"] is False, body
    assert body["msg"].startswith("The key could not be checked: the API did not answer: connection refused (127.0.0.1:9")
    assert "did not accept" not in body["msg"] and "APIKLEY_BASE_URL" in body["msg"]
    assert not _key_file(state_dir).exists() and body["source"] == "none"


def test_the_environment_key_wins_and_the_answer_says_so(routes, state_dir, monkeypatch):
    monkeypatch.setenv("APIKLEY_API_KEY", KEY)

    async def script(client):
        return (await _call(client, "GET", "/apikley_wan/key"),
                await _call(client, "POST", "/apikley_wan/key", json={"key": KEY}))

    (_, status_body), (code, saved) = talk(routes, script)
    assert status_body["source"] == "env" and status_body["fingerprint"] == "••••A1B2"
    assert code == 200 and saved["source"] == "env" and "APIKLEY_API_KEY" in saved["msg"] and "wins" in saved["msg"]


def test_the_key_file_goes_to_comfyuis_user_folder_beside_the_journal(routes, tmp_path, monkeypatch):
    pack = load_pack()
    monkeypatch.delenv("APIKLEY_STATE_DIR")
    user = tmp_path / "comfy_user"
    monkeypatch.setattr(_module(pack, "nodes.host"), "user_dir", lambda: user)

    talk(routes, lambda client: _call(client, "POST", "/apikley_wan/key", json={"key": KEY}))
    key_file = user / "apikley_wan" / "api_key"
    assert key_file.read_text() == KEY and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (user / "apikley_wan" / "journal.sqlite").is_file()


def test_credits_are_cached_for_30_seconds(routes, long_key_sim, monkeypatch):
    pack = load_pack()
    now = [1000.0]
    cache = _module(pack, "apikley_wan.panel.account").CreditsCache(clock=lambda: now[0])

    async def script(client):
        answers = [await _call(client, "POST", "/apikley_wan/credits", json={})]
        await _call(client, "POST", "/apikley_wan/key", json={"key": KEY})
        long_key_sim.credits = 500
        answers.append(await _call(client, "POST", "/apikley_wan/credits", json={}))  # primed by the key check
        now[0] += 10
        answers.append(await _call(client, "POST", "/apikley_wan/credits", json={}))
        now[0] += 25
        answers.append(await _call(client, "POST", "/apikley_wan/credits", json={}))  # 35 s: asks again
        long_key_sim.credits = 400
        answers.append(await _call(client, "POST", "/apikley_wan/credits", json={"refresh": True}))
        return answers

    no_key, primed, cached, expired, refreshed = talk(routes, script, cache)
    assert no_key[0] == 409 and "no API key" in no_key[1]["msg"]
    assert primed == (200, {"ok": True, "credits": 1000.0, "usd": 5.0, "age_s": 0.0, "ttl_s": 30.0})
    assert cached[1]["credits"] == 1000.0 and cached[1]["age_s"] == 10.0
    assert expired[1]["credits"] == 500.0 and refreshed[1]["credits"] == 400.0
    credit_calls = [r for r in long_key_sim.requests_log if r[1] == "/api/v1/chat/credit"]
    assert len(credit_calls) == 3  # key check, expiry, refresh


def test_prices_come_from_the_one_table(routes):
    status, body = talk(routes, lambda client: _call(client, "GET", "/apikley_wan/prices"))
    assert status == 200 and body["estimate"] is True and body["usd_per_credit"] == 0.005
    assert body["credits"] == {"5/720p": 70.0, "5/1080p": 104.5, "10/720p": 140.0, "10/1080p": 209.5}
    assert "estimate" in body["note"].lower()


def _foreign_task(sim, clip) -> str:
    from apikley_wan.api.client import ApikleyClient
    from apikley_wan.api.tasks import build_create_body
    client = ApikleyClient(api_key=KEY, base_url=sim.base_url)
    return client.create_task(build_create_body("a cat juggles", [client.upload(clip)], "5", "720p"))


def test_recent_tasks_and_collect_never_create_a_task(routes, long_key_sim, reference_clip, tmp_path, monkeypatch):
    monkeypatch.setenv("APIKLEY_API_KEY", KEY)
    task_id = _foreign_task(long_key_sim, reference_clip)
    journal = _module(load_pack(), "nodes.service").state().journal
    journal.adopt(task_id, {"prompt": "a cat juggles", "duration": "5", "resolution": "720p",
                            "callback_secret": "s3cret", "video_urls": ["https://x/y.mp4"]})

    async def script(client):
        listed = await _call(client, "GET", "/apikley_wan/tasks?limit=5")
        collected = await _call(client, "POST", f"/apikley_wan/tasks/{task_id}/collect", json={})
        one = await _call(client, "GET", f"/apikley_wan/tasks?task_id={task_id}")
        unknown = await _call(client, "POST", "/apikley_wan/tasks/nope/collect", json={})
        bad_limit = await _call(client, "GET", "/apikley_wan/tasks?limit=x")
        return listed, collected, one, unknown, bad_limit

    listed, (status, collected), one, unknown, bad_limit = talk(routes, script)
    row = listed[1]["tasks"][0]
    assert row["task_id"] == task_id and row["state"] == "waiting" and row["collectable"] is True
    assert row["duration"] == "5" and row["prompt"] == "a cat juggles"
    assert "callback_secret" not in str(listed) and "video_urls" not in str(listed)
    assert status == 200 and collected["ok"] is True
    done = collected["task"]
    assert done["state"] == "success" and done["result_exists"] and done["cost_credits"] == 70.0
    assert Path(done["result_path"]).parent == tmp_path / "output" / "apikley_wan"
    assert done["result_file"] == Path(done["result_path"]).name and done["finished_at"] >= done["created_at"]
    assert one[1]["tasks"] == [done]
    assert unknown[0] == 404 and bad_limit[0] == 400
    assert long_key_sim.create_count == 1  # only the task made above


def test_a_second_collect_of_the_same_task_waits_its_turn(routes):
    task_rows = _module(load_pack(), "apikley_wan.panel.task_rows")
    errors = _module(load_pack(), "apikley_wan.errors")
    runtime = _module(load_pack(), "nodes.service").state()
    runtime.journal.adopt("busy-task")
    collector = task_rows.Collector()

    async def script():
        release = asyncio.Event()

        class _Slow:
            async def collect(self, task_id):
                await release.wait()
                raise errors.ApikleyError("stopped for the test")

        runtime.pipeline = lambda cancel: _Slow()
        first = asyncio.ensure_future(collector.collect(runtime, "busy-task"))
        while "busy-task" not in collector._busy:
            await asyncio.sleep(0.01)
        with pytest.raises(errors.BusyError):  # the route answers 409
            await collector.collect(runtime, "busy-task")
        release.set()
        with pytest.raises(errors.ApikleyError, match="stopped for the test"):  # the route answers 502
            await first
        with pytest.raises(errors.ApikleyError, match="stopped for the test"):  # free again
            await collector.collect(runtime, "busy-task")
    asyncio.run(script())


def test_cancel_stops_the_panels_collect_of_a_pending_task_within_a_second(routes, long_key_sim, reference_clip,
                                                                          monkeypatch):
    """Collect is a coroutine on the server's loop: the cancel route ends its wait (the task stays recorded,
    still collectable), and the loop is never held meanwhile."""
    monkeypatch.setenv("APIKLEY_API_KEY", KEY)
    long_key_sim.task_seconds = 600
    task_id = _foreign_task(long_key_sim, reference_clip)
    _module(load_pack(), "nodes.service").state().journal.adopt(task_id)

    async def script(client):
        collecting = asyncio.ensure_future(_call(client, "POST", f"/apikley_wan/tasks/{task_id}/collect", json={}))
        await asyncio.sleep(0.5)  # the collect is waiting; the loop still answers
        listed = await _call(client, "GET", f"/apikley_wan/tasks?task_id={task_id}")
        asked = time.monotonic()
        cancelled = await _call(client, "POST", f"/apikley_wan/tasks/{task_id}/collect/cancel", json={})
        status, body = await collecting
        return listed, cancelled, status, body, time.monotonic() - asked

    listed, cancelled, status, body, took = talk(routes, script)
    assert listed[0] == 200 and listed[1]["tasks"][0]["state"] == "waiting"
    assert cancelled == (200, {"ok": True, "cancelled": True})
    assert status == 200 and body["ok"] is False and body["stopped"] is True, body  # stopped, as asked
    assert body["task"]["collectable"] is True and body["task"]["state"] == "waiting", body
    assert took < 1.0, f"the collect stopped {took:.2f} s after Cancel"
    assert long_key_sim.create_count == 1


# --- what another site can make the browser send ------------------------------------------------

def test_only_the_pages_own_json_posts_change_state(routes, state_dir, caplog, monkeypatch):
    """A form or a sandboxed iframe (Origin: null) on any site must not replace the key."""
    monkeypatch.setenv("APIKLEY_ALLOWED_HOSTS", "comfy.example")  # the proxy's name, listed by its user
    key, collect = "/apikley_wan/key", "/apikley_wan/tasks/nope/collect"
    local = {"Host": "localhost:8188"}

    async def script(client):
        body = f'{{"key": "{KEY}"}}'
        return {
            "text/plain": await _call(client, "POST", key, data=body, headers={"Content-Type": "text/plain"}),
            "form": await _call(client, "POST", key, data={"key": KEY}),
            "null origin": await _call(client, "POST", key, json={"key": KEY}, headers={"Origin": "null"}),
            "other site": await _call(client, "POST", key, json={"key": KEY},
                                      headers={**local, "Origin": "http://evil.example"}),
            "other port": await _call(client, "POST", key, json={"key": KEY},
                                      headers={**local, "Origin": "http://localhost:9999"}),
            "rebound name": await _call(client, "POST", key, json={"key": KEY},
                                        headers={**local, "Origin": "http://localhost.evil.example:8188"}),
            "collect, no body": await _call(client, "POST", collect),
            "collect, null origin": await _call(client, "POST", collect, json={}, headers={"Origin": "null"}),
            "collect, own page": await _call(client, "POST", collect, json={},
                                             headers={**local, "Origin": "http://localhost:8188"}),
            "behind a proxy": await _call(client, "POST", collect, json={},
                                          headers={"Host": "comfy.example", "Origin": "https://comfy.example"}),
            "own page": await _call(client, "POST", key, json={"key": KEY},
                                    headers={**local, "Origin": "http://LOCALHOST:8188"}),
        }

    answers = talk(routes, script)
    codes = {name: status for name, (status, _) in answers.items()}
    assert codes == {"text/plain": 415, "form": 415, "null origin": 403, "other site": 403, "other port": 403,
                     "rebound name": 403, "collect, no body": 415, "collect, null origin": 403,
                     "collect, own page": 404, "behind a proxy": 404, "own page": 200}
    assert all(body["ok"] is False and body["msg"] for status, body in answers.values() if status != 200)
    assert _key_file(state_dir).read_text() == KEY  # written only by the last, same-origin request
    assert "from another site" in caplog.text


@pytest.mark.parametrize("pasted", ["sk-test-0123456789\u200bA1B2", "sk-test-0123456789\u00e9A1B2",
                                    "sk-test-0123\t456789A1B2", "sk-test-0123456789A1B2\x7f", "abc",
                                    "x" * 257, 12345678, None])
def test_a_key_that_cannot_be_a_header_is_a_clear_400(routes, state_dir, long_key_sim, pasted):
    async def script(client):
        resp = await client.post("/apikley_wan/key", json={"key": pasted})
        return resp.status, await resp.json()

    status, body = talk(routes, script)
    assert status == 400 and body["ok"] is False and "printable ASCII" in body["msg"] and "unchanged" in body["msg"]
    assert not _key_file(state_dir).exists() and not long_key_sim.requests_log


def test_an_unexpected_failure_while_saving_is_a_sentence_without_the_key(routes, state_dir, monkeypatch, caplog):
    config = _module(load_pack(), "apikley_wan.settings.config")

    def refuse(key, folder=None):
        raise PermissionError(13, f"Permission denied writing {key}")

    monkeypatch.setattr(config, "save_api_key", refuse)
    status, body = talk(routes, lambda client: _call(client, "POST", "/apikley_wan/key", json={"key": KEY}))
    assert status == 500 and body["ok"] is False and "could not be saved" in body["msg"]
    assert "Permission denied" in body["msg"] and "Traceback" not in caplog.text and KEY not in caplog.text


def test_an_unexpected_client_error_is_a_sentence_without_the_key(routes, caplog, tmp_path):
    account = _module(load_pack(), "apikley_wan.panel.account")

    class Exploding:
        def __init__(self, api_key, **kw):
            self.api_key = api_key

        def credits(self):
            raise ValueError(f"Invalid header value b'Bearer {self.api_key}'")

    errors = _module(load_pack(), "apikley_wan.errors")
    with pytest.raises(errors.KeyNotStoredError) as err:  # the route answers 500
        account.save_key(KEY, tmp_path / "state", account.CreditsCache(), client_factory=Exploding)
    message = err.value.user_message()
    assert "ValueError" in message and "unchanged" in message
    assert KEY not in message and KEY not in caplog.text


# --- the provider's callback ----------------------------------------------------------------------

@pytest.fixture
def board(routes, monkeypatch):
    """A fresh callback board holding one secret, waited on for task ``task-1``."""
    callbacks = _module(load_pack(), "apikley_wan.api.callbacks")
    fresh = callbacks.CallbackBoard()
    monkeypatch.setattr(_module(load_pack(), "nodes.service").state(), "callbacks", fresh)
    monkeypatch.delenv("APIKLEY_WEBHOOK_HMAC_KEY", raising=False)
    secret = fresh.new_secret()
    return fresh, secret, fresh.waiter(secret, "task-1")


def test_an_unknown_secret_is_refused_before_the_body_is_read(routes, board):
    async def script(client):
        return await _call(client, "POST", "/apikley_wan/callback/unknown", data=b"{not json",
                           headers={"Content-Type": "application/json"})

    status, body = talk(routes, script)
    assert status == 404 and body["ok"] is False


def test_an_oversized_callback_is_refused_unparsed(routes, board, monkeypatch):
    _, secret, wake = board
    path = f"/apikley_wan/callback/{secret}"
    big = b'{"data": {"taskId": "task-1", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}}'
    parsed = []
    monkeypatch.setattr(routes.json, "loads", lambda text: parsed.append(len(text)))

    async def chunks():
        for start in range(0, len(big), 64 * 1024):
            yield big[start:start + 64 * 1024]

    async def script(client):
        return (await _call(client, "POST", path, data=big, headers=JSON),
                await _call(client, "POST", path, data=chunks(), headers=JSON))  # chunked: no Content-Length

    declared, streamed = talk(routes, script)
    assert declared[0] == 413 and streamed[0] == 413 and parsed == [] and not wake.is_set()


@pytest.mark.parametrize("raw", [b'{"data": [1], "taskId": "task-1"}', b'{"data": {"taskId": 5}}', b'[1]',
                                 b'"task-1"', b"{not json", b"\xff\xfe", b"[" * 100000])
def test_a_misshapen_callback_is_a_400(routes, board, raw):
    _, secret, wake = board
    status, body = talk(routes, lambda client: _call(client, "POST", f"/apikley_wan/callback/{secret}",
                                                     data=raw, headers=JSON))
    assert status == 400 and body["ok"] is False and not wake.is_set()


def test_every_valid_callback_only_wakes_the_waiter(routes, board):
    fresh, secret, wake = board
    path = f"/apikley_wan/callback/{secret}"
    forged = {"data": {"taskId": "task-1", "state": "success", "consumeCredits": 0.01}}
    real = {"data": {"taskId": "task-1", "state": "success", "consumeCredits": 70}}

    async def script(client):
        first = await _call(client, "POST", path, json=forged)
        woke_first = wake.is_set()
        wake.clear()  # as the waiter does before its confirming poll
        second = await _call(client, "POST", path, json=real)
        return first, woke_first, second

    first, woke_first, second = talk(routes, script)
    assert first == (200, {"ok": True, "msg": "ok"}) and woke_first
    assert second == (200, {"ok": True, "msg": "ok"}) and wake.is_set()


def test_preview_ui_names_the_result_like_save_video(routes, tmp_path):
    preview = _module(load_pack(), "nodes.preview")
    saved = tmp_path / "output" / "apikley_wan" / "wan26_v2v_abc.mp4"
    assert preview.preview_ui(str(saved)) == {
        "images": [{"filename": "wan26_v2v_abc.mp4", "subfolder": "apikley_wan", "type": "output"}],
        "animated": [True]}
    assert preview.preview_ui(str(tmp_path / "elsewhere.mp4")) == {"images": [], "animated": []}
    assert preview.preview_ui(None) == {"images": [], "animated": []}
