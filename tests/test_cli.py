"""The command-line runner as a user runs it: a real process, the README command, Ctrl-C.

The processes run ``tests/fast_cli.py``: the same command (``apikley_wan.__main__.main``) handed the suite's
waits, so the embedded simulator's task and the polls take fractions of a second.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import av

from conftest import FAST_CLI

REPO = Path(__file__).resolve().parents[1]


def _env(state_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIKLEY_")}
    return {**env, "APIKLEY_STATE_DIR": str(state_dir), **extra}


def _v2v(out: Path, *extra) -> list:
    return [sys.executable, str(FAST_CLI), "v2v", "--video", "samples/reference.mp4", "--prompt",
            "character1 dances in the rain", "--duration", "5", "--resolution", "720p", "--out", str(out), *extra]


def test_readme_command_writes_a_playable_mp4_and_pays_once(tmp_path):
    out = tmp_path / "out" / "result.mp4"
    first = subprocess.run(_v2v(out, "--simulator"), cwd=REPO, env=_env(tmp_path / "state"),
                           capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr
    assert "elapsed" in first.stdout and "done: Paid now: 70 credits" in first.stdout
    assert "WARNING" not in first.stderr, "a normal create is no warning"
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264" and c.streams.audio
        assert sum(1 for _ in c.decode(video=0)) == 120
    second = subprocess.run(_v2v(out, "--simulator"), cwd=REPO, env=_env(tmp_path / "state"),
                            capture_output=True, text=True, timeout=180)
    task = first.stdout.split(" · task ")[1].split(" ")[0]
    assert second.returncode == 0 and f"done: Re-used: no new charge · task {task}" in second.stdout
    assert "uploading" not in second.stdout, "a re-run must not upload or create again"
    listing = subprocess.run([sys.executable, str(FAST_CLI), "tasks", "--simulator"], cwd=REPO,
                             env=_env(tmp_path / "state"), capture_output=True, text=True, timeout=60)
    assert task in listing.stdout and "success" in listing.stdout


def _cli(state: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(FAST_CLI), *args], cwd=REPO, env=_env(state),
                          capture_output=True, text=True, timeout=60)


def test_tasks_on_an_empty_journal_says_where_it_looked_and_how_to_start(tmp_path):
    for args, journal in ((("tasks",), "journal.sqlite"), (("tasks", "--simulator"), "journal-simulator.sqlite")):
        listing = _cli(tmp_path / "state", *args)
        assert listing.returncode == 0, listing.stderr
        assert listing.stdout.startswith(f"no tasks yet in {tmp_path / 'state' / journal}"), listing.stdout
        assert "python -m apikley_wan v2v" in listing.stdout and "--simulator" in listing.stdout
    assert "tasks --simulator" in _cli(tmp_path / "state", "tasks").stdout  # where a simulator run went


def test_credits_from_the_simulator_says_it_is_a_fresh_account_each_time(tmp_path):
    shown = _cli(tmp_path / "state", "credits", "--simulator")
    assert shown.returncode == 0, shown.stderr
    balance = next(json.loads(line) for line in shown.stdout.splitlines() if line.startswith("{"))
    assert balance == {"credits": 1000.0}
    assert "new for each command: it starts at 1000 credits every time" in shown.stdout


def test_ctrl_c_leaves_the_task_recorded_and_says_how_to_collect(sim, tmp_path):
    env = _env(tmp_path / "state", APIKLEY_BASE_URL=sim.base_url, APIKLEY_API_KEY="sim-key")
    sim.task_seconds = 60
    out = tmp_path / "r.mp4"
    # a shell starts background jobs with SIGINT ignored and children inherit that; a handler is reset
    # at exec, so with one in place the command hears Ctrl-C as it does in a user's terminal
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(_v2v(out), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    finally:
        signal.signal(signal.SIGINT, ignored)
    shown = []
    for line in proc.stdout:  # the task id is printed once recorded; then the run waits on the task
        shown.append(line)
        if line.startswith("task "):
            break
    assert sim.create_count == 1, "".join(shown)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    task_id = next(iter(sim.tasks))
    assert task_id in stderr and "collect" in stderr and "without paying again" in stderr
    sim.task_seconds = 0.3
    again = subprocess.run(_v2v(out), cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "done: Re-attached" in again.stdout and task_id in again.stdout
    assert sim.create_count == 1


def test_errors_are_one_clear_line_without_traceback(tmp_path):
    result = subprocess.run(_v2v(tmp_path / "x.mp4"), cwd=REPO,
                            env=_env(tmp_path / "state", APIKLEY_BASE_URL="http://127.0.0.1:9"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: Not configured: no API key") and "Traceback" not in result.stderr
