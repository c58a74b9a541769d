"""Ctrl-C on a command without losing a paid task: the one way ``v2v`` and ``batch`` stop.

Ctrl-C cancels the command's main coroutine. Its jobs are not cancelled with it: Cancel is set (every
wait and transfer stops within a slice) and the jobs get ``stop_grace_s`` to end on their own, so a
create already on the wire is answered and its task id recorded (claim -> create -> record is one
worker step, never split). Only the jobs still running after that are cancelled.
"""

from __future__ import annotations

import asyncio

from ..api.cancel import Cancel
from ..record.store import JournalStore

UNWIND_S = 2.0  # jobs cancelled after the grace get this long to unwind


async def run_jobs(jobs: list, cancel: Cancel, grace_s: float) -> None:
    """Await every job; when the caller is cancelled (Ctrl-C), stop them as above, then re-raise."""
    try:
        if jobs:
            await asyncio.wait(jobs)  # not gather: a cancelled wait leaves the jobs to stop cleanly
    except BaseException:
        cancel.set()
        done, pending = await asyncio.wait(jobs, timeout=grace_s) if jobs else (set(), set())
        for job in done:
            job.cancelled() or job.exception()  # seen: not logged as "never retrieved"
        for job in pending:
            job.cancel()
        if pending:
            await asyncio.wait(pending, timeout=UNWIND_S)
        raise


def give_up_creates(journal: JournalStore) -> list:
    """After the grace: this process's creates still unanswered become 'uncertain' entries (returned), to be
    linked to their task id or abandoned at once; the process that sent them is leaving."""
    return journal.give_up_creates("stopped (Ctrl-C) while the create request was on its way; its answer "
                                   "never arrived: a task may exist")
