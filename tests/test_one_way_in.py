"""One way in: the node, ``v2v`` and a batch line turn the same raw inputs into a request through one
builder (request.build_request), so the same bad input is the same error everywhere, before anything is
sent; and the create body's field checks are the request's own (no throwaway body is built)."""

from __future__ import annotations

import asyncio
import io
import json
import shutil

import pytest

from apikley_wan import __main__ as cli
from apikley_wan.batch.command import command
from apikley_wan.run import request as core_request
from apikley_wan.api import tasks
from apikley_wan.api.client import ApikleyClient
from apikley_wan.errors import InputError
from apikley_wan.record.sqlite import Journal
from apikley_wan.run.request import GenerationRequest, Reference, build_request
from conftest import fast_runtime, pack_module

PROMPT = "character1 dances in the rain"
LONG = "character1 " * 500  # 5500 characters: past the 5000 the API takes

# the same bad input in each entry point's words: (node widgets, v2v options, batch columns, the error)
BAD = {
    "video_2 without video": ({"video_2": "CLIP"}, ["--video-2", "CLIP"], {"video_2": "clip.mp4"},
                              "'video_2' (character2) is given, but 'video' (character1) is not"),
    "video_3 without video_2": ({"video": "CLIP", "video_3": "CLIP"}, ["--video", "CLIP", "--video-3", "CLIP"],
                                {"video": "clip.mp4", "video_3": "clip.mp4"},
                                "'video_3' (character3) is given, but 'video_2' (character2) is not"),
    "bad duration": ({"video": "CLIP", "duration": "7"}, ["--video", "CLIP", "--duration", "7"],
                     {"video": "clip.mp4", "duration": "7"}, "unknown duration '7'; use 5 or 10 (seconds)"),
    "prompt too long": ({"video": "CLIP", "prompt": LONG}, ["--video", "CLIP", "--prompt", LONG],
                        {"video": "clip.mp4", "prompt": LONG}, "the prompt must be 2 to 5000 characters (got 5499)"),
    "no reference": ({}, [], {}, "no reference video: give 'video' (a clip) or 'video_url' (a public link)"),
}


def _node_error(pack, widgets: dict, clip) -> str:
    host = pack_module(pack, "nodes.host")
    errors = pack_module(pack, "apikley_wan.errors")
    widgets = dict(widgets)
    prompt, duration = widgets.pop("prompt", PROMPT), widgets.pop("duration", "5")
    videos = {k: host.video_from_file(str(clip)) for k, v in widgets.items() if v == "CLIP"}
    node = pack.NODE_CLASS_MAPPINGS["ApikleyWan26V2V"]()
    with pytest.raises(errors.InputError) as raised:
        asyncio.run(node.generate(prompt, duration, "720p", unique_id="1", **videos))
    return raised.value.detail


def _cli_error(options: list, clip, tmp_path, capsys) -> str:
    argv = ["v2v", "--simulator", "--prompt", PROMPT, "--out", str(tmp_path / "out.mp4")]
    argv += [str(clip) if o == "CLIP" else o for o in options]  # a later --prompt wins
    assert cli.main(argv) == 2
    printed = capsys.readouterr()
    assert "simulator:" not in printed.out, "bad input must stop before the simulator is even started"
    assert printed.err.startswith("error: Invalid input: ") and "Traceback" not in printed.err
    return printed.err


def _batch_error(columns: dict, clip, tmp_path) -> str:
    shutil.copy(clip, tmp_path / "clip.mp4")
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"prompt": PROMPT, "out": "a.mp4", **columns}) + "\n")
    out, err = io.StringIO(), io.StringIO()

    def never():
        raise AssertionError("a bad line must stop the batch before any API is used")
    args = cli._parser().parse_args(["batch", str(jobs)])
    assert command(args, runtime=fast_runtime(journal=Journal(tmp_path / "j.sqlite")), out=out, err=err,
                         endpoint=never) == 2
    assert "nothing was sent or paid" in err.getvalue()
    return err.getvalue().split("line 1: ", 1)[1].splitlines()[0]


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_node_v2v_and_a_batch_line_give_the_same_error_for_the_same_bad_input(case, node_pack, sim,
                                                                                  reference_clip, tmp_path, capsys):
    widgets, options, columns, expected = BAD[case]
    node = _node_error(node_pack, widgets, reference_clip)
    command = _cli_error(options, reference_clip, tmp_path, capsys)
    line = _batch_error(columns, reference_clip, tmp_path)
    assert node == expected and line == expected and f"Invalid input: {expected}" in command, (node, command, line)
    assert not sim.requests_log, "nothing may reach the API"


