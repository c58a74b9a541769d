"""Routes the pack adds to ComfyUI's server: the task-completion callback, and what the
frontend extension (``web/``) asks for: key, credits, prices, recent tasks, collect.

Registered only when ComfyUI's PromptServer exists. Handlers only translate HTTP to the core
(``account``, ``task_rows``); anything that may touch the network runs off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Callable, Optional
from urllib.parse import urlsplit

from aiohttp import web

from ..apikley_wan import account, config, task_rows
from ..apikley_wan.callbacks import ROUTE_PREFIX
from ..apikley_wan.client import Cancel
from ..apikley_wan.journal import valid_task_id
from ..apikley_wan.errors import (ApikleyError, BusyError, ConfigError, InputError, KeyInvalidError, KeyNotStoredError,
                                  KeyRefusedError, NotFoundError)
from ..apikley_wan.state import PackState

log = logging.getLogger("apikley_wan")

API_PREFIX = "/apikley_wan/"
MAX_CALLBACK_BYTES = 1024 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


# the one place where the core's typed errors become HTTP answers (first match wins)
_HTTP_STATUS = ((KeyInvalidError, 400), (InputError, 400), (KeyRefusedError, 422), (KeyNotStoredError, 500),
                (ConfigError, 409), (NotFoundError, 404), (BusyError, 409), (ApikleyError, 502))


async def _answer(work: Callable, *args, extra: Optional[Callable[[], dict]] = None) -> web.Response:
    """Run a core call off the event loop; its value is the JSON body, its typed error one sentence."""
    try:
        body = await asyncio.to_thread(work, *args)
    except ApikleyError as exc:
        status = next(code for kind, code in _HTTP_STATUS if isinstance(exc, kind))
        return web.json_response({"ok": False, "msg": exc.user_message(), **(extra() if extra else {})},
                                 status=status)
    return web.json_response(body)


def _refuse(status: int, msg: str) -> web.Response:
    return web.json_response({"ok": False, "msg": msg}, status=status)


def _same_origin(origin: str, host: str) -> bool:
    """Whether ``Origin`` names the host:port the request was sent to (a missing port is the
    scheme's default). ``null`` and anything that is not an http(s) origin never match."""
    try:
        sent_from, sent_to = urlsplit(origin), urlsplit("//" + host)
        default = _DEFAULT_PORTS.get(sent_from.scheme)
        return (default is not None and bool(sent_from.hostname) and sent_from.hostname == sent_to.hostname
                and (sent_from.port or default) == (sent_to.port or default))
    except ValueError:  # a malformed port
        return False


def same_origin_json(handler):
    """Only the pack's own page may change state.

    ComfyUI's origin check lets ``Origin: null`` (sandboxed iframes) and non-loopback hosts
    through, and a ``text/plain`` POST needs no CORS preflight; requiring JSON forces one.
    """
    @functools.wraps(handler)
    async def guarded(request):
        origin = request.headers.get("Origin")
        if origin is not None and not _same_origin(origin, request.headers.get("Host", "")):
            log.warning("apikley_wan: refused %s %s from another site (Origin %r)", request.method, request.path,
                        origin[:100])
            return _refuse(403, "Refused: this request came from another site than ComfyUI's own page.")
        if request.content_type != "application/json":
            return _refuse(415, "Send the request body as application/json.")
        return await handler(request)
    return guarded


async def _json_object(request):
    try:
        payload = await request.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


async def _read_capped(request, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the body, so an oversized one is noticed without reading it all."""
    chunks, size = [], 0
    while size <= limit:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def handlers(state: PackState, credits_cache: account.CreditsCache, collector: task_rows.Collector) -> dict:
    """The route handlers over one pack state (its folder, journal and callback board)."""

    async def receive_callback(request):
        """Cheap checks first: an unknown secret or an oversized body is refused before parsing."""
        secret = request.match_info["secret"]
        if not state.callbacks.knows(secret):
            return _refuse(404, "unknown callback")
        if (request.content_length or 0) > MAX_CALLBACK_BYTES:
            return _refuse(413, "callback body too large")
        body = await _read_capped(request, MAX_CALLBACK_BYTES)
        if len(body) > MAX_CALLBACK_BYTES:
            return _refuse(413, "callback body too large")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
            return _refuse(400, "not JSON")
        status, msg = state.callbacks.receive(secret, payload, dict(request.headers), config.webhook_hmac_key())
        if status != 200:
            log.warning("apikley_wan: callback refused (%s)", msg)
        return web.json_response({"ok": status == 200, "msg": msg}, status=status)

    async def get_key(request):
        return web.json_response(account.key_status(state.folder))

    @same_origin_json
    async def post_key(request):
        payload = await _json_object(request) or {}
        return await _answer(account.save_key, payload.get("key"), state.folder, credits_cache,
                             extra=lambda: account.key_status(state.folder))

    async def get_credits(request):
        return await _answer(credits_cache.get, state.folder, request.query.get("refresh") in ("1", "true"))

    async def get_prices(request):
        return await _answer(account.price_table)

    async def get_tasks(request):
        return await _answer(task_rows.recent, state.journal, request.query.get("limit", 50),
                             request.query.get("task_id"))

    @same_origin_json
    async def post_collect(request):
        task_id = request.match_info["task_id"]

        def row() -> dict:
            entry = state.journal.by_task_id(task_id) if valid_task_id(task_id) else None
            return {"task": task_rows.task_row(entry) if entry else None}

        return await _answer(collector.collect, state.journal, task_id, lambda: state.generations(Cancel()),
                             extra=row)

    return {("POST", ROUTE_PREFIX + "{secret}"): receive_callback,
            ("GET", API_PREFIX + "key"): get_key, ("POST", API_PREFIX + "key"): post_key,
            ("GET", API_PREFIX + "credits"): get_credits, ("GET", API_PREFIX + "prices"): get_prices,
            ("GET", API_PREFIX + "tasks"): get_tasks,
            ("POST", API_PREFIX + "tasks/{task_id}/collect"): post_collect}


def register(server, state: PackState, credits_cache: account.CreditsCache | None = None) -> None:
    cache = credits_cache or account.CreditsCache()
    for (method, path), handler in handlers(state, cache, task_rows.Collector()).items():
        server.routes.route(method, path)(handler)
