"""The composition root: one Config read once, one Runtime owning what a process keeps, nothing kept in the
core's modules, and no test switch in production code."""

from __future__ import annotations

import ast
import asyncio
import threading
import time
from dataclasses import replace
from pathlib import Path

from apikley_wan.record.entry import Decision
from apikley_wan.runtime import Config, Runtime
from apikley_wan.settings.settings import TIMINGS
from apikley_wan.run.workers import TaskLocks
from conftest import FAST, REPO, wait_until
from timings import BEAT

CORE = list((REPO / "apikley_wan").rglob("*.py"))  # the simulator too: it keeps its state in its objects
PRODUCTION = CORE + list((REPO / "nodes").glob("*.py")) + [REPO / "__init__.py"]


def _module_state(path: Path) -> list:
    """Module-level names bound to a new object (``Meter()``), or to a dict, list or set not named as a constant."""
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        made = isinstance(value, ast.Call) and isinstance(value.func, (ast.Name, ast.Attribute)) and (
            getattr(value.func, "id", None) or value.func.attr)[:1].isupper()
        literal = isinstance(value, (ast.Dict, ast.List, ast.Set))  # a table named in capitals is a constant
        found += [f"{path.relative_to(REPO)} {ast.unparse(t)}" for t in targets if t is not None
                  and not ast.unparse(t).startswith("__")
                  and (made or (literal and not ast.unparse(t).strip("_").isupper()))]
    return found


def test_the_core_keeps_no_state_in_its_modules():
    kept = [hit for path in CORE for hit in _module_state(path)]
    # frozen values only: BT.709's colour tags, the default price table and the production waits
    assert sorted(kept) == ["apikley_wan/media/color.py BT709", "apikley_wan/money/pricing.py DEFAULT",
                            "apikley_wan/settings/settings.py TIMINGS"], kept


def test_the_core_rebinds_no_module_name_and_caches_nothing_in_its_modules():
    for path in CORE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            assert not isinstance(node, ast.Global), f"{path.relative_to(REPO)}:{node.lineno} global"
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for deco in node.decorator_list:
                    name = ast.unparse(deco)
                    assert "cache" not in name, f"{path.relative_to(REPO)}:{node.lineno} {name}: a process-wide cache"


def test_production_code_reads_no_test_switch():
    for path in PRODUCTION:
        text = path.read_text(encoding="utf-8")
        for switch in ("APIKLEY_TEST_TIMINGS", "APIKLEY_OUTPUT_DIR", "FAST_TIMINGS"):
            assert switch not in text, f"{path.relative_to(REPO)} mentions {switch}"


def test_the_config_is_read_once(state_dir, monkeypatch):
    monkeypatch.setenv("APIKLEY_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("APIKLEY_DEADLINE_MIN", "2")
    monkeypatch.setenv("APIKLEY_ALLOWED_HOSTS", "box.lan")
    cfg = Config.from_env(timings=FAST)
    monkeypatch.setenv("APIKLEY_BASE_URL", "http://127.0.0.1:10")
    assert (cfg.state_dir, cfg.results_dir) == (state_dir, state_dir / "results")
    assert (cfg.base_url, cfg.deadline_s, cfg.allowed_hosts, cfg.timings) == ("http://127.0.0.1:9", 120.0,
                                                                               frozenset({"box.lan"}), FAST)
    monkeypatch.setenv("APIKLEY_API_KEY", "secret-key-123")
    assert "secret-key-123" not in repr(Config.from_env())  # the key never shows in a repr or a log of it


def test_each_runtime_owns_its_parts_and_hands_them_to_every_run(state_dir, tmp_path):
    one, two = Runtime(Config.from_env(timings=FAST)), Runtime(Config.from_env(state_dir=tmp_path / "other"))
    assert one.guard is not two.guard and one.meter is not two.meter and one.lanes is not two.lanes
    assert one.guard.caps_folder == state_dir and two.journal.path == tmp_path / "other" / "journal.sqlite"
    gens = one.pipeline(one.client().cancel)
    assert (gens.budget, gens.meter, gens.pacer, gens.locks, gens.clock, gens.timings) == (
        one.guard, one.meter, one.pacer, one.locks, one.clock, FAST)
    assert gens.journal is one.journal and gens.deadline_s == one.config.deadline_s


def test_each_journal_judges_liveness_by_its_own_runtime_timings(tmp_path):
    """The heartbeat and the stale time come from the Config's timings, journal by journal: no module
    attribute for a test to patch, and a fast journal beside a real one in one process leaves it alone."""
    quick = Runtime(Config(state_dir=tmp_path / "quick", results_dir=tmp_path / "r1",
                           timings=replace(FAST, heartbeat_s=BEAT.heartbeat_s, stale_s=BEAT.stale_s)))
    real = Runtime(Config(state_dir=tmp_path / "real", results_dir=tmp_path / "r2", timings=FAST))
    assert quick.journal.timings.stale_s == BEAT.stale_s and real.journal.timings.stale_s == TIMINGS.stale_s
    for runtime in (quick, real):
        entry, _ = runtime.journal.claim("fp", {})
        runtime.journal.release(entry.id)  # its writer falls silent
    time.sleep(BEAT.stale_s + 0.1)
    assert quick.journal.verdict(quick.journal.by_fingerprint("fp")).decision is Decision.UNCERTAIN
    assert real.journal.verdict(real.journal.by_fingerprint("fp")).decision is Decision.WAIT_FOR_CREATOR


def test_a_task_lock_is_dropped_when_its_last_holder_leaves():
    locks, inside, order = TaskLocks(), threading.Event(), []

    def second():
        inside.wait(5)
        with locks.hold("t1"):
            order.append("second")
    later = threading.Thread(target=second)
    later.start()
    with locks.hold("t1"):
        inside.set()
        assert len(locks) == 1
        order.append("first")
        later.join(0.2)  # the second holder waits for this one
        assert later.is_alive()
    later.join(5)
    assert order == ["first", "second"] and len(locks) == 0  # nothing kept for a task no one holds


def test_the_lanes_of_a_runtime_run_steps_off_the_loop(state_dir):
    runtime = Runtime(Config.from_env(timings=FAST))
    loop_thread = threading.get_ident()

    async def step():
        return await runtime.lanes.run(threading.get_ident)
    assert asyncio.run(step()) != loop_thread


def test_an_idle_worker_ends_so_a_runtime_dropped_leaves_no_threads(state_dir, monkeypatch):
    from apikley_wan.run import workers
    monkeypatch.setattr(workers, "IDLE_EXIT_S", 0.05)
    lanes = workers.Lanes()

    async def steps():
        return await asyncio.gather(*(lanes.run(threading.current_thread) for _ in range(3)))
    ran_on = set(asyncio.run(steps()))
    assert 1 <= len(ran_on) <= workers.FILE_WORKERS
    wait_until(lambda: not any(t.is_alive() for t in ran_on), 5, "the idle workers ending")
    assert asyncio.run(steps())  # a later step starts a worker again
