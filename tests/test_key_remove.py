"""Removing the saved key (Settings' Remove key: POST /apikley_wan/key/remove) and the fingerprint of a
short key: the file goes, a key from the environment stays and the answer says so, another site
cannot remove it, and a key of 8 characters or fewer shows its length, never a character."""

from __future__ import annotations

from apikley_wan.panel import account
from apikley_wan.settings import config
from test_routes import KEY, _call, _key_file, long_key_sim, routes, talk  # noqa: F401 - fixtures

REMOVE = "/apikley_wan/key/remove"


def test_a_saved_key_is_removed_and_the_status_says_none(routes, state_dir, caplog):  # noqa: F811
    async def script(client):
        await _call(client, "POST", "/apikley_wan/key", json={"key": KEY})
        saved = _key_file(state_dir).is_file()
        removed = await _call(client, "POST", REMOVE, json={})
        again = await _call(client, "POST", REMOVE, json={})
        status = await _call(client, "GET", "/apikley_wan/key")
        return saved, removed, again, status

    saved, (code, removed), (_, again), (_, status) = talk(routes, script)
    assert saved and not _key_file(state_dir).exists()
    assert code == 200 and removed["removed"] is True and removed["source"] == "none"
    assert removed["fingerprint"] == "" and "removed" in removed["msg"]
    assert again["removed"] is False and again["msg"] == "No key was saved."
    assert status["source"] == "none"
    assert KEY not in caplog.text


def test_a_key_from_the_environment_cannot_be_removed_here(routes, state_dir, monkeypatch):  # noqa: F811
    config.save_api_key("sk-file-key-00000000", config.state_dir())
    monkeypatch.setenv("APIKLEY_API_KEY", KEY)

    async def script(client):
        return await _call(client, "POST", REMOVE, json={}), await _call(client, "POST", REMOVE, json={})

    (code, first), (_, second) = talk(routes, script)
    assert code == 200 and first["removed"] is True and first["source"] == "env"
    assert "Saved key removed" in first["msg"] and "APIKLEY_API_KEY" in first["msg"]
    assert second["removed"] is False and "cannot be removed here" in second["msg"]
    assert second["fingerprint"] == "••••A1B2" and not _key_file(state_dir).exists()


def test_another_site_cannot_remove_the_key(routes, state_dir):  # noqa: F811
    config.save_api_key(KEY, config.state_dir())

    async def script(client):
        return (await _call(client, "POST", REMOVE, json={}, headers={"Origin": "http://evil.example"}),
                await _call(client, "POST", REMOVE, data="{}", headers={"Content-Type": "text/plain"}))

    (evil, _), (plain, _) = talk(routes, script)
    assert (evil, plain) == (403, 415) and _key_file(state_dir).read_text() == KEY


def test_a_short_key_shows_its_length_and_no_character(state_dir):
    for key in ("wxyzWV", "QWOPQWOP"):  # letters the message itself never has
        config.save_api_key(key, config.state_dir())
        shown = account.key_status(state_dir)["fingerprint"]
        assert shown == f"•••• ({len(key)} characters)"
        assert not any(c in shown for c in key)
    config.save_api_key("sk-0123456789A1B2", config.state_dir())
    assert account.key_status(state_dir)["fingerprint"] == "••••A1B2"
