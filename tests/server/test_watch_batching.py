"""Watch streams write the events already waiting together: a burst arrives complete and in
order, in fewer chunks than events; the end of a watch and its errors still follow the events
taken before them. `ReadyItems`, which takes what is ready from an async iterator, alone too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from axle.errors import ApiError, Gone
from axle.server.watch import BATCH_EVENTS, ReadyItems, WatchStreams
from axle.store.base import StoreEvent
from tests.server.conftest import Hub, cm

_END = object()


class QueueWatch:
    """A store watch fed by the test: events, `_END` or an ApiError, in order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    def __aiter__(self) -> QueueWatch:
        return self

    async def __anext__(self) -> StoreEvent:
        item = await self.queue.get()
        if item is _END:
            raise StopAsyncIteration
        if isinstance(item, ApiError):
            raise item
        assert isinstance(item, StoreEvent)
        return item

    async def close(self) -> None:
        self.closed = True


def event(i: int) -> StoreEvent:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"}}
    return StoreEvent("ADDED", obj, i)


def encode(ev: StoreEvent) -> bytes:
    return json.dumps({"type": ev.type, "object": ev.object}).encode() + b"\n"


class Stream:
    """One WatchResponse driven through ASGI directly, its chunks recorded."""

    def __init__(self, watch: QueueWatch) -> None:
        self.streams = WatchStreams()
        self.response = self.streams.response(
            watch, encode=encode, bookmark=None, timeout_seconds=None, start_rv=None
        )
        self.chunks: list[bytes] = []
        self.ended = asyncio.Event()
        self.grew = asyncio.Event()
        self._disconnect = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self._disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body"):
                self.chunks.append(message["body"])
                self.grew.set()
            else:
                self.ended.set()

    def run(self) -> asyncio.Task[None]:
        scope = {"type": "http", "method": "GET", "path": "/"}
        return asyncio.create_task(self.response(scope, self.receive, self.send))

    async def wait_for_chunks(self, n: int) -> None:
        async def until() -> None:
            while len(self.chunks) < n:
                self.grew.clear()
                await self.grew.wait()

        await asyncio.wait_for(until(), 10)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for chunk in self.chunks for line in chunk.splitlines()]

    def disconnect(self) -> None:
        self._disconnect.set()


async def test_a_burst_already_queued_goes_out_in_one_chunk_in_order() -> None:
    watch = QueueWatch()
    for i in range(1, 21):
        watch.queue.put_nowait(event(i))
    stream = Stream(watch)
    task = stream.run()
    await stream.wait_for_chunks(1)
    watch.queue.put_nowait(event(21))  # arrives after the burst was written: its own chunk
    await stream.wait_for_chunks(2)
    stream.disconnect()
    await asyncio.wait_for(task, 10)
    assert len(stream.chunks) == 2
    names = [line["object"]["metadata"]["name"] for line in stream.lines()]
    assert names == [f"cm-{i}" for i in range(1, 22)]
    assert watch.closed


async def test_a_long_backlog_is_written_in_bounded_chunks() -> None:
    watch = QueueWatch()
    total = BATCH_EVENTS * 2 + 5
    for i in range(1, total + 1):
        watch.queue.put_nowait(event(i))
    stream = Stream(watch)
    task = stream.run()
    await stream.wait_for_chunks(3)
    stream.disconnect()
    await asyncio.wait_for(task, 10)
    assert [chunk.count(b"\n") for chunk in stream.chunks] == [BATCH_EVENTS, BATCH_EVENTS, 5]
    assert [line["object"]["metadata"]["name"] for line in stream.lines()] == [
        f"cm-{i}" for i in range(1, total + 1)
    ]


async def test_events_taken_before_an_error_go_out_before_it() -> None:
    watch = QueueWatch()
    for i in range(1, 4):
        watch.queue.put_nowait(event(i))
    watch.queue.put_nowait(Gone("too old resource version: 1 (3)"))
    stream = Stream(watch)
    task = stream.run()
    await asyncio.wait_for(stream.ended.wait(), 10)
    await asyncio.wait_for(task, 10)
    lines = stream.lines()
    assert [line["type"] for line in lines] == ["ADDED", "ADDED", "ADDED", "ERROR"]
    assert lines[-1]["object"]["kind"] == "Status"
    assert lines[-1]["object"]["code"] == 410


