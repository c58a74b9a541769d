"""Routes the pack adds to ComfyUI's server: the task-completion callback, and what the
frontend extension (``web/``) asks for: key, credits, prices, recent tasks and the tasks panel's
actions (collect, a result's preview, a copy for Load Video, abandon, link a known task id).

Registered only when ComfyUI's PromptServer exists. Handlers only translate HTTP to the core
(``account``, ``task_rows``, ``task_files``); anything that may touch the network runs off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
from typing import Callable, Optional
from urllib.parse import urlsplit

from aiohttp import web

from ..apikley_wan.money import budget_settings, price_settings
from ..apikley_wan.panel import account, task_files, task_rows
from ..apikley_wan.settings import config
from ..apikley_wan.api.callbacks import ROUTE_PREFIX
from ..apikley_wan.record.entry import valid_task_id
from ..apikley_wan.errors import (ApikleyError, BusyError, ConfigError, InputError, KeyInvalidError, KeyNotStoredError,
                                  KeyRefusedError, NotFoundError)
from ..apikley_wan.runtime import Runtime
from . import comfy_files, estimate, host

log = logging.getLogger("apikley_wan")

API_PREFIX = "/apikley_wan/"
MAX_CALLBACK_BYTES = 1024 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


# the one place where the core's typed errors become HTTP answers (first match wins)
_HTTP_STATUS = ((KeyInvalidError, 400), (InputError, 400), (KeyRefusedError, 422), (KeyNotStoredError, 500),
                (ConfigError, 409), (NotFoundError, 404), (BusyError, 409), (ApikleyError, 502))


async def _answer(work: Callable, *args, extra: Optional[Callable[[], dict]] = None) -> web.Response:
    """Run a core call off the event loop (a coroutine function: awaited on it); its value is the JSON body,
    its typed error one sentence."""
    try:
        body = await (work(*args) if asyncio.iscoroutinefunction(work) else asyncio.to_thread(work, *args))
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


def _address(name: str):
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _known_host(host: str, listen: tuple, named: frozenset) -> bool:
    """Whether a request's ``Host`` is ComfyUI's own address: a name the user listed
    (``APIKLEY_ALLOWED_HOSTS``) or ComfyUI listens under, an address it listens on, a loopback name or
    address when it listens on loopback, any address when it listens on all of them. A DNS-rebinding
    page reaches the pack under its own name, which is none of these."""
    try:
        name = urlsplit("//" + host).hostname
    except ValueError:  # a malformed port
        return False
    if not name:
        return False
    if name in named or name in listen:
        return True
    address = _address(name)
    listening = [bound for bound in map(_address, listen) if bound is not None]
    if any(bound.is_unspecified for bound in listening):
        return address is not None or name == "localhost"
    if any(bound.is_loopback for bound in listening) and (name == "localhost" or (address and address.is_loopback)):
        return True
    return address in listening


def known_host(handler, named: frozenset):
    """Only requests sent to ComfyUI's own address (or a name in ``named``) reach the pack (``_known_host``)."""
    @functools.wraps(handler)
    async def guarded(request):
        host_header = request.headers.get("Host", "")
        if not _known_host(host_header, host.listen_addresses(), named):
            log.warning("apikley_wan: refused %s %s sent to an unknown host name %r", request.method, request.path,
                        host_header[:100])
            return _refuse(403, f"Refused: this request reached ComfyUI as {host_header[:100]!r}, which is not "
                                "its own address. If you open ComfyUI under this name (a tunnel or a proxy), add "
                                f"it to {config.ALLOWED_HOSTS_ENV} and restart ComfyUI.")
        return await handler(request)
    return guarded


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
        try:
            return await handler(request)
        except _BadBody as exc:
            return _refuse(400, str(exc))
    return guarded


class _BadBody(Exception):
    """A body that is not the JSON a route takes; its text is the answer."""


async def _json_object(request):
    try:
        payload = await request.json()
    except ValueError:
        return None
    except RecursionError:  # nesting deeper than the parser goes
        raise _BadBody("The request body is JSON nested too deeply; send a flat JSON object.") from None
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


