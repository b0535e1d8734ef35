"""Serving an ASGI app on a socket of our own: shared by the hub and the simulators.

Both bind their socket themselves (port 0 picks a free port, and the real URL is known
before uvicorn starts) and own SIGINT/SIGTERM themselves (uvicorn re-raises a captured signal
after its shutdown, which would end the process before the hub closes its controllers and
store, or the simulator its state file).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import uvicorn


class SignalFreeServer(uvicorn.Server):
    """uvicorn without its own signal handling: the caller's `serve()` owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A listening, non-blocking TCP socket on host:port (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio disables Nagle only on sockets whose proto says TCP,
    # and with Nagle on, uvicorn's separate header and body writes cost a 40 ms delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def url_host(host: str) -> str:
    """The host part of a URL that reaches a server bound to `host` (wildcards: loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
