"""Transport failures in the user's words, against a real closed port and a real socket that never answers:
what failed, whether credits may have been spent, what to do, the cause in a few words (never a library's
text), and every retry counted on the status line."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
import threading

import pytest

from apikley_wan.panel.account import CreditsCache
from apikley_wan.api.client import ApikleyClient
from apikley_wan.api.tasks import build_create_body
from apikley_wan.errors import CreateUncertainError, DownloadError, NetworkError, TaskStillPendingError
from apikley_wan.run.pipeline import Pipeline
from apikley_wan.record.sqlite import Journal
from apikley_wan.run.request import GenerationRequest, Reference
from conftest import FAST

KEY = "sk-secret-network-0123456789"
LIBRARY_TEXT = ("HTTPConnectionPool", "Errno", "Max retries", "NewConnectionError", "urllib3", KEY)


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on: every connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def _client(port, **kw) -> ApikleyClient:
    kw.setdefault("backoff_start_s", 0.01)
    kw.setdefault("create_backoff_start_s", 0.01)
    return ApikleyClient(api_key=KEY, base_url=f"http://127.0.0.1:{port}", **kw)


def _plain(message: str) -> None:
    for text in LIBRARY_TEXT:
        assert text not in message, f"{text!r} in {message!r}"


def test_an_upload_to_a_closed_port_says_what_failed_that_nothing_was_spent_and_counts_retries(
        closed_port, tmp_path, reference_clip):
    notes = []
    with pytest.raises(NetworkError) as failed:
        _client(closed_port).upload(reference_clip, on_retry=notes.append)
    message = failed.value.user_message()
    assert message == (f"Uploading the reference clip failed: connection refused (127.0.0.1:{closed_port}, 5 tries). "
                       "Check the network connection (and proxy) and APIKLEY_BASE_URL, then run again; re-running "
                       "never pays twice. No credits were spent.")
    assert notes == [f"connection refused, retry {n} of 4" for n in range(1, 5)]
    _plain(message)


def test_the_node_status_line_shows_each_retry_while_uploading(closed_port, tmp_path, reference_clip):
    gens = Pipeline(_client(closed_port), Journal(tmp_path / "journal.sqlite"), tmp_path / "results", timings=FAST)
    lines = []
    request = GenerationRequest("character1 dances in the rain", "5", "720p", [Reference(source=str(reference_clip))])
    with pytest.raises(NetworkError) as failed:
        asyncio.run(gens.generate_video(request, lambda status: lines.append(status.line())))
    assert not failed.value.credits_may_be_spent
    retries = [line for line in lines if "retry" in line]
    assert [line.split(" | ")[0] for line in retries] == [
        f"Wan 2.6 V2V: uploading reference 1… connection refused, retry {n} of 4" for n in range(1, 5)]
    assert "creating the task" not in " ".join(lines)  # never got that far: no task, no row
    assert Journal(tmp_path / "journal.sqlite").recent(5) == []


def test_a_refused_create_is_retried_and_ends_saying_no_task_was_made(closed_port):
    client = _client(closed_port, create_attempts=3)
    notes = []
    body = build_create_body("character1 dances", ["https://example.com/a.mp4"], "5", "720p")
    with pytest.raises(NetworkError) as failed:
        client.create_task(body, on_retry=notes.append)
    message = failed.value.user_message()
    assert message.startswith(f"Creating the task failed (no task was made): connection refused "
                              f"(127.0.0.1:{closed_port}, 3 tries).")
    assert message.endswith("re-running never pays twice. No credits were spent.")
    assert notes == ["connection refused, retry 1 of 2", "connection refused, retry 2 of 2"]
    _plain(message)


def test_a_create_whose_answer_never_comes_is_uncertain_and_never_re_sent(silent_port):
    client = _client(silent_port, timeout=(2.0, 0.5))
    body = build_create_body("character1 dances", ["https://example.com/a.mp4"], "5", "720p")
    with pytest.raises(CreateUncertainError) as lost:
        client.create_task(body)
    message = lost.value.user_message()
    assert message.startswith(f"The task may have been created, but the answer was lost: timed out "
                              f"(127.0.0.1:{silent_port}).")
    assert "NOT re-sent" in message and message.endswith("Credits may have been spent.")
    _plain(message)


def test_a_create_answer_cut_off_by_the_server_is_uncertain_in_a_few_words(sim):
    sim.faults.drop_after_create = 1
    client = ApikleyClient(api_key="sim-key", base_url=sim.base_url)
    with pytest.raises(CreateUncertainError) as lost:
        client.create_task(build_create_body("character1 dances", [sim.base_url + "/x.mp4"], "5", "720p"))
    host = sim.base_url.split("//")[1]
    assert lost.value.detail == f"connection closed by the server ({host})" and sim.create_requests == 1


def test_a_balance_that_hangs_times_out_in_one_sentence(silent_port):
    with pytest.raises(NetworkError) as failed:
        _client(silent_port, timeout=(2.0, 0.3)).credits(attempts=2)
    assert failed.value.user_message() == (
        f"Reading the account balance failed: timed out (127.0.0.1:{silent_port}, 2 tries). Check the network "
        "connection (and proxy) and APIKLEY_BASE_URL, then try again. No credits were spent.")


def test_the_settings_balance_line_gets_the_same_sentence(closed_port, tmp_path, monkeypatch):
    monkeypatch.setenv("APIKLEY_API_KEY", KEY)
    monkeypatch.setenv("APIKLEY_BASE_URL", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(NetworkError) as failed:
        CreditsCache().get(tmp_path)
    assert failed.value.user_message().startswith(
        f"Reading the account balance failed: connection refused (127.0.0.1:{closed_port}).")


def test_a_name_that_does_not_resolve_says_so():
    client = ApikleyClient(api_key=KEY, base_url="http://apikley-test.invalid", read_attempts=1)
    with pytest.raises(NetworkError) as failed:
        client.credits()
    assert failed.value.detail == "name not resolved (apikley-test.invalid)"
    assert failed.value.nothing_sent


def test_a_result_host_that_refuses_says_the_task_is_kept(closed_port, tmp_path):
    client = _client(closed_port, download_backoff_s=0.01)
    notes = []
    with pytest.raises(DownloadError) as failed:
        client.download(f"http://127.0.0.1:{closed_port}/r/result.mp4?token=SIGNED", tmp_path / "r.mp4",
                        task_id="t-paid", attempts=3, on_retry=notes.append)
    assert notes == [f"connection refused (127.0.0.1:{closed_port}), retry {n} of 2" for n in (1, 2)]
    message = failed.value.user_message()
    assert message.startswith(f"Downloading the result failed: connection refused (127.0.0.1:{closed_port}). "
                              "Task id: t-paid.")
    assert "will not be created again" in message and message.endswith("Credits may have been spent.")
    assert "SIGNED" not in message and "/r/result.mp4" not in message


def test_status_checks_that_fail_are_counted_on_the_line_and_the_task_stays_collectable(sim, tmp_path, clip_url):
    sim.task_seconds = 60
    gens = Pipeline(ApikleyClient(api_key="sim-key", base_url=sim.base_url), Journal(tmp_path / "j.sqlite"),
                    tmp_path / "results", timings=FAST, deadline_s=1.0)
    request = GenerationRequest("character1 dances in the rain", "5", "720p", [Reference(url=clip_url)])
    entry = asyncio.run(gens.submit(request)).entry
    sim.stop()  # the API goes away while the task runs
    lines = []
    with pytest.raises((NetworkError, TaskStillPendingError)) as failed:
        asyncio.run(gens.wait(entry, lambda status: lines.append(status.line())))
    assert "Wan 2.6 V2V: unreachable… connection refused, 1 status check failed; still waiting" in lines[0]
    assert "connection refused, 3 status checks failed; still waiting" in lines[2]
    error = failed.value
    assert error.task_id == entry.task_id and error.credits_may_be_spent
    assert "re-queue the same inputs" in error.user_message()
    _plain(error.user_message())


@pytest.fixture
def clip_url(sim, reference_clip):
    return ApikleyClient(api_key="sim-key", base_url=sim.base_url).upload(reference_clip)


def test_the_status_line_counts_download_retries_and_names_the_task(sim, tmp_path, clip_url, closed_port):
    client = ApikleyClient(api_key="sim-key", base_url=sim.base_url, download_backoff_s=0.01)
    gens = Pipeline(client, Journal(tmp_path / "j.sqlite"), tmp_path / "results", timings=FAST)
    request = GenerationRequest("character1 dances in the rain", "5", "720p", [Reference(url=clip_url)])
    entry = asyncio.run(gens.submit(request)).entry
    finished = asyncio.run(gens.wait(entry))
    Path(finished.result_path).unlink()  # the archived file is gone, and the result host with it:
    gens.journal.update(finished.id, result_url=f"http://127.0.0.1:{closed_port}/r/result.mp4?token=SIGNED",
                        result_path=None)
    lines = []
    with pytest.raises(DownloadError) as failed:
        asyncio.run(gens.collect(entry.task_id, lambda status: lines.append(status.line())))
    retries = [line.split(" | ")[:2] for line in lines if "retry" in line]
    assert retries == [[f"Wan 2.6 V2V: downloading… connection refused (127.0.0.1:{closed_port}), retry {n} of 3",
                        f"task {entry.task_id[:12]}"] for n in (1, 2, 3)]
    assert failed.value.task_id == entry.task_id and "SIGNED" not in " ".join(lines)
    assert sim.create_count == 1
