"""Contract and fault tests: the real client against the simulator over real sockets.

In every fault the simulator must have registered at most one task per intention.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time

import av
import pytest

from apikley_wan.run import watch
from apikley_wan.api.cancel import Cancel
from apikley_wan.api.client import ApikleyClient
from apikley_wan.api.tasks import build_create_body
from apikley_wan.settings.settings import TIMINGS
from apikley_wan.run.workers import Lanes
from apikley_wan.errors import (ApiValidationError, AuthError, BadResponseError, RunCancelledError,
                                CreateUncertainError, DownloadError, GenerationFailedError, InputError,
                                InsufficientCreditsError, NetworkError, ResultMissingError, TaskStillPendingError)
from conftest import FAST, VirtualClock, cancel_after, wait_until

PROMPT = "character1 dances in the rain"


def _client(sim, **kw) -> ApikleyClient:
    kw.setdefault("backoff_start_s", 0.05)
    kw.setdefault("download_backoff_s", 0.01)
    return ApikleyClient(api_key="sim-key", base_url=sim.base_url, **kw)


def wait_for(client, task_id, deadline_s=1800.0, **kw):
    """The pipeline's waiting coroutine (polls on workers, sleeps on a loop), from a plain test; with
    the suite's fast timings unless a test passes the production ``TIMINGS``."""
    kw.setdefault("timings", FAST)

    async def waiting():
        return await watch.wait_for_task(client, task_id, Lanes().api.run, deadline_s=deadline_s, **kw)
    return asyncio.run(waiting())


def _record(seen: list, finish=None):
    """An on_status that notes each state; with ``finish=(sim, task_id)`` it also makes the task due as
    soon as the wait has seen it pending (the task was created with a long ``task_seconds``)."""
    async def on_status(info):
        seen.append(info.state)
        if finish is not None and len(seen) == 1:
            sim, task_id = finish
            sim.tasks[task_id].finish_now.set()
    return on_status


class _RecordingCancel(Cancel):
    """Notes every backoff the client asks for and lets it pass at once: the schedule is asserted
    exactly instead of being waited out."""

    def __init__(self):
        super().__init__()
        self.backoffs: list = []

    def sleep(self, seconds, task_id=None):
        self.backoffs.append(seconds)
        super().sleep(0, task_id)


def _body(client, url, **kw):
    return build_create_body(PROMPT, [url], kw.pop("duration", "5"), kw.pop("resolution", "720p"), **kw)


@pytest.fixture
def uploaded(sim, reference_clip):
    return _client(sim).upload(reference_clip)


def test_full_cycle_over_sockets(sim, uploaded, tmp_path):
    client = _client(sim)
    sim.task_seconds = 60  # pending until the wait has seen it so, then finished
    task_id = client.create_task(_body(client, uploaded))
    seen = []
    info = wait_for(client, task_id, on_status=_record(seen, finish=(sim, task_id)))
    assert info.state == "success" and info.result_urls
    assert seen[-1] == "success" and "waiting" in seen
    out = client.download(info.result_urls[0], tmp_path / "r.mp4", task_id=task_id)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) in ((1280, 720), (720, 1280))
        assert container.streams.audio, "the result keeps an audio track"
    assert sim.create_count == 1
    assert sim.auth_headers_seen_on_file_host == [], "the key must never reach the result host"
    assert client.credits() < 1000.0


