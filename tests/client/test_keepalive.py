"""The keep-alive pool (`axle.client.keepalive`): reuse, reconnects, errors, limits, TLS.

A small HTTP/1.1 server on asyncio streams stands in for the hub where a test needs to
misbehave on purpose (close an idle connection, close one without answering, stall, send a
chunked body); the real hub (over TLS) checks the whole client path end to end.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from axle.client import Client, ConnectionFailed, Resource, TransportPool
from axle.client.keepalive import KeepAlivePool
from axle.errors import NotFound
from tests.client.hubthread import HubThread, api_only_hub

Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]


class Server:
    """Reads requests (headers and Content-Length body) and lets `handler` answer each one;
    the handler returns False to close the connection. Counts connections and requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.bodies: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                self.bodies.append(await reader.readexactly(length) if length else b"")
                self.requests.append(head)
                if not await self.handler(head, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def answer(status: int, body: object, *, close: bool = False) -> bytes:
    data = json.dumps(body).encode()
    reason = {200: b"OK", 404: b"Not Found"}.get(status, b"X")
    head = b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (
        status,
        reason,
        len(data),
    )
    if close:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + data


async def ok(head: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(answer(200, {"kind": "Thing", "path": head.split(b" ")[1].decode()}))
    await writer.drain()
    return True


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = await Server(ok).start()
    try:
        yield srv
    finally:
        await srv.close()


async def test_requests_reuse_one_connection(server: Server) -> None:
    pool = KeepAlivePool()
    async with Client(server.url, "tok", transport=pool) as c:
        for _ in range(3):
            resp = await c.request("GET", "/apis/x", params={"labelSelector": "a=b,c in (d)"})
            assert resp.json()["kind"] == "Thing"
        await c.request(
            "PATCH", "/x/status", body={"a": 1}, content_type="application/merge-patch+json"
        )
        assert (pool.connects, server.connections, pool.idle) == (1, 1, 1)
    first = server.requests[0].decode()
    assert first.startswith("GET /apis/x?labelSelector=a%3Db%2Cc%20in%20%28d%29 HTTP/1.1")
    assert "\r\nauthorization: Bearer tok\r\n" in first
    patch = server.requests[-1].decode().lower()
    assert "content-type: application/merge-patch+json" in patch
    assert server.bodies[-1] == b'{"a": 1}'
    await pool.aclose()
    assert pool.idle == 0


async def test_concurrent_requests_open_connections_and_keep_some(server: Server) -> None:
    pool = KeepAlivePool(max_idle=2)
    async with Client(server.url, transport=pool) as c:
        await asyncio.gather(*(c.request("GET", f"/n/{i}") for i in range(5)))
    assert pool.connects == server.connections
    assert pool.idle <= 2
    await pool.aclose()


async def test_a_connection_the_server_closed_while_idle_is_replaced(server: Server) -> None:
    pool = KeepAlivePool()
    async with Client(server.url, transport=pool) as c:
        await c.request("GET", "/one")
        # The server's keep-alive timeout: it closes the idle connection.
        server.writers[0].close()
        await server.writers[0].wait_closed()
        assert (await c.request("GET", "/two")).json()["path"] == "/two"
    assert pool.connects == 2
    await pool.aclose()


async def test_a_reused_connection_closed_without_an_answer_is_retried_once() -> None:
    answered: set[asyncio.StreamWriter] = set()

    async def once_per_connection(head: bytes, writer: asyncio.StreamWriter) -> bool:
        if writer in answered:
            return False  # reads the request, then closes without a word (a keep-alive race)
        answered.add(writer)
        return await ok(head, writer)

    srv = await Server(once_per_connection).start()
    pool = KeepAlivePool()
    try:
        async with Client(srv.url, transport=pool) as c:
            await c.request("GET", "/one")
            # Sent on the reused connection, which closes unanswered; sent again on a new one.
            assert (await c.request("GET", "/two")).json()["path"] == "/two"
        assert pool.connects == 2
        assert [r.split(b" ")[1] for r in srv.requests] == [b"/one", b"/two", b"/two"]
    finally:
        await pool.aclose()
        await srv.close()


async def test_a_new_connection_closed_without_an_answer_is_connection_failed() -> None:
    async def silent(head: bytes, writer: asyncio.StreamWriter) -> bool:
        return False

    srv = await Server(silent).start()
    pool = KeepAlivePool()
    try:
        async with Client(srv.url, transport=pool) as c:
            with pytest.raises(ConnectionFailed, match=r"cannot reach.*disconnected"):
                await c.request("GET", "/x")
        assert len(srv.requests) == 1  # not retried: the server may have acted on it
    finally:
        await pool.aclose()
        await srv.close()


async def test_an_answer_cut_short_is_an_error_not_a_retry() -> None:
    async def half(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"a"')
        await writer.drain()
        return False

    srv = await Server(half).start()
    pool = KeepAlivePool()
    try:
        async with Client(srv.url, transport=pool) as c:
            with pytest.raises(ConnectionFailed, match="cannot reach"):
                await c.request("GET", "/x")
        assert len(srv.requests) == 1
    finally:
        await pool.aclose()
        await srv.close()


async def test_errors_map_as_httpx_ones_do() -> None:
    async def missing(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            answer(404, {"kind": "Status", "reason": "NotFound", "message": 'things "x" not found'})
        )
        return True

    srv = await Server(missing).start()
    pool = KeepAlivePool()
    try:
        async with Client(srv.url, transport=pool) as c:
            with pytest.raises(NotFound, match='things "x" not found'):
                await c.request("GET", "/x")
        # A refused connection is ConnectionFailed, as through httpx.
        port = srv.url.rsplit(":", 1)[1]
        await srv.close()
        async with Client(f"http://127.0.0.1:{port}", transport=pool) as c:
            with pytest.raises(ConnectionFailed, match="cannot reach the axle hub"):
                await c.request("GET", "/x")
    finally:
        await pool.aclose()


async def test_a_slow_answer_times_out_and_the_connection_is_dropped() -> None:
    release = asyncio.Event()

    async def stall(head: bytes, writer: asyncio.StreamWriter) -> bool:
        await release.wait()
        return await ok(head, writer)

    srv = await Server(stall).start()
    pool = KeepAlivePool()
    try:
        async with Client(srv.url, transport=pool, timeout=0.2) as c:
            with pytest.raises(ConnectionFailed, match="timed out"):
                await c.request("GET", "/x")
        assert pool.idle == 0  # its answer may still come: never reused
    finally:
        release.set()
        await pool.aclose()
        await srv.close()


async def test_a_cancelled_request_does_not_return_its_connection() -> None:
    started = asyncio.Event()

    async def stall(head: bytes, writer: asyncio.StreamWriter) -> bool:
        started.set()
        await asyncio.sleep(30)
        return False

    srv = await Server(stall).start()
    pool = KeepAlivePool()
    try:
        async with Client(srv.url, transport=pool) as c:
            task = asyncio.create_task(c.request("GET", "/x"))
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert pool.idle == 0
    finally:
        await pool.aclose()
        await srv.close()


async def test_chunked_answers_and_connection_close() -> None:
    async def chunked(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b'5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n'
        )
        await writer.drain()
        return False

    srv = await Server(chunked).start()
    pool = KeepAlivePool()
    try:
        async with Client(srv.url, transport=pool) as c:
            assert (await c.request("GET", "/x")).json() == {"a": 1}
            assert pool.idle == 0  # the server said it closes: not kept
            assert (await c.request("GET", "/x")).json() == {"a": 1}
        assert pool.connects == 2
    finally:
        await pool.aclose()
        await srv.close()


async def test_idle_connections_expire(server: Server) -> None:
    now = [0.0]
    pool = KeepAlivePool(keepalive_expiry=10.0, clock=lambda: now[0])
    async with Client(server.url, transport=pool) as c:
        await c.request("GET", "/a")
        now[0] = 9.0
        await c.request("GET", "/b")
        assert pool.connects == 1
        now[0] = 19.5
        await c.request("GET", "/c")
        assert pool.connects == 2
    await pool.aclose()


async def test_through_httpx_as_a_transport(server: Server) -> None:
    pool = KeepAlivePool()
    async with httpx.AsyncClient(transport=pool, base_url=server.url) as http:
        resp = await http.post("/p", json={"x": 1})
        assert resp.status_code == 200 and resp.json()["path"] == "/p"
        resp = await http.get("/q", params={"a": "1"})
        assert resp.json()["path"] == "/q?a=1"
    assert pool.connects == 1
    assert json.loads(server.bodies[0]) == {"x": 1}
    await pool.aclose()
    with pytest.raises(httpx.ConnectError, match="closed"):
        await pool.handle_async_request(httpx.Request("GET", server.url))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    yield from api_only_hub(tmp_path_factory)


async def test_the_hub_over_tls_through_a_lent_transport(hub: HubThread) -> None:
    https = hub.url.replace("http://", "https://")
    ca = str(Path(hub.settings.data_dir) / "ca.crt")
    pool = TransportPool()
    transport = pool.lend(ca)
    lean = transport.requests
    assert isinstance(lean, KeepAlivePool)
    try:
        async with Client(https, hub.token, transport=transport, ca_file=ca) as c:
            names = {n["metadata"]["name"] for n in (await c.list("namespaces"))["items"]}
            assert "default" in names
            # Discovery's requests ran at once (a connection each); later ones reuse them.
            opened = lean.connects
            with pytest.raises(NotFound):
                await c.get("namespaces", "no-such-namespace")
            assert (await c.get("namespaces", "default"))["metadata"]["name"] == "default"
            assert lean.connects == opened
        assert lean.idle >= 1  # a lent transport outlives its client
    finally:
        await pool.aclose()


async def test_a_streamed_answer_comes_in_lines_across_chunks() -> None:
    async def stream(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b'{"a":', b'1}\n{"b"', b":2}\r\n\n", b'{"c":3}'):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        return True

    srv = await Server(stream).start()
    pool = KeepAlivePool()
    origin = (b"http", b"127.0.0.1", int(srv.url.rsplit(":", 1)[1]))
    host = [(b"host", srv.url.removeprefix("http://").encode())]
    try:
        async with pool.stream(origin, b"GET", b"/w?watch=1", host) as answer:
            assert answer.status_code == 200
            lines = [line async for line in answer.lines()]
        assert lines == [b'{"a":1}', b'{"b":2}', b"", b'{"c":3}']
        assert pool.idle == 1  # read to its end: the connection serves the next request
        async with pool.stream(origin, b"GET", b"/w", host) as answer:
            async for _ in answer.lines():
                break  # left before its end: the connection closes
        assert pool.idle == 0 and pool.connects == 1
    finally:
        await pool.aclose()
        await srv.close()


async def test_a_watch_through_the_pool_reads_events_and_errors() -> None:
    event = {"type": "ADDED", "object": {"metadata": {"name": "x", "resourceVersion": "5"}}}

    async def watch(head: bytes, writer: asyncio.StreamWriter) -> bool:
        if b"resourceVersion=gone" in head:
            writer.write(answer(404, {"kind": "Status", "reason": "NotFound", "message": "nope"}))
            return True
        body = json.dumps(event).encode() + b"\n"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        return True

    srv = await Server(watch).start()
    pool = TransportPool()
    tenants = Resource("axle.dev", "v1alpha1", "Tenant", "tenants", "tenant", False)
    try:
        async with Client(srv.url, "tok", transport=pool.lend()) as c:
            events = c.watch(tenants, resource_version="1", label_selector="a=b")
            got = await anext(events)
            await events.aclose()
            assert got["object"]["metadata"]["name"] == "x"
            assert got["object"]["kind"] == "Tenant"
            first = server_line(srv.requests[0])
            assert first.startswith("GET /apis/axle.dev/v1alpha1/tenants?watch=1")
            assert "labelSelector=a%3Db" in first and "resourceVersion=1" in first
            with pytest.raises(NotFound, match="nope"):
                await anext(c.watch(tenants, resource_version="gone"))
    finally:
        await pool.aclose()
        await srv.close()


def server_line(head: bytes) -> str:
    return head.split(b"\r\n", 1)[0].decode()


def test_a_hub_behind_a_proxy_stays_with_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    pool = TransportPool()
    assert Client("http://hub:8080", transport=pool.lend())._lean is not None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:3128")
    assert Client("http://hub:8080", transport=pool.lend())._lean is None
    monkeypatch.setenv("NO_PROXY", "hub")
    assert Client("http://hub:8080", transport=pool.lend())._lean is not None
