"""Watch streams: chunked JSON lines of `{"type", "object"}`, as the Kubernetes API server sends.

A stream is a raw ASGI response with one task that iterates the store's watch and writes its
events straight to the connection: one task wake-up per watcher per event, which is what lets a
thousand watchers on one process see an event within tens of milliseconds. When the task wakes
it also takes every event already waiting (a group commit of the store delivers many at once)
and writes them together as one chunk: a socket write costs far more than an event's encoding,
and a watch of a busy kind (every AIWorkload) gets bursts. Client disconnect,
`timeoutSeconds` and server shutdown cancel that task; bookmarks are written by a helper task
beside it. Events are encoded once and shared: the encoding of a (revision, object, format)
is cached, so an event fanned out to a thousand watchers is serialized once, not a thousand
times. A resourceVersion older than the change log ends the stream with an ERROR event
carrying a 410 `Status`, which is what client-go's reflectors expect before they relist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Generator, Hashable
from typing import Any, Generic, TypeVar

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from axle.errors import ApiError, InternalError
from axle.store.base import StoreEvent, Watch

log = logging.getLogger(__name__)

# What the API server picks when a client gives no timeoutSeconds: between 30 and 60 minutes,
# randomized so that reconnects of many clients spread out.
DEFAULT_MIN_TIMEOUT = 1800.0
# At most this much goes out in one write: a replay of thousands of events still goes out in
# pieces, so other streams get the loop in between.
BATCH_EVENTS = 256
BATCH_BYTES = 256 * 1024

T = TypeVar("T")


class ReadyItems(Generic[T]):
    """The items of an async iterator, taken one by one or as many as are ready.

    `ready()` runs the iterator's next step only as far as it goes without waiting: an item
    already queued comes back at once; otherwise the step is kept, suspended where it waits,
    and the next `wait()` finishes it under the caller's task (woken by whatever the step
    waits for, as if it had been awaited from the start). So a consumer can take a burst of
    queued items and act on them together, without a second task and without touching the
    iterator's internals. Call `close()` when done: it ends a step left suspended.
    """

    def __init__(self, iterator: AsyncIterator[T]) -> None:
        self._iterator = iterator
        self._step: Generator[Any, Any, T] | None = None
        self._yielded: Any = None

    def ready(self) -> tuple[bool, T | None]:
        """(True, item) when the next item is there without waiting, else (False, None).

        The iterator's end (StopAsyncIteration) and its errors are raised here as they would
        be from `__anext__`.
        """
        if self._step is not None:
            return False, None
        step = self._iterator.__anext__().__await__()
        try:
            yielded = step.send(None)
        except StopIteration as done:
            return True, done.value
        self._step, self._yielded = step, yielded
        return False, None

    async def wait(self) -> T:
        """The next item, waiting for it if need be."""
        step = self._step
        if step is None:
            return await self._iterator.__anext__()
        self._step = None
        return await _Resumed(step, self._yielded)

    def close(self) -> None:
        step, self._step = self._step, None
        if step is not None:
            step.close()


class _Resumed(Generic[T]):
    """An awaitable continuing a coroutine step that has already run to its first suspension.

    Awaiting it hands the step's pending future to the awaiting task, then relays what the
    task sends or throws (results, cancellation) into the step until it returns: what `await`
    does, begun earlier.
    """

    def __init__(self, step: Generator[Any, Any, T], yielded: Any) -> None:
        self._step = step
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, T]:
        step, value = self._step, self._yielded
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:
                try:
                    value = step.throw(exc)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
            else:
                try:
                    value = step.send(sent)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]


class EncodedEvents:
    """A bounded cache of encoded watch events shared by all streams.

    Bounded by entries and by bytes, so that a burst of large objects (a body may be megabytes)
    cannot pin much memory: an event only needs to stay here while its fan-out is under way.
    """

    def __init__(self, size: int = 4096, max_bytes: int = 32 * 1024 * 1024) -> None:
        self._size = size
        self._max_bytes = max_bytes
        self._bytes = 0
        self._cache: OrderedDict[Hashable, bytes] = OrderedDict()

    def get(self, key: Hashable, encode: Callable[[], bytes]) -> bytes:
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        data = encode()
        self._cache[key] = data
        self._bytes += len(data)
        while self._cache and (len(self._cache) > self._size or self._bytes > self._max_bytes):
            _, old = self._cache.popitem(last=False)
            self._bytes -= len(old)
        return data


def event_line(event_type: str, obj: Any) -> bytes:
    """One watch event as the newline-terminated JSON the API server writes."""
    return orjson.dumps({"type": event_type, "object": obj}) + b"\n"


def error_line(err: ApiError) -> bytes:
    return event_line("ERROR", err.to_status())


class WatchStreams:
    """The open watch streams of one app, so that shutdown can end them all."""

    def __init__(self, bookmark_seconds: float = 60.0) -> None:
        self.bookmark_seconds = bookmark_seconds
        self.encoded = EncodedEvents()
        # The writer task of each open stream; cancelling one ends its stream cleanly.
        self._open: set[asyncio.Task[None]] = set()
        self.closed = False

    def __len__(self) -> int:
        return len(self._open)

    def close_all(self) -> None:
        """End every open stream (cleanly: each sends its last chunk and returns)."""
        self.closed = True
        for task in list(self._open):
            task.cancel()

    def response(
        self,
        watch: Watch,
        *,
        encode: Callable[[StoreEvent], bytes],
        bookmark: Callable[[str], bytes] | None,
        timeout_seconds: float | None,
        start_rv: str | None,
        headers: dict[str, str] | None = None,
    ) -> WatchResponse:
        return WatchResponse(self, watch, encode, bookmark, timeout_seconds, start_rv, headers)


class WatchResponse(Response):
    """A watch stream as an ASGI response.

    One task iterates the store's watch and writes each event to the connection, so an event
    costs one task wake-up per watcher between the store and the socket. Around it, the
    connection's end (client disconnect), `timeoutSeconds`, server shutdown and bookmarks are
    handled by cancelling or interleaving with that task, never by polling it.
    """

    media_type = "application/json"

    def __init__(
        self,
        streams: WatchStreams,
        watch: Watch,
        encode: Callable[[StoreEvent], bytes],
        bookmark: Callable[[str], bytes] | None,
        timeout_seconds: float | None,
        start_rv: str | None,
        headers: dict[str, str] | None,
    ) -> None:
        self.status_code = 200
        self.background = None
        # Not Response.__init__: that would add `content-length: 0` for the empty body.
        self.raw_headers = [(b"content-type", b"application/json")] + [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
        ]
        self._streams = streams
        self._watch = watch
        self._encode = encode
        self._bookmark = bookmark
        if timeout_seconds is None:
            timeout_seconds = DEFAULT_MIN_TIMEOUT * (1 + random.random())
        self._timeout = timeout_seconds
        self._last_rv = start_rv if start_rv not in (None, "", "0") else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        sender = asyncio.current_task()
        assert sender is not None
        loop = asyncio.get_running_loop()
        streams = self._streams
        pump = asyncio.create_task(self._pump(send))
        streams._open.add(pump)
        if streams.closed:
            pump.cancel()
        helpers = [asyncio.create_task(self._disconnect(receive, pump))]
        if self._bookmark is not None:
            helpers.append(asyncio.create_task(self._bookmarks(send)))
        timer = loop.call_later(self._timeout, pump.cancel)
        disconnected = False
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        except OSError:  # the client went away mid-write
            disconnected = True
        finally:
            timer.cancel()
            streams._open.discard(pump)
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(BaseException):
                    await task
            if not pump.done():
                pump.cancel()
                with contextlib.suppress(BaseException):
                    await pump
            with contextlib.suppress(Exception):
                await self._watch.close()
        if not disconnected:
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _line(self, event: StoreEvent) -> bytes:
        self._last_rv = str(event.resource_version)
        if event.type == "BOOKMARK":
            return b"" if self._bookmark is None else self._bookmark(self._last_rv)
        return self._encode(event)

    async def _pump(self, send: Send) -> None:
        events: ReadyItems[StoreEvent] = ReadyItems(aiter(self._watch))
        lines: list[bytes] = []
        try:
            try:
                while True:
                    lines.append(self._line(await events.wait()))
                    size = len(lines[0])
                    # Everything already waiting goes out in the same write.
                    while len(lines) < BATCH_EVENTS and size < BATCH_BYTES:
                        ready, event = events.ready()
                        if not ready:
                            break
                        assert event is not None
                        lines.append(self._line(event))
                        size += len(lines[-1])
                    await _write(send, lines)
            except StopAsyncIteration:
                pass
            except ApiError as err:  # Gone above all: the client re-lists, as with Kubernetes
                lines.append(error_line(err))
            except (asyncio.CancelledError, OSError):
                raise
            except Exception as exc:
                log.error("watch failed", exc_info=exc)
                lines.append(error_line(InternalError(f"watch failed: {exc}")))
            # The events taken before the end (and the error that ended it) still go out.
            await _write(send, lines)
        finally:
            events.close()

    async def _disconnect(self, receive: Receive, pump: asyncio.Task[None]) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                pump.cancel()
                return

    async def _bookmarks(self, send: Send) -> None:
        assert self._bookmark is not None
        while True:
            await asyncio.sleep(self._streams.bookmark_seconds)
            if self._last_rv is not None:
                line = self._bookmark(self._last_rv)
                await send({"type": "http.response.body", "body": line, "more_body": True})


async def _write(send: Send, lines: list[bytes]) -> None:
    """Send the lines as one chunk of the stream, and empty the list."""
    body = b"".join(lines)
    lines.clear()
    if body:
        await send({"type": "http.response.body", "body": body, "more_body": True})
