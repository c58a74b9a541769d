"""Routes the pack adds to ComfyUI's server: the task-completion callback, and what the
frontend extension (``web/``) asks for: key, credits, prices, recent tasks, collect.

Registered only when ComfyUI's PromptServer exists. Handlers only translate HTTP to the core
(``account``, ``task_rows``); anything that may touch the network runs off the event loop.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ..apikley_wan import account, config, task_rows
from ..apikley_wan.callbacks import ROUTE_PREFIX
from ..apikley_wan.client import Cancel
from . import service

log = logging.getLogger("apikley_wan")

API_PREFIX = "/apikley_wan/"
credits_cache = account.CreditsCache()
collector = task_rows.Collector()


def _answer(result: tuple) -> web.Response:
    status, body = result
    return web.json_response(body, status=status)


def _journal():
    """The journal, opened first: opening it points the key file at ComfyUI's user folder."""
    return service.journal()


async def _json_object(request):
    try:
        payload = await request.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


async def receive_callback(request):
    payload = await _json_object(request)
    if payload is None:
        return web.json_response({"ok": False, "msg": "not a JSON object"}, status=400)
    status, msg = service.callbacks.receive(request.match_info["secret"], payload, dict(request.headers),
                                            config.webhook_hmac_key())
    if status != 200:
        log.warning("apikley_wan: callback refused (%s)", msg)
    return web.json_response({"ok": status == 200, "msg": msg}, status=status)


async def get_key(request):
    _journal()
    return web.json_response(account.key_status())


async def post_key(request):
    _journal()
    payload = await _json_object(request) or {}
    return _answer(await asyncio.to_thread(account.save_key, payload.get("key"), credits_cache))


async def get_credits(request):
    _journal()
    refresh = request.query.get("refresh") in ("1", "true")
    return _answer(await asyncio.to_thread(credits_cache.get, refresh))


async def get_prices(request):
    return _answer(account.price_table())


async def get_tasks(request):
    query = request.query
    return _answer(await asyncio.to_thread(task_rows.recent, _journal(), query.get("limit", 50), query.get("task_id")))


async def post_collect(request):
    journal = _journal()
    task_id = request.match_info["task_id"]
    return _answer(await asyncio.to_thread(collector.collect, journal, task_id,
                                           lambda: service.generations(Cancel())))


def register(server) -> None:
    routes = server.routes
    routes.post(ROUTE_PREFIX + "{secret}")(receive_callback)
    routes.get(API_PREFIX + "key")(get_key)
    routes.post(API_PREFIX + "key")(post_key)
    routes.get(API_PREFIX + "credits")(get_credits)
    routes.get(API_PREFIX + "prices")(get_prices)
    routes.get(API_PREFIX + "tasks")(get_tasks)
    routes.post(API_PREFIX + "tasks/{task_id}/collect")(post_collect)
