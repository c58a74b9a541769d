"""The callback board: a delivery is checked (secret, task id, signature) and then only wakes
the waiter; nothing from its body is kept, so no delivery can shadow a later one."""

from __future__ import annotations

import time

import pytest

from apikley_wan.api.callbacks import CallbackBoard, signature

HMAC_KEY = "webhook-secret"


def _body(task_id="task-1", credits=70):
    return {"code": 200, "data": {"taskId": task_id, "state": "success", "consumeCredits": credits}}


def _signed(task_id="task-1", stamp=None, key=HMAC_KEY):
    stamp = str(int(time.time()) if stamp is None else stamp)
    return {"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": signature(task_id, stamp, key)}


@pytest.fixture
def board():
    fresh = CallbackBoard()
    secret = fresh.new_secret()
    return fresh, secret, fresh.waiter(secret, "task-1")


def test_only_handed_out_secrets_are_known(board):
    fresh, secret, _ = board
    assert fresh.knows(secret) and not fresh.knows("guessed")
    assert fresh.receive("guessed", _body(), {}, None) == (404, "unknown callback")


def test_a_forged_callback_cannot_shadow_the_real_one(board):
    """Without an HMAC key a known secret is enough to deliver; it may wake, never decide."""
    fresh, secret, wake = board
    assert fresh.receive(secret, _body(credits=0.01), {}, None) == (200, "ok") and wake.is_set()
    wake.clear()
    assert fresh.receive(secret, _body(credits=70), {}, None) == (200, "ok") and wake.is_set()


def test_a_signed_replay_only_wakes_again(board):
    fresh, secret, wake = board
    headers = _signed()
    assert fresh.receive(secret, _body(), headers, HMAC_KEY) == (200, "ok")
    wake.clear()
    swapped = _body(credits=0.01)
    assert fresh.receive(secret, swapped, headers, HMAC_KEY) == (200, "ok") and wake.is_set()


@pytest.mark.parametrize("headers, why", [
    ({}, "missing or stale signature timestamp"),
    (_signed(stamp=int(time.time()) - 3600), "missing or stale signature timestamp"),
    ({"X-Webhook-Timestamp": "\u00b2", "X-Webhook-Signature": "x"}, "missing or stale signature timestamp"),
    ({"X-Webhook-Timestamp": "9" * 5000, "X-Webhook-Signature": "x"}, "missing or stale signature timestamp"),
    (_signed(key="other-key"), "bad signature"),
    (_signed(task_id="task-2"), "bad signature"),
    ({**_signed(), "X-Webhook-Signature": "s\u00efgnature"}, "bad signature"),
])
def test_a_bad_signature_is_refused_and_wakes_nobody(board, headers, why):
    fresh, secret, wake = board
    assert fresh.receive(secret, _body(), headers, HMAC_KEY) == (401, why)
    assert not wake.is_set()


def test_header_names_are_case_insensitive(board):
    fresh, secret, wake = board
    headers = {name.upper(): value for name, value in _signed().items()}
    assert fresh.receive(secret, _body(), headers, HMAC_KEY) == (200, "ok") and wake.is_set()


@pytest.mark.parametrize("payload", [[1], "task-1", None, {"data": [1], "taskId": "task-1"},
                                     {"data": {"taskId": 5}}, {"data": {"taskId": ""}}, {"data": {}}])
def test_a_misshapen_body_is_a_400(board, payload):
    fresh, secret, wake = board
    assert fresh.receive(secret, payload, {}, None) == (400, "no task id in data.taskId")
    assert not wake.is_set()


def test_another_tasks_callback_is_refused(board):
    fresh, secret, wake = board
    assert fresh.receive(secret, _body(task_id="task-2"), {}, None) == (400, "task id does not match")
    assert not wake.is_set()
