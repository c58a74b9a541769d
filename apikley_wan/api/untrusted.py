"""What a server says, made safe to show: the key masked wherever it appears (whole or in pieces), long text
cut once scrubbed, numbers kept only when finite and not negative."""

from __future__ import annotations

import math
import re
from typing import Optional

# server text longer than this is cut (once scrubbed whole) before it reaches a message, a log line or the journal
MAX_SERVER_TEXT = 500
# any run of this many of the key's characters is masked as the key (an echo cut short, a key split in two)
KEY_FRAGMENT_CHARS = 8


def short_text(value, limit: int = MAX_SERVER_TEXT) -> Optional[str]:
    """Server text for a message: a string, cut to ``limit``; None when empty. The one place server text
    is cut: what it is given is already scrubbed whole (a cut first could leave most of the key)."""
    if value is None or value == "":
        return None
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit] + "…"


def plain_number(value) -> Optional[float]:
    """A number from the server as it may be kept: finite and not negative; else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return value


_BEARER = re.compile(r"(?i)bearer\s+\S+")


def scrub(text: str, secret: Optional[str]) -> str:
    """Remove the key, every run of ``KEY_FRAGMENT_CHARS`` or more of its characters, and anything shaped
    like an Authorization value from text we did not write."""
    if not text:
        return text
    if secret:
        text = _mask_fragments(text.replace(secret, "•••"), secret)
    return _BEARER.sub("Bearer •••", text)


def _mask_fragments(text: str, secret: str) -> str:
    """Each stretch covered by the key's n-character pieces (n = ``KEY_FRAGMENT_CHARS``) becomes •••:
    every piece of the key at least that long is such a stretch."""
    n = KEY_FRAGMENT_CHARS
    if len(secret) < n:
        return text
    pieces = {secret[i:i + n] for i in range(len(secret) - n + 1)}
    spans: list = []  # [start, end) of each stretch, merged where pieces overlap or touch
    for match in re.finditer("(?=(?:" + "|".join(map(re.escape, sorted(pieces))) + "))", text):
        if spans and match.start() <= spans[-1][1]:
            spans[-1][1] = match.start() + n
        else:
            spans.append([match.start(), match.start() + n])
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], "•••"]
        last = end
    return "".join(out) + text[last:]


def scrub_tree(value, secret: Optional[str]):
    """Every string in a decoded server answer (keys and values, at any depth), scrubbed: what the
    server says can reach no message, log line, journal column or file with the key in it."""
    if isinstance(value, str):
        return scrub(value, secret)
    if isinstance(value, dict):
        return {scrub_tree(k, secret): scrub_tree(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_tree(v, secret) for v in value]
    return value