def test_v2v_checks_the_reference_order_and_keeps_each_clip_in_its_place(reference_clip, tmp_path, state_dir):
    other = tmp_path / "other.mp4"
    shutil.copy(reference_clip, other)

    def request(*options):
        return cli._request(cli._parser().parse_args(["v2v", "--prompt", PROMPT, "--out", "o.mp4", "--simulator",
                                                      *options]))
    named = request("--video", str(reference_clip), "--video-2", str(other), "--video-url", "https://x.example/y.mp4")
    repeated = request("--video", str(reference_clip), "--video", str(other), "--video-url", "https://x.example/y.mp4")
    for made in (named, repeated):
        assert [r.source for r in made.references[:2]] == [str(reference_clip), str(other)]
        assert made.references[2].url == "https://x.example/y.mp4"
    with pytest.raises(InputError, match=r"'video_3' \(character3\) is given, but 'video_2'"):
        request("--video", str(reference_clip), "--video-3", str(other))
    with pytest.raises(InputError, match="'video_2' is given twice"):
        request("--video", str(reference_clip), "--video", str(other), "--video-2", str(other))
    with pytest.raises(InputError, match=r"at most 3 reference videos are allowed \(got 4\)"):
        request(*[x for _ in range(4) for x in ("--video", str(reference_clip))])
    with pytest.raises(InputError, match="does not exist"):
        request("--video", str(tmp_path / "missing.mp4"))


def test_the_request_check_builds_no_create_body_and_says_what_the_body_builder_says(monkeypatch):
    def no_body(*a, **kw):
        raise AssertionError("a throwaway create body was built to validate a request")
    monkeypatch.setattr(tasks, "build_create_body", no_body)
    # a request is checked as it is made, without any body
    GenerationRequest(PROMPT, "5", "720p", [Reference(source="clip.mp4"), Reference(url="https://x.example/y.mp4")])
    monkeypatch.undo()
    for fields in ((PROMPT, "7", "720p"), (PROMPT, "5", "4k"), ("x", "5", "720p"), (LONG, "5", "720p")):
        with pytest.raises(InputError) as by_request:
            GenerationRequest(*fields, [Reference(url="https://x.example/y.mp4")])
        with pytest.raises(InputError) as by_body:
            tasks.build_create_body(fields[0], ["https://x.example/y.mp4"], *fields[1:])
        assert by_request.value.detail == by_body.value.detail


def test_raw_values_from_a_file_are_taken_as_the_widgets_are():
    made = build_request(f"  {PROMPT}\n", 10.0, " 1080p ", video_url=" https://x.example/y.mp4 ", multi_shots="yes",
                         take="2")
    assert (made.duration, made.resolution, made.multi_shots, made.take) == ("10", "1080p", True, 2)
    assert made.references == [Reference(url="https://x.example/y.mp4")]
    for bad, words in (({"take": 1.5}, "take must be a whole number"), ({"multi_shots": "maybe"}, "true or false"),
                       ({"video_url": 5}, "video_url must be text")):
        with pytest.raises(InputError, match=words):
            build_request(PROMPT, "5", "720p", **{"video_url": "https://x.example/y.mp4", **bad})
    with pytest.raises(InputError, match="local or private address"):
        build_request(PROMPT, "5", "720p", video_url="http://192.168.1.5/a.mp4", api_base="https://api.apikley.ru")
    with pytest.raises(InputError, match="local or private address"):  # and again by the create body's builder
        tasks.build_create_body(PROMPT, ["http://192.168.1.5/a.mp4"], "5", "720p", api_base="https://api.apikley.ru")
    assert core_request.CLIPS == ("video", "video_2", "video_3")


def test_one_run_for_node_v2v_and_batch_hears_the_task_first_holds_the_gate_for_submit_only_and_copies(
        sim, state_dir, reference_clip, tmp_path):
    """Pipeline.generate_video with the hooks v2v and a batch use: the task is heard before the wait ends, the gate is
    held while submitting only, and the paid result is copied to ``out`` (re-used the second time)."""
    from apikley_wan.run.pipeline import Pipeline
    from conftest import FAST
    sim.task_seconds = 0.5
    gens = Pipeline(ApikleyClient(api_key="sim-key", base_url=sim.base_url), Journal(tmp_path / "j.sqlite"),
                    tmp_path / "results", timings=FAST)
    seen, held = [], []

    class Gate:
        async def __aenter__(self):
            held.append("in")

        async def __aexit__(self, *exc):
            held.append("out")

    def heard(submission):
        seen.append((submission.outcome, submission.entry.state, list(held)))
    request = build_request(PROMPT, "5", "720p", video=str(reference_clip))
    report = asyncio.run(gens.generate_video(request, on_submitted=heard, gate=Gate(), out=tmp_path / "copy.mp4"))
    assert seen == [("paid", "waiting", ["in", "out"])] and report.outcome == "paid"
    assert report.output == str(tmp_path / "copy.mp4") and (tmp_path / "copy.mp4").read_bytes() == \
        open(report.result_path, "rb").read()
    again = asyncio.run(gens.generate_video(request, on_submitted=heard, out=tmp_path / "copy.mp4"))
    assert again.outcome == "reused" and seen[-1][0] == "reused" and sim.create_count == 1
