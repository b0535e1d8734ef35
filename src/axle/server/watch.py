"""Watch streams: chunked JSON lines of `{"type", "object"}`, as the Kubernetes API server sends.

Each stream has a small pump task that moves store events into a queue, so that the response
generator can also wake up for bookmarks, for `timeoutSeconds` and for server shutdown without
cancelling the store iterator mid-step. Events are encoded once and shared: the encoding of a
(revision, object, format) is cached, so an event fanned out to a thousand watchers is
serialized once rather than a thousand times. A resourceVersion older than the change log ends
the stream with an ERROR event carrying a 410 `Status`, which is what client-go's reflectors
expect before they relist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any

import orjson

from axle.errors import ApiError, InternalError
from axle.store.base import StoreEvent, Watch

log = logging.getLogger(__name__)

# What the API server picks when a client gives no timeoutSeconds: between 30 and 60 minutes,
# randomized so that reconnects of many clients spread out.
DEFAULT_MIN_TIMEOUT = 1800.0

_END = object()


class EncodedEvents:
    """A bounded cache of encoded watch events shared by all streams."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._cache: OrderedDict[Hashable, bytes] = OrderedDict()

    def get(self, key: Hashable, encode: Callable[[], bytes]) -> bytes:
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        data = encode()
        self._cache[key] = data
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return data


def event_line(event_type: str, obj: Any) -> bytes:
    """One watch event as the newline-terminated JSON the API server writes."""
    return orjson.dumps({"type": event_type, "object": obj}) + b"\n"


def error_line(err: ApiError) -> bytes:
    return event_line("ERROR", err.to_status())


class _Stream:
    """The wake-up state of one open stream: events pending, and whether to stop."""

    __slots__ = ("pending", "stopped", "wake")

    def __init__(self) -> None:
        self.pending: deque[Any] = deque()
        self.wake = asyncio.Event()
        self.stopped = False

    def push(self, item: Any) -> None:
        self.pending.append(item)
        self.wake.set()

    def stop(self) -> None:
        self.stopped = True
        self.wake.set()


class WatchStreams:
    """The open watch streams of one app, so that shutdown can end them all."""

    def __init__(self, bookmark_seconds: float = 60.0) -> None:
        self.bookmark_seconds = bookmark_seconds
        self.encoded = EncodedEvents()
        self._open: set[_Stream] = set()
        self.closed = False

    def __len__(self) -> int:
        return len(self._open)

    def close_all(self) -> None:
        """End every open stream (cleanly: each sends its last chunk and returns)."""
        self.closed = True
        for stream in list(self._open):
            stream.stop()

    async def stream(
        self,
        watch: Watch,
        *,
        encode: Callable[[StoreEvent], bytes],
        bookmark: Callable[[str], bytes] | None,
        timeout_seconds: float | None,
        start_rv: str | None,
    ) -> AsyncIterator[bytes]:
        """The body of one watch response."""
        state = _Stream()
        if self.closed:
            state.stop()
        self._open.add(state)
        pump = asyncio.create_task(_pump(watch, state))
        loop = asyncio.get_running_loop()
        if timeout_seconds is None:
            timeout_seconds = DEFAULT_MIN_TIMEOUT * (1 + random.random())
        deadline = loop.time() + timeout_seconds
        last_rv = start_rv if start_rv not in (None, "", "0") else None
        next_bookmark = loop.time() + self.bookmark_seconds
        try:
            while not state.stopped:
                if state.pending:
                    item = state.pending.popleft()
                    if item is _END:
                        return
                    if isinstance(item, ApiError):
                        yield error_line(item)
                        return
                    if isinstance(item, BaseException):
                        log.error("watch failed", exc_info=item)
                        yield error_line(InternalError(f"watch failed: {item}"))
                        return
                    event: StoreEvent = item
                    last_rv = str(event.resource_version)
                    if event.type == "BOOKMARK":
                        if bookmark is not None:
                            yield bookmark(last_rv)
                        continue
                    yield encode(event)
                    continue
                now = loop.time()
                if now >= deadline:
                    return
                wait_until = deadline
                if bookmark is not None:
                    if now >= next_bookmark:
                        next_bookmark = now + self.bookmark_seconds
                        if last_rv is not None:
                            yield bookmark(last_rv)
                        continue
                    wait_until = min(wait_until, next_bookmark)
                state.wake.clear()
                # Waiting on an Event under a timeout scope creates no task per wait, which
                # matters with a thousand idle watchers.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_until - now):
                        await state.wake.wait()
        finally:
            self._open.discard(state)
            pump.cancel()
            with contextlib.suppress(BaseException):
                await pump
            with contextlib.suppress(Exception):
                await watch.close()


async def _pump(watch: Watch, state: _Stream) -> None:
    try:
        async for event in watch:
            state.push(event)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # Gone, or a store failure: surfaced as an ERROR event
        state.push(exc)
        return
    state.push(_END)
