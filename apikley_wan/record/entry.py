"""A journal entry and what it means: states, the task id rule, and the one verdict on an entry.

What an entry means for a run of its inputs (re-use, attach, wait for its creator, uncertain or create) is
decided once, by ``verdict``: the claim, the pipeline, the estimate, the batch plan and the tasks panel ask it.

Liveness of a 'creating' row is a heartbeat (``heartbeat_at``), not a process id: it works on every
OS and across machines sharing the journal (given clocks agree within a few seconds).
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Optional

from ..errors import InputError

# states in the user's words
CREATING = "creating"        # row written, create POST about to be sent or in flight
UNCERTAIN = "uncertain"      # create sent, answer lost: a task may exist
REFUSED = "refused"          # the API proved no task was made
ABANDONED = "abandoned"      # the user chose to stop waiting for an uncertain create
SUCCESS = "success"
FAIL = "fail"
NOT_FOUND = "not found"      # a typed-in task id the API does not know
ADOPTED_PREFIX = "task:"     # fingerprint of a task recorded by id, not by inputs
PENDING = ("waiting", "queuing", "generating")
# a new task may be created only over these (no task exists, or it failed unbilled)
REPLACEABLE = (REFUSED, FAIL, ABANDONED)

# what real task ids look like (32 hex, or short word characters): an id from the server or a user
# that does not match is refused, so none can ever become a path, a URL part or a log injection
TASK_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def valid_task_id(task_id) -> bool:
    """One apikley task id: 1-64 letters, digits, '_' or '-'."""
    return isinstance(task_id, str) and TASK_ID_PATTERN.fullmatch(task_id) is not None


def check_task_id(task_id) -> None:
    """InputError unless ``task_id`` is one apikley task id (a typed-in or pasted one)."""
    if not valid_task_id(task_id):
        raise InputError(f"{str(task_id)[:80]!r} is not an apikley task id (1-64 letters, digits, '_' or '-')",
                         hint="Copy the id from the apikley task log, a status line or a result's .json file.")

# how a recorded cost is known (report.py names them for runs): the API's own figure, the balance read
# before the create and after success while no other task of the process was in flight (metering.py),
# the price table, or not at all
COST_KINDS = ("reported", "measured", "estimate", "unknown")

# the journal's schema version: each store's migrations (sqlite.py, postgres.py) take it this far, step by step
SCHEMA_VERSION = 4

# a row's columns, in the order both stores keep them
COLUMNS = ("id", "fingerprint", "state", "task_id", "params", "result_url", "result_path", "cost_credits",
           "error", "owner", "created_at", "updated_at", "task_created_at", "finished_at", "heartbeat_at",
           "cost_kind")


@dataclass(frozen=True)
class CreateSlot:
    """One create request of an account, as the window sees it (pacing.py)."""

    started_at: float              # when its slot was taken, just before the request
    answered_at: Optional[float]   # when its answer came back; None while in flight
    refused_at: Optional[float]    # when the API last answered it 429/455 (the window was full)


@dataclass
class JournalEntry:
    id: int
    fingerprint: str
    state: str
    task_id: Optional[str]
    params: dict
    result_url: Optional[str]
    result_path: Optional[str]
    cost_credits: Optional[float]
    error: Optional[str]
    owner: Optional[str]
    created_at: float
    updated_at: float
    task_created_at: Optional[float]
    finished_at: Optional[float]
    heartbeat_at: Optional[float] = None  # last sign of life of the writer of a 'creating' row
    cost_kind: str = "unknown"            # one of COST_KINDS: how cost_credits is known

    @property
    def pending(self) -> bool:
        return self.task_id is not None and self.state in PENDING

    def owner_alive(self, now: float, stale_s: float) -> bool:
        """Whether the writer of a 'creating' row still runs at ``now``: its heartbeat is younger than
        ``stale_s`` (the journal's ``Timings.stale_s``; any OS, any host).

        A row without a heartbeat was written by a release before heartbeats: its writer is taken
        as gone (an upgrade restarts it). Were it taken as alive, nothing could ever resolve it.
        Taking it as gone never re-sends: the run says "an earlier run sent the create" instead.
        """
        return self.heartbeat_at is not None and now - self.heartbeat_at < stale_s


# -- the verdict: what a run of some inputs does, from the newest entry of their fingerprint ----------
class Decision(enum.Enum):
    """The one reading of a journal entry that the pipeline, the claim, the estimate route, the batch
    plan and the tasks panel share (each maps it to its own words; see ``verdict``)."""

    REUSE = "re-use"                    # finished: its result is re-used (fetched again if missing), free
    ATTACH = "attach"                   # a task with an id: wait for it and fetch its result, free
    WAIT_FOR_CREATOR = "wait for creator"  # a live run is creating it: wait for its id, then decide again
    UNCERTAIN = "uncertain"             # a create sent whose answer was lost (or whose writer is gone): never re-sent
    CREATE = "create"                   # no task, or one the API refused, failed or the user abandoned: pay anew


# would the run send a paid create? None: it cannot be told before running (see Verdict.pays)
_PAYS = {Decision.REUSE: False, Decision.ATTACH: False, Decision.CREATE: True,
         Decision.WAIT_FOR_CREATOR: None, Decision.UNCERTAIN: None}


@dataclass(frozen=True)
class Verdict:
    """A decision with what its callers need: the entry, and for REUSE whether the result is fetched again."""

    decision: Decision
    entry: Optional[JournalEntry]  # the entry it was read from (None: the journal has none)
    download: bool = False         # REUSE: the caller's copy of the result is missing, so it is fetched again

    @property
    def pays(self) -> Optional[bool]:
        """True: the run creates a paid task. False: no new charge. None: cannot be told before running
        (WAIT_FOR_CREATOR is free unless that other create is refused; UNCERTAIN stops the run without
        sending, and only an abandon lets a later run pay)."""
        return _PAYS[self.decision]


def verdict(entry: Optional[JournalEntry], now: float, *, stale_s: float, result_on_disk: bool = False) -> Verdict:
    """What a run does with the newest entry of its inputs' fingerprint, at ``now`` (wall time), when a
    heartbeat older than ``stale_s`` means a gone writer, given whether the caller's copy of the result
    file is on disk. Pure: it reads only its arguments; callers ask ``JournalStore.verdict``, which gives
    the journal's clock and liveness.

    Create only over no entry or a REPLACEABLE one (the claim asks the same). A row with a task id is
    never replaced: a state this release does not know is attached to (its task is polled), and one
    without an id that is not a live create is UNCERTAIN: never paid for twice.
    """
    if entry is None or entry.state in REPLACEABLE:
        return Verdict(Decision.CREATE, entry)
    if entry.state == CREATING:
        return Verdict(Decision.WAIT_FOR_CREATOR if entry.owner_alive(now, stale_s) else Decision.UNCERTAIN, entry)
    if entry.state == UNCERTAIN or entry.task_id is None:
        return Verdict(Decision.UNCERTAIN, entry)
    if entry.state == SUCCESS:
        return Verdict(Decision.REUSE, entry, download=not result_on_disk)
    return Verdict(Decision.ATTACH, entry)  # waiting, queuing, generating; 'not found' is polled again


def row_to_entry(row: tuple) -> JournalEntry:
    values = dict(zip(COLUMNS, row, strict=True))
    values["params"] = json.loads(values["params"] or "{}")
    return JournalEntry(**values)

