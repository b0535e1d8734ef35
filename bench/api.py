"""API benchmark: creates, gets, lists and watch fan-out against a running hub.

Prints throughput and latency percentiles, and for each the same client against a trivial
route of the same server (`/version`) as the floor, so the ratio shows what the hub itself
costs over the HTTP stack and this client. Nothing here asserts: figures go to
docs/benchmarks.md by hand.

    python bench/api.py                      # starts its own `axle up` on a free port
    python bench/api.py --server URL --token T

Targets on a 2-core machine (issue 2): >= 500 creates/s; GET p99 <= 20 ms at 64 concurrent
clients; an event reaches 1,000 watchers within 100 ms p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlparse

import httpx

from serve import HUB_URL, start_axle

CM = "/api/v1/namespaces/default/configmaps"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def fmt_ms(v: float) -> str:
    return f"{v * 1000:7.2f} ms"


async def run_load(
    concurrency: int, total: int, op: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run `total` calls of `op` on `concurrency` workers; returns (ops/s, latencies)."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            t0 = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - start), latencies


def report(name: str, rate: float, lat: list[float], floor: tuple[float, list[float]]) -> None:
    f_rate, f_lat = floor
    print(
        f"{name:<28} {rate:8.0f}/s  p50 {fmt_ms(pct(lat, 50))}  p99 {fmt_ms(pct(lat, 99))}"
        f"   | floor {f_rate:6.0f}/s p99 {fmt_ms(pct(f_lat, 99))}"
        f"   | hub/floor throughput {rate / f_rate:5.2f}, p99 x{pct(lat, 99) / pct(f_lat, 99):5.2f}"
    )


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client over asyncio streams.

    httpx spends more CPU per request than the hub does, so on a 2-core machine it would
    measure itself. This sends a request and reads one Content-Length response, nothing more.
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
    ) -> None:
        self.reader, self.writer, self.head = reader, writer, head

    @classmethod
    async def open(cls, url: str, token: str) -> RawConnection:
        u = urlparse(url)
        reader, writer = await asyncio.open_connection(u.hostname, u.port, limit=1 << 22)
        head = f"Host: {u.netloc}\r\nAuthorization: Bearer {token}\r\n".encode()
        return cls(reader, writer, head)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        extra = b""
        if body:
            extra = b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        self.writer.write(
            f"{method} {path} HTTP/1.1\r\n".encode() + self.head + extra + b"\r\n" + body
        )
        status_line = await self.reader.readline()
        code = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return code, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def bench_http(url: str, token: str, concurrency: int, n: int, run_id: str) -> None:
    conns = [await RawConnection.open(url, token) for _ in range(concurrency)]
    pool: asyncio.Queue[RawConnection] = asyncio.Queue()
    for c in conns:
        pool.put_nowait(c)

    async def call(method: str, path: str, body: bytes = b"", ok: int = 200) -> None:
        conn = await pool.get()
        try:
            code, payload = await conn.request(method, path, body)
        finally:
            pool.put_nowait(conn)
        if code != ok:
            raise RuntimeError(f"{method} {path}: {code} {payload[:300]!r}")

    async def floor_op(_: int) -> None:
        await call("GET", "/version")

    async def create(i: int) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"b-{run_id}-{i}",
                "namespace": "default",
                "labels": {"bench": run_id},
            },
            "data": {"k": "v" * 64},
        }
        await call("POST", CM, json.dumps(body).encode(), ok=201)

    async def get(i: int) -> None:
        await call("GET", f"{CM}/b-{run_id}-{i % n}")

    async def lst(_: int) -> None:
        await call("GET", f"{CM}?labelSelector=bench%3D{run_id}&limit=100")

    await run_load(concurrency, 500, floor_op)  # warm up
    floor = await run_load(concurrency, n, floor_op)
    print(f"\n{concurrency} concurrent clients (keep-alive connections), {n} requests each op")
    rate, lat = await run_load(concurrency, n, create)
    report("create ConfigMap", rate, lat, floor)
    rate, lat = await run_load(concurrency, n, get)
    report("get ConfigMap", rate, lat, floor)
    rate, lat = await run_load(concurrency, max(50, n // 10), lst)
    report("list 100 (label selector)", rate, lat, floor)
    for c in conns:
        c.close()


async def open_watch(
    url: str, token: str, rv: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    u = urlparse(url)
    reader, writer = await asyncio.open_connection(u.hostname, u.port, limit=1 << 20)
    path = f"{CM}?watch=1&resourceVersion={rv}&labelSelector=fanout%3D1"
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n".encode()
    )
    await writer.drain()
    # Skip the response head.
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    return reader, writer


async def bench_watch(url: str, token: str, watchers: int, events: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        rv = (await http.get(CM, params={"limit": "1"})).json()["metadata"]["resourceVersion"]
        conns = []
        for i in range(0, watchers, 100):
            conns += await asyncio.gather(
                *(open_watch(url, token, rv) for _ in range(min(100, watchers - i)))
            )
        sent: dict[str, float] = {}
        latencies: list[float] = []
        remaining = watchers * events
        # Set when every watcher has seen the event in flight: the next one is sent only then.
        all_seen = asyncio.Event()
        target = watchers

        async def reader_task(reader: asyncio.StreamReader) -> None:
            nonlocal remaining
            pattern = re.compile(rb'"name":"(fan-\d+)"')
            while remaining > 0:
                line = await reader.readline()
                if not line:
                    return
                m = pattern.search(line)
                if m and m.group(1).decode() in sent:
                    latencies.append(time.perf_counter() - sent[m.group(1).decode()])
                    remaining -= 1
                    if len(latencies) >= target:
                        all_seen.set()

        tasks = [asyncio.create_task(reader_task(r)) for r, _ in conns]
        await asyncio.sleep(0.5)  # let every watch reach the server's live stream
        for i in range(events):
            name = f"fan-{i}"
            all_seen.clear()
            target = (i + 1) * watchers
            sent[name] = time.perf_counter()
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "default", "labels": {"fanout": "1"}},
            }
            r = await http.post(CM, json=body)
            r.raise_for_status()
            # Wait for this event to reach everyone before sending the next one.
            try:
                await asyncio.wait_for(all_seen.wait(), timeout=10)
            except TimeoutError:
                print(f"event {name}: only {len(latencies) - i * watchers} deliveries in 10 s")
        got = len(latencies)
        for t in tasks:
            t.cancel()
        for _, w in conns:
            w.close()
        print(
            f"\nwatch fan-out: {watchers} watchers x {events} events, {got} deliveries "
            f"({got / (watchers * events):.1%})\n"
            f"{'event -> every watcher':<28} p50 {fmt_ms(pct(latencies, 50))}  "
            f"p99 {fmt_ms(pct(latencies, 99))}  max {fmt_ms(max(latencies or [0]))}"
        )
        if latencies:
            print(f"{'':<28} mean {fmt_ms(statistics.fmean(latencies))}")


def start_hub() -> tuple[subprocess.Popen[str], str, str]:
    data = Path(tempfile.mkdtemp(prefix="axle-bench-"))
    args = ["up", "--data-dir", str(data), "--port", "0"]
    proc, seen = start_axle(args, until=HUB_URL, timeout=30)
    return proc, seen[HUB_URL], (data / "admin-token").read_text().strip()


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--server")
    ap.add_argument("--token")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--watchers", type=int, default=1000)
    ap.add_argument("--events", type=int, default=20)
    args = ap.parse_args()
    proc = None
    if args.server:
        url, token = args.server, args.token or os.environ.get("AXLE_TOKEN", "")
    else:
        proc, url, token = start_hub()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            for _ in range(100):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            version = (
                await http.get("/version", headers={"Authorization": f"Bearer {token}"})
            ).json()
        print(
            f"axle API benchmark against {url} ({json.dumps(version.get('gitVersion'))}), "
            f"{os.cpu_count()} CPUs, load from one Python process (raw HTTP/1.1)"
        )
        run_id = str(int(time.time()))
        await bench_http(url, token, args.concurrency, args.requests, run_id)
        await bench_watch(url, token, args.watchers, args.events)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)


if __name__ == "__main__":
    asyncio.run(main())