def handlers(state: Runtime, credits_cache: account.CreditsCache, collector: task_rows.Collector) -> dict:
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
        status, msg = state.callbacks.receive(secret, payload, dict(request.headers),
                                                state.config.webhook_hmac_key)
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

    @same_origin_json
    async def post_credits(request):
        """The balance: a POST from the pack's own page (it may cost an API call; an <img> cannot send one)."""
        payload = await _json_object(request) or {}
        return await _answer(credits_cache.get, state.folder, payload.get("refresh") is True)

    @same_origin_json
    async def post_key_remove(request):
        return await _answer(account.remove_key, state.folder, extra=lambda: account.key_status(state.folder))

    @same_origin_json
    async def post_estimate(request):
        """``{"prompt": graphToPrompt().output, "batch_count": n}``: per generating node its price, runs and
        re-use, the run's total and what the budget guard would refuse of it (nodes/estimate.py)."""
        payload = await _json_object(request) or {}
        if not isinstance(payload.get("prompt"), dict):
            return _refuse(400, 'Send {"prompt": <the API prompt>}.')
        return await _answer(estimate.answer, payload["prompt"], state.journal, state.guard,
                             lambda: credits_cache.get(state.folder)["credits"], payload.get("batch_count", 1),
                             state.fingerprints)

    async def get_budget(request):
        return await _answer(budget_settings.status, state.folder, state.guard, state.journal)

    @same_origin_json
    async def post_budget(request):
        payload = await _json_object(request)
        return await _answer(budget_settings.save, payload, state.folder, state.guard, state.journal)

    async def get_prices(request):
        return await _answer(account.price_table, state.folder)

    @same_origin_json
    async def post_prices(request):
        """``{"override": "10/1080p=200, usd_per_credit=0.005"}`` ("" clears it): saved for the guard and the page."""
        payload = await _json_object(request)
        return await _answer(lambda: {**price_settings.save(payload, state.folder),
                                      "api": account.price_table(state.folder)["api"]})

    async def get_tasks(request):
        return await _answer(task_rows.recent, state.journal, request.query.get("limit", 50),
                             request.query.get("task_id"))

    @same_origin_json
    async def post_collect(request):
        task_id = request.match_info["task_id"]

        def row() -> dict:
            entry = state.journal.by_task_id(task_id) if valid_task_id(task_id) else None
            return {"task": task_rows.task_row(state.journal, entry) if entry else None}

        return await _answer(collector.collect, state, task_id, extra=row)

    @same_origin_json
    async def post_collect_cancel(request):
        """Stops the panel's Collect of a task (its wait ends within a slice; the task stays recorded)."""
        return web.json_response({"ok": True, "cancelled": collector.cancel(request.match_info["task_id"])})

    async def get_task_video(request):
        """The result as the panel's preview (Range requests too): only a file the journal recorded."""
        try:
            path = await asyncio.to_thread(task_files.result_video, state.journal, request.match_info["task_id"])
        except ApikleyError as exc:
            return _refuse(404, exc.user_message())
        return web.FileResponse(path, headers={"Content-Type": "video/mp4", "X-Content-Type-Options": "nosniff",
                                               "Cache-Control": "no-cache"})

    @same_origin_json
    async def post_load_video(request):
        return await _answer(task_files.into_input, state.journal, request.match_info["task_id"], host.input_dir())

    @same_origin_json
    async def post_abandon(request):
        return await _answer(task_rows.abandon, state.journal, request.match_info["entry_id"])

    @same_origin_json
    async def post_link(request):
        """``{"task_id"}``: the task the user found for an entry whose create answer was lost (task_rows.link;
        the API is asked about the task first)."""
        payload = await _json_object(request) or {}
        return await _answer(lambda: task_rows.link(state.journal, request.match_info["entry_id"],
                                                    payload.get("task_id"), state.client()))

    @same_origin_json
    async def post_from_file(request):
        """``{"filename", "subfolder", "type"}`` of a file uploaded to ComfyUI (the panel's drop) → its task."""
        payload = await _json_object(request) or {}
        return await _answer(lambda: task_rows.from_file(state.journal, comfy_files.named(
            payload.get("filename"), payload.get("subfolder", ""), payload.get("type", "input"))))

    return {("POST", ROUTE_PREFIX + "{secret}"): receive_callback,
            ("GET", API_PREFIX + "key"): get_key, ("POST", API_PREFIX + "key"): post_key,
            ("POST", API_PREFIX + "key/remove"): post_key_remove, ("POST", API_PREFIX + "estimate"): post_estimate,
            ("POST", API_PREFIX + "credits"): post_credits, ("GET", API_PREFIX + "prices"): get_prices,
            ("POST", API_PREFIX + "prices"): post_prices,
            ("GET", API_PREFIX + "budget"): get_budget, ("POST", API_PREFIX + "budget"): post_budget,
            ("GET", API_PREFIX + "tasks"): get_tasks, ("POST", API_PREFIX + "tasks/from_file"): post_from_file,
            ("POST", API_PREFIX + "tasks/{task_id}/collect"): post_collect,
            ("POST", API_PREFIX + "tasks/{task_id}/collect/cancel"): post_collect_cancel,
            ("GET", API_PREFIX + "tasks/{task_id}/video"): get_task_video,
            ("POST", API_PREFIX + "tasks/{task_id}/load_video"): post_load_video,
            ("POST", API_PREFIX + "entries/{entry_id}/abandon"): post_abandon,
            ("POST", API_PREFIX + "entries/{entry_id}/link"): post_link}


def register(server, state: Runtime, credits_cache: account.CreditsCache | None = None) -> None:
    """Every route but the callback (which the provider posts to, through any name, with its secret) answers
    only requests sent to ComfyUI's own address."""
    cache = credits_cache or account.CreditsCache()
    for (method, path), handler in handlers(state, cache, task_rows.Collector()).items():
        server.routes.route(method, path)(handler if path.startswith(ROUTE_PREFIX)
                                          else known_host(handler, state.config.allowed_hosts))
