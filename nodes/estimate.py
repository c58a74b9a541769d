"""What a queued graph would cost, before Run: per generating node of an API prompt (what the page's
``graphToPrompt().output`` holds), its price, how many times it runs, and whether those runs would
re-use a recorded result (``apikley_wan.estimate``) — only where the pack can tell exactly.

It can tell when every clip comes straight from a Load Video node (a file of the input folder, as
Load Video reads it) or from Load Videos from Folder, and every other input is a plain value; the
request is then built by the node's own ``to_request`` and fingerprinted as the run would.
Anything else is ``None``: unknown, which the total counts as paid. The answer also carries the run's
total (priced by the table in force, batch copies included) and what the budget guard itself would
refuse of it (a dry run of ``BudgetGuard.check``), so the page re-computes neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from ..apikley_wan.money import pricing
from ..apikley_wan.run import estimate
from ..apikley_wan.settings import config
from ..apikley_wan.api.client import api_kind
from ..apikley_wan.errors import ApikleyError, BudgetError
from . import folder, host
from .inputs import to_request

GENERATING = ("ApikleyWan26V2V", "ApikleyWan26V2VSubmit")
CLIP_INPUTS = ("video", "video_2", "video_3")
VALUE_INPUTS = ("prompt", "video_url", "multi_shots", "take")
FOLDER_NODE = "ApikleyLoadVideosFromFolder"


def _linked(value) -> bool:
    """A prompt input wired to another node: ``[source_id, output_index]``."""
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)


def _input_file(name) -> Optional[str]:
    """The file Load Video would open for ``name``: a plain file of the input folder, else None (an
    annotated or nested name is not guessed at)."""
    if not isinstance(name, str) or not name or name != Path(name).name:
        return None
    path = host.input_dir() / name
    return str(path) if path.is_file() else None


def _folder_clips(node: dict) -> Optional[list]:
    """The clip paths Load Videos from Folder would list now; None when its settings are wired or wrong."""
    values = node.get("inputs", {})
    if any(_linked(v) for v in values.values()):
        return None
    try:
        found = folder.list_clips(values.get("folder", "."), values.get("pattern", "*.mp4"),
                                  int(values.get("limit", 0) or 0), values.get("sort", "name"))
    except (ApikleyError, ValueError, OSError):
        return None
    return [str(path) for path, _, _ in found]


def _feeds_a_list(prompt: dict, node_id: str, seen: set) -> bool:
    """Whether a Load Videos from Folder is upstream of ``node_id`` (its list makes the node run per clip)."""
    for value in prompt.get(node_id, {}).get("inputs", {}).values():
        if not _linked(value):
            continue
        source = str(value[0])
        if source in seen:
            continue
        seen.add(source)
        if prompt.get(source, {}).get("class_type") == FOLDER_NODE or _feeds_a_list(prompt, source, seen):
            return True
    return False


def _clip_sources(prompt: dict, inputs: dict) -> Optional[dict]:
    """Per connected clip input: a file path (Load Video) or a list of paths (the folder node's
    clips); None when any clip comes from anything else."""
    sources = {}
    for name in CLIP_INPUTS:
        value = inputs.get(name)
        if value is None:
            continue
        if not _linked(value):
            return None
        node = prompt.get(str(value[0]), {})
        if node.get("class_type") == "LoadVideo":
            sources[name] = _input_file(node.get("inputs", {}).get("file"))
        elif node.get("class_type") == FOLDER_NODE and value[1] == 0:
            sources[name] = _folder_clips(node)
        else:
            return None
        if sources[name] is None:
            return None
    return sources


def _runs(prompt: dict, node_id: str, sources: Optional[dict]) -> tuple:
    """``(runs, requests' clip choices)``: how many times ComfyUI runs the node and, when the pack can
    tell, each run's clips; ``(None, None)`` for a list of unknown length."""
    lists = [v for v in (sources or {}).values() if isinstance(v, list)]
    if sources is None or not lists:
        if _feeds_a_list(prompt, node_id, set()):
            return None, None
        return 1, ([sources] if sources is not None else None)
    runs = max(len(v) for v in lists)  # ComfyUI repeats the last item of a shorter list
    picks = [{name: (v[min(i, len(v) - 1)] if isinstance(v, list) else v) for name, v in sources.items()}
             for i in range(runs)]
    return runs, picks


def _reuse(journal, api_base: str, inputs: dict, clips: dict, fingerprints) -> Optional[bool]:
    if inputs.get("images") is not None or any(_linked(inputs.get(name)) for name in VALUE_INPUTS):
        return None
    try:
        request = to_request(inputs.get("prompt", ""), inputs.get("duration"), inputs.get("resolution"),
                             video=clips.get("video"), video_2=clips.get("video_2"), video_3=clips.get("video_3"),
                             video_url=inputs.get("video_url", ""), multi_shots=inputs.get("multi_shots", False),
                             take=inputs.get("take", 0))
        return estimate.reuse(journal, request, api_base, fingerprints) if request.references else None
    except (ApikleyError, ValueError, TypeError, OSError):
        return None


def node_estimate(prompt: dict, node_id: str, journal, api_base: str,
                  prices: pricing.PriceTable = pricing.DEFAULT, fingerprints=None) -> dict:
    """``{"credits", "usd"}`` of one run by the table in force (None when duration or resolution is wired),
    ``"runs"`` (None: a list of unknown length, at least one), ``"reused_runs"`` (None: unknown) and
    ``"reuse"`` (one run: True re-used, False paid, None unknown)."""
    inputs = prompt[node_id].get("inputs", {})
    try:
        credits = prices.estimate_credits(inputs.get("duration"), inputs.get("resolution"))
    except (ValueError, TypeError):
        credits = None
    runs, picks = _runs(prompt, node_id, _clip_sources(prompt, inputs))
    verdicts = [_reuse(journal, api_base, inputs, clips, fingerprints) for clips in picks] if picks else [None]
    reused = None if None in verdicts else sum(verdicts)
    return {"credits": credits, "usd": prices.to_usd(credits) if credits is not None else None,
            "runs": runs, "reused_runs": reused, "reuse": verdicts[0] if runs == 1 else None}


def _paid(node: dict, estimate: dict, prices: pricing.PriceTable, batch_count: int) -> dict:
    """What a node's runs pay in a queue of ``batch_count`` copies: a node whose runs the pack fingerprinted
    has identical inputs in every copy, so it pays once (the copies re-use it); any other node pays once
    per copy, and one whose settings are set at run time at the dearest price."""
    each = estimate["credits"] if estimate["credits"] is not None else prices.dearest
    fingerprinted = estimate["reused_runs"] is not None
    per_copy = max(0, (estimate["runs"] or 1) - (estimate["reused_runs"] or 0))
    paid_runs = per_copy if fingerprinted else per_copy * batch_count
    inputs = node.get("inputs", {})
    settings = {name: inputs.get(name) if isinstance(inputs.get(name), str) else None
                for name in ("duration", "resolution")}
    return {**estimate, **settings, "title": str((node.get("_meta") or {}).get("title") or node.get("class_type")),
            "each": {"credits": each, "usd": prices.to_usd(each)}, "dearest": estimate["credits"] is None,
            "fingerprinted": fingerprinted, "at_least": estimate["runs"] is None, "paid_runs": paid_runs,
            "paid_credits": each * paid_runs, "paid_usd": prices.to_usd(each * paid_runs)}


def estimate_prompt(prompt: dict, journal, api_base: str, prices: pricing.PriceTable = pricing.DEFAULT,
                    batch_count: int = 1, fingerprints=None) -> dict:
    """Every generating node of an API prompt, by its id (a node in a subgraph as ``outer:inner``)."""
    return {str(node_id): _paid(node, node_estimate(prompt, node_id, journal, api_base, prices, fingerprints), prices,
                                batch_count)
            for node_id, node in prompt.items()
            if isinstance(node, dict) and node.get("class_type") in GENERATING and isinstance(node.get("inputs"), dict)}


class _Balance:
    """The balance the page's Settings shows (cached), where the guard reads ``client.credits()``."""

    def __init__(self, read: Callable[[], float]):
        self.credits = read


def _refusal(guard, journal, credits: float, balance: Callable[[], float]) -> Optional[dict]:
    """What the budget guard itself says of a create of ``credits`` now (a dry run: nothing is held)."""
    if credits <= 0:
        return None
    try:
        guard.check(journal, _Balance(balance), credits)
    except BudgetError as exc:
        return {"cap": exc.cap, "msg": exc.user_message()}
    return None


def answer(prompt: dict, journal, guard, balance: Callable[[], float], batch_count=1, fingerprints=None) -> dict:
    """The estimate route's answer: the API the runs would go to, every generating node's estimate and
    part of the total in a queue of ``batch_count`` copies, priced by the guard's table in force, the
    total, and what the guard would refuse of it (``refusal``: None, or its cap and sentence)."""
    base, prices = config.base_url(), guard.prices
    batch = max(1, int(batch_count)) if isinstance(batch_count, int) and not isinstance(batch_count, bool) else 1
    nodes = estimate_prompt(prompt, journal, base, prices, batch, fingerprints)
    credits = sum(node["paid_credits"] for node in nodes.values())
    total = {"credits": credits, "usd": prices.to_usd(credits), "batch_count": batch,
             "at_least": any(node["at_least"] for node in nodes.values())}
    return {"ok": True, "api": api_kind(base), "nodes": nodes, "total": total,
            "refusal": _refusal(guard, journal, credits, balance)}
