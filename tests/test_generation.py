"""The pipeline end to end against the simulator: journal first, never pay twice, never lose a result."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import av
import pytest

from apikley_wan.record import entry as jr
from apikley_wan.api.callbacks import CallbackBoard
from apikley_wan.api.cancel import Cancel
from apikley_wan.api.client import ApikleyClient
from apikley_wan.api.tasks import build_create_body
from apikley_wan.errors import (RunCancelledError, CreateUncertainError, GenerationFailedError, InputError,
                                InsufficientCreditsError, TaskStillPendingError)
from apikley_wan.run.pipeline import Pipeline
from apikley_wan.run.request import GenerationRequest, Reference
from apikley_wan.record.sqlite import Journal
from apikley_wan.settings import settings
from apikley_wan.settings.settings import TIMINGS
from conftest import FAST, cancel_after

REPO = Path(__file__).resolve().parents[1]


def _gens(sim, tmp_path, key="sim-key", **kw) -> Pipeline:
    """The pipeline on the suite's fast timings (a test of the production waits passes ``timings=TIMINGS``)."""
    client = ApikleyClient(api_key=key, base_url=sim.base_url, backoff_start_s=0.05, download_backoff_s=0.01,
                           cancel=kw.pop("cancel", None))
    kw.setdefault("timings", FAST)
    journal = kw.pop("journal", None) or Journal(tmp_path / "journal.sqlite")
    return Pipeline(client, journal, tmp_path / "results", **kw)


def run(gens, request, on_status=None):
    return asyncio.run(gens.generate_video(request, on_status))


def submit(gens, request):
    return asyncio.run(gens.submit(request)).entry


def wait(gens, entry, on_status=None):
    return asyncio.run(gens.wait(entry, on_status))


def collect(gens, task_id, on_status=None):
    return asyncio.run(gens.collect(task_id, on_status))


def _request(clip, **kw) -> GenerationRequest:
    return GenerationRequest(prompt=kw.pop("prompt", "character1 walks on the moon"), duration="5",
                             resolution="720p", references=[Reference(source=str(clip))], **kw)


def _finish_once_pending(sim, task_id=None):
    """An on_status that makes the task due the first time a wait reports it pending (the test created
    it with a long ``sim.task_seconds``): the wait really meets a pending task, whatever the machine's load."""
    def on_status(status):
        if status.state in jr.PENDING:
            sim.tasks[task_id or status.task_id].finish_now.set()
    return on_status


def test_run_writes_result_and_sidecar_and_journal(sim, tmp_path, reference_clip):
    gens = _gens(sim, tmp_path)
    states = []
    entry = run(gens, _request(reference_clip), lambda s: states.append(s.state))
    assert entry.state == jr.SUCCESS and entry.task_id and entry.cost_credits == 70
    result = Path(entry.result_path)
    with av.open(str(result)) as c:
        assert c.streams.video[0].codec_context.width in (1280, 720)
        assert abs(float(c.duration / 1e6) - 5.0) < 0.3
    sidecar = json.loads(result.with_suffix(".json").read_text())
    assert sidecar["task_id"] == entry.task_id and sidecar["prompt"] == "character1 walks on the moon"
    assert sidecar["model"] == "wan/2-6-video-to-video" and sidecar["cost_kind"] == entry.cost_kind
    assert "uploading reference 1" in states and "downloading" in states


def test_identical_inputs_pay_once_even_across_restarts(sim, tmp_path, reference_clip):
    first = run(_gens(sim, tmp_path), _request(reference_clip))
    again = run(_gens(sim, tmp_path), _request(reference_clip))  # a new pipeline = a restart
    assert again.task_id == first.task_id and sim.create_count == 1
    Path(first.result_path).unlink()  # the user deleted the archived file
    third = run(_gens(sim, tmp_path), _request(reference_clip))
    assert Path(third.result_path).is_file() and sim.create_count == 1
    other_take = run(_gens(sim, tmp_path), _request(reference_clip, take=1))
    assert other_take.task_id != first.task_id and sim.create_count == 2


def test_a_rerun_attaches_to_a_pending_task(sim, tmp_path, reference_clip):
    sim.task_seconds = 60
    gens = _gens(sim, tmp_path)
    entry = submit(gens, _request(reference_clip))
    assert entry.pending
    done = run(_gens(sim, tmp_path), _request(reference_clip), _finish_once_pending(sim, entry.task_id))
    assert done.task_id == entry.task_id and sim.create_count == 1


