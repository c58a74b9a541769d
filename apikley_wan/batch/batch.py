"""A batch's run: the planned jobs on one event loop through the same pipeline, journal and pacing as ``v2v``
(``--concurrency`` jobs preparing, uploading and creating at once, every create paced to the account's window,
waiting holds no slot), each job's result copied to its ``out``; then the summary table and the ``--report``.
Run it again after any interruption: identical inputs re-use or attach to their task, never pay twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, TextIO

from ..api.cancel import Cancel
from ..api.client import ApikleyClient
from ..errors import ApikleyError, BudgetError, RunCancelledError
from ..money import pricing
from ..money.report import PAID, REATTACHED, REUSED
from ..run import stopping
from ..run.pipeline import Pipeline
from ..runtime import Runtime
from .plan import NEW, Planned, money
from .progress import Progress

log = logging.getLogger("apikley_wan")

DEFAULT_CONCURRENCY = 8
# tasks waiting at the provider at once (kie: "typically 100+ concurrent tasks" per account, §7)
MAX_IN_FLIGHT = 100
# a job's state in the summary and the report
DONE, FAILED, INTERRUPTED, SKIPPED_BUDGET, INVALID = "done", "failed", "interrupted", "skipped (budget)", "invalid"


@dataclass
class JobResult:
    line: int
    state: str
    task_id: Optional[str] = None
    outcome: Optional[str] = None       # paid, reused, reattached (report.py), or None
    charged: bool = False
    cost_credits: Optional[float] = None
    cost_usd: Optional[float] = None
    cost_kind: Optional[str] = None     # reported, measured, estimate, unknown (report.py)
    output: Optional[str] = None
    error: Optional[str] = None
    elapsed_s: Optional[float] = None



# -- run --------------------------------------------------------------------------------------

class Batch:
    """The planned jobs on one event loop, sharing one Cancel and the Runtime's parts (journal, budget
    guard, the account's pacer, workers)."""

    def __init__(self, planned: list, *, base_url: str, api_key: Optional[str], runtime: Runtime,
                 api_identity: Optional[str] = None,
                 deadline_s: Optional[float] = None, concurrency: int = DEFAULT_CONCURRENCY,
                 progress: Optional[Progress] = None, out: TextIO = sys.stdout, overwrite: bool = False):
        self.planned = planned
        self.base_url, self.api_key = base_url, api_key
        self.runtime, self.journal, self.results_dir = runtime, runtime.journal, runtime.results_dir
        self.api_identity, self.timings, self.deadline_s = api_identity, runtime.timings, deadline_s
        self.concurrency = max(1, int(concurrency))
        self.overwrite = overwrite  # an out holding another file is replaced (outputs.py)
        self.cancel = Cancel()
        runnable = [p for p in planned if not p.over_budget]
        self.prices = runtime.guard.prices  # the table in force (the Settings override too)
        self.progress = progress or Progress(len(runnable), sum(p.kind == NEW for p in runnable), out, False,
                                             prices=self.prices)
        self.results: dict[int, JobResult] = {}
        for p in planned:
            if p.over_budget:
                self.results[p.job.line] = JobResult(p.job.line, SKIPPED_BUDGET, error=(
                    f"not started: its estimate ({money(p.estimate_credits, self.prices)}) would take the batch past --max-usd"))

    def _new_pipeline(self) -> Pipeline:
        client = ApikleyClient(api_key=self.api_key, base_url=self.base_url, cancel=self.cancel)
        return self.runtime.pipeline(self.cancel, client=client, deadline_s=self.deadline_s,
                                        api_identity=self.api_identity, callback_base=None)

    async def run(self) -> list:
        gate = asyncio.Semaphore(self.concurrency)     # preparing, uploading, creating
        in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)   # tasks at the provider
        tasks = [asyncio.ensure_future(self._one(p, gate, in_flight)) for p in self.planned if not p.over_budget]
        ticker = asyncio.ensure_future(self._tick()) if self.progress.tty else None
        try:
            # Ctrl-C: stop every job within a slice; a create already on the wire finishes and is recorded
            await stopping.run_jobs(tasks, self.cancel, self.timings.stop_grace_s)
        finally:
            if ticker is not None:
                ticker.cancel()
            self.progress.close()
            self.mark_unfinished()
        return self.rows()

    async def _tick(self) -> None:
        while True:
            self.progress.draw()
            await asyncio.sleep(1.0)

    def rows(self) -> list:
        return [self.results[line] for line in sorted(self.results)]

    def mark_unfinished(self) -> None:
        for p in self.planned:
            if p.job.line not in self.results:
                entry = self.journal.by_fingerprint(p.fingerprint)
                self.results[p.job.line] = JobResult(
                    p.job.line, INTERRUPTED, task_id=entry.task_id if entry else None,
                    error="stopped before it finished; run the batch again to continue (nothing is paid twice)")

    @contextlib.asynccontextmanager
    async def _preparing(self, gate: asyncio.Semaphore):
        """One of ``--concurrency`` slots, held while a job prepares, uploads and creates."""
        async with gate:
            self.cancel.raise_if_requested()
            self.progress.running += 1
            yield

    async def _one(self, p: Planned, gate: asyncio.Semaphore, in_flight: asyncio.Semaphore) -> None:
        line, started = p.job.line, time.time()
        submitted = None

        def created(found) -> None:
            nonlocal submitted
            submitted = found
            if found.outcome == PAID:
                self.progress.event(f"line {line}: task {found.entry.task_id} created "
                                    f"(~{money(p.estimate_credits, self.prices)}, estimate)")
        try:
            async with in_flight:  # the pipeline of the node and ``v2v``, with the batch's slots and lines
                report = await self._new_pipeline().generate_video(p.job.request, on_submitted=created,
                                                                   gate=self._preparing(gate), out=p.job.out,
                                                                   overwrite=self.overwrite)
        except asyncio.CancelledError:
            self._finished(line, JobResult(line, INTERRUPTED, **self._task_of(submitted), error=(
                "stopped before it finished; run the batch again to continue (nothing is paid twice)")), started)
            raise
        except BudgetError as exc:  # the caps in force (budget.py): refused before its upload or create
            self._finished(line, JobResult(line, SKIPPED_BUDGET, error=exc.user_message()), started)
            return
        except ApikleyError as exc:
            stopped = isinstance(exc, RunCancelledError) and self.cancel.requested
            row = JobResult(line, INTERRUPTED if stopped else FAILED, **self._task_of(submitted, exc),
                            error=exc.user_message())
            self._finished(line, row, started)
            return
        except Exception as exc:  # a bug must not take the other jobs down, nor show a traceback
            log.debug("batch line %d failed", line, exc_info=True)
            self._finished(line, JobResult(line, FAILED, **self._task_of(submitted),
                                           error=f"internal error: {type(exc).__name__}: {exc}"), started)
            return
        charged = report.outcome == PAID
        if charged and report.cost_credits is not None:
            self.progress.credits += report.cost_credits
        self._finished(line, JobResult(line, DONE, report.task_id, report.outcome, charged, report.cost_credits,
                                       report.cost_usd, report.cost_kind, report.output), started, report.line())

    @staticmethod
    def _task_of(submitted, exc: Optional[ApikleyError] = None) -> dict:
        if submitted is not None:
            return {"task_id": submitted.entry.task_id, "outcome": submitted.outcome,
                    "charged": submitted.outcome == PAID}
        return {"task_id": getattr(exc, "task_id", None)}

    def _finished(self, line: int, row: JobResult, started: float, summary: Optional[str] = None) -> None:
        row.elapsed_s = round(time.time() - started, 3)
        self.results[line] = row
        progress = self.progress
        if row.state == INTERRUPTED:
            return
        progress.running = max(0, progress.running - 1)
        if row.state == DONE:
            progress.done += 1
            progress.event(f"line {line}: done · {summary} -> {row.output}")
        elif row.state == SKIPPED_BUDGET:
            progress.failed += 1
            progress.event(f"line {line}: skipped (budget) · {row.error}")
        else:
            progress.failed += 1
            progress.event(f"line {line}: FAILED · {row.error}")


