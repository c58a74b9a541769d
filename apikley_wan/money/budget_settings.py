"""Budget caps saved in ComfyUI's Settings, merged with the environment's: the environment wins, cap by cap.

The file is ``<state folder>/budget.json`` (next to the key file; inside ComfyUI under its user folder).
The budget guard (budget.py) reads the caps in force at each check, so a change applies to the next run
without a restart. The command line reads the file of its own state folder (``~/.config/apikley-wan``,
or ``APIKLEY_STATE_DIR``): point ``APIKLEY_STATE_DIR`` at ComfyUI's ``user/apikley_wan`` and both keep
to one set of caps.

Functions return plain data or raise typed errors (the routes map them to HTTP).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Optional

from ..settings import settings
from ..errors import ConfigError, InputError
from ..settings.settings import Budget

FILE_NAME = "budget.json"
# each cap as the Settings page and the file name it, and the variable that overrides it
ENV_VARS = {"session_usd": settings.BUDGET_SESSION_ENV, "day_usd": settings.BUDGET_DAY_ENV,
            "min_balance": settings.MIN_BALANCE_ENV}
_WORDS = {"session_usd": "the per-session cap (USD)", "day_usd": "the per-day cap (USD)",
          "min_balance": "the minimum balance (credits)"}


def caps_file(folder: Path) -> Path:
    return Path(folder) / FILE_NAME


def _amount(name: str, raw) -> Optional[float]:
    """A cap as saved or posted: None (no cap) for null or an empty string, else a finite number >= 0."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    value = settings.amount(raw)
    if value is None:
        raise InputError(f"{name} must be a number >= 0, or empty for no cap (got {str(raw)[:40]!r}); "
                         "nothing was saved", hint=f"Fix {_WORDS[name]} and save again.")
    return value


def saved(folder: Optional[Path]) -> dict:
    """The caps in the file (None for each one absent); ConfigError for a file that cannot be read."""
    if folder is None:
        return dict.fromkeys(ENV_VARS)
    path = caps_file(folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return {name: _amount(name, data.get(name)) for name in ENV_VARS}
    except FileNotFoundError:
        return dict.fromkeys(ENV_VARS)
    except (OSError, ValueError, InputError) as exc:
        reason = exc.detail if isinstance(exc, InputError) else (getattr(exc, "strerror", None) or str(exc))
        raise ConfigError(f"the saved budget caps in {path} cannot be read ({reason[:120]})", hint=(
            "Save the caps again in Settings → apikley Wan 2.6 (or delete the file for no saved caps). "
            "Nothing was sent to the API.")) from None


def in_force(folder: Optional[Path], environ: Optional[Mapping[str, str]] = None) -> tuple:
    """``(Budget, sources)``: each cap from the environment when set there, else from the saved file;
    ``sources`` says ``"env"``, ``"settings"`` or None per cap. ConfigError for a malformed value."""
    env = Budget.from_env(environ)
    from_file = saved(folder)
    caps, sources = {}, {}
    for name in ENV_VARS:
        if getattr(env, name) is not None:
            caps[name], sources[name] = getattr(env, name), "env"
        else:
            caps[name] = from_file[name]
            sources[name] = "settings" if caps[name] is not None else None
    budget = Budget(**caps, from_settings=frozenset(n for n, s in sources.items() if s == "settings"))
    return budget, sources


def status(folder: Path, guard, journal) -> dict:
    """The Settings page's view: the caps in force, where each comes from, what they count so far."""
    budget, sources = in_force(folder)
    return {"ok": True, "caps": {name: getattr(budget, name) for name in ENV_VARS}, "source": sources,
            "spent": guard.spent_usd(journal), "env_vars": dict(ENV_VARS)}


def save(payload, folder: Path, guard, journal) -> dict:
    """Save the posted caps (a missing key keeps its saved value; null or "" clears it) and answer as
    ``status`` does, with a ``msg``. A cap the environment sets is not saved here: the answer says so.
    InputError (nothing saved) for an unknown field or a value that is not a number >= 0."""
    if not isinstance(payload, dict):
        raise InputError("send the caps as a JSON object such as {\"session_usd\": 5}; nothing was saved")
    unknown = sorted(set(payload) - set(ENV_VARS))
    if unknown:
        raise InputError(f"unknown field {unknown[0][:40]!r} (the caps are {', '.join(ENV_VARS)}); nothing was saved")
    posted = {name: _amount(name, value) for name, value in payload.items()}
    _, sources = in_force(None)  # which caps the environment holds
    kept_by_env = [name for name, value in posted.items() if sources[name] == "env" and value is not None]
    try:
        caps = saved(folder)
    except ConfigError:  # an unreadable file is replaced by what is posted now
        caps = dict.fromkeys(ENV_VARS)
    caps.update({name: value for name, value in posted.items() if sources[name] != "env"})
    write_json(caps_file(folder), caps)
    answer = status(folder, guard, journal)
    answer["msg"] = "Budget caps saved." + "".join(
        f" {ENV_VARS[name]} is set in ComfyUI's environment and wins: change or unset it there to change "
        f"{_WORDS[name]}." for name in kept_by_env)
    return answer


def write_json(path: Path, data: dict) -> None:
    """A settings file (caps, price override), atomically: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"{path} could not be written ({exc.strerror or type(exc).__name__}); nothing was saved",
                          hint="Check the permissions of ComfyUI's user folder.") from None
