"""Several PROCESSES claim the same inputs at the same instant, against each store: for every fingerprint
exactly one of them gets ``is_new`` (it alone would send the paid create), and all the others get that
same entry. Each worker is a fresh Python that opens its journal the way the pack does
(``open_journal``, with ``APIKLEY_JOURNAL_URL`` set for the PostgreSQL leg), waits until all are ready,
then claims on one signal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import test_journal_contract as contract
from apikley_wan.record import entry as jr

REPO = Path(__file__).resolve().parents[1]
WORKERS = 8
ROUNDS = 12  # fingerprints claimed by every worker, in the same order: 12 races per run

# one worker: open the journal, say "ready", wait for "go", claim every fingerprint, print what it got
WORKER = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from apikley_wan.record import journals as journal
    store = journal.open_journal(sys.argv[2])
    fingerprints = json.loads(sys.argv[3])
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit(3)
    got = {}
    for fp in fingerprints:
        entry, is_new = store.claim(fp, {"worker": sys.argv[4]})
        got[fp] = [entry.id, is_new, entry.state]
    print(json.dumps({"kind": type(store).__name__, "got": got}), flush=True)
""")


def _first_lines(procs, timeout: float) -> list:
    """Each process's first line of output, None for one that said nothing in time (never hangs)."""
    lines = [None] * len(procs)

    def read(i):
        lines[i] = procs[i].stdout.readline().strip()
    readers = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(len(procs))]
    for r in readers:
        r.start()
    deadline = time.monotonic() + timeout
    for r in readers:
        r.join(max(0.0, deadline - time.monotonic()))
    return lines


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    made = contract.make_store(request.param, tmp_path)
    yield made
    if isinstance(made, contract.PgStore):
        made.drop()


def test_processes_claiming_the_same_inputs_at_once_create_one_row_each(store, tmp_path):
    journal = store.open()  # created (and migrated) once, as a running farm's journal is
    fresh = [f"fresh-{i}" for i in range(ROUNDS // 2)]
    # inputs whose last create was refused may create again, once; an uncertain create is never re-sent
    refused = [f"refused-{i}" for i in range(ROUNDS // 4)]
    uncertain = [f"uncertain-{i}" for i in range(ROUNDS - len(fresh) - len(refused))]
    seeded = {}
    for fp, state in [(fp, jr.REFUSED) for fp in refused] + [(fp, jr.UNCERTAIN) for fp in uncertain]:
        entry, _ = journal.claim(fp, {})
        seeded[fp] = journal.update(entry.id, state=state).id
    fingerprints = fresh + refused + uncertain

    env = {**os.environ, **store.env()}
    sqlite_path = str(store.path or tmp_path / "unused.sqlite")
    started = time.monotonic()
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(REPO), sqlite_path, json.dumps(fingerprints),
                                 str(i)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env) for i in range(WORKERS)]
    try:
        ready = _first_lines(workers, timeout=30)  # every worker has imported, connected and checked the schema
        assert ready == ["ready"] * WORKERS, f"workers did not start: {ready!r}"
        for w in workers:  # then all claim at once
            w.stdin.write("go\n")
            w.stdin.flush()
        answers = []
        for w in workers:
            out, err = w.communicate(timeout=30)
            assert w.returncode == 0, err[-2000:]
            answers.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    elapsed = time.monotonic() - started

    expected_kind = "Journal" if store.name == "sqlite" else "PgJournal"
    assert {a["kind"] for a in answers} == {expected_kind}  # open_journal chose the store the URL names
    for fp in fingerprints:
        got = [a["got"][fp] for a in answers]
        winners = [entry_id for entry_id, is_new, _ in got if is_new]
        ids = {entry_id for entry_id, _, _ in got}
        if fp in uncertain:
            assert winners == [] and ids == {seeded[fp]}, (fp, got)
            assert {state for _, _, state in got} == {jr.UNCERTAIN}
        else:
            assert len(winners) == 1 and ids == set(winners), (fp, got)  # one creator; the others see its row
            assert winners[0] != seeded.get(fp)
        active = store.execute("SELECT COUNT(*) FROM tasks WHERE fingerprint = ? AND state NOT IN (?, ?, ?)",
                               (fp, *jr.REPLACEABLE))[0][0]
        assert active == 1, fp
    assert store.execute("SELECT COUNT(*) FROM tasks")[0][0] == len(fingerprints) + len(refused)
    print(f"{WORKERS} processes x {len(fingerprints)} claims on {store.name}: {elapsed:.2f} s")
