"""A batch's plan, before anything is sent: each job's fingerprint and what the journal says of it (re-use,
attach, wait for its creator, uncertain, new, or a repeat of an earlier line), the budget (``--max-usd``), and
the plan in words (``--dry-run``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, TextIO

from ..errors import ApikleyError
from ..money import pricing
from ..record import entry as jr
from ..record.store import JournalStore
from ..results import outputs
from ..run.request import fingerprint
from .jobs import Job, Problem

# what the plan expects of a job: the journal's verdict in the plan's words, or a repeat of an earlier line
NEW, REUSE, ATTACH, WAIT, UNCERTAIN, DUPLICATE = "new", "re-use", "attach", "wait for creator", "uncertain", "duplicate"
_KIND_OF = {jr.Decision.CREATE: NEW, jr.Decision.REUSE: REUSE, jr.Decision.ATTACH: ATTACH,
            jr.Decision.WAIT_FOR_CREATOR: WAIT, jr.Decision.UNCERTAIN: UNCERTAIN}
# what may send a paid create in this run, so counts against --max-usd: a new task, and the wait for another
# run's create (it creates if that one is refused); an uncertain job stops without sending
_MAY_PAY = (NEW, WAIT)


@dataclass
class Planned:
    job: Job
    fingerprint: str
    kind: str                       # NEW, REUSE, ATTACH, WAIT, UNCERTAIN or DUPLICATE
    estimate_credits: float         # what this run may pay for it (0 unless NEW or WAIT)
    task_id: Optional[str] = None   # the journal's task for it, if any
    same_as: Optional[int] = None   # DUPLICATE: the line whose task it shares
    over_budget: bool = False



def plan(jobs: list, journal: JournalStore, api_identity: str, max_usd: Optional[float] = None,
         overwrite: bool = False, prices: pricing.PriceTable = pricing.DEFAULT) -> tuple[list, list]:
    """``(planned, problems)``: each job's fingerprint and what the journal says of it (no network),
    and the budget: a job that may pay (new, or waiting for another run's create) whose estimate would take
    the batch past ``max_usd`` is not run. A job whose ``out`` holds a file that is not its task's result
    is a problem, unless ``overwrite`` (outputs.py). ``prices``: the table in force (the guard's)."""
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
            kind = _KIND_OF[journal.verdict(entry).decision]
            credits = prices.estimate_credits(job.request.duration, job.request.resolution) if kind in _MAY_PAY else 0.0
            p = Planned(job, fp, kind, credits, None if kind == NEW or entry is None else entry.task_id)
        if p.kind in _MAY_PAY and max_usd is not None:
            cost = prices.to_usd(p.estimate_credits)
            if spent_usd + cost > max_usd + 1e-9:
                p.over_budget = True
            else:
                spent_usd += cost
        seen.setdefault(fp, job.line)
        planned.append(p)
    return planned, problems


def money(credits: float, prices: pricing.PriceTable) -> str:
    """Credits and their USD by the table in force, as a batch prints them."""
    return f"{credits:g} credits (${prices.to_usd(credits):.2f})"


def describe_plan(planned: list, out: TextIO, prices: pricing.PriceTable = pricing.DEFAULT) -> dict:
    """Print what a run would do, job by job, and the totals; return the totals."""
    for p in planned:
        cost = money(p.estimate_credits, prices)
        what = {NEW: f"new task, ~{cost}",
                REUSE: f"re-use task {p.task_id} (no new charge)",
                ATTACH: f"attach to running task {p.task_id} (no new charge)",
                WAIT: ("another run is creating this task now: waits for it (no new charge unless that create is "
                       f"refused, then a new task, ~{cost})"),
                UNCERTAIN: "an earlier create's answer was lost: will not be re-sent (see `tasks` / `abandon`)",
                DUPLICATE: f"same inputs as line {p.same_as} (shares its task, no new charge)"}[p.kind]
        if p.over_budget:
            what = f"skipped for budget (would be a new task, ~{cost})"
        print(f"line {p.job.line}: {what} -> {p.job.out}", file=out)
    new = [p for p in planned if p.kind == NEW and not p.over_budget]
    totals = {"jobs": len(planned), "new": len(new), "estimate_credits": sum(p.estimate_credits for p in new),
              "reused": sum(p.kind == REUSE for p in planned), "attach": sum(p.kind == ATTACH for p in planned),
              "duplicate": sum(p.kind == DUPLICATE for p in planned), "waiting": sum(p.kind == WAIT for p in planned),
              "uncertain": sum(p.kind == UNCERTAIN for p in planned),
              "over_budget": sum(p.over_budget for p in planned)}
    totals["estimate_usd"] = prices.to_usd(totals["estimate_credits"])
    return totals


def totals_line(t: dict, prices: pricing.PriceTable = pricing.DEFAULT) -> str:
    text = (f"{t['jobs']} job(s): {t['new']} new task(s) ~{money(t['estimate_credits'], prices)}, estimate from the "
            f"price table; {t['reused']} re-used and {t['attach'] + t['duplicate']} attached (no new charge)")
    if t["waiting"]:
        text += f"; {t['waiting']} being created by another run (waited for)"
    if t["uncertain"]:
        text += f"; {t['uncertain']} with a lost create answer (not re-sent)"
    if t["over_budget"]:
        text += f"; {t['over_budget']} skipped for budget"
    return text

