"""A lean HTTP/1.1 keep-alive connection pool on asyncio, speaking through `h11`.

httpx's own transport (httpcore) walks every connection of its pool on each request and asks
each idle one whether the server closed it: a `getpeername` and a `select` per connection, per
request. A spoke-agent host sends a status patch per Work and a heartbeat per agent every
20 s, through pools shared by hundreds of agents, and that walk (with httpcore's per-request
bookkeeping) was a sixth of the host's CPU. `KeepAlivePool` is an `httpx.AsyncBaseTransport`
for such short requests, so `Client` and everything above it (TLS contexts, auth headers,
timeouts, the mapping of failures to `ConnectionFailed`) stay as they are:

- idle connections wait in a last-in-first-out stack per origin; a request takes the top one
  and looks only at it. A connection is an `asyncio.Protocol`, so the event loop tells it the
  moment the server closes it (`eof_received` / `connection_lost`): knowing whether an idle
  connection is still good costs an attribute read, not a system call;
- HTTP/1.1 framing (request line, headers, Content-Length or chunked bodies, keep-alive or
  close) is `h11`'s, the sans-I/O library httpcore itself uses;
- the server may close an idle connection just as a request is written to it (its keep-alive
  timeout racing our reuse). A reused connection that ends before any byte of an answer is
  therefore dropped and the request sent once more on a new one, as browsers and Go's
  `net/http` do; an answer cut short after it began is an error, never a retry;
- as an httpx transport it reads answers whole; `stream()` reads one as it comes (a watch,
  by lines) and gives its connection back only if the answer was read to its end;
- failures are httpx's exceptions (`ConnectError`, `ConnectTimeout`, `ReadTimeout`,
  `ReadError`, `RemoteProtocolError`), so callers handle them as before. The `timeout`
  extension httpx attaches to each request bounds connecting (`connect`) and the wait for
  the answer (`read`); `None` waits for ever. (`Client` also calls `send` and `stream`
  directly, skipping httpx's client: see `Client._lean_request`.)

A pool belongs to the event loop that used it (its connections are that loop's transports).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import h11
import httpx

Origin = tuple[bytes, bytes, int]
_T = TypeVar("_T")
DEFAULT_PORTS = {b"http": 80, b"https": 443}


@dataclass(frozen=True)
class Answer:
    """A whole response: status, reason, headers (names lower-case), body."""

    status_code: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    content: bytes

    def response(self) -> httpx.Response:
        """As an httpx.Response (decoded per Content-Encoding, as httpx would)."""
        return httpx.Response(
            self.status_code,
            headers=self.headers,
            content=self.content,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": self.reason},
        )


class _Closed(Exception):
    """The connection ended before any byte of the answer (a reused one may be retried)."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: bytes from the loop go into h11, waiters are woken."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.h11 = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self.ended = False  # the server closed it, or the transport was lost
        self.lost: Exception | None = None
        self._received = False  # bytes arrived since the last request began
        self._waiter: asyncio.Future[None] | None = None

    # ---- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._received = True
        self.h11.receive_data(data)
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self.h11.receive_data(b"")
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended:
            self.ended = True
            # h11 takes a second end of data as a protocol error: tell it once.
            self.h11.receive_data(b"")
        self.lost = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # ---- requests ----------------------------------------------------------------------

    @property
    def reusable(self) -> bool:
        """Idle, open, and nothing unasked-for arrived while it waited."""
        return (
            not self.ended
            and not self._received
            and self.h11.our_state is h11.IDLE
            and self.h11.their_state is h11.IDLE
        )

    def send_request(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        """Write one whole request (bodies here are small JSON: written at once)."""
        assert self.transport is not None
        self._received = False
        conn = self.h11
        data = conn.send(h11.Request(method=method, target=target, headers=headers))
        if body:
            data += conn.send(h11.Data(data=body))
        data += conn.send(h11.EndOfMessage())
        if self.ended or self.transport.is_closing():
            raise _Closed
        self.transport.write(data)

    async def next_event(self) -> h11.Response | h11.Data | h11.EndOfMessage:
        """The answer's next part, waiting for bytes as needed. Raises `_Closed` when the
        connection ended before any byte of the answer came, h11's errors on bad framing."""
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError:
                if self.ended and not self._received:
                    raise _Closed from None  # closed before answering (h11: an early close)
                raise
            if event is h11.NEED_DATA:
                if self.ended:
                    if not self._received:
                        raise _Closed
                    raise h11.RemoteProtocolError("Server disconnected mid-answer.")
                self._waiter = self.loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
                continue
            if isinstance(event, h11.Response | h11.Data | h11.EndOfMessage):
                return event
            if isinstance(event, h11.ConnectionClosed):
                if not self._received:
                    raise _Closed
                raise h11.RemoteProtocolError("Server disconnected mid-answer.")
            # InformationalResponse (100 Continue) and the like: read on.

    async def exchange(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> tuple[h11.Response, bytes]:
        """Send one request and read its whole answer (errors as `next_event`'s, OSError)."""
        self.send_request(method, target, headers, body)
        response = await self.next_event()
        assert isinstance(response, h11.Response)
        chunks: list[bytes] = []
        while True:
            event = await self.next_event()
            if isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return response, b"".join(chunks)

    def recycle(self) -> bool:
        """Ready the connection for its next request; False when it cannot take one."""
        if self.ended or self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
            return False
        try:
            self.h11.start_next_cycle()
        except h11.LocalProtocolError:
            return False
        self._received = False
        return True

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.ended = True


def _as_httpx(exc: BaseException, request: httpx.Request | None) -> httpx.TransportError:
    """httpx's exception for a failure while waiting for or reading an answer."""
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout("timed out waiting for the answer", request=request)
    if isinstance(exc, h11.ProtocolError | _Closed):
        return httpx.RemoteProtocolError(
            str(exc) or "Server disconnected mid-answer.", request=request
        )
    return httpx.ReadError(str(exc) or type(exc).__name__, request=request)


class StreamedAnswer:
    """An answer read as it comes: its status and headers, then its body by chunks or lines."""

    def __init__(
        self, conn: _Connection, head: h11.Response, request: httpx.Request | None
    ) -> None:
        self._conn = conn
        self._request = request
        self.status_code = head.status_code
        self.reason = head.reason
        self.headers = list(head.headers)
        self.complete = False  # read to its end: the connection may serve another request

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.complete:
            try:
                event = await self._conn.next_event()
            except (h11.ProtocolError, OSError, _Closed) as exc:
                self._conn.close()
                raise _as_httpx(exc, self._request) from exc
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.complete = True

    async def lines(self) -> AsyncIterator[bytes]:
        """The body's lines (split at LF, a CR before it dropped), the last one even
        without an LF."""
        rest = b""
        async for chunk in self.chunks():
            rest += chunk
            if b"\n" not in chunk:
                continue
            *whole, rest = rest.split(b"\n")
            for line in whole:
                yield line.removesuffix(b"\r")
        if rest:
            yield rest.removesuffix(b"\r")

    async def read(self) -> Answer:
        content = b"".join([chunk async for chunk in self.chunks()])
        return Answer(self.status_code, self.reason, self.headers, content)


class KeepAlivePool(httpx.AsyncBaseTransport):
    """An httpx transport keeping up to `max_idle` idle HTTP/1.1 connections per origin,
    each for at most `keepalive_expiry` seconds; see the module docstring."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        *,
        max_idle: int = 64,
        keepalive_expiry: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ssl_context = ssl_context
        self.max_idle = max_idle
        self.keepalive_expiry = keepalive_expiry
        self.clock = clock
        self._idle: dict[Origin, list[_Connection]] = {}
        self._closed = False
        self.connects = 0  # connections opened so far (tests and benchmarks read it)

    @property
    def idle(self) -> int:
        return sum(len(stack) for stack in self._idle.values())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        timeouts: dict[str, float | None] = request.extensions.get("timeout") or {}
        answer = await self.send(
            (url.raw_scheme, url.raw_host, url.port or DEFAULT_PORTS.get(url.raw_scheme, 80)),
            request.method.encode(),
            url.raw_path,
            list(request.headers.raw),
            await request.aread(),
            connect_timeout=timeouts.get("connect"),
            read_timeout=timeouts.get("read"),
            request=request,
        )
        return answer.response()

    async def send(
        self,
        origin: Origin,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        request: httpx.Request | None = None,
    ) -> Answer:
        """One request to `origin` (scheme, host, port); `headers` must include Host (and
        Content-Length for a body). The answer is read whole. `request` only labels errors."""

        async def exchange(conn: _Connection) -> tuple[h11.Response, bytes]:
            async with asyncio.timeout(read_timeout):
                return await conn.exchange(method, target, headers, body)

        conn, (response, content) = await self._on_connection(
            origin, connect_timeout, request, exchange
        )
        self._give_back(origin, conn)
        return Answer(response.status_code, response.reason, list(response.headers), content)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        origin: Origin,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        *,
        connect_timeout: float | None = None,
        request: httpx.Request | None = None,
    ) -> AsyncIterator[StreamedAnswer]:
        """A request whose answer is read as it comes (a watch): no read timeout. The
        connection goes back to the pool if the answer was read to its end, else it closes."""

        async def head(conn: _Connection) -> h11.Response:
            conn.send_request(method, target, headers, b"")
            event = await conn.next_event()
            assert isinstance(event, h11.Response)
            return event

        conn, response = await self._on_connection(origin, connect_timeout, request, head)
        answer = StreamedAnswer(conn, response, request)
        try:
            yield answer
        finally:
            if answer.complete:
                self._give_back(origin, conn)
            else:
                conn.close()

    async def _on_connection(
        self,
        origin: Origin,
        connect_timeout: float | None,
        request: httpx.Request | None,
        action: Callable[[_Connection], Awaitable[_T]],
    ) -> tuple[_Connection, _T]:
        """`action` on a pooled connection (or a new one); once more on a new connection when
        a reused one turns out closed before any byte of the answer. Failures as httpx's."""
        if self._closed:
            raise httpx.ConnectError("the connection pool is closed", request=request)
        conn = self._take(origin)
        while True:
            fresh = conn is None
            if conn is None:
                conn = await self._connect(origin, connect_timeout, request)
            try:
                return conn, await action(conn)
            except _Closed:
                conn.close()
                if fresh:
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response.", request=request
                    ) from None
                conn = None  # the server had closed a reused connection: once more, anew
            except (TimeoutError, h11.ProtocolError, OSError) as exc:
                conn.close()
                raise _as_httpx(exc, request) from exc
            except BaseException:
                conn.close()  # cancelled mid-exchange: the connection's state is unknown
                raise

    def _take(self, origin: Origin) -> _Connection | None:
        """The most recently used idle connection to `origin` that is still good."""
        stack = self._idle.get(origin)
        if not stack:
            return None
        oldest_ok = self.clock() - self.keepalive_expiry
        while stack:
            conn = stack.pop()
            if conn.reusable and conn.idle_since >= oldest_ok:
                return conn
            conn.close()
        return None

    def _give_back(self, origin: Origin, conn: _Connection) -> None:
        if self._closed or not conn.recycle():
            conn.close()
            return
        stack = self._idle.setdefault(origin, [])
        if len(stack) >= self.max_idle:
            # The stack's bottom has waited longest: it goes, the fresh one stays on top.
            stack.pop(0).close()
        conn.idle_since = self.clock()
        stack.append(conn)

    async def _connect(
        self, origin: Origin, connect_timeout: float | None, request: httpx.Request | None
    ) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        conn = _Connection(loop)
        tls: Any = None
        if scheme == b"https":
            tls = self.ssl_context or ssl.create_default_context()
        hostname = host.decode("ascii")
        try:
            async with asyncio.timeout(connect_timeout):
                await loop.create_connection(
                    lambda: conn,
                    hostname,
                    port,
                    ssl=tls,
                    server_hostname=hostname if tls is not None else None,
                )
        except TimeoutError:
            conn.close()
            raise httpx.ConnectTimeout(
                f"timed out connecting to {hostname}:{port}", request=request
            ) from None
        except OSError as exc:  # refused, unreachable, name not known, TLS (SSLError)
            conn.close()
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        self.connects += 1
        return conn

    async def aclose(self) -> None:
        """Close every idle connection; those in use close when their request ends."""
        self._closed = True
        stacks, self._idle = self._idle, {}
        for stack in stacks.values():
            for conn in stack:
                conn.close()
