"""``python -m apikley_wan batch JOBS``: the command. Every line checked (nothing paid while any is bad, unless
--skip-invalid), the plan (plan.py; ``--dry-run`` stops there), the run on the configured API or the embedded
simulator (batch.py), the summary table and ``--report``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Callable, Optional, TextIO

from ..api.client import ApikleyClient
from ..results import archive, outputs
from ..run import embedded, stopping
from ..runtime import Runtime
from ..settings import config, settings
from ..settings.settings import Timings
from .batch import INVALID, SKIPPED_BUDGET, Batch, JobResult, summary, write_report
from .jobs import JobsFileError, batch_inputs, load_jobs
from .plan import NEW, describe_plan, plan, totals_line
from .progress import Progress


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
    prices = runtime.guard.prices  # the table in force (a damaged override: the same clear error)
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
    planned, more = plan(jobs, journal, api_identity or check_base, args.max_usd, args.overwrite, prices)
    problems = sorted(problems + more, key=lambda p: p.line)
    for problem in problems:
        print(f"{jobs_file}: {problem}", file=err)
    if problems and not args.skip_invalid:
        print(f"error: {len(problems)} bad line(s) in {jobs_file}; nothing was sent or paid. Fix them, or pass "
              "--skip-invalid to run the valid jobs.", file=err)
        return 2
    if args.dry_run:
        totals = describe_plan(planned, out, prices)
        print(f"dry run: {totals_line(totals, prices)}. Nothing was sent.", file=out)
        if args.report:
            rows = [JobResult(p.job.line, SKIPPED_BUDGET if p.over_budget else f"plan: {p.kind}", p.task_id,
                              cost_credits=p.estimate_credits, cost_usd=prices.to_usd(p.estimate_credits),
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
        progress = Progress(len(runnable), sum(p.kind == NEW for p in runnable), out, tty, typical_s=typical,
                            prices=prices)
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
    totals = summary(rows, out, prices)
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
