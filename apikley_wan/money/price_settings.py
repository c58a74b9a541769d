"""The price override saved in ComfyUI's Settings: ``<state folder>/prices.json``, next to budget.json.

One table in force (``in_force``): the pack's own with the override's entries on top, read at each use by
the budget guard, the status line, the journal's estimates, the estimate route and the page (GET
/apikley_wan/prices), so what the page shows is what the guard counts. The command line reads the file of
its own state folder, as it does budget.json.

The override is typed as ``10/1080p=200, usd_per_credit=0.005`` (separators ``,`` ``;`` or a new line);
a save with any bad entry saves nothing and names each one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

from . import pricing
from .budget_settings import write_json
from ..errors import ConfigError, InputError

FILE_NAME = "prices.json"
NOTE = "Estimate from kie.ai's public price table; apikley's own prices may differ."
_ENTRY = re.compile(r"^(\d+)\s*s?\s*/\s*(\d+p)$", re.IGNORECASE)
_RATE = ("usd", "usd_per_credit")
_NONE = {"credits": {}, "usd_per_credit": None}


def prices_file(folder: Path) -> Path:
    return Path(folder) / FILE_NAME


def _key(duration, resolution) -> str:
    return f"{duration}/{resolution}"


_OFFERED = {_key(d, r): (d, r) for d, r in pricing.CREDITS}


def _positive(raw) -> Optional[float]:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if value > 0 and value != float("inf") else None


def _entry(part: str) -> tuple:
    """``(key, value, None)`` for one ``key=value`` entry, or ``(None, None, what was expected)``."""
    pieces = part.split("=")
    if len(pieces) != 2:
        return None, None, f'"{part}": expected one key=value, e.g. 10/1080p=200'
    raw_key, raw_value = pieces[0].strip().lower(), pieces[1].strip()
    match = _ENTRY.match(raw_key)
    key = "usd_per_credit" if raw_key in _RATE else (_key(match[1], match[2]) if match else None)
    if key is None:
        return None, None, f'"{part}": expected duration/resolution (e.g. 10/1080p) or usd_per_credit before "="'
    if key != "usd_per_credit" and key not in _OFFERED:
        return None, None, f'"{part}": the model offers {", ".join(_OFFERED)}'
    value = _positive(raw_value)
    if value is None:
        return None, None, f'"{part}": expected a positive number after "=" (e.g. 200)'
    return key, value, None


def parse(text) -> dict:
    """The override as ``{"credits": {"10/1080p": 200.0}, "usd_per_credit": x | None}``; InputError naming
    every bad entry (then nothing is saved). Empty text overrides nothing."""
    if not isinstance(text, str):
        raise InputError('send the override as text, e.g. {"override": "10/1080p=200"}; nothing was saved')
    override, errors = {"credits": {}, "usd_per_credit": None}, []
    for raw in re.split(r"[,;\n]", text):
        part = raw.strip()[:80]
        if not part:
            continue
        key, value, error = _entry(part)
        if error:
            errors.append(error)
        elif key == "usd_per_credit":
            override["usd_per_credit"] = value
        else:
            override["credits"][key] = value
    if errors:
        raise InputError("the price override has bad entries, nothing was saved: " + "; ".join(errors),
                         hint="Fix them and save again; empty = the pack's own table.")
    return override


def saved(folder: Optional[Path]) -> dict:
    """The override in the file (no entries when there is none); ConfigError for a file that cannot be read."""
    if folder is None:
        return dict(_NONE)
    path = prices_file(folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("credits", {}), dict):
            raise ValueError("not a price override")
        return parse(text(data))
    except FileNotFoundError:
        return dict(_NONE)
    except (OSError, ValueError, TypeError, InputError) as exc:
        reason = exc.detail if isinstance(exc, InputError) else (getattr(exc, "strerror", None) or str(exc))
        raise ConfigError(f"the saved price override in {path} cannot be read ({reason[:160]})", hint=(
            "Save the override again in Settings → apikley Wan 2.6 → Prices (or delete the file for the pack's "
            "own table). Nothing was sent to the API.")) from None


def text(override: dict) -> str:
    """The override in the syntax ``parse`` reads back."""
    rows = [f"{key}={value:g}" for key, value in (override.get("credits") or {}).items()]
    rate = override.get("usd_per_credit")
    return ", ".join(rows + ([f"usd_per_credit={rate:g}"] if rate is not None else []))


def in_force(folder: Optional[Path]) -> pricing.PriceTable:
    """The pack's table with the saved override on top."""
    override = saved(folder)
    if not override["credits"] and override["usd_per_credit"] is None:
        return pricing.DEFAULT
    credits = {**pricing.CREDITS, **{_OFFERED[key]: value for key, value in override["credits"].items()}}
    return pricing.PriceTable(credits, override["usd_per_credit"] or pricing.USD_PER_CREDIT, overridden=True)


def _as_json(table: pricing.PriceTable) -> dict:
    return {"credits": {_key(d, r): c for (d, r), c in table.credits.items()}, "usd_per_credit": table.usd_per_credit}


def status(folder: Optional[Path]) -> dict:
    """The table in force as ``"duration/resolution" -> credits`` and the rate, whether it is overridden,
    the saved override as text, and the pack's own table."""
    table = in_force(folder)
    return {**_as_json(table), "estimate": True, "note": NOTE, "overridden": table.overridden,
            "override": text(saved(folder)), "default": _as_json(pricing.DEFAULT)}


def save(payload, folder: Path) -> dict:
    """Save ``{"override": text}`` ("" clears it) and answer as ``status`` does, with a ``msg``."""
    if not isinstance(payload, dict) or set(payload) - {"override"}:
        raise InputError('send {"override": "10/1080p=200, usd_per_credit=0.005"}; nothing was saved')
    override = parse(payload.get("override", ""))
    write_json(prices_file(folder), override)
    answer = status(folder)
    answer["msg"] = "Price override saved." if answer["overridden"] else "Price override cleared: the pack's own table."
    return answer