async def test_events_taken_before_the_watch_ends_go_out() -> None:
    watch = QueueWatch()
    for i in range(1, 4):
        watch.queue.put_nowait(event(i))
    watch.queue.put_nowait(_END)
    stream = Stream(watch)
    await asyncio.wait_for(stream.run(), 10)
    assert stream.ended.is_set()
    assert [line["object"]["metadata"]["name"] for line in stream.lines()] == [
        "cm-1",
        "cm-2",
        "cm-3",
    ]


async def test_a_store_burst_arrives_complete_and_in_order(hub: Hub) -> None:
    """Through the real app and store: many creates committed together reach a watch whole,
    in resourceVersion order, and in no more chunks than events."""
    chunks: list[bytes] = []
    disconnect = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            chunks.append(message["body"])

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/namespaces/default/configmaps",
        "query_string": b"watch=1&labelSelector=burst%3D1",
        "headers": [(b"authorization", f"Bearer {hub.admin_token}".encode())],
    }
    task = asyncio.create_task(hub.app(scope, receive, send))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while len(hub.api.watches) < 1:
        assert loop.time() < deadline, "watch did not open"
        await asyncio.sleep(0.01)
    n = 60
    info = hub.api.routes.resolve("", "v1", "configmaps").info
    objs = [cm(f"b{i}") for i in range(n)]
    for obj in objs:
        obj["metadata"]["labels"] = {"burst": "1"}
    await asyncio.gather(*(hub.store.create(info, obj) for obj in objs))

    def seen() -> int:
        return sum(c.count(b"\n") for c in chunks)

    while seen() < n:
        assert loop.time() < deadline, f"only {seen()} of {n} events"
        await asyncio.sleep(0.01)
    disconnect.set()
    await asyncio.wait_for(task, 10)
    events = [json.loads(line) for c in chunks for line in c.splitlines()]
    assert sorted(e["object"]["metadata"]["name"] for e in events) == sorted(
        f"b{i}" for i in range(n)
    )
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs)
    assert len(chunks) <= n


# --- ReadyItems ------------------------------------------------------------------------------


async def test_ready_items_takes_queued_items_without_waiting() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()

    async def items() -> AsyncIterator[int]:
        while True:
            yield await queue.get()

    ready = ReadyItems(items())
    for i in range(3):
        queue.put_nowait(i)
    assert [ready.ready() for _ in range(3)] == [(True, 0), (True, 1), (True, 2)]
    assert ready.ready() == (False, None)
    assert ready.ready() == (False, None)  # the suspended step is kept, not started again
    waiter = asyncio.create_task(ready.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    queue.put_nowait(3)
    assert await asyncio.wait_for(waiter, 10) == 3
    ready.close()


async def test_ready_items_wait_can_be_cancelled_and_close_ends_a_suspended_step() -> None:
    cleaned: list[str] = []

    class Iter:
        def __aiter__(self) -> Iter:
            return self

        async def __anext__(self) -> int:
            never: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            try:
                return await never
            finally:
                cleaned.append("step ended")

    ready = ReadyItems(Iter())
    assert ready.ready() == (False, None)
    waiter = asyncio.create_task(ready.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert cleaned == ["step ended"]

    ready = ReadyItems(Iter())
    assert ready.ready() == (False, None)
    ready.close()
    assert cleaned == ["step ended", "step ended"]


async def test_ready_items_raises_the_iterators_end_and_errors() -> None:
    async def two() -> AsyncIterator[int]:
        yield 1
        raise Gone("gone")

    ready = ReadyItems(two())
    assert ready.ready() == (True, 1)
    with pytest.raises(Gone):
        ready.ready()

    async def empty() -> AsyncIterator[int]:
        return
        yield  # an async generator

    ready = ReadyItems(empty())
    with pytest.raises(StopAsyncIteration):
        await ready.wait()