def test_upload_small_and_large_files_round_trip(sim, tmp_path):
    client = _client(sim)
    import requests
    for size in (1000, 3 * 1024 * 1024):
        path = tmp_path / f"f{size}.mp4"
        path.write_bytes(bytes(range(256)) * (size // 256))
        url = client.upload(path)
        assert requests.get(url, timeout=10).content == path.read_bytes()


@pytest.mark.parametrize("prompt,urls,duration,resolution", [
    ("x", ["https://a/b.mp4"], "5", "720p"),
    ("y" * 5001, ["https://a/b.mp4"], "5", "720p"),
    (PROMPT, [], "5", "720p"),
    (PROMPT, ["https://a/1.mp4"] * 4, "5", "720p"),
    (PROMPT, ["ftp://a/b.mp4"], "5", "720p"),
    (PROMPT, ["https://a/b.mp4"], "15", "720p"),
    (PROMPT, ["https://a/b.mp4"], "5", "480p"),
])
def test_bad_parameters_fail_before_any_request(sim, prompt, urls, duration, resolution):
    with pytest.raises(InputError):
        build_create_body(prompt, urls, duration, resolution)
    assert sim.create_requests == 0


def test_multi_shots_sent_only_when_true():
    body = build_create_body(PROMPT, ["https://a/b.mp4"], "5", "720p", multi_shots=False)
    assert "multi_shots" not in body["input"]
    body = build_create_body(PROMPT, ["https://a/b.mp4"], "10", "1080p", multi_shots=True,
                                           callback_url="https://me.example/cb")
    assert body["input"]["multi_shots"] is True and body["callBackUrl"] == "https://me.example/cb"


def test_bad_key_is_a_typed_error_without_the_key(sim, uploaded, caplog):
    secret = "sk-THIS-IS-SECRET-123456"
    client = ApikleyClient(api_key=secret, base_url=sim.base_url)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as err:
        client.create_task(_body(client, uploaded))
    assert err.value.code == 401
    assert secret not in str(err.value) and secret not in caplog.text
    assert sim.create_count == 0


def test_rate_limit_and_maintenance_bodies_are_retried_once_proven_refused(sim, uploaded):
    cancel = _RecordingCancel()
    client = _client(sim, cancel=cancel)
    sim.faults.rate_limit_creates = 1
    sim.faults.maintenance = 1
    refused = []
    task_id = client.create_task(_body(client, uploaded), on_refused=refused.append)
    assert task_id
    assert sim.create_count == 1
    assert sim.create_requests == 3 and refused == [1, 2]  # at most CREATE_SENDS_PER_ENTRY requests
    assert cancel.backoffs == [0.5, 1.0], "backoff starts at 0.5 s and grows"


def test_rate_limit_exhausted_raises_typed_error(sim, uploaded):
    client = _client(sim, create_attempts=2)
    sim.faults.rate_limit_creates = 5
    with pytest.raises(Exception) as err:
        client.create_task(_body(client, uploaded))
    assert "rate limit" in str(err.value).lower()
    assert sim.create_count == 0


@pytest.mark.parametrize("fault", ["drop_after_create", "drop_before_create", "server_errors"])
def test_lost_answers_are_never_reposted(sim, uploaded, fault):
    client = _client(sim)
    setattr(sim.faults, fault, 1)
    with pytest.raises(CreateUncertainError) as err:
        client.create_task(_body(client, uploaded))
    assert err.value.credits_may_be_spent
    assert "NOT re-sent" in str(err.value) or "not re-sent" in str(err.value).lower()
    assert sim.create_requests == 1
    assert sim.create_count <= 1


def test_slow_create_times_out_as_uncertain(sim, uploaded):
    client = _client(sim, timeout=(2.0, 0.5))
    sim.faults.slow_seconds = 1.5
    with pytest.raises(CreateUncertainError):
        client.create_task(_body(client, uploaded))
    assert sim.create_requests == 1


def test_refused_connection_is_retried_then_reported(sim):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = ApikleyClient(api_key="test-key", base_url=f"http://127.0.0.1:{port}", create_attempts=3)
    started = time.monotonic()
    refused = []
    with pytest.raises(NetworkError) as err:
        client.create_task(build_create_body(PROMPT, ["https://a/b.mp4"], "5", "720p"),
                           on_refused=refused.append)
    assert not isinstance(err.value, CreateUncertainError)
    assert time.monotonic() - started >= 0.5 + 1.0 - 0.1
    assert refused == [] and "create requests" not in str(err.value)  # none reached the API: none counted


def test_insufficient_credits_is_typed(sim, uploaded):
    sim.credits = 10.0
    client = _client(sim)
    with pytest.raises(InsufficientCreditsError):
        client.create_task(_body(client, uploaded))
    assert sim.create_count == 0


def test_api_validation_error_from_server(sim):
    client = _client(sim)
    body = build_create_body(PROMPT, ["https://a/b.mp4"], "5", "720p")
    body["input"]["duration"] = "15"  # bypass local validation to see the server's answer
    with pytest.raises(ApiValidationError) as err:
        client.create_task(body)
    assert err.value.code == 422


def test_reads_retry_on_proxy_errors(sim, uploaded):
    client = _client(sim)
    task_id = client.create_task(_body(client, uploaded))
    sim.faults.server_errors = 2
    sim.faults.server_error_paths = ("/api/v1/jobs/recordInfo",)
    info = wait_for(client, task_id)
    assert info.state == "success"


def test_non_json_body_is_a_clear_error(sim):
    client = ApikleyClient(api_key="test-key", base_url=sim.files_base_url, read_attempts=1)
    with pytest.raises(BadResponseError) as err:
        client.credits()
    assert "HTTP 404" in str(err.value) and "proxy" in str(err.value)


def test_failed_task_carries_code_message_and_id(sim, uploaded):
    client = _client(sim)
    sim.faults.fail_tasks = True
    task_id = client.create_task(_body(client, uploaded))
    with pytest.raises(GenerationFailedError) as err:
        wait_for(client, task_id)
    assert err.value.task_id == task_id and err.value.fail_code and err.value.fail_msg
    assert task_id in str(err.value)


def test_success_without_url(sim, uploaded):
    client = _client(sim)
    sim.faults.success_without_url = True
    task_id = client.create_task(_body(client, uploaded))
    with pytest.raises(ResultMissingError) as err:
        wait_for(client, task_id)
    assert err.value.task_id == task_id


def test_truncated_download_is_retried_and_never_left_half_written(sim, uploaded, tmp_path):
    client = _client(sim)
    task_id = client.create_task(_body(client, uploaded))
    info = wait_for(client, task_id)
    sim.faults.truncate_downloads = 1
    out = client.download(info.result_urls[0], tmp_path / "r.mp4", task_id=task_id)
    with av.open(str(out)) as container:
        assert container.streams.video[0].frames > 0 or container.duration
    sim.faults.truncate_downloads = 10
    with pytest.raises(DownloadError):
        client.download(info.result_urls[0], tmp_path / "t.mp4", task_id=task_id, attempts=2)
    assert not (tmp_path / "t.mp4").exists() and not (tmp_path / "t.mp4.part").exists()


def test_expired_result_url_falls_back_to_download_url(sim, uploaded, tmp_path):
    client = _client(sim)
    task_id = client.create_task(_body(client, uploaded))
    info = wait_for(client, task_id)
    sim.faults.expire_results = True
    out = client.download(info.result_urls[0], tmp_path / "r.mp4", task_id=task_id)
    assert out.stat().st_size > 1000
    assert sim.auth_headers_seen_on_file_host == []


def test_cancel_is_felt_within_a_second(sim, uploaded):
    cancel = Cancel()
    client = _client(sim, cancel=cancel)
    sim.task_seconds = 30
    task_id = client.create_task(_body(client, uploaded))
    polled = threading.Event()
    cancelled_at = cancel_after(polled, cancel)

    async def on_status(info):
        polled.set()
    with pytest.raises(RunCancelledError) as err:
        wait_for(client, task_id, timings=TIMINGS, on_status=on_status)  # the production slices
    assert time.monotonic() - cancelled_at[0] < 1.0
    assert err.value.task_id == task_id and err.value.credits_may_be_spent


def test_deadline_counts_from_create_and_keeps_task(sim, uploaded):
    client = _client(sim)
    sim.task_seconds = 30
    task_id = client.create_task(_body(client, uploaded))
    clock = VirtualClock()  # the production schedule, real polls, and no waiting for the seconds to pass
    started = clock.monotonic()
    with pytest.raises(TaskStillPendingError) as err:
        wait_for(client, task_id, created_at=clock.now() - 1, deadline_s=3, timings=TIMINGS, clock=clock)
    assert 1.5 <= clock.monotonic() - started <= 3.5
    assert err.value.task_id == task_id and "pending" in str(err.value) and err.value.credits_may_be_spent


def test_reattaching_to_an_old_task_still_waits_a_while(sim, uploaded):
    client = _client(sim)
    sim.task_seconds = 60  # still pending at the first poll, past its deadline from create; then finished
    task_id = client.create_task(_body(client, uploaded))
    seen = []
    info = wait_for(client, task_id, created_at=time.time() - 3600, deadline_s=60,
                    on_status=_record(seen, finish=(sim, task_id)))
    assert info.state == "success"


def test_a_status_outage_during_a_wait_is_tolerated(sim, uploaded):
    client = _client(sim, read_attempts=1)
    task_id = client.create_task(_body(client, uploaded))
    sim.faults.server_errors = 3
    sim.faults.server_error_paths = ("/api/v1/jobs/recordInfo",)
    assert wait_for(client, task_id).state == "success"


def test_read_errors_about_an_existing_task_say_credits_may_be_spent(sim, uploaded):
    client = _client(sim, read_attempts=1)
    task_id = client.create_task(_body(client, uploaded))
    sim.faults.server_errors = 1
    sim.faults.server_error_paths = ("/api/v1/jobs/recordInfo",)
    with pytest.raises(Exception) as err:
        client.get_task(task_id)
    assert err.value.task_id == task_id and err.value.credits_may_be_spent
    assert "without paying again" in str(err.value)


def test_server_text_echoing_the_key_isscrubbed(tmp_path):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    key = "sk-ECHOED-SECRET-987654"

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self):
            auth = self.headers.get("Authorization", "")
            body = (json.dumps({"code": 401, "msg": f"Invalid API key: {auth[7:]} ({auth})"}) if "credit" in self.path
                    else f"<html>proxy says {auth}</html>")
            self.send_response(200 if "credit" in self.path else 502)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        client = ApikleyClient(api_key=key, base_url=f"http://127.0.0.1:{server.server_address[1]}",
                               read_attempts=1)
        with pytest.raises(AuthError) as auth_err:
            client.credits()
        with pytest.raises(Exception) as proxy_err:
            client.get_task("t1")
    finally:
        server.shutdown()
    for err in (auth_err.value, proxy_err.value):
        assert key not in str(err) and key not in repr(err) and key not in err.detail


def test_poll_schedule_shape():
    assert TIMINGS.next_poll(0, 2) == 2 and TIMINGS.next_poll(29, 2) == 2
    assert TIMINGS.next_poll(31, 2) == 3
    assert TIMINGS.next_poll(500, 15) == 15


def _run_virtual_task(sim, uploaded, monkeypatch, done_at: float) -> tuple:
    """Create a real task that finishes ``done_at`` virtual seconds after create; poll it to the end.

    Returns ``(recordInfo polls, seconds from finish to the client seeing it)``.
    """
    clock = VirtualClock()
    client = _client(sim)
    sim.task_seconds = 10_000  # finished only by the poll below
    task_id = client.create_task(_body(client, uploaded))
    wait_until(lambda: client.get_task(task_id) is not None, what="the end of the 'recordInfo is null' window")
    created = clock.now()
    original = client.get_task

    def get_task(tid, attempts=None):
        if clock.now() - created >= done_at:  # the first poll after that instant sees it finished
            sim.finish_task(tid)
        return original(tid, attempts)
    client.get_task = get_task
    before = _record_info_polls(sim)
    wait_for(client, task_id, created_at=created, timings=TIMINGS, clock=clock)
    return _record_info_polls(sim) - before, clock.now() - created - done_at


def _record_info_polls(sim) -> int:
    return sum(1 for _, path, *_ in sim.requests_log if path.startswith("/api/v1/jobs/recordInfo"))


def test_a_300_s_task_costs_at_most_40_polls(sim, uploaded, monkeypatch):
    polls, lag = _run_virtual_task(sim, uploaded, monkeypatch, 300.0)
    print(f"300 s task: {polls} polls, seen {lag:.1f} s after it finished")
    assert polls <= 40


@pytest.mark.parametrize("done_at", [4.0, 17.3, 29.9])
def test_a_quick_task_is_seen_within_3_s(sim, uploaded, monkeypatch, done_at):
    polls, lag = _run_virtual_task(sim, uploaded, monkeypatch, done_at)
    print(f"task done at {done_at} s: seen {lag:.1f} s later after {polls} polls")
    assert 0 <= lag <= 3.0