# -- summary and report -----------------------------------------------------------------------

# how the paid total is known, by the sorted kinds of its parts
_TOTAL_KIND = {("reported",): ", the API's figure", ("measured",): ", measured from the balance",
               ("measured", "reported"): ", the API's figures and balance measurements", ("estimate",): ", estimate"}


def summary(rows: list, out: TextIO, prices: pricing.PriceTable = pricing.DEFAULT) -> dict:
    """The table of every job and the totals line (dollars by ``prices``, the table in force); returns the totals."""
    print(f"{'line':>5}  {'state':<17} {'outcome':<11} {'credits':>8}  {'task':<34} output / error", file=out)
    for r in rows:
        credits = "" if r.cost_credits is None else f"{r.cost_credits:g}" + ("" if r.charged else " (0)")
        where = r.output if r.state == DONE else (r.error or "")
        if len(where) > 110:
            where = where[:107] + "..."
        print(f"{r.line:>5}  {r.state:<17} {r.outcome or '-':<11} {credits:>8}  {r.task_id or '-':<34} {where}", file=out)
    paid = [r for r in rows if r.charged and r.state == DONE]
    t = {"jobs": len(rows), "done": sum(r.state == DONE for r in rows),
         "paid": len(paid), "reused": sum(r.outcome == REUSED and r.state == DONE for r in rows),
         "reattached": sum(r.outcome == REATTACHED and r.state == DONE for r in rows),
         "failed": sum(r.state == FAILED for r in rows), "interrupted": sum(r.state == INTERRUPTED for r in rows),
         "skipped_budget": sum(r.state == SKIPPED_BUDGET for r in rows),
         "invalid": sum(r.state == INVALID for r in rows),
         "paid_credits": sum(r.cost_credits or 0.0 for r in paid)}
    t["paid_usd"] = prices.to_usd(t["paid_credits"])
    t["cost_kind"] = sorted({r.cost_kind for r in paid if r.cost_kind}) or None
    kind = "" if not paid else _TOTAL_KIND.get(tuple(t["cost_kind"] or ()), ", partly estimated")
    print(f"{t['done']}/{t['jobs']} done: {t['paid']} paid now ({money(t['paid_credits'], prices)}{kind}), "
          f"{t['reused']} re-used and {t['reattached']} re-attached (no new charge); {t['failed']} failed, "
          f"{t['interrupted']} interrupted, {t['skipped_budget']} skipped for budget, {t['invalid']} invalid",
          file=out)
    return t


def write_report(path: str | Path, jobs_file: Path, api: str, rows: list, totals: dict, started: float) -> None:
    body = {"jobs_file": str(jobs_file), "api": api, "started_at": started, "finished_at": time.time(),
            "elapsed_s": round(time.time() - started, 3), "totals": totals, "jobs": [asdict(r) for r in rows]}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)

