"""The pack against a hostile or broken provider (tests/hostile_api.py), through the command line
and the client: the key stays secret, task ids never become paths, only a real video counts as the
paid result, Cancel stops a dripping download, and every failure is one clear sentence.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from apikley_wan import __main__ as cli
from apikley_wan.api import downloads
from apikley_wan.record import entry as jr
from apikley_wan.record.sqlite import Journal
from apikley_wan.api.cancel import Cancel
from apikley_wan.api.client import ApikleyClient
from apikley_wan.errors import RunCancelledError, InputError
from hostile_api import SAMPLE, TASK_ID, HostileApi
from timings import FAST

KEY = "sk-hostile-test-key-7f3a9c21d4"
PROMPT = "character1 dances in the rain"


@pytest.fixture
def api():
    with HostileApi(KEY) as running:
        yield running


_shown: list = []  # everything the command line printed in the current test


@pytest.fixture
def env(tmp_path, monkeypatch, api, caplog):
    """The command line pointed at the hostile API; afterwards, the key must be in nothing it printed,
    logged or wrote (every file under the test's folder: journal, results, sidecars, copies)."""
    state = tmp_path / "state"
    monkeypatch.setenv("APIKLEY_STATE_DIR", str(state))
    monkeypatch.setenv("APIKLEY_API_KEY", KEY)
    monkeypatch.setenv("APIKLEY_BASE_URL", api.base_url)
    monkeypatch.delenv("APIKLEY_CALLBACK_URL", raising=False)
    caplog.set_level(logging.DEBUG, logger="apikley_wan")
    _shown.clear()
    yield state
    assert_key_nowhere(tmp_path, *_shown, caplog.text)


def run_cli(capsys, *argv, timings=FAST) -> tuple:
    """The command in this process, on the suite's waits (polls every 50 ms, not 2 s)."""
    code = cli.main(list(argv), timings=timings)
    out = capsys.readouterr()
    _shown.append(out.out + out.err)
    return code, out.out + out.err


def v2v(capsys, out: Path, *extra, timings=FAST) -> tuple:
    return run_cli(capsys, "v2v", "--video", str(SAMPLE), "--prompt", PROMPT, "--duration", "5",
                   "--resolution", "720p", "--out", str(out), *extra, timings=timings)


def assert_key_nowhere(root: Path, *texts: str) -> None:
    """Neither the key nor its bytes in any text shown, nor in any file the run wrote."""
    for text in texts:
        assert KEY not in text
    for path in root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), f"the key leaked into {path}"


# -- 1. the key never leaks through task fields ------------------------------------------------------
def test_key_echoed_in_failed_task_fields_reaches_no_message_log_or_file(api, env, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG, logger="apikley_wan")
    api.record = {"state": "fail", "failCode": KEY, "failMsg": f"denied for Authorization: Bearer {KEY} ({KEY})"}
    code, text = v2v(capsys, tmp_path / "out.mp4")
    assert code == 2 and "generation failed" in text.lower()
    assert "•••" in text  # the echo is shown, masked
    rows = Journal(env / "journal.sqlite").recent()
    assert rows[0].state == jr.FAIL and KEY not in (rows[0].error or "")
    assert_key_nowhere(tmp_path, text, caplog.text)


def test_key_echoed_as_task_state_is_neither_shown_nor_stored(api, env, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG, logger="apikley_wan")
    polls = []

    def record(h):
        polls.append(1)
        state = KEY if len(polls) == 1 else "success"
        h.json({"code": 200, "data": {"taskId": f"../{KEY}", "state": state, "resultJson": json.dumps(
            {"resultUrls": [api.base_url + "/files/result.mp4"]})}})

    api.on("GET", "/api/v1/jobs/recordInfo", record)
    code, text = v2v(capsys, tmp_path / "out.mp4", "--deadline-min", "1")
    assert code == 0, text
    assert_key_nowhere(tmp_path, text, caplog.text)


