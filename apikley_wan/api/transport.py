"""How one API call travels: on connections of its own whose every read waits at most until the call's
deadline (a server dripping its answer cannot hold a worker longer), shut at once by Cancel, an upload's body
read in blocks that Cancel stops; what a failed call's transport trouble was, in a few words; and each retry
told in words."""

from __future__ import annotations

import contextlib
import errno
import functools
import http.client
import io
import socket
import ssl
import threading
import time
from typing import Callable, Optional
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from .cancel import Cancel

# hears each retry of a request in words: "connection refused, retry 2 of 4"
OnRetry = Optional[Callable[[str], None]]


def tell_retry(on_retry: OnRetry, exc: BaseException, attempt: int, attempts: int) -> None:
    if on_retry is not None:
        on_retry(f"{exc.briefly()}, retry {attempt} of {attempts - 1}")


def nothing_was_sent(exc: BaseException) -> bool:
    """True when the connection was never made (refused, DNS, connect timeout)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (requests.exceptions.ConnectTimeout, urllib3.exceptions.NewConnectionError,
                            urllib3.exceptions.ConnectTimeoutError, ConnectionRefusedError)):
            return True
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            exc = exc.reason
            continue
        nxt = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc = nxt or exc.__cause__ or exc.__context__
    return False


def _chain(exc: BaseException) -> list:
    """``exc`` and everything it wraps (reasons, arguments, causes, contexts), each once."""
    found, todo = [], [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
    return found


# (kinds, words) in order of precedence: the first kind found anywhere in the chain names the cause
_CAUSES = (
    ((urllib3.exceptions.NameResolutionError, socket.gaierror), "name not resolved"),
    ((ConnectionRefusedError,), "connection refused"),
    ((requests.exceptions.ProxyError, urllib3.exceptions.ProxyError), "the proxy failed"),
    ((requests.exceptions.SSLError, ssl.SSLError), "TLS (https) handshake failed"),
    ((requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError, socket.timeout), "timed out"),
    ((ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.RemoteDisconnected,
      urllib3.exceptions.ProtocolError), "connection closed by the server"),
)
_ERRNO_WORDS = {errno.ENETUNREACH: "network unreachable", errno.EHOSTUNREACH: "no route to host",
                errno.ECONNREFUSED: "connection refused"}


def network_cause(exc: BaseException) -> str:
    """A transport failure in a few words ("connection refused", "timed out", "name not resolved"),
    never a library's message (those quote URLs and internals)."""
    chain = _chain(exc)
    for kinds, words in _CAUSES:
        if any(isinstance(e, kinds) for e in chain):
            return words
    for e in chain:
        if isinstance(e, OSError) and e.errno in _ERRNO_WORDS:
            return _ERRNO_WORDS[e.errno]
    return f"network error ({type(exc).__name__})"


def host_of(url: str) -> str:
    """Where a request went, for a message: host and port only (a signed link's query stays out)."""
    return urlsplit(url).netloc.rpartition("@")[2]


class CallAdapter(HTTPAdapter):
    """One API call's own connections: never retried by urllib3, every read of the answer waits at most
    until the call's deadline (a server dripping its answer a byte at a time cannot hold a worker longer
    than that), and ``shut`` shuts the answer's socket (Cancel). A SOCKS proxy's connections keep only
    the socket timeout."""

    def __init__(self, deadline_at: float):
        self.deadline_at = deadline_at
        self._lock = threading.Lock()
        self._sockets: list = []
        self._shut = False
        super().__init__(max_retries=0)  # never let urllib3 re-send anything behind our back

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self._watch(self.poolmanager)

    def proxy_manager_for(self, proxy, **kwargs):
        manager = super().proxy_manager_for(proxy, **kwargs)
        self._watch(manager)
        return manager

    def _watch(self, manager) -> None:
        if manager.pool_classes_by_scheme is urllib3.poolmanager.pool_classes_by_scheme:
            manager.pool_classes_by_scheme = {scheme: functools.partial(self._pool, cls)
                                              for scheme, cls in manager.pool_classes_by_scheme.items()}

    def _pool(self, cls, *args, **kwargs):
        pool = cls(*args, **kwargs)
        make = pool.ConnectionCls

        def connection(**kw):
            conn = make(**kw)
            conn.response_class = functools.partial(_Answer, call=self)
            return conn
        pool.ConnectionCls = connection
        return pool

    def answering(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            shut = self._shut
        if shut:
            _shut_down(sock)

    def shut(self) -> None:
        with self._lock:
            self._shut, sockets = True, list(self._sockets)
        for sock in sockets:
            _shut_down(sock)


def _shut_down(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


class _Answer(http.client.HTTPResponse):
    """An answer read within its call's deadline: each read of the socket waits at most what is left."""

    def __init__(self, sock, *args, call: CallAdapter, **kwargs):
        super().__init__(sock, *args, **kwargs)
        self.fp.close()
        self.fp = io.BufferedReader(_Within(sock, call.deadline_at))
        call.answering(sock)


class _Within(io.RawIOBase):
    def __init__(self, sock: socket.socket, deadline_at: float):
        self._sock, self._raw, self._deadline_at = sock, sock.makefile("rb", buffering=0), deadline_at

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self._deadline_at - time.monotonic()
        if left <= 0:
            raise TimeoutError("the call's deadline passed")
        before = self._sock.gettimeout()
        self._sock.settimeout(left if before is None else min(before, left))
        try:
            return self._raw.readinto(buffer)
        finally:
            with contextlib.suppress(OSError):
                self._sock.settimeout(before)

    def close(self) -> None:
        self._raw.close()
        super().close()


class CancellableBody:
    """A request body read in blocks that checks cancel between them, so a long upload stops
    within a block of Cancel; ``len`` gives requests its Content-Length."""

    def __init__(self, data: bytes, cancel: Cancel):
        self._data, self._cancel, self._pos = data, cancel, 0

    def __len__(self) -> int:
        return len(self._data) - self._pos

    def read(self, size: int = -1) -> bytes:
        self._cancel.raise_if_requested()
        end = len(self._data) if size is None or size < 0 else min(len(self._data), self._pos + size)
        chunk, self._pos = self._data[self._pos:end], end
        return chunk
