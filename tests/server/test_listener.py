"""The hub's plain-HTTP connections write each response in one system call: writes made in one
turn of the event loop reach the socket together, in order, and closing never loses them."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from axle.server.listener import CoalescingTransport, sniffing_protocol
from axle.utils.serving import SignalFreeServer, bind_socket
from tests.server.conftest import Hub, cm


class Recorder(asyncio.Transport):
    """A transport that records what it is asked to do."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.calls: list[str] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.calls.append("close")
        self.closing = True

    def abort(self) -> None:
        self.calls.append("abort")
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


async def _turn() -> None:
    await asyncio.sleep(0)


async def test_writes_in_one_turn_go_out_as_one() -> None:
    real = Recorder()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.writelines([b"{", b"}"])
    transport.write(b"")
    assert real.writes == []
    assert transport.get_write_buffer_size() == 21
    await _turn()
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    transport.write(b"next")
    await _turn()
    assert real.writes[-1] == b"next"
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1)


async def test_close_flushes_first_and_abort_drops() -> None:
    real = Recorder()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"last words")
    transport.close()
    assert real.writes == [b"last words"]
    assert real.calls == ["close"]
    await _turn()  # the scheduled flush finds nothing left
    assert real.writes == [b"last words"]

    real = Recorder()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"never sent")
    transport.abort()
    await _turn()
    assert real.writes == [] and real.calls == ["abort"]


async def test_responses_stay_whole_over_a_real_socket(hub: Hub) -> None:
    """Through uvicorn with the hub's protocol (hence this transport): objects, errors and
    keep-alive responses arrive whole."""
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        hub.app,
        http=sniffing_protocol(AutoHTTPProtocol, None),  # type: ignore[arg-type]
        log_level="warning",
        lifespan="off",
        ws="none",
    )
    server = SignalFreeServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not server.started:
        assert loop.time() < deadline
        await asyncio.sleep(0.01)
    try:
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {hub.admin_token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:
            ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
            assert (await client.post("/api/v1/namespaces", json=ns)).status_code == 201
            r = await client.post("/api/v1/namespaces/default/configmaps", json=cm("one", a="b"))
            assert r.status_code == 201, r.text
            assert r.json()["data"] == {"a": "b"}
            r = await client.get("/api/v1/namespaces/default/configmaps/missing")
            assert r.status_code == 404 and r.json()["kind"] == "Status"

        # Keep-alive requests back to back on one raw connection: each answer whole.
        raw = socket.create_connection(("127.0.0.1", port))
        raw.settimeout(10)
        try:
            stream = raw.makefile("rb")
            for path, last in (("/healthz", False), ("/version", True)):
                close = "Connection: close\r\n" if last else ""
                request = (
                    f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {hub.admin_token}\r\n{close}\r\n"
                )
                await loop.run_in_executor(None, raw.sendall, request.encode())
                status = await loop.run_in_executor(None, stream.readline)
                assert status.startswith(b"HTTP/1.1 200"), status
                length = 0
                while (line := await loop.run_in_executor(None, stream.readline)) != b"\r\n":
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await loop.run_in_executor(None, stream.read, length)
                assert body == b"ok" if path == "/healthz" else b'"gitVersion"' in body
        finally:
            raw.close()
    finally:
        hub.api.watches.close_all()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
