"""One port, two protocols: plain HTTP and TLS, told apart by each connection's first byte.

kubectl (client-go) sends bearer tokens only over TLS, so `kubectl --token` needs HTTPS, while
the axle CLI, the SDK, curl and the tests are simplest over plain HTTP. Rather than making
users juggle two ports, the hub serves both on the one port it binds: a connection whose
first byte is a TLS handshake record (0x16) is wrapped in asyncio's TLS protocol with the
hub's serving certificate (see `tls.py`); anything else goes straight to the HTTP protocol.
Plain HTTP requests start with an ASCII method name, so the two never collide.

The class plugs into uvicorn as its `http` protocol class: uvicorn constructs it with the
keyword arguments of its own protocols, and it builds the real uvicorn protocol the same way.

Plain HTTP connections hand uvicorn a `CoalescingTransport`: uvicorn writes a response's
status line and headers, then its body, as two writes, and with Nagle off (as on the hub's
socket) each is its own `send()` system call and TCP segment, which on loopback costs more
than the rest of a small response. Writes made in one turn of the event loop go out as one.
"""

from __future__ import annotations

import asyncio
import ssl
from asyncio import sslproto
from collections.abc import Callable, Iterable
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
                app.connection_made(CoalescingTransport(transport, self._loop))
                app.data_received(data)

        def eof_received(self) -> bool | None:
            return None  # closed before sending anything: let the transport close

        def connection_lost(self, exc: Exception | None) -> None:
            self._transport = None

    return SniffingProtocol


class CoalescingTransport(asyncio.Transport):
    """A transport whose writes made during one turn of the event loop reach the socket as one.

    The first write schedules a flush (`call_soon`); later writes in the same turn join it.
    The flush hands everything to the real transport in one `write`, which sends it at once
    or buffers it as asyncio does. Closing flushes first; aborting drops what is pending.
    Everything else is the real transport's (flow control reaches the protocol from it).
    """

    def __init__(self, transport: asyncio.BaseTransport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes | bytearray | memoryview] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        pending = sum(len(d) for d in self._pending)
        return pending + self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


def _feed(protocol: asyncio.BufferedProtocol, data: bytes) -> None:
    """Hand bytes already read to a buffered protocol (asyncio's TLS protocol is one)."""
    view = memoryview(data)
    while view:
        buf = memoryview(protocol.get_buffer(len(view)))
        n = min(len(buf), len(view))
        buf[:n] = view[:n]
        protocol.buffer_updated(n)
        view = view[n:]
