"""Command-line runner: ``python -m apikley_wan v2v|batch|collect|tasks|abandon|credits|serve``.

``v2v --simulator`` runs the whole job against an embedded simulator (no key, no network).
The same command twice pays once: both go through the task journal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shlex
import sys
import time

from typing import Optional

from .settings import config
from .api.client import ApikleyClient
from .errors import ApikleyError, RunCancelledError, InputError, link_hint
from .run import embedded
from .panel import task_rows
from .results import outputs, provenance
from .run import stopping
from .settings import settings
from .results.archive import remove_stale_parts
from .run.pipeline import Pipeline
from .run.request import CLIPS, GenerationRequest, build_request, fingerprint
from .run.status import Status
from .record.sqlite import Journal
from .runtime import Config, Runtime


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m apikley_wan",
                                description="Wan 2.6 video-to-video on apikley, with a task journal.")
    sub = p.add_subparsers(dest="command", required=True)

    v2v = sub.add_parser("v2v", help="generate a video from reference clips and a prompt")
    v2v.add_argument("--video", action="append", default=[], help="local reference clip, character1 (repeated: "
                                                                  "character2 and character3 in turn)")
    v2v.add_argument("--video-2", help="local reference clip, character2")
    v2v.add_argument("--video-3", help="local reference clip, character3")
    v2v.add_argument("--video-url", action="append", default=[], help="public reference clip URL (after the clips)")
    v2v.add_argument("--prompt", required=True)
    v2v.add_argument("--duration", default=settings.DEFAULT_DURATION, help=" or ".join(settings.DURATIONS) + " seconds")
    v2v.add_argument("--resolution", default=settings.DEFAULT_RESOLUTION, help=" or ".join(settings.RESOLUTIONS))
    v2v.add_argument("--multi-shots", action="store_true")
    v2v.add_argument("--take", default=0, help="change to ask for a new generation of the same inputs")
    v2v.add_argument("--out", required=True, help="where to write the result mp4")
    _common(v2v)

    batch = sub.add_parser("batch", help="run many generations from a JSON Lines or CSV jobs file "
                                          "(resumable: run it again after an interruption, nothing is paid twice)")
    batch.add_argument("jobs", help="jobs file: .jsonl (one object a line) or .csv; columns video, video_2, "
                                    "video_3, video_url, prompt, duration, resolution, out, multi_shots, take")
    batch.add_argument("--dry-run", action="store_true", help="print the estimated cost and what would be re-used, "
                                                              "send nothing")
    batch.add_argument("--skip-invalid", action="store_true", help="run the valid jobs even if some lines are bad")
    batch.add_argument("--concurrency", type=int, default=8, help="jobs preparing/uploading/creating at once")
    batch.add_argument("--max-usd", type=_usd, default=None, help="start no paid work past this estimate (USD)")
    batch.add_argument("--report", default=None, help="write a JSON report of every job here")
    _common(batch)

    collect = sub.add_parser("collect", help="download the result of an existing task (never creates one)")
    which = collect.add_mutually_exclusive_group(required=True)
    which.add_argument("task_id", nargs="?", help="the task id (from `tasks`, a status line or a result's .json)")
    which.add_argument("--from-file", metavar="VIDEO", help="a result mp4 the pack saved: its task is read from the file")
    collect.add_argument("--entry", metavar="N", help="first link the task id to journal entry N, a create whose "
                                                       "answer was lost: its inputs then re-use this task")
    collect.add_argument("--out", required=True)
    _common(collect)

    tasks = sub.add_parser("tasks", help="list the journal's recent entries")
    tasks.add_argument("--limit", type=int, default=20)
    tasks.add_argument("--simulator", action="store_true", help="the simulator's journal")

    abandon = sub.add_parser("abandon", help="give up on a create whose answer was lost (state 'uncertain'), "
                                             "so the same inputs may create a new task")
    abandon.add_argument("entry", help="the journal entry number (first column of `tasks`)")
    abandon.add_argument("--simulator", action="store_true", help="the simulator's journal")

    credits = sub.add_parser("credits", help="show the account balance")
    credits.add_argument("--simulator", action="store_true")

    sub.add_parser("serve", help="run the API simulator (point APIKLEY_BASE_URL at it); "
                                 "see `serve --help`", add_help=False)
    return p


def _usd(raw: str) -> float:
    """A cap typed on the command line: the same number check as every other cap (settings.amount)."""
    value = settings.amount(raw)
    if value is None:
        raise argparse.ArgumentTypeError(f"{raw[:40]!r} is not an amount in USD >= 0 (such as 5 or 12.50); "
                                         "nothing was sent or paid")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--simulator", action="store_true", help="use an embedded simulator: no key, no network")
    p.add_argument("--deadline-min", type=float, default=30.0, help="give up waiting after this (task stays recorded)")
    p.add_argument(outputs.OVERWRITE_FLAG, action="store_true",
                   help="replace an existing out file that is not this task's own earlier result")


def _runtime(cfg: Config, simulator: bool) -> Runtime:
    """The command's runtime on its journal: the embedded simulator's tasks are its own, never in a shared
    farm journal."""
    if simulator:
        return Runtime(cfg, journal=Journal(cfg.state_dir / "journal-simulator.sqlite", timings=cfg.timings))
    return Runtime(cfg)


@contextlib.contextmanager
def _client(simulator: bool, timings: settings.Timings = settings.TIMINGS):
    if not simulator:
        yield ApikleyClient()
        return
    with embedded.embedded_simulator(timings) as sim:
        yield ApikleyClient(api_key=embedded.KEY, base_url=sim.base_url)


def _request(args) -> GenerationRequest:
    """``v2v``'s options through the one builder (the node's and a batch line's too): ``--video`` repeated
    fills video, video_2, video_3 in turn; ``--video-2`` and ``--video-3`` name a place."""
    given, clips = list(args.video), {}
    for name, named in zip(CLIPS, (None, args.video_2, args.video_3)):
        turn = given.pop(0) if given else None
        if turn is not None and named is not None:
            raise InputError(f"'{name}' is given twice (a repeated --video and --{name.replace('_', '-')}); "
                             "give each clip once")
        clips[name] = named if named is not None else turn
    if given:
        raise InputError(f"at most 3 reference videos are allowed (got {len(args.video)})")
    return build_request(args.prompt, args.duration, args.resolution, **clips, video_url=args.video_url,
                         multi_shots=args.multi_shots, take=args.take,
                         api_base=embedded.CHECK_BASE if args.simulator else config.base_url())


def _printer():
    last = [""]

    def show(status: Status) -> None:
        line = status.line()
        if line != last[0]:
            print(line, flush=True)
            last[0] = line
    return show


def _tasks(args, runtime: Runtime) -> int:
    journal = runtime.journal
    entries = journal.recent(args.limit)
    if not entries:
        other = "" if args.simulator else " (runs made with --simulator are listed by `tasks --simulator`)"
        print(f"no tasks yet in {journal.where}{other}. Start one with `python -m apikley_wan v2v --video CLIP "
              "--prompt TEXT --out FILE`; add --simulator to try it with no key and no cost.")
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.created_at))
        print(f"{e.id:>5}  {when}  {e.state:<10} {e.task_id or '-':<34} {e.cost_credits or '':<7} "
              f"{e.result_path or ''}")
    return 0


def _abandon(args, runtime: Runtime) -> int:
    entry = task_rows.abandon(runtime.journal, args.entry)["task"]["entry_id"]
    print(f"entry {entry} abandoned: if the lost create did make a task, it may still be billed (it keeps "
          "counting toward a per-day cap); the next run with the same inputs creates (and pays for) a new one.")
    return 0


def _task_to_collect(args, pipeline: Pipeline) -> str:
    """The typed-in id (linked to ``--entry`` first), or the one a result file names (recorded with the
    file's parameters)."""
    journal = pipeline.journal
    if not args.from_file:
        if args.entry is not None:
            task_rows.link(journal, args.entry, args.task_id, pipeline.client)
            print(f"journal entry {args.entry} linked to task {args.task_id}: its inputs re-use this task "
                  "(no new charge)", flush=True)
        return args.task_id
    found = provenance.read(args.from_file)
    journal.adopt(found.task_id, found.params)
    print(f"{args.from_file}: task {found.task_id}", flush=True)
    return found.task_id


def _check_out(args, inputs: dict, entry, task_id=None) -> None:
    """Before paying or downloading: ``--out`` is no input and holds no file but the result of this task
    (``task_id``, else the journal ``entry``'s for these inputs, if any)."""
    outputs.check(args.out, inputs=inputs, task_id=task_id or (entry and entry.task_id),
                  result=entry and entry.result_path, overwrite=args.overwrite)


def _run(args, runtime: Runtime) -> int:
    journal = runtime.journal
    holder: dict = {}
    try:
        return asyncio.run(_run_async(args, runtime, holder))
    except KeyboardInterrupt:
        lost = stopping.give_up_creates(journal)  # its answer can no longer be recorded by this process
        print(f"\nstopped. {_stopped_note(args, holder, lost, runtime.timings)}", file=sys.stderr)
        return 130


def _stopped_note(args, holder: dict, lost: list, timings: settings.Timings) -> str:
    """What Ctrl-C left behind, in money terms, with the exact command that collects it without paying again."""
    task, out = holder.get("task_id"), f"--out {shlex.quote(args.out)}" + (" --simulator" if args.simulator else "")
    if task:
        return (f"Task {task} stays recorded in the journal; the provider may still finish and bill it. Run the "
                f"same command again, or `python -m apikley_wan collect {task} {out}`, to collect it "
                "without paying again.")
    if lost:
        return (f"The create request was sent, but its answer did not arrive within "
                f"{timings.stop_grace_s:g} s: a task may exist and may be billed; it will not be sent "
                f"again. {link_hint(lost[0].id, out=out)}")
    error = holder.get("error")
    if isinstance(error, ApikleyError) and not isinstance(error, RunCancelledError):  # it ended on its own meanwhile
        return error.user_message()
    return "No task was created: the create request had not been sent."


async def _run_async(args, runtime: Runtime, holder: dict) -> int:
    """The same pipeline the nodes and a batch use; ``holder`` learns the task id as soon as there is one.
    Ctrl-C waits (a few seconds) for a create already sent, so its task id is recorded (stopping.py)."""
    request = _request(args) if args.command == "v2v" else None  # bad input: one error, before anything starts
    remove_stale_parts(runtime.results_dir)
    timings = runtime.timings
    with _client(args.simulator, timings) as client:
        pipeline = runtime.pipeline(client.cancel, client=client, deadline_s=args.deadline_min * 60, callback_base=None,
                                   api_identity=embedded.IDENTITY if args.simulator else None)
        job = asyncio.ensure_future(_run_or_collect(args, request, pipeline, holder))
        await stopping.run_jobs([job], pipeline.cancel, timings.stop_grace_s)
        report = job.result()
        print(f"done: {report.line()}; saved {report.output}")
        return 0


async def _run_or_collect(args, request: Optional[GenerationRequest], pipeline: Pipeline, holder: dict):
    show = _printer()

    def submitted(found) -> None:
        holder["task_id"] = found.entry.task_id
        print(f"task {found.entry.task_id} ({found.entry.state})", flush=True)
    try:
        if request is not None:
            _check_out(args, {ref.source: f"the --video {ref.source!r}" for ref in request.references if ref.source},
                       pipeline.journal.by_fingerprint(fingerprint(request, pipeline.api_identity)[0]))
            return await pipeline.generate_video(request, show, on_submitted=submitted, out=args.out, overwrite=args.overwrite)
        holder["task_id"] = _task_to_collect(args, pipeline)
        _check_out(args, {args.from_file: "the --from-file video"} if args.from_file else {},
                   pipeline.journal.by_task_id(holder["task_id"]), holder["task_id"])
        return await pipeline.collect(holder["task_id"], show, out=args.out, overwrite=args.overwrite)
    except BaseException as exc:
        pipeline.cancel.set()  # any failure: a transfer still in flight on a worker stops
        holder["error"] = exc
        raise


def main(argv=None, timings: settings.Timings = settings.TIMINGS) -> int:
    """The command; ``timings`` are its waits (the suite's runs of the real command pass shorter ones)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        from .simulator import main as serve_main
        return serve_main(argv)
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "collect" and args.entry is not None and not args.task_id:
        parser.error("collect --entry N links a task id: give the task id, not --from-file")
    try:
        runtime = _runtime(Config.from_env(timings=timings), args.simulator)
        if args.command == "tasks":
            return _tasks(args, runtime)
        if args.command == "abandon":
            return _abandon(args, runtime)
        if args.command == "batch":
            from .batch.command import command
            return command(args, runtime=runtime)
        if args.command == "credits":
            with _client(args.simulator) as client:
                balance = client.credits()
            print(json.dumps({"credits": balance}))
            if args.simulator:  # each command embeds its own simulator
                print(f"(the simulator's account is new for each command: it starts at {balance:g} credits "
                      "every time, and what earlier --simulator runs paid is not taken off it)")
            return 0
        return _run(args, runtime)
    except ApikleyError as exc:
        print(f"error: {exc.user_message()}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