def test_key_echoed_in_an_error_envelope_is_masked(api, env, tmp_path, capsys):
    api.on("POST", "/api/v1/jobs/createTask", lambda h: h.json({"code": 422, "msg": f"bad key {KEY}"}))
    code, text = v2v(capsys, tmp_path / "out.mp4")
    assert code == 2 and "•••" in text
    assert_key_nowhere(tmp_path, text)


# -- 2. task ids never become paths -------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["../../../../escaped", "..", "a/b", "x" * 65, "id with space", "é"])
def test_a_task_id_shaped_like_a_path_is_refused_everywhere(bad, tmp_path):
    from apikley_wan.results import archive
    from apikley_wan.errors import StorageError
    assert not jr.valid_task_id(bad)
    with pytest.raises(InputError):
        Journal(tmp_path / "j.sqlite").adopt(bad)
    with pytest.raises(StorageError):
        archive.result_path(tmp_path / "results", "wan26_v2v", bad)
    assert jr.valid_task_id(TASK_ID) and jr.valid_task_id("task_20260101-abc")


def test_a_server_task_id_with_dots_and_slashes_writes_nothing_outside(api, env, tmp_path, capsys):
    api.task_id = "../../../../../escaped"
    code, text = v2v(capsys, tmp_path / "out.mp4")
    assert code == 2 and "may have been created" in text and "Credits may have been spent" in text
    assert not list(tmp_path.parent.rglob("escaped*")) and not list(tmp_path.rglob("*escaped*"))
    assert Journal(env / "journal.sqlite").recent()[0].state == jr.UNCERTAIN
    assert api.count("GET", "/api/v1/jobs/recordInfo") == 0


def test_collect_refuses_a_path_shaped_id_before_any_request(api, env, tmp_path, capsys):
    code, text = run_cli(capsys, "collect", "../../etc/x", "--out", str(tmp_path / "x.mp4"))
    assert code == 2 and "not an apikley task id" in text and "No credits were spent" in text
    assert api.requests == []


