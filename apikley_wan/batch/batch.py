"""``python -m apikley_wan batch JOBS``: many generations from a JSON Lines or CSV file, on one event
loop through the same core, journal and pacing as ``v2v``.

check every line (nothing paid while any is bad, unless --skip-invalid) -> plan (fingerprint each
job and ask the journal's verdict: re-use, attach, wait for creator, uncertain or new; the budget)
-> run (``--concurrency`` jobs preparing/uploading/creating at once, every create paced to the
account's window, waiting holds no slot) -> each job's result copied to its ``out`` -> summary table
and ``--report``.
Run it again after any interruption: identical inputs re-use or attach to their task, never pay twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, TextIO

from ..run import embedded
from ..money import pricing
from ..results import archive, outputs
from ..run import stopping
from ..settings import config, settings
from ..record import entry as jr
from ..api.cancel import Cancel
from ..api.client import ApikleyClient
from ..errors import ApikleyError, BudgetError, RunCancelledError
from ..run.pipeline import Pipeline
from .jobs import Job, JobsFileError, Problem, batch_inputs, load_jobs
from ..record.store import JournalStore
from ..money.report import PAID, REATTACHED, REUSED
from ..run.request import fingerprint
from ..settings.settings import Timings
from ..runtime import Runtime

log = logging.getLogger("apikley_wan")

DEFAULT_CONCURRENCY = 8
# tasks waiting at the provider at once (kie: "typically 100+ concurrent tasks" per account, §7)
MAX_IN_FLIGHT = 100

# what the plan expects of a job: the journal's verdict in the plan's words, or a repeat of an earlier line
NEW, REUSE, ATTACH, WAIT, UNCERTAIN, DUPLICATE = "new", "re-use", "attach", "wait for creator", "uncertain", "duplicate"
_KIND_OF = {jr.Decision.CREATE: NEW, jr.Decision.REUSE: REUSE, jr.Decision.ATTACH: ATTACH,
            jr.Decision.WAIT_FOR_CREATOR: WAIT, jr.Decision.UNCERTAIN: UNCERTAIN}
# what may send a paid create in this run, so counts against --max-usd: a new task, and the wait for another
# run's create (it creates if that one is refused); an uncertain job stops without sending
_MAY_PAY = (NEW, WAIT)
# a job's state in the summary and the report
DONE, FAILED, INTERRUPTED, SKIPPED_BUDGET, INVALID = "done", "failed", "interrupted", "skipped (budget)", "invalid"


@dataclass
class Planned:
    job: Job
    fingerprint: str
    kind: str                       # NEW, REUSE, ATTACH, WAIT, UNCERTAIN or DUPLICATE
    estimate_credits: float         # what this run may pay for it (0 unless NEW or WAIT)
    task_id: Optional[str] = None   # the journal's task for it, if any
    same_as: Optional[int] = None   # DUPLICATE: the line whose task it shares
    over_budget: bool = False


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


# -- plan -------------------------------------------------------------------------------------

def plan(jobs: list, journal: JournalStore, api_identity: str, max_usd: Optional[float] = None,
         overwrite: bool = False) -> tuple[list, list]:
    """``(planned, problems)``: each job's fingerprint and what the journal says of it (no network),
    and the budget: a job that may pay (new, or waiting for another run's create) whose estimate would take
    the batch past ``max_usd`` is not run. A job whose ``out`` holds a file that is not its task's result
    is a problem, unless ``overwrite`` (outputs.py)."""
    planned, problems, seen = [], [], {}
    spent_usd = 0.0
    for job in jobs:
        try:
            fp, _ = fingerprint(job.request, api_identity)
        except ApikleyError as exc:
            problems.append(Problem(job.line, exc.detail or exc.what))
            continue
        entry = journal.by_fingerprint(fp)
        taken = outputs.existing_problem(job.out, entry and entry.task_id, entry and entry.result_path, overwrite)
        if taken:
            problems.append(Problem(job.line, taken))
            continue
        if fp in seen:
            p = Planned(job, fp, DUPLICATE, 0.0, entry.task_id if entry else None, same_as=seen[fp])
        else:
            kind = _KIND_OF[jr.verdict(entry, jr.clock()).decision]
            credits = pricing.estimate_credits(job.request.duration, job.request.resolution) if kind in _MAY_PAY else 0.0
            p = Planned(job, fp, kind, credits, None if kind == NEW or entry is None else entry.task_id)
        if p.kind in _MAY_PAY and max_usd is not None:
            cost = pricing.credits_to_usd(p.estimate_credits)
            if spent_usd + cost > max_usd + 1e-9:
                p.over_budget = True
            else:
                spent_usd += cost
        seen.setdefault(fp, job.line)
        planned.append(p)
    return planned, problems


def _money(credits: float) -> str:
    return f"{credits:g} credits (${pricing.credits_to_usd(credits):.2f})"


def describe_plan(planned: list, out: TextIO) -> dict:
    """Print what a run would do, job by job, and the totals; return the totals."""
    for p in planned:
        what = {NEW: f"new task, ~{_money(p.estimate_credits)}",
                REUSE: f"re-use task {p.task_id} (no new charge)",
                ATTACH: f"attach to running task {p.task_id} (no new charge)",
                WAIT: ("another run is creating this task now: waits for it (no new charge unless that create is "
                       f"refused, then a new task, ~{_money(p.estimate_credits)})"),
                UNCERTAIN: "an earlier create's answer was lost: will not be re-sent (see `tasks` / `abandon`)",
                DUPLICATE: f"same inputs as line {p.same_as} (shares its task, no new charge)"}[p.kind]
        if p.over_budget:
            what = f"skipped for budget (would be a new task, ~{_money(p.estimate_credits)})"
        print(f"line {p.job.line}: {what} -> {p.job.out}", file=out)
    new = [p for p in planned if p.kind == NEW and not p.over_budget]
    totals = {"jobs": len(planned), "new": len(new), "estimate_credits": sum(p.estimate_credits for p in new),
              "reused": sum(p.kind == REUSE for p in planned), "attach": sum(p.kind == ATTACH for p in planned),
              "duplicate": sum(p.kind == DUPLICATE for p in planned), "waiting": sum(p.kind == WAIT for p in planned),
              "uncertain": sum(p.kind == UNCERTAIN for p in planned),
              "over_budget": sum(p.over_budget for p in planned)}
    totals["estimate_usd"] = pricing.credits_to_usd(totals["estimate_credits"])
    return totals


def totals_line(t: dict) -> str:
    text = (f"{t['jobs']} job(s): {t['new']} new task(s) ~{_money(t['estimate_credits'])}, estimate from the "
            f"price table; {t['reused']} re-used and {t['attach'] + t['duplicate']} attached (no new charge)")
    if t["waiting"]:
        text += f"; {t['waiting']} being created by another run (waited for)"
    if t["uncertain"]:
        text += f"; {t['uncertain']} with a lost create answer (not re-sent)"
    if t["over_budget"]:
        text += f"; {t['over_budget']} skipped for budget"
    return text


# -- progress ---------------------------------------------------------------------------------

class Progress:
    """A live line on a terminal (redrawn each second), plain lines otherwise; job events as lines."""

    def __init__(self, total: int, new_jobs: int, out: TextIO, tty: bool, clock: Callable[[], float] = time.monotonic,
                 typical_s: float = settings.TYPICAL_SECONDS[settings.DEFAULT_DURATION]):
        self.total, self.new_jobs, self.out, self.tty, self.clock = total, new_jobs, out, tty, clock
        self.typical_s = typical_s  # a task's time, for the ETA until the first job finishes
        self.started = clock()
        self.done = self.failed = self.running = 0
        self.credits = 0.0
        self._live = False

    def eta_s(self) -> Optional[float]:
        left = self.total - self.done - self.failed
        if left <= 0:
            return 0.0
        finished = self.done + self.failed
        elapsed = self.clock() - self.started
        if finished and elapsed > 0:
            return left * elapsed / finished
        rounds = max(0, math.ceil(self.new_jobs / max(1, settings.CREATES_PER_WINDOW)) - 1)
        return max(0.0, rounds * settings.CREATE_WINDOW_S + self.typical_s - elapsed)

    def line(self) -> str:
        eta = self.eta_s()
        eta_text = "-" if eta is None else (f"{int(eta // 60)}m{int(eta % 60):02d}s" if eta >= 60 else f"{int(eta)}s")
        return (f"batch: {self.done}/{self.total} done, {self.running} running, {self.failed} failed · "
                f"{_money(self.credits)} spent · ETA ~{eta_text}")

    def draw(self) -> None:
        if self.tty:
            self.out.write("\r\x1b[K" + self.line())
            self.out.flush()
            self._live = True

    def event(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\x1b[K" + text + "\n")
            self.draw()
        else:
            print(f"[{self.done + self.failed}/{self.total}] {text}", file=self.out, flush=True)

    def close(self) -> None:
        if self.tty and self._live:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._live = False


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
        self.progress = progress or Progress(len(runnable), sum(p.kind == NEW for p in runnable), out, False)
        self.results: dict[int, JobResult] = {}
        for p in planned:
            if p.over_budget:
                self.results[p.job.line] = JobResult(p.job.line, SKIPPED_BUDGET, error=(
                    f"not started: its estimate ({_money(p.estimate_credits)}) would take the batch past --max-usd"))

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
                                    f"(~{_money(p.estimate_credits)}, estimate)")
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


def summary(rows: list, out: TextIO) -> dict:
    """The table of every job and the totals line; returns the totals."""
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
    t["paid_usd"] = pricing.credits_to_usd(t["paid_credits"])
    t["cost_kind"] = sorted({r.cost_kind for r in paid if r.cost_kind}) or None
    kind = "" if not paid else _TOTAL_KIND.get(tuple(t["cost_kind"] or ()), ", partly estimated")
    print(f"{t['done']}/{t['jobs']} done: {t['paid']} paid now ({_money(t['paid_credits'])}{kind}), "
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


# -- the command ------------------------------------------------------------------------------

@contextlib.contextmanager
def _simulator_endpoint(timings: Timings, out: TextIO):
    """The embedded simulator, like ``v2v --simulator``, with credits enough for a batch (they are not real)."""
    with embedded.embedded_simulator(timings, credits=1_000_000.0, out=out) as sim:
        yield sim.base_url, embedded.KEY


def command(args, *, runtime: Runtime, out: Optional[TextIO] = None,
            err: Optional[TextIO] = None, endpoint: Optional[Callable] = None) -> int:
    """The ``batch`` subcommand. ``endpoint`` (tests) is a context manager yielding ``(base_url, key)``;
    by default the embedded simulator with ``--simulator``, else the configured API and key. ``out`` and
    ``err``: the streams of the moment (sys.stdout and sys.stderr) unless given."""
    out, err = out or sys.stdout, err or sys.stderr
    jobs_file = Path(args.jobs)
    simulator = bool(getattr(args, "simulator", False))
    journal, timings = runtime.journal, runtime.timings
    runtime.guard.budget  # a malformed cap (environment or saved) is one clear error before anything
    check_base = embedded.CHECK_BASE if simulator else config.base_url()
    try:
        jobs, problems = load_jobs(jobs_file, check_base)
    except JobsFileError as exc:
        print(f"error: {exc}", file=err)
        return 2
    if args.report:  # the report never replaces what the batch reads or writes
        taken = outputs.input_problem(args.report, {**batch_inputs(jobs_file, jobs),
                                                    **{job.out: f"the out of line {job.line}" for job in jobs}},
                                      name="--report")
        if taken:
            print(f"error: {taken}; nothing was sent or paid.", file=err)
            return 2
    api_identity = embedded.IDENTITY if simulator else None
    planned, more = plan(jobs, journal, api_identity or check_base, args.max_usd, args.overwrite)
    problems = sorted(problems + more, key=lambda p: p.line)
    for problem in problems:
        print(f"{jobs_file}: {problem}", file=err)
    if problems and not args.skip_invalid:
        print(f"error: {len(problems)} bad line(s) in {jobs_file}; nothing was sent or paid. Fix them, or pass "
              "--skip-invalid to run the valid jobs.", file=err)
        return 2
    if args.dry_run:
        totals = describe_plan(planned, out)
        print(f"dry run: {totals_line(totals)}. Nothing was sent.", file=out)
        if args.report:
            rows = [JobResult(p.job.line, SKIPPED_BUDGET if p.over_budget else f"plan: {p.kind}", p.task_id,
                              cost_credits=p.estimate_credits, cost_usd=pricing.credits_to_usd(p.estimate_credits),
                              cost_kind="estimate", output=str(p.job.out)) for p in planned]
            rows += [JobResult(p.line, INVALID, error=p.message) for p in problems]
            write_report(args.report, jobs_file, "dry-run", sorted(rows, key=lambda r: r.line),
                         {**totals, "invalid": len(problems)}, time.time())
        return 0
    if not planned:
        print("error: no valid job to run.", file=err)
        return 2
    if endpoint is None:
        endpoint = (lambda: _simulator_endpoint(timings, out)) if simulator else _configured_endpoint
    started = time.time()
    archive.remove_stale_parts(runtime.results_dir)
    interrupted = False
    with endpoint() as (base_url, api_key):
        if not api_key:
            ApikleyClient(api_key="", base_url=base_url).require_key()  # the one clear "no API key" error
        runnable = [p for p in planned if not p.over_budget]
        tty = bool(getattr(out, "isatty", lambda: False)())
        typical = (timings.simulator_task_s if simulator else
                   max(settings.TYPICAL_SECONDS[p.job.request.duration] for p in runnable))
        progress = Progress(len(runnable), sum(p.kind == NEW for p in runnable), out, tty, typical_s=typical)
        batch = Batch(planned, base_url=base_url, api_key=api_key, runtime=runtime,
                      api_identity=api_identity, deadline_s=args.deadline_min * 60,
                      concurrency=args.concurrency, progress=progress, out=out, overwrite=args.overwrite)
        print(f"batch: {len(runnable)} job(s), up to {batch.concurrency} at once, creates paced to "
              f"{settings.CREATES_PER_WINDOW} per {settings.CREATE_WINDOW_S:g} s", file=out, flush=True)
        quiet = _CreatedLogFilter()  # each create is one line of the batch's own, not also a log line
        logging.getLogger("apikley_wan").addFilter(quiet)
        try:
            asyncio.run(batch.run())
        except KeyboardInterrupt:
            interrupted = True
            stopping.give_up_creates(journal)  # answers still on the wire: never recorded now
        finally:
            logging.getLogger("apikley_wan").removeFilter(quiet)
    batch.mark_unfinished()  # (a second Ctrl-C may stop the loop before the run's own cleanup)
    rows = batch.rows() + [JobResult(p.line, INVALID, error=p.message) for p in problems]
    rows.sort(key=lambda r: r.line)
    totals = summary(rows, out)
    if args.report:
        write_report(args.report, jobs_file, "simulator" if simulator else base_url, rows, totals, started)
        print(f"report: {args.report}", file=out)
    if interrupted:
        print("stopped. Tasks already created stay recorded in the journal; run the same command again to "
              "continue: finished jobs are re-used and running tasks re-attached, nothing is paid twice.", file=err)
        return 130
    return 0 if totals["done"] == totals["jobs"] else 1


class _CreatedLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apikley task %s created")


@contextlib.contextmanager
def _configured_endpoint():
    yield config.base_url(), config.api_key()
