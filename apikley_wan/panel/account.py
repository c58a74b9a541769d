"""What the settings UI asks about the account: the key (status, validated save, removal), the
balance (cached), and the price table (with the kind of API it is spent on).

Functions return plain data or raise typed errors; the server routes map those to HTTP.
No ComfyUI or aiohttp here. The key itself never appears in an answer or a log line: only
its masked fingerprint does.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from ..money import price_settings, pricing
from ..settings import config
from ..api.client import ApikleyClient, api_kind
from ..api.untrusted import scrub
from ..errors import (ApikleyError, ConfigError, KeyInvalidError, KeyNotRemovedError, KeyNotStoredError,
                     KeyRefusedError, KeyUncheckedError, NetworkError)

log = logging.getLogger("apikley_wan")

ENV_VAR = "APIKLEY_API_KEY"
CREDITS_TTL_S = 30.0
# a settings click should answer within seconds, not after the pipeline's long retries
_QUICK = {"read_attempts": 1, "timeout": (5.0, 20.0)}


def key_status(folder: Path) -> dict:
    """Which key is in use (env / file / none), as a fingerprint; never the key."""
    source = config.key_source(folder)
    return {"source": source, "fingerprint": config.mask_key(config.api_key(folder)), "env_var": ENV_VAR,
            "key_file": str(config.key_file(folder))}


def _reason(exc: ApikleyError, secret: str) -> str:
    """A short why, scrubbed of the key in case an upstream message ever echoes it."""
    text = f"{exc.what}: {exc.detail}" if exc.detail else exc.what
    if exc.code is not None:
        text += f" (API code {exc.code})"
    return scrub(text, secret)


class CreditsCache:
    """The balance, asked of the API at most once per ``ttl_s`` for the same key and base URL."""

    def __init__(self, ttl_s: float = CREDITS_TTL_S, clock: Callable[[], float] = time.monotonic,
                 client_factory: Callable[..., ApikleyClient] = ApikleyClient):
        self.ttl_s = ttl_s
        self._clock = clock
        self._client = client_factory
        self._lock = threading.Lock()
        self._ident: Optional[str] = None
        self._credits = 0.0
        self._at = 0.0

    @staticmethod
    def _identity(key: str) -> str:
        # a digest, so the cache never holds the key longer than the request does
        return hashlib.sha256(f"{config.base_url()}\n{key}".encode()).hexdigest()

    def remember(self, key: str, credits: float) -> None:
        with self._lock:
            self._ident, self._credits, self._at = self._identity(key), float(credits), self._clock()

    def get(self, folder: Path, refresh: bool = False) -> dict:
        """The balance (blocking: run it off the event loop); ConfigError without a key."""
        key = config.api_key(folder)
        if not key:
            raise ConfigError("no API key", hint=f"Paste one in Settings or set {ENV_VAR}.",
                              credits_may_be_spent=False)
        ident = self._identity(key)
        with self._lock:  # held across the request: concurrent panels share one API call
            age = self._clock() - self._at
            if refresh or self._ident != ident or age >= self.ttl_s:
                credits = self._client(api_key=key, **_QUICK).credits()
                self._ident, self._credits, self._at, age = ident, credits, self._clock(), 0.0
            return {"ok": True, "credits": self._credits, "usd": pricing.credits_to_usd(self._credits),
                    "age_s": round(age, 1), "ttl_s": self.ttl_s}


def save_key(raw, folder: Path, cache: CreditsCache,
             client_factory: Callable[..., ApikleyClient] = ApikleyClient) -> dict:
    """Validate the key with a credits call and only then write the key file (mode 600).

    A refused or unverifiable key leaves the old key in place (a ``KeyNotSavedError``). Blocking.
    """
    key = config.clean_key(raw)
    if key is None:
        raise KeyInvalidError(f"a key is {config.KEY_RULE}", hint="A copy from a web page can carry invisible "
                                                                  "ones; type or paste it again.")
    try:
        credits = client_factory(api_key=key, **_QUICK).credits()
    except NetworkError as exc:  # no answer says nothing about the key
        log.info("apikley_wan: a new API key could not be checked (%s)", exc.cause)
        raise KeyUncheckedError(scrub(exc.detail, key)) from None
    except ApikleyError as exc:
        log.info("apikley_wan: a new API key was not saved (%s)", type(exc).__name__)
        raise KeyRefusedError(_reason(exc, key)) from None
    except Exception as exc:  # noqa: BLE001 - only the type is shown: a library's message may quote the key
        log.warning("apikley_wan: checking a new API key failed unexpectedly (%s)", type(exc).__name__)
        raise KeyNotStoredError(f"checking it failed unexpectedly ({type(exc).__name__})") from None
    try:
        config.save_api_key(key, folder)
    except OSError as exc:
        log.warning("apikley_wan: the key file could not be written (%s)", type(exc).__name__)
        raise KeyNotStoredError(f"it works, but writing {config.key_file(folder)} failed "
                                f"({scrub(exc.strerror or type(exc).__name__, key)})") from None
    cache.remember(key, credits)
    status = key_status(folder)
    msg = f"Key {config.mask_key(key)} checked and saved."
    if status["source"] == "env":
        msg += f" {ENV_VAR} is set in ComfyUI's environment and wins over the saved key."
    return {"ok": True, "msg": msg, "credits": credits, "usd": pricing.credits_to_usd(credits), **status}


def remove_key(folder: Path) -> dict:
    """Delete the saved key file; the new key status. A key from the environment stays in use (it is
    not the pack's to remove), and the answer says so. Blocking."""
    path = config.key_file(folder)
    try:
        path.unlink()
        removed = True
    except FileNotFoundError:
        removed = False
    except OSError as exc:
        log.warning("apikley_wan: the key file could not be removed (%s)", type(exc).__name__)
        raise KeyNotRemovedError(f"deleting {path} failed ({exc.strerror or type(exc).__name__})",
                                 hint="Delete the file by hand.") from None
    status = key_status(folder)
    if status["source"] == "env":
        msg = (f"{ENV_VAR} is set in ComfyUI's environment and stays in use: it cannot be removed here. "
               "Unset it where ComfyUI is started, then restart ComfyUI.")
        msg = ("Saved key removed. " + msg) if removed else msg
    else:
        msg = "Saved key removed: runs need a key again." if removed else "No key was saved."
    if removed:
        log.info("apikley_wan: the saved API key was removed")
    return {"ok": True, "removed": removed, "msg": msg, **status}


def price_table(folder: Optional[Path]) -> dict:
    """The price table in force (the pack's, with the override saved in Settings: price_settings.py) and
    whether the API said it is the simulator (``api``: "simulator", no real credits; simulated.py). Blocking."""
    return {**price_settings.status(folder), "api": api_kind(config.base_url())}
