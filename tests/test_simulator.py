"""The simulator against the api-reference spec, driven with plain ``requests`` over real sockets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import pytest
import requests

from apikley_wan.media.clips import write_clip
from apikley_wan.money.pricing import credits_to_usd, estimate_credits
from apikley_wan.simulator import Simulator
from conftest import wait_until

KEY = "sim-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "wan/2-6-video-to-video"
RECORD_KEYS = {"taskId", "model", "state", "param", "resultJson", "failCode", "failMsg", "costTime",
               "completeTime", "createTime"}
UPLOAD_KEYS = {"success", "fileName", "filePath", "downloadUrl", "fileSize", "mimeType", "uploadedAt"}
EXTERNAL = "https://example.com/clip.mp4"

HTTP = requests.Session()
HTTP.trust_env = False  # loopback only: never through a proxy from the environment


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "landscape": Path(write_clip(folder / "land.mp4", seconds=1.0, width=320, height=180)),
        "portrait": Path(write_clip(folder / "port.mp4", seconds=1.0, width=180, height=320, audio_rate=None)),
    }


@pytest.fixture
def make_sim():
    started = []

    def make(**kw) -> Simulator:
        kw.setdefault("task_seconds", 1.0)
        kw.setdefault("null_seconds", 0.3)
        started.append(Simulator(api_key=KEY, **kw).start())
        return started[-1]
    yield make
    for sim in started:
        sim.stop()


def call(sim, method, path, headers=AUTH, **kw) -> requests.Response:
    return HTTP.request(method, sim.base_url + path, headers=headers, timeout=20, **kw)


def envelope(sim, method, path, **kw) -> dict:
    answer = call(sim, method, path, **kw)
    assert answer.status_code == 200
    return answer.json()


def upload(sim, path: Path, **fields) -> dict:
    with open(path, "rb") as handle:
        answer = call(sim, "POST", "/file-upload/api/file-stream-upload",
                      files={"file": (path.name, handle, "video/mp4")},
                      data={"uploadPath": "videos/tests", **fields})
    return answer.json()


def create(sim, url: str, callback: str | None = None, **inputs) -> dict:
    body = {"model": MODEL, "input": {"prompt": "The subject dances in the rain", "video_urls": [url],
                                      "duration": "5", "resolution": "720p", **inputs}}
    if callback:
        body["callBackUrl"] = callback
    return envelope(sim, "POST", "/api/v1/jobs/createTask", json=body)


def record(sim, task_id: str) -> dict:
    return envelope(sim, "GET", "/api/v1/jobs/recordInfo", params={"taskId": task_id})


def wait_final(sim, task_id: str, seen: list | None = None, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = record(sim, task_id)
        if answer["code"] == 200:
            if seen is not None:
                seen.append(answer["data"]["state"])
            if answer["data"]["state"] in ("success", "fail"):
                return answer["data"]
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


def result_url(data: dict) -> str:
    return json.loads(data["resultJson"])["resultUrls"][0]


def credits(sim) -> float:
    return envelope(sim, "GET", "/api/v1/chat/credit")["data"]


def finished_result(sim, clip: Path) -> tuple[str, str]:
    """(taskId, result URL) of a task forced to succeed now."""
    task_id = create(sim, upload(sim, clip)["data"]["downloadUrl"])["data"]["taskId"]
    sim.finish_task(task_id)
    return task_id, result_url(record(sim, task_id)["data"])


# --- auth, envelope, validation ----------------------------------------------------------------

def test_bad_or_missing_key_is_http_200_with_code_401(make_sim):
    sim = make_sim()
    routes = [("POST", "/api/v1/jobs/createTask"), ("GET", "/api/v1/jobs/recordInfo?taskId=x"),
              ("GET", "/api/v1/chat/credit"), ("POST", "/api/v1/common/download-url")]
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        for method, path in routes:
            answer = call(sim, method, path, headers=headers, json={})
            assert answer.status_code == 200
            assert answer.headers["Content-Type"] == "application/json;charset=UTF-8"
            assert answer.json() == {"code": 401, "msg": "You do not have access permissions", "data": None}
        up = call(sim, "POST", "/file-upload/api/file-base64-upload", headers=headers, json={})
        assert up.json() == {"success": False, "code": 401, "msg": "You do not have access permissions",
                             "data": None}
    assert sim.create_count == 0


def test_create_validation_answers_422_and_registers_nothing(make_sim):
    sim = make_sim()
    good = {"prompt": "ok prompt", "video_urls": [EXTERNAL]}
    cases = [
        ({"model": "wan/2-6-text-to-video", "input": good}, "model"),
        ({"model": MODEL}, "input"),
        ({"model": MODEL, "input": {**good, "prompt": "x"}}, "prompt"),
        ({"model": MODEL, "input": {**good, "prompt": "x" * 5001}}, "prompt"),
        ({"model": MODEL, "input": {**good, "video_urls": []}}, "video_urls"),
        ({"model": MODEL, "input": {**good, "video_urls": [EXTERNAL] * 4}}, "video_urls"),
        ({"model": MODEL, "input": {**good, "video_urls": ["ftp://x/y.mp4"]}}, "video_urls"),
        ({"model": MODEL, "input": {**good, "video_urls": EXTERNAL}}, "video_urls"),
        ({"model": MODEL, "input": {**good, "duration": "15"}}, "duration"),
        ({"model": MODEL, "input": {**good, "duration": 5}}, "duration"),
        ({"model": MODEL, "input": {**good, "resolution": "480p"}}, "resolution"),
        ({"model": MODEL, "input": {**good, "multi_shots": "yes"}}, "multi_shots"),
        ({"model": MODEL, "input": good, "callBackUrl": "not a url"}, "callBackUrl"),
    ]
    for body, field in cases:
        answer = envelope(sim, "POST", "/api/v1/jobs/createTask", json=body)
        assert answer["code"] == 422 and field in answer["msg"] and answer["data"] is None, body
    assert envelope(sim, "POST", "/api/v1/jobs/createTask", data=b"{oops")["code"] == 422
    assert sim.create_count == 0 and sim.create_requests == len(cases) + 1


def test_record_info_without_or_with_unknown_task_id(make_sim):
    sim = make_sim()
    assert envelope(sim, "GET", "/api/v1/jobs/recordInfo")["code"] == 400
    assert record(sim, "0" * 32) == {"code": 422, "msg": "recordInfo is null", "data": None}


# --- the task life cycle and the result video --------------------------------------------------

def test_lifecycle_null_window_waiting_success_and_a_real_video(make_sim, clips):
    # the result is rendered once beforehand (the simulator keeps one render per clip and settings), so the
    # task's 2 s decide when it completes, not how fast this machine encodes a video while busy with others
    finished_result(make_sim(), clips["landscape"])
    sim = make_sim(task_seconds=2.0, null_seconds=0.5)
    url = upload(sim, clips["landscape"])["data"]["downloadUrl"]
    created = create(sim, url, multi_shots=False)
    task_id = created["data"]["taskId"]
    assert created["code"] == 200 and re.fullmatch(r"[0-9a-f]{32}", task_id)
    assert created["data"]["recordId"] == task_id
    assert record(sim, task_id) == {"code": 422, "msg": "recordInfo is null", "data": None}

    pending = wait_until(lambda: record(sim, task_id)["data"], what="the end of the null window")
    assert set(pending) == RECORD_KEYS and pending["state"] == "waiting" and pending["model"] == MODEL
    assert pending["resultJson"] == ""
    assert [pending[k] for k in ("failCode", "failMsg", "costTime", "completeTime")] == [None] * 4
    param = json.loads(pending["param"])
    assert set(param) == {"input", "model"} and param["model"] == MODEL
    assert isinstance(param["input"], str)  # double-encoded
    assert json.loads(param["input"]) == {"prompt": "The subject dances in the rain", "video_urls": [url],
                                          "duration": "5", "resolution": "720p", "multi_shots": False}

    done = wait_final(sim, task_id)
    assert set(done) == RECORD_KEYS and done["state"] == "success"
    assert done["failCode"] is None and done["failMsg"] is None
    assert isinstance(done["costTime"], int)  # seconds, not ms
    assert done["costTime"] == round((done["completeTime"] - done["createTime"]) / 1000) == 2
    assert done["createTime"] > 1_600_000_000_000
    link = result_url(done)
    assert link.startswith(sim.files_base_url + f"/r/{task_id}/") and link.endswith(".mp4")
    assert credits(sim) == 1000.0 - 70.0

    video = HTTP.get(link, timeout=20)
    assert video.status_code == 200 and video.headers["Content-Type"] == "video/mp4"
    assert int(video.headers["Content-Length"]) == len(video.content)
    with av.open(io.BytesIO(video.content)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.format.name) == ("h264", "yuv420p")
        assert (stream.width, stream.height, stream.average_rate) == (1280, 720, 24)
        assert abs(container.duration / 1e6 - 5.0) < 0.1
        assert container.streams.audio and container.streams.audio[0].codec_context.name == "aac"
        frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    assert len(frames) == 120
    assert (frames[0] != frames[60]).any()  # the overlay moves
    assert sim.auth_headers_seen_on_file_host == []


def test_portrait_reference_gives_portrait_result_with_a_soundtrack(make_sim, clips):
    sim = make_sim()
    _, link = finished_result(sim, clips["portrait"])
    with av.open(io.BytesIO(HTTP.get(link, timeout=20).content)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (720, 1280)
        assert container.streams.audio  # a tone when the reference is silent


def test_generating_state_then_fail_without_charge(make_sim):
    # each state lasts 0.5 s or more: seen by polls every 0.05 s even on a busy machine
    sim = make_sim(null_seconds=0.1, generating_after=0.6, task_seconds=1.2)
    sim.faults.fail_tasks = True
    task_id = create(sim, EXTERNAL)["data"]["taskId"]
    seen: list[str] = []
    done = wait_final(sim, task_id, seen)
    assert "waiting" in seen and "generating" in seen and "queuing" not in seen
    assert done["state"] == "fail" and done["failCode"] == "500" and done["failMsg"]
    assert done["resultJson"] == "" and done["completeTime"] is not None
    assert credits(sim) == 1000.0


def test_unfetchable_reference_fails_the_task(make_sim):
    sim = make_sim()
    task_id = create(sim, EXTERNAL)["data"]["taskId"]
    sim.finish_task(task_id)
    data = record(sim, task_id)["data"]
    assert data["state"] == "fail" and data["failMsg"] == "could not fetch video_urls[0]"
    assert credits(sim) == 1000.0


def test_success_without_url_is_charged(make_sim):
    sim = make_sim()
    sim.faults.success_without_url = True
    task_id = create(sim, EXTERNAL, resolution="1080p", duration="10")["data"]["taskId"]
    sim.finish_task(task_id)
    data = record(sim, task_id)["data"]
    assert data["state"] == "success" and data["resultJson"] == '{"resultUrls":[]}'
    assert credits(sim) == 1000.0 - 209.5


# --- downloads ---------------------------------------------------------------------------------

def test_download_url_expired_results_and_truncated_downloads(make_sim, clips):
    sim = make_sim()
    _, link = finished_result(sim, clips["landscape"])
    full = HTTP.get(link, timeout=20).content

    sim.faults.truncate_downloads = 1
    answer = HTTP.get(link, stream=True, timeout=20)
    announced, got = int(answer.headers["Content-Length"]), 0
    with pytest.raises(requests.RequestException):
        for chunk in answer.iter_content(1 << 16):
            got += len(chunk)
    assert announced == len(full) and 0 < got < announced
    assert HTTP.get(link, timeout=20).content == full  # only the next N downloads are cut

    sim.faults.expire_results = True
    assert HTTP.get(link, timeout=20).status_code == 404
    fresh = envelope(sim, "POST", "/api/v1/common/download-url", json={"url": link})
    assert fresh["code"] == 200 and fresh["data"].startswith(sim.files_base_url + "/d/")
    assert HTTP.get(fresh["data"], timeout=20).content == full

    wrong = envelope(sim, "POST", "/api/v1/common/download-url", json={"url": EXTERNAL})
    assert wrong == {"code": 422, "msg": "url is wrong", "data": None}
    uploaded = upload(sim, clips["landscape"])["data"]["downloadUrl"]
    assert envelope(sim, "POST", "/api/v1/common/download-url", json={"url": uploaded})["code"] == 200
    assert sim.auth_headers_seen_on_file_host == []
    HTTP.get(link, headers=AUTH, timeout=20)
    assert sim.auth_headers_seen_on_file_host == [AUTH["Authorization"]]


# --- limits, faults, credits -------------------------------------------------------------------

def test_real_rate_limit_is_20_creates_per_10_s(make_sim):
    sim = make_sim()
    sim.faults.fail_tasks = True  # no rendering needed
    codes = [create(sim, EXTERNAL)["code"] for _ in range(21)]
    assert codes == [200] * 20 + [429]
    assert create(sim, EXTERNAL) == {"code": 429, "msg": "Rate limit exceeded", "data": None}
    assert sim.create_count == 20 and sim.create_requests == 22 and len(sim.tasks) == 20


def test_fault_switches_429_455_502_and_slow(make_sim):
    sim = make_sim()
    sim.faults.fail_tasks = True
    sim.faults.rate_limit_creates = 1
    assert create(sim, EXTERNAL)["code"] == 429 and sim.create_count == 0
    task_id = create(sim, EXTERNAL)["data"]["taskId"]

    sim.faults.maintenance = 1
    assert envelope(sim, "GET", "/api/v1/chat/credit")["code"] == 455
    assert envelope(sim, "GET", "/api/v1/chat/credit")["code"] == 200

    sim.faults.server_errors, sim.faults.server_error_paths = 1, ("/api/v1/jobs/recordInfo",)
    assert envelope(sim, "GET", "/api/v1/chat/credit")["code"] == 200  # other paths untouched
    proxy = call(sim, "GET", "/api/v1/jobs/recordInfo", params={"taskId": task_id})
    assert proxy.status_code == 502 and "text/html" in proxy.headers["Content-Type"]
    assert "Bad Gateway" in proxy.text
    assert call(sim, "GET", "/api/v1/jobs/recordInfo", params={"taskId": task_id}).status_code == 200
    assert ("GET", "/api/v1/jobs/recordInfo", 502) in sim.requests_log

    sim.faults.slow_seconds = 0.3
    started = time.monotonic()
    credits(sim)
    assert time.monotonic() - started >= 0.3


def test_dropped_create_connections(make_sim):
    sim = make_sim()
    sim.faults.fail_tasks = True
    sim.faults.drop_after_create = 1
    with pytest.raises(requests.ConnectionError):
        create(sim, EXTERNAL)
    assert sim.create_count == 1 and len(sim.tasks) == 1  # registered although unanswered
    sim.faults.drop_before_create = 1
    with pytest.raises(requests.ConnectionError):
        create(sim, EXTERNAL)
    assert sim.create_count == 1 and sim.create_requests == 2
    assert ("POST", "/api/v1/jobs/createTask", None) in sim.requests_log


def test_insufficient_credits_402_and_deduction_by_price_table(make_sim):
    sim = make_sim(credits=100.0)
    sim.faults.success_without_url = True
    assert create(sim, EXTERNAL, resolution="1080p")["code"] == 402 and sim.create_count == 0
    task_id = create(sim, EXTERNAL, resolution="720p")["data"]["taskId"]
    assert credits(sim) == 100.0  # charged on success, not on create
    sim.finish_task(task_id)
    assert credits(sim) == 30.0 and isinstance(credits(sim), float)


def test_price_table():
    assert [estimate_credits(d, r) for d in ("5", "10") for r in ("720p", "1080p")] == [70, 104.5, 140, 209.5]
    assert credits_to_usd(104.5) == 0.5225
    with pytest.raises(ValueError):
        estimate_credits("15", "720p")


# --- callbacks ---------------------------------------------------------------------------------

class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.got.append((dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.got = []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _wait_for(items: list, count: int, timeout: float = 20) -> list:
    deadline = time.monotonic() + timeout
    while len(items) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return items


def test_callbacks_are_signed_repeated_and_carry_credits(make_sim, clips, receiver):
    sim = make_sim(webhook_hmac_key="hmac-secret")
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    sim.faults.callback_repeats = 2
    url = upload(sim, clips["landscape"])["data"]["downloadUrl"]
    task_id = create(sim, url, callback=hook)["data"]["taskId"]
    sim.finish_task(task_id)
    assert json.loads(record(sim, task_id)["data"]["param"])["callBackUrl"] == hook
    for headers, body in _wait_for(receiver.got, 2):
        stamp = headers["X-Webhook-Timestamp"]
        expected = base64.b64encode(hmac.new(b"hmac-secret", f"{task_id}.{stamp}".encode(),
                                             hashlib.sha256).digest()).decode()
        assert hmac.compare_digest(headers["X-Webhook-Signature"], expected)
        assert abs(int(stamp) - time.time()) < 30
        assert body["code"] == 200 and body["msg"] == "Playground task completed successfully."
        data = body["data"]
        assert data["taskId"] == task_id and data["state"] == "success" and result_url(data)
        assert data["consumeCredits"] == 70.0 and data["remainedCredits"] == 930.0
    assert len(receiver.got) == 2

    sim.faults.callback_repeats = 1
    sim.faults.fail_tasks = True
    failed_id = create(sim, EXTERNAL, callback=hook)["data"]["taskId"]
    sim.finish_task(failed_id)
    _, body = _wait_for(receiver.got, 3)[2]
    assert body["code"] == 501 and body["data"]["state"] == "fail"
    assert body["data"]["consumeCredits"] == 0 and body["data"]["failCode"] == "500"


# --- uploads -----------------------------------------------------------------------------------

def test_uploads_stream_base64_url_are_served_back_identical(make_sim, clips):
    sim = make_sim()
    content = clips["landscape"].read_bytes()

    named = upload(sim, clips["landscape"], fileName="mine.mp4")
    assert named["success"] is True and named["code"] == 200 and named["msg"] == "File uploaded successfully"
    data = named["data"]
    assert set(data) == UPLOAD_KEYS and data["success"] is True
    assert data["fileName"] == "mine.mp4" and data["filePath"].endswith("/videos/tests/mine.mp4")
    assert data["fileSize"] == len(content) and data["mimeType"] == "video/mp4"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["uploadedAt"])
    assert data["downloadUrl"] == sim.base_url + "/file-upload/files/" + data["filePath"]
    assert HTTP.get(data["downloadUrl"], timeout=20).content == content  # no auth needed

    generated = upload(sim, clips["landscape"])["data"]["fileName"]
    assert re.fullmatch(r"\d{13}-[a-z0-9]+\.mp4", generated)

    encoded = base64.b64encode(content).decode()
    for extra in ({"base64Data": encoded, "fileName": "plain.mp4"},  # the type comes from the name...
                  {"base64Data": "data:video/mp4;base64," + encoded}):  # ...or from the data URL
        answer = envelope(sim, "POST", "/file-upload/api/file-base64-upload",
                          json={"uploadPath": "videos/b64", **extra})
        assert answer["code"] == 200 and answer["data"]["mimeType"] == "video/mp4"
        assert answer["data"]["fileName"].endswith(".mp4")
        assert HTTP.get(answer["data"]["downloadUrl"], timeout=20).content == content

    copied = envelope(sim, "POST", "/file-upload/api/file-url-upload",
                      json={"fileUrl": data["downloadUrl"], "uploadPath": "videos/url", "fileName": "c.mp4"})
    assert copied["code"] == 200 and HTTP.get(copied["data"]["downloadUrl"], timeout=20).content == content

    refused = envelope(sim, "POST", "/file-upload/api/file-url-upload",
                       json={"fileUrl": EXTERNAL, "uploadPath": "videos/url"})
    assert refused["success"] is False and refused["code"] == 400
    no_path = envelope(sim, "POST", "/file-upload/api/file-base64-upload", json={"base64Data": "AAAA"})
    assert no_path["code"] == 400 and "uploadPath" in no_path["msg"]
    escape = upload(sim, clips["landscape"], fileName="../../x.mp4")
    assert escape["code"] == 400


def test_a_stopped_simulator_refuses_even_pooled_connections(make_sim):
    sim = make_sim()
    assert credits(sim) == 1000.0  # leaves a keep-alive connection in the session's pool
    sim.stop()
    with pytest.raises(requests.ConnectionError):
        credits(sim)


# --- command line ------------------------------------------------------------------------------

def test_serve_command_runs_in_the_foreground():
    proc = subprocess.Popen([sys.executable, "-m", "apikley_wan.simulator", "serve", "--port", "0",
                             "--api-key", "cli-key"], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        base = None
        for line in proc.stdout:
            if "APIKLEY_BASE_URL=" in line:
                base = line.split("=", 1)[1].strip()
                break
        answer = HTTP.get(base + "/api/v1/chat/credit", headers={"Authorization": "Bearer cli-key"}, timeout=10)
        assert answer.json() == {"code": 200, "msg": "success", "data": 1000.0}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