# -- 3. only a real video counts as the paid result ---------------------------------------------------
@pytest.mark.parametrize("junk", ["html", "zeros", "truncated"])
def test_a_result_that_is_not_a_video_is_deleted_and_fetched_again_without_a_new_task(
        junk, api, env, tmp_path, capsys):
    real = SAMPLE.read_bytes()
    api.result = {"html": b"<html><body>Service temporarily unavailable</body></html>" * 50,
                  "zeros": bytes(len(real)), "truncated": real[: len(real) // 2]}[junk]
    code, text = v2v(capsys, tmp_path / "out.mp4")
    assert code == 2, text
    assert "not a playable video" in text and "Credits may have been spent" in text
    assert "fetched again" in text and "Invalid input" not in text
    assert not list((env / "results").glob("*.mp4")) and not (tmp_path / "out.mp4").exists()
    entry = Journal(env / "journal.sqlite").recent()[0]
    assert entry.state == jr.SUCCESS and entry.result_path is None

    api.result = real  # the host is healthy again: the same command collects, no new task
    code, text = v2v(capsys, tmp_path / "out.mp4")
    assert code == 0, text
    assert api.count("POST", "/api/v1/jobs/createTask") == 1
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.video


def test_an_archived_result_that_went_bad_is_downloaded_again(api, env, tmp_path, capsys):
    from apikley_wan.results import archive
    assert v2v(capsys, tmp_path / "out.mp4")[0] == 0
    archived = next((env / "results").glob("*.mp4"))
    archived.write_bytes(b"\0" * 1000)
    assert v2v(capsys, tmp_path / "again.mp4")[0] == 0
    assert archive.is_video(archived) and api.count("POST", "/api/v1/jobs/createTask") == 1
    assert api.count("GET", "/files/result.mp4") == 2


# -- 4. Cancel stops a download whose host drips ---------------------------------------------------
def test_cancel_stops_a_dripping_download_within_a_second(api, tmp_path):
    api.on("GET", "/files/slow.mp4", lambda h: h.drip(1_000_000, every_s=5.0))
    client = ApikleyClient(api_key=KEY, base_url=api.base_url)
    outcome = {}

    def download():
        try:
            client.download(api.base_url + "/files/slow.mp4", tmp_path / "r.mp4", task_id=TASK_ID)
        except BaseException as exc:
            outcome["error"] = exc
        outcome["ended"] = time.monotonic()

    worker = threading.Thread(target=download, daemon=True)
    worker.start()
    assert api.dripping.wait(30), "the download never started"
    time.sleep(0.2)  # the client now sits in a read the host answers only 5 s later
    cancelled_at = time.monotonic()
    client.cancel.set()
    worker.join(5)
    assert "ended" in outcome and outcome["ended"] - cancelled_at < 1.0
    assert isinstance(outcome["error"], RunCancelledError)
    assert not list(tmp_path.glob("*.part")) and not (tmp_path / "r.mp4").exists()


def test_cancel_requested_by_a_check_is_felt_per_read(api, tmp_path):
    """A cancel that is only polled (ComfyUI's interrupt flag) is seen after the next small read."""
    api.on("GET", "/files/slow.mp4", lambda h: h.drip(1_000_000, every_s=0.1))
    flag = threading.Event()
    client = ApikleyClient(api_key=KEY, base_url=api.base_url, cancel=Cancel(flag.is_set))
    flagged_at = []

    def interrupt():  # ComfyUI's flag goes up while the download drips
        api.dripping.wait(30)
        time.sleep(0.2)
        flagged_at.append(time.monotonic())
        flag.set()
    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(RunCancelledError):
        client.download(api.base_url + "/files/slow.mp4", tmp_path / "r.mp4", task_id=TASK_ID)
    assert time.monotonic() - flagged_at[0] < 1.0


# -- redirects are never followed for API calls -----------------------------------------------------
def test_a_redirected_create_is_not_followed_and_counts_as_maybe_created(api, env, tmp_path, capsys):
    with HostileApi(KEY) as elsewhere:
        api.on("POST", "/api/v1/jobs/createTask",
               lambda h: h.redirect(elsewhere.base_url + "/api/v1/jobs/createTask"))
        code, text = v2v(capsys, tmp_path / "out.mp4")
        assert elsewhere.requests == [], "the create body (and key) went to another host"
    assert code == 2 and "may have been created" in text
    assert api.count("POST", "/api/v1/jobs/createTask") == 1
    assert Journal(env / "journal.sqlite").recent()[0].state == jr.UNCERTAIN


# -- 6. a reference with too little video is refused before any upload -----------------------------
def _one_frame_with_long_audio(path: Path) -> None:
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = out.add_stream("aac", rate=48000)
        frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = np.zeros((1, 1024), np.float32)
        for i in range(470):  # ~10 s
            chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = 48000, i * 1024, Fraction(1, 48000)
            out.mux(audio.encode(chunk))
        out.mux(audio.encode(None))


def test_one_video_frame_with_ten_seconds_of_audio_is_refused_before_any_request(api, env, tmp_path, capsys):
    clip = tmp_path / "one_frame.mkv"
    _one_frame_with_long_audio(clip)
    code, text = run_cli(capsys, "v2v", "--video", str(clip), "--prompt", PROMPT, "--duration", "5",
                         "--resolution", "720p", "--out", str(tmp_path / "o.mp4"))
    assert code == 2 and "No credits were spent" in text, text
    assert api.requests == []


# -- smaller ones -------------------------------------------------------------------------------------
def test_a_damaged_journal_is_one_sentence_not_a_traceback(api, env, tmp_path, capsys):
    env.mkdir(parents=True)
    (env / "journal.sqlite").write_bytes(b"this is not a database" * 100)
    code, text = v2v(capsys, tmp_path / "out.mp4")
    assert code == 2 and "Traceback" not in text
    assert "task journal could not be used" in text and "move it aside" in text
    assert api.count("POST", "/api/v1/jobs/createTask") == 0


def test_a_full_disk_during_download_is_one_sentence_and_not_retried(api, env, tmp_path, capsys, monkeypatch):
    part = tmp_path / "fake.part"
    monkeypatch.setattr(downloads, "open_part", lambda dest, task_id=None: (part, open("/dev/full", "wb", 0)))
    code, text = v2v(capsys, tmp_path / "out.mp4")
    assert code == 2 and "the disk is full" in text and "Traceback" not in text
    assert "never created again" in text and "Credits may have been spent" in text
    assert api.count("GET", "/files/result.mp4") == 1


def test_results_have_the_normal_file_mode_and_stale_parts_are_cleaned(api, env, tmp_path, capsys):
    results = env / "results"
    results.mkdir(parents=True)
    stale, fresh = results / "x.mp4.aaa.part", results / "y.mp4.bbb.part"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    old = os.umask(0o022)
    try:
        assert v2v(capsys, tmp_path / "out.mp4")[0] == 0
    finally:
        os.umask(old)
    assert not stale.exists() and fresh.exists()
    result = next(results.glob("*.mp4"))
    assert result.stat().st_mode & 0o777 == 0o644
    assert result.with_suffix(".json").stat().st_mode & 0o777 == 0o644


def test_the_prompt_sent_is_the_prompt_checked(api, env, tmp_path, capsys):
    code, _ = run_cli(capsys, "v2v", "--video", str(SAMPLE), "--prompt", "  \n" + PROMPT + "\n\n ",
                      "--duration", "5", "--resolution", "720p", "--out", str(tmp_path / "o.mp4"))
    assert code == 0
    body = json.loads(next(b for m, p, _, b in api.requests if p == "/api/v1/jobs/createTask"))
    assert body["input"]["prompt"] == PROMPT


@pytest.mark.parametrize("url", ["http://localhost/a.mp4", "http://127.0.0.1:8188/view?f=a.mp4",
                                 "http://192.168.1.20/a.mp4", "http://[::1]/a.mp4", "http://10.0.0.7/a.mp4",
                                 "http://169.254.169.254/latest/meta-data", "http://nas.local/a.mp4",
                                 "https://example.com/" + "a" * 100_000])
def test_a_video_url_the_provider_cannot_fetch_is_refused(url):
    from apikley_wan.api.tasks import check_reference_url as check_public_url
    with pytest.raises(InputError):
        check_public_url(url, "https://api.apikley.ru")


def test_a_public_video_url_passes_and_a_local_simulator_may_use_local_urls():
    from apikley_wan.api.tasks import check_reference_url as check_public_url
    check_public_url("https://cdn.example.com/clip.mp4", "https://api.apikley.ru")
    check_public_url("http://127.0.0.1:9000/files/clip.mp4", "http://127.0.0.1:8199")


def test_an_uncertain_create_can_be_abandoned_then_the_same_inputs_create_again(api, env, tmp_path, capsys):
    api.on("POST", "/api/v1/jobs/createTask", lambda h: h.hang_up())
    code, text = v2v(capsys, tmp_path / "out.mp4")
    assert code == 2 and "may have been created" in text
    code, text = v2v(capsys, tmp_path / "out.mp4")
    assert code == 2 and "NOT sent again" in text
    assert api.count("POST", "/api/v1/jobs/createTask") == 1
    entry = Journal(env / "journal.sqlite").recent()[0]
    code, text = run_cli(capsys, "abandon", str(entry.id))
    assert code == 0 and "abandoned" in text and "may still be billed" in text
    api.on("POST", "/api/v1/jobs/createTask", lambda h: h.json({"code": 200, "data": {"taskId": TASK_ID}}))
    assert v2v(capsys, tmp_path / "out.mp4")[0] == 0
    assert api.count("POST", "/api/v1/jobs/createTask") == 2
    code, text = run_cli(capsys, "abandon", str(entry.id + 1))
    assert code == 2 and "only an uncertain create" in text
