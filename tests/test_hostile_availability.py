"""Stuck API calls never hold up what needs no API call (issue 16, item 15): a provider that drip-feeds
its answers a byte at a time, against the real client and pipeline over real sockets
(tests/hostile_api.py). Each API call has a total deadline, Cancel shuts a read's socket (a create's
answer is still awaited: it holds the task id), and a re-use or a poll needs no worker a create holds."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from apikley_wan.record import entry as jr
from apikley_wan.api.cancel import Cancel
from apikley_wan.api.client import ApikleyClient
from apikley_wan.api.tasks import build_create_body
from apikley_wan.errors import RunCancelledError, CreateUncertainError, NetworkError
from apikley_wan.run.pipeline import Pipeline
from apikley_wan.record.sqlite import Journal
from apikley_wan.money.report import COLLECTED, PAID, REUSED
from apikley_wan.run.request import GenerationRequest, Reference
from conftest import cancel_after, fast_runtime, wait_until
from hostile_api import HostileApi

KEY = "sk-hostile-availability-3c9e71"
CREATE = ("POST", "/api/v1/jobs/createTask")
STATUS = ("GET", "/api/v1/jobs/recordInfo")
STUCK = 12  # as many creates as the pack had workers


@pytest.fixture
def api():
    with HostileApi(KEY) as running:
        yield running


def _finishes_within(seconds: float, work) -> tuple:
    """``work()`` on a thread: (its outcome or the exception it raised, seconds taken), or None when it
    had not finished after ``seconds`` (the thread is left to end on its own)."""
    outcome: list = []
    started = time.monotonic()

    def run():
        try:
            outcome.append(work())
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)
        outcome.append(time.monotonic() - started)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return tuple(outcome) if len(outcome) == 2 else None


def test_an_api_call_ends_at_its_deadline_however_slowly_its_answer_drips(api):
    """A balance whose body drips, a status whose header drips (each byte well inside the socket timeout),
    a create whose answer drips: each call ends at its 1 s deadline; the create is one request, uncertain."""
    def slow_header(h):
        h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
        while not api.drips_end.is_set():
            h.wfile.write(b"a")
            h.wfile.flush()
            time.sleep(0.05)

    api.on("GET", "/api/v1/chat/credit", lambda h: h.drip(100_000, every_s=0.05))
    api.on(*STATUS, slow_header)
    api.on(*CREATE, lambda h: h.drip(100_000, every_s=0.05))
    client = ApikleyClient(api_key=KEY, base_url=api.base_url, call_deadline_s=1.0)
    body = build_create_body("character1 waits", [api.base_url + "/files/uploaded.mp4"], "5", "720p")

    balance = _finishes_within(10, lambda: client.credits(attempts=1))
    status = _finishes_within(10, lambda: client.get_task("0" * 32, attempts=1))
    create = _finishes_within(10, lambda: client.create_task(body))
    print(f"dripped answers ended after {balance and balance[1]:.2f} s (balance), {status and status[1]:.2f} s "
          f"(status), {create and create[1]:.2f} s (create)")
    assert balance and isinstance(balance[0], NetworkError) and balance[1] < 3
    assert "no complete answer within 1 s" in balance[0].user_message()
    assert status and isinstance(status[0], NetworkError) and status[1] < 3
    assert create and isinstance(create[0], CreateUncertainError) and create[1] < 3
    assert api.count(*CREATE) == 1


def test_cancel_shuts_a_polls_socket_but_a_creates_answer_is_still_read(api):
    api.on(*STATUS, lambda h: h.drip(100_000, every_s=0.05))
    cancel = Cancel()
    poller = ApikleyClient(api_key=KEY, base_url=api.base_url, cancel=cancel)
    set_at = cancel_after(api.dripping, cancel, delay=0.2)
    poll = _finishes_within(10, lambda: poller.get_task("0" * 32, attempts=1))
    felt = time.monotonic() - set_at[0] if poll else None  # the poll ended this long after Cancel
    assert poll and isinstance(poll[0], RunCancelledError), poll
    print(f"a dripping poll ended {felt:.2f} s after Cancel")
    assert felt < 1.0

    api.dripping.clear()
    answer = json.dumps({"code": 200, "data": {"taskId": api.task_id}}).encode()
    api.on(*CREATE, lambda h: h.drip(0, every_s=0.02, body=answer))
    cancel = Cancel()
    creator = ApikleyClient(api_key=KEY, base_url=api.base_url, cancel=cancel)
    body = build_create_body("character1 waits", [api.base_url + "/files/uploaded.mp4"], "5", "720p")
    cancel_after(api.dripping, cancel, delay=0.1)
    create = _finishes_within(20, lambda: creator.create_task(body))
    assert create and create[0] == api.task_id  # cancelled mid-answer, the task id was still read


def _request(prompt: str, api: HostileApi) -> GenerationRequest:
    return GenerationRequest(prompt, "5", "720p", [Reference(url=api.base_url + "/files/uploaded.mp4")])


def test_a_reuse_and_a_poll_finish_at_once_behind_12_creates_stuck_on_dripping_answers(api, tmp_path):
    # one process: one Runtime, whose worker lanes every run shares
    journal = Journal(tmp_path / "journal.sqlite")
    runtime = fast_runtime(tmp_path / "results", journal, state_dir=tmp_path / "state")

    def pipeline(cancel: Cancel) -> Pipeline:
        return runtime.pipeline(cancel, client=ApikleyClient(api_key=KEY, base_url=api.base_url, cancel=cancel))

    async def scenario():
        paid = await pipeline(Cancel()).generate_video(_request("character1 dances, paid once", api))
        api.on(*CREATE, lambda h: h.drip(1_000_000, every_s=0.05))
        cancels = [Cancel() for _ in range(STUCK)]
        stuck = [asyncio.ensure_future(pipeline(c).generate_video(_request(f"character1 take {i}", api)))
                 for i, c in enumerate(cancels)]
        while not (api.dripping.is_set() and api.count(*CREATE) >= 2):  # the first create is the paid one
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # every create that can start has started
        on_the_wire = api.count(*CREATE) - 1
        for cancel, run in zip(cancels, stuck):  # what ComfyUI's Cancel does (nodes/waiting.py)
            cancel.set()
            run.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)

        started = time.monotonic()
        try:
            reused = await asyncio.wait_for(pipeline(Cancel()).generate_video(_request("character1 dances, paid once", api)), 10)
            reuse_s = time.monotonic() - started
            collected = await asyncio.wait_for(pipeline(Cancel()).collect("fedcba9876543210fedcba9876543210"), 10)
            collect_s = time.monotonic() - started - reuse_s
        finally:
            api.drips_end.set()
        return paid, on_the_wire, reused, reuse_s, collected, collect_s

    paid, on_the_wire, reused, reuse_s, collected, collect_s = asyncio.run(scenario())
    print(f"{on_the_wire} creates stuck on the wire; behind them a re-use took {reuse_s:.2f} s, "
          f"a collect (polls and a download) {collect_s:.2f} s")
    assert paid.outcome == PAID and reused.outcome == REUSED and reused.task_id == paid.task_id
    assert reused.result_path == paid.result_path
    assert collected.outcome == COLLECTED and collected.state == jr.SUCCESS
    assert reuse_s < 2.0 and collect_s < 5.0
    assert 1 <= on_the_wire < STUCK  # the creates have workers of their own, fewer than 12
    # the stuck creates end once their answers do: each entry is uncertain or was never sent, none creating
    wait_until(lambda: all(e.state != jr.CREATING for e in journal.recent(50)), 20, "the stuck creates ending")
    sent = [e for e in journal.recent(50) if e.state == jr.UNCERTAIN]
    assert len(sent) == on_the_wire and api.count(*CREATE) == 1 + on_the_wire
