"""Routes the pack adds to ComfyUI's server: the task-completion callback.

Registered only when ComfyUI's PromptServer exists; the handlers delegate to the core.
"""

from __future__ import annotations

import logging

from ..apikley_wan import config
from ..apikley_wan.callbacks import ROUTE_PREFIX
from . import service

log = logging.getLogger("apikley_wan")


async def receive_callback(request):
    from aiohttp import web
    try:
        payload = await request.json()
    except ValueError:
        return web.json_response({"ok": False, "msg": "not JSON"}, status=400)
    if not isinstance(payload, dict):
        return web.json_response({"ok": False, "msg": "not an object"}, status=400)
    status, msg = service.callbacks.receive(request.match_info["secret"], payload, dict(request.headers),
                                            config.webhook_hmac_key())
    if status != 200:
        log.warning("apikley_wan: callback refused (%s)", msg)
    return web.json_response({"ok": status == 200, "msg": msg}, status=status)


def register(server) -> None:
    server.routes.post(ROUTE_PREFIX + "{secret}")(receive_callback)