def test_inputs_are_checked_before_any_upload(sim, tmp_path, reference_clip):
    """A request cannot be made from bad inputs, so a pipeline never sees one; a link the API cannot fetch
    (checked for where the pipeline sends it) is refused by the create body's builder: nothing is created."""
    clip = [Reference(source=str(reference_clip))]
    for bad in (("x", "5", "720p", clip), ("long enough", "5", "720p", []), ("long enough", "7", "720p", clip),
                ("long enough", "5", "720p", clip * 4), ("long enough", "5", "720p", [Reference()])):
        with pytest.raises(InputError):
            GenerationRequest(*bad)
    public_api = _gens(sim, tmp_path)
    public_api.client.base_url = "https://api.example.com"  # not on this machine: a LAN link is refused
    lan = GenerationRequest("long enough", "5", "720p", [Reference(url="http://192.168.1.5/a.mp4")])
    with pytest.raises(InputError, match="local or private address"):
        submit(public_api, lan)
    assert not any(p.startswith("/file-upload") for _, p, *_ in sim.requests_log)
    assert sim.create_requests == 0


def _crash_script(sim, tmp_path, clip) -> str:
    return textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        from apikley_wan.api.client import ApikleyClient
        import asyncio
        from apikley_wan.run.pipeline import Pipeline
        from apikley_wan.run.request import GenerationRequest, Reference
        from apikley_wan.record.sqlite import Journal
        journal = Journal({str(tmp_path / 'journal.sqlite')!r})
        journal.record_task_id = lambda *a, **k: os._exit(9)   # the process dies right after the POST
        gens = Pipeline(ApikleyClient(api_key="sim-key", base_url={sim.base_url!r}), journal,
                        {str(tmp_path / 'results')!r})
        asyncio.run(gens.submit(GenerationRequest("character1 walks on the moon", "5", "720p",
                                                  [Reference(source={str(clip)!r})])))
    """)


def test_crash_between_create_and_recording_is_reported_not_repaid(sim, tmp_path, reference_clip):
    proc = subprocess.run([sys.executable, "-c", _crash_script(sim, tmp_path, reference_clip)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert sim.create_count == 1
    pending = Journal(tmp_path / "journal.sqlite").pending()
    assert len(pending) == 1 and pending[0].state == jr.CREATING and pending[0].task_id is None
    later = Journal(tmp_path / "journal.sqlite", clock=lambda: time.time() + FAST.stale_s + 1)  # its heartbeat is stale
    with pytest.raises(CreateUncertainError) as err:
        run(_gens(sim, tmp_path, journal=later), _request(reference_clip))
    assert "earlier run" in str(err.value) and err.value.credits_may_be_spent
    assert sim.create_count == 1 and sim.create_requests == 1


def test_lost_create_answer_is_recorded_and_never_resent(sim, tmp_path, reference_clip):
    sim.faults.drop_after_create = 1
    with pytest.raises(CreateUncertainError):
        run(_gens(sim, tmp_path), _request(reference_clip))
    assert Journal(tmp_path / "journal.sqlite").pending()[0].state == jr.UNCERTAIN
    with pytest.raises(CreateUncertainError):
        run(_gens(sim, tmp_path), _request(reference_clip))
    assert sim.create_requests == 1 and sim.create_count == 1


def test_refused_create_can_be_retried(sim, tmp_path, reference_clip):
    sim.credits = 1.0
    with pytest.raises(InsufficientCreditsError):
        run(_gens(sim, tmp_path), _request(reference_clip))
    assert Journal(tmp_path / "journal.sqlite").recent(1)[0].state == jr.REFUSED
    sim.credits = 1000.0
    entry = run(_gens(sim, tmp_path), _request(reference_clip))
    assert entry.state == jr.SUCCESS and sim.create_count == 1


def test_failed_task_is_recorded_with_reason(sim, tmp_path, reference_clip):
    sim.faults.fail_tasks = True
    with pytest.raises(GenerationFailedError) as err:
        run(_gens(sim, tmp_path), _request(reference_clip))
    entry = Journal(tmp_path / "journal.sqlite").recent(1)[0]
    assert entry.state == jr.FAIL and err.value.task_id == entry.task_id and entry.error


def test_cancel_leaves_the_task_recorded_and_a_rerun_collects_it(sim, tmp_path, reference_clip):
    sim.task_seconds = 60
    cancel = Cancel()
    gens = _gens(sim, tmp_path, cancel=cancel, timings=TIMINGS)  # Cancel felt through the production slices
    entry = submit(gens, _request(reference_clip))
    polled = threading.Event()
    cancelled_at = cancel_after(polled, cancel)
    with pytest.raises(RunCancelledError) as err:
        wait(gens, entry, lambda status: polled.set())
    assert time.monotonic() - cancelled_at[0] < 1.1 and err.value.task_id == entry.task_id
    assert Journal(tmp_path / "journal.sqlite").by_task_id(entry.task_id).pending
    done = run(_gens(sim, tmp_path), _request(reference_clip), _finish_once_pending(sim, entry.task_id))
    assert done.task_id == entry.task_id and sim.create_count == 1


def test_deadline_keeps_the_task_pending_then_collects(sim, tmp_path, reference_clip):
    sim.task_seconds = 60
    with pytest.raises(TaskStillPendingError) as err:
        run(_gens(sim, tmp_path, deadline_s=0.3), _request(reference_clip))
    task_id = err.value.task_id
    assert Journal(tmp_path / "journal.sqlite").by_task_id(task_id).pending
    done = collect(_gens(sim, tmp_path), task_id, _finish_once_pending(sim, task_id))
    assert done.state == jr.SUCCESS and sim.create_count == 1


def test_collect_by_id_adopts_a_foreign_task(sim, tmp_path, reference_clip):
    client = ApikleyClient(api_key="sim-key", base_url=sim.base_url)
    url = client.upload(reference_clip)
    task_id = client.create_task(build_create_body("a dog surfs a wave", [url], "5", "720p"))
    entry = collect(_gens(sim, tmp_path), task_id)
    assert entry.state == jr.SUCCESS and Path(entry.result_path).is_file()


def test_a_task_collected_by_id_is_recorded_at_its_real_price(sim, tmp_path, reference_clip):
    """recordInfo's ``param`` (JSON inside JSON) says the task was 10 s at 1080p: 209.5 credits, not a
    guess from defaults; a task whose settings cannot be read has an unknown cost."""
    sim.fps = 6  # a real 10 s 1080p result in 60 frames, not 240: its price is the point here
    client = ApikleyClient(api_key="sim-key", base_url=sim.base_url)
    url = client.upload(reference_clip)
    task_id = client.create_task(build_create_body("a dog surfs a wave", [url], "10", "1080p"))
    report = collect(_gens(sim, tmp_path), task_id)
    assert report.cost_credits == 209.5 and report.cost_kind == "estimate"
    entry = Journal(tmp_path / "journal.sqlite").by_task_id(task_id)
    assert (entry.params["duration"], entry.params["resolution"]) == ("10", "1080p")
    sidecar = json.loads(Path(report.result_path).with_suffix(".json").read_text())
    assert sidecar["cost_credits"] == 209.5
    from apikley_wan.api.tasks import TaskInfo
    unknown = TaskInfo.from_record(task_id, {"state": "success", "param": "{not json"})
    assert unknown.duration is None and unknown.resolution is None


def test_url_reference_skips_upload(sim, tmp_path, reference_clip):
    url = ApikleyClient(api_key="sim-key", base_url=sim.base_url).upload(reference_clip)
    uploads_before = sum(1 for _, p, *_ in sim.requests_log if p.startswith("/file-upload/api"))
    req = GenerationRequest("character1 sings", "5", "720p", [Reference(url=url)])
    entry = run(_gens(sim, tmp_path), req)
    assert entry.state == jr.SUCCESS
    assert sum(1 for _, p, *_ in sim.requests_log if p.startswith("/file-upload/api")) == uploads_before


def test_callback_only_wakes_the_waiter_and_never_sets_the_cost(tmp_path, reference_clip):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from apikley_wan.simulator import Simulator

    board = CallbackBoard()
    replies = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, msg = board.receive(self.path.rsplit("/", 1)[-1], body, dict(self.headers), "hmac-secret")
            replies.append((status, msg))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        with Simulator(api_key="sim-key", task_seconds=FAST.simulator_task_s, null_seconds=FAST.simulator_null_s,
                       webhook_hmac_key="hmac-secret") as sim:
            sim.faults.callback_repeats = 2
            gens = _gens(sim, tmp_path, timings=TIMINGS)  # 2 s between polls: the callback wakes the waiter
            gens.callbacks = board
            gens.callback_base = f"http://127.0.0.1:{receiver.server_address[1]}"
            entry = run(gens, _request(reference_clip))
            deadline = time.time() + 5
            while len(replies) < 2 and time.time() < deadline:
                time.sleep(0.1)
    finally:
        receiver.shutdown()
    assert replies == [(200, "ok"), (200, "ok")]  # a repeat is answered and only wakes the waiter again
    assert entry.state == jr.SUCCESS
    # the callback's consumeCredits is unsigned (kie signs only taskId + timestamp): never trusted (the cost is
    # measured from the balance or estimated, never 'reported' by a callback)
    assert entry.cost_credits == 70 and entry.cost_kind in ("measured", "estimate")


def test_key_never_in_logs_errors_journal_or_sidecar(tmp_path, reference_clip, caplog, monkeypatch):
    from apikley_wan.simulator import Simulator
    key = "sk-live-SECRET-KEY-0123456789"
    caplog.set_level(logging.DEBUG)
    # the 429 below marks the account's create window full: the next runs wait out 0.5 s of it, not 10 s
    monkeypatch.setattr(settings, "CREATE_WINDOW_S", 0.5)
    messages = []
    with Simulator(api_key=key, task_seconds=FAST.simulator_task_s, null_seconds=FAST.simulator_null_s) as sim:
        sim.faults.rate_limit_creates = 1
        sim.faults.server_errors = 1
        sim.faults.server_error_paths = ("/api/v1/jobs/recordInfo",)
        entry = run(_gens(sim, tmp_path, key=key), _request(reference_clip))
        for fault in ("drop_after_create", "fail_tasks"):
            setattr(sim.faults, fault, True if fault == "fail_tasks" else 1)
            try:
                run(_gens(sim, tmp_path, key=key), _request(reference_clip, take=7 if fault == "fail_tasks" else 5))
            except Exception as exc:  # noqa: BLE001 - every error text is inspected
                messages.append(str(exc) + repr(exc))
        try:
            run(_gens(sim, tmp_path, key=key + "x"), _request(reference_clip, take=9))
        except Exception as exc:  # noqa: BLE001
            messages.append(str(exc) + repr(exc))
        assert sim.auth_headers_seen_on_file_host == []
    assert len(messages) == 3
    assert key not in caplog.text and all(key not in m for m in messages)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    assert entry.state == jr.SUCCESS


def test_identical_runs_racing_a_refused_create_both_get_the_refusal(sim, tmp_path, reference_clip):
    sim.credits = 0.0
    outcomes = []

    def attempt():
        try:
            run(_gens(sim, tmp_path), _request(reference_clip))
        except Exception as exc:  # noqa: BLE001 - the type is the assertion
            outcomes.append(exc)
    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [type(o) for o in outcomes] == [InsufficientCreditsError] * 2, outcomes
    assert sim.create_count == 0


def test_two_collects_of_one_task_share_one_complete_file(sim, tmp_path, reference_clip):
    entry = submit(_gens(sim, tmp_path), _request(reference_clip))
    results = []
    threads = [threading.Thread(target=lambda: results.append(collect(_gens(sim, tmp_path), entry.task_id)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len({r.result_path for r in results}) == 1 and len(results) == 3
    with av.open(results[0].result_path) as c:
        assert sum(1 for _ in c.decode(video=0)) == 120
    assert not list((tmp_path / "results").glob("*.part"))


def test_a_simulator_result_never_stands_in_for_a_real_one(sim, tmp_path, reference_clip):
    from apikley_wan.simulator import Simulator
    first = run(_gens(sim, tmp_path), _request(reference_clip))
    with Simulator(api_key="sim-key", task_seconds=FAST.simulator_task_s,
                   null_seconds=FAST.simulator_null_s) as other_api:
        second = run(_gens(other_api, tmp_path), _request(reference_clip))
        assert other_api.create_count == 1
    assert second.task_id != first.task_id


def test_an_unknown_typed_in_task_id_fails_fast_and_costs_nothing(sim, tmp_path):
    from apikley_wan.errors import NotFoundError
    started = time.monotonic()
    with pytest.raises(NotFoundError) as err:
        collect(_gens(sim, tmp_path), "0123456789abcdef0123456789abcdef")
    assert time.monotonic() - started < 40 and not err.value.credits_may_be_spent
    entry = Journal(tmp_path / "journal.sqlite").by_task_id("0123456789abcdef0123456789abcdef")
    assert entry.state == jr.NOT_FOUND and not entry.pending
