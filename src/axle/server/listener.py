"""One port, two protocols: plain HTTP and TLS, told apart by each connection's first byte.

kubectl (client-go) sends bearer tokens only over TLS, so `kubectl --token` needs HTTPS, while
the axle CLI, the SDK, curl and the tests are simplest over plain HTTP. Rather than making
users juggle two ports, the hub serves both on the one port it binds: a connection whose
first byte is a TLS handshake record (0x16) is wrapped in asyncio's TLS protocol with the
hub's serving certificate (see `tls.py`); anything else goes straight to the HTTP protocol.
Plain HTTP requests start with an ASCII method name, so the two never collide.

The class plugs into uvicorn as its `http` protocol class: uvicorn constructs it with the
keyword arguments of its own protocols, and it builds the real uvicorn protocol the same way.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from collections.abc import Callable
from typing import Any

_TLS_HANDSHAKE = 0x16
_TLS_HANDSHAKE_TIMEOUT = 30


def sniffing_protocol(
    inner: type[asyncio.Protocol], ssl_context: ssl.SSLContext | None
) -> Callable[..., asyncio.Protocol]:
    """A uvicorn `http` protocol class serving `inner` over HTTP and, if given a context, TLS."""

    class SniffingProtocol(asyncio.Protocol):
        def __init__(self, **kwargs: Any) -> None:
            self._kwargs = kwargs
            self._transport: Any = None
            self._loop = kwargs.get("_loop") or asyncio.get_event_loop()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._transport = transport

        def data_received(self, data: bytes) -> None:
            transport = self._transport
            assert transport is not None
            app: Any = inner(**self._kwargs)
            if ssl_context is not None and data[0] == _TLS_HANDSHAKE:
                tls = sslproto.SSLProtocol(
                    self._loop,
                    app,
                    ssl_context,
                    None,  # type: ignore[arg-type]  # no waiter: nothing awaits the handshake
                    server_side=True,
                    ssl_handshake_timeout=_TLS_HANDSHAKE_TIMEOUT,
                )
                transport.set_protocol(tls)
                tls.connection_made(transport)
                _feed(tls, data)
            else:
                transport.set_protocol(app)
                app.connection_made(transport)
                app.data_received(data)

        def eof_received(self) -> bool | None:
            return None  # closed before sending anything: let the transport close

        def connection_lost(self, exc: Exception | None) -> None:
            self._transport = None

    return SniffingProtocol


def _feed(protocol: asyncio.BufferedProtocol, data: bytes) -> None:
    """Hand bytes already read to a buffered protocol (asyncio's TLS protocol is one)."""
    view = memoryview(data)
    while view:
        buf = memoryview(protocol.get_buffer(len(view)))
        n = min(len(buf), len(view))
        buf[:n] = view[:n]
        protocol.buffer_updated(n)
        view = view[n:]
