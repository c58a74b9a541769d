"""Which hosts are this machine or its LAN. The provider is never sent there (a ``video_url``) and a
result is never fetched from there (the pack would be made to call a local service), unless the API
itself runs there: the simulator, a test server. Names are judged as written, not resolved."""

from __future__ import annotations

import ipaddress
import socket
from typing import Optional
from urllib.parse import urlsplit


def is_local(host: str) -> bool:
    """localhost, a private/loopback/link-local/reserved IP literal, or a name only a LAN knows."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".lan", ".home.arpa")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        try:  # the C library also connects to shorthand IPv4 forms: 127.1, 0x7f.1, 0177.0.0.1
            ip = ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, ValueError):
            return "." not in host  # a bare intranet name
    return not ip.is_global


def is_loopback(host: str) -> bool:
    """localhost or a loopback IP literal (127.0.0.0/8, ::1): this machine only, not its LAN."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refused_host(url: str, api_base: str) -> Optional[str]:
    """The host of ``url`` when it is local or private and the API is not (then it is not to be used);
    None when it may be used."""
    host = urlsplit(url).hostname or ""
    return host if is_local(host) and not is_local(urlsplit(api_base).hostname or "") else None
