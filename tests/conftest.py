"""Shared fixtures: the pack loaded by path the way ComfyUI loads it, a simulator, a state folder;
and the suite's time compression: fast timings, a virtual clock, waiting on a condition."""

from __future__ import annotations

import keep_bytecode  # noqa: F401 - first: this and every process the suite starts keep their bytecode

import asyncio
import functools
import importlib
import importlib.util
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from apikley_wan.run import watch
from apikley_wan.runtime import Config, Runtime
from timings import FAST

REPO = Path(__file__).resolve().parents[1]
PACK_NAME = "apikley_wan_pack_under_test"
FAST_CLI = REPO / "tests" / "fast_cli.py"  # the real command line on FAST (see fast_cli.py)


def pytest_configure(config):
    """Run in parallel (pytest-xdist's ``-n``), the controller starts the one throw-away PostgreSQL server its
    workers share (each PostgreSQL test has a schema of its own) before they start, instead of one per worker.
    When none can be had, each worker finds out for itself and skips or fails saying why."""
    import test_journal_contract as pg

    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput") \
            and not os.environ.get(pg.PG_URL_ENV):
        try:
            os.environ[pg.PG_URL_ENV] = pg.start_server()
        except pg.NoServer:
            pass


def fast_runtime(results_dir: Path | None = None, journal=None, timings=FAST, state_dir: Path | None = None) -> Runtime:
    """A Runtime as the command line builds one (the environment read once; the state folder's journal unless
    ``journal``), on the suite's fast waits (or ``timings``), results under ``results_dir`` (default: the state
    folder's)."""
    return Runtime(Config.from_env(state_dir=state_dir, results_dir=results_dir, timings=timings), journal=journal)


class VirtualClock(watch.Clock):
    """Lets the real client poll the real simulator while minutes pass in milliseconds: time moves
    only when the code under test sleeps. It starts at the real time, so it agrees with the journal."""

    def __init__(self, start: float | None = None):
        self.t = time.time() if start is None else start

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        await asyncio.sleep(0)


def wait_until(condition: Callable[[], object], timeout: float = 30.0, what: str = "the condition"):
    """Poll ``condition`` until it is truthy (returned) instead of sleeping a guessed time: quick on a
    quiet machine, patient on a loaded one."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.01)


def errors_when_run_at_once(work: Callable[[], object], count: int = 8) -> list:
    """Run ``work`` in ``count`` threads released together; the exceptions they raised (none: ``[]``)."""
    start, errors = threading.Barrier(count), []

    def one() -> None:
        start.wait()
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - collected for the caller to assert
            errors.append(exc)
    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def cancel_after(started: threading.Event, cancel, delay: float = 0.3) -> list:
    """Set ``cancel`` ``delay`` s after ``started`` (e.g. a wait's first poll: inside its pause before the
    next); the returned list receives the monotonic time it was set, to measure how soon it was felt."""
    at: list = []

    def later() -> None:
        started.wait(60)
        time.sleep(delay)
        at.append(time.monotonic())
        cancel.set()
    threading.Thread(target=later, daemon=True).start()
    return at


def load_pack():
    """Import the repository's ``__init__.py`` as a package by file path, as ComfyUI's loader does."""
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(PACK_NAME, REPO / "__init__.py",
                                                  submodule_search_locations=[str(REPO)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module


def pack_module(pack, name: str):
    """One module of the loaded pack, e.g. ``pack_module(pack, "nodes.host")``."""
    return importlib.import_module(f"{pack.__name__}.{name}")


@pytest.fixture
def node_pack(sim, state_dir, tmp_path, monkeypatch):
    """The pack loaded as ComfyUI loads it, its nodes on the simulator with the key in the environment:
    results under tmp_path/output, Load Video's input folder tmp_path/input, a fresh pack state."""
    module = load_pack()
    monkeypatch.setenv("APIKLEY_BASE_URL", sim.base_url)
    monkeypatch.setenv("APIKLEY_API_KEY", "sim-key")
    use_pack_runtime(module, tmp_path / "output", monkeypatch)
    (tmp_path / "input").mkdir(exist_ok=True)
    monkeypatch.setattr(pack_module(module, "nodes.host"), "input_dir", lambda: tmp_path / "input")
    return module


def use_pack_runtime(pack, output: Path, monkeypatch) -> None:
    """The loaded pack builds its Runtime afresh on first use, as when it loads in ComfyUI (from the
    environment of that moment), but on the fast waits and with results under ``output/apikley_wan``
    (ComfyUI's output folder's stand-in); the test's runtime is dropped after it."""
    service = pack_module(pack, "nodes.service")
    monkeypatch.setattr(service, "setup", functools.partial(service.setup, timings=FAST,
                                                            results_dir=output / "apikley_wan"))
    monkeypatch.setattr(service, "_runtime", None)


@pytest.fixture(autouse=True)
def no_budget_caps(monkeypatch):
    """No budget cap from the developer's environment (budget.py reads them at each paid create); saved caps
    live in each test's own state folder."""
    for name in ("APIKLEY_BUDGET_SESSION_USD", "APIKLEY_BUDGET_DAY_USD", "APIKLEY_MIN_BALANCE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    """A private state folder (journal, key file) and no key from the developer's environment."""
    folder = tmp_path / "state"
    monkeypatch.setenv("APIKLEY_STATE_DIR", str(folder))
    monkeypatch.delenv("APIKLEY_API_KEY", raising=False)
    monkeypatch.delenv("APIKLEY_BASE_URL", raising=False)
    monkeypatch.delenv("APIKLEY_CALLBACK_URL", raising=False)
    monkeypatch.delenv("APIKLEY_JOURNAL_URL", raising=False)  # never a developer's shared farm journal
    return folder


@pytest.fixture
def sim():
    """A simulator on the fast timings (tasks done 0.1 s after create, 'recordInfo is null' for the first
    0.05 s). A test that needs a task to stay pending sets ``sim.task_seconds`` high *before* creating it,
    then finishes it on a condition (``finish_task``, or its ``finish_now`` event), never after a guess."""
    from apikley_wan.simulator import Simulator
    with Simulator(api_key="sim-key", task_seconds=FAST.simulator_task_s,
                   null_seconds=FAST.simulator_null_s) as running:
        yield running


@pytest.fixture(scope="session")
def reference_clip() -> Path:
    path = REPO / "samples" / "reference.mp4"
    assert path.is_file(), "the shipped sample clip is missing"
    return path
