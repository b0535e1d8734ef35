"""API benchmark: creates, gets, lists and watch fan-out against a running hub.

Prints throughput and latency percentiles, and for each the same client against a trivial
route of the same server (`/version`) as the floor, so the ratio shows what the hub itself
costs over the HTTP stack and this client. With the hub's process id (known when the benchmark
starts the hub, or `--hub-pid`), it also prints the hub's CPU time per request, read from /proc
around each operation: on a shared 2-core machine that is the steadier figure, and the one the
fleet's run time depends on. Besides the ConfigMap operations, the fleet's own requests are
timed: Work creates, the agents' `works/status` merge patches and Lease renewals, and a watch
that receives a burst of events (the fleet benchmark's AIWorkload watch). Nothing here asserts:
figures go to docs/benchmarks.md by hand.

    python bench/api.py                      # starts its own `axle up` on a free port
    python bench/api.py --server URL --token T [--hub-pid PID]

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

from procs import cpu_seconds, proc_tree
from serve import HUB_URL, start_axle

CM = "/api/v1/namespaces/default/configmaps"
MERGE = "application/merge-patch+json"
# A Work as the WorkloadDeployment controller writes it, and the status its agent reports.
WORK_SPEC = {
    "artifact": {
        "url": "file:///var/lib/axle/artifacts/bench/aiw-0000-fleet-web-0",
        "digest": "sha256:" + "2" * 64,
    },
    "workloadDeploymentRef": {"name": "aiw-0000-fleet-web-0", "namespace": "bench"},
    "revision": 1,
    "priorityGroups": [{"priority": 0, "components": ["web-0"]}],
    "outputs": {"definitionOutputs": {"web-0": {}}, "objectOutputs": {}},
}


def work_status(round_: int) -> dict[str, object]:
    """The agent's status report; `round_` changes the messages, as a re-apply would."""
    return {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Applied",
                "status": "True",
                "reason": "Applied",
                "message": f"2 objects of sha256:222222222222 applied ({round_})",
                "lastTransitionTime": "2026-11-27T14:52:03Z",
                "observedGeneration": 1,
            },
            {
                "type": "Available",
                "status": "True",
                "reason": "Available",
                "message": f"all 2 objects are healthy ({round_})",
                "lastTransitionTime": "2026-11-27T14:52:03Z",
                "observedGeneration": 1,
            },
        ],
        "appliedDigest": "sha256:" + "2" * 64,
        "resourceStatus": [
            {
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "namespace": "bench",
                "name": "web-0",
                "component": "web-0",
                "health": "Healthy",
                "ready": 1,
                "desired": 1,
            },
            {
                "version": "v1",
                "kind": "Service",
                "namespace": "bench",
                "name": "web-0",
                "component": "web-0",
                "health": "Healthy",
            },
        ],
        "outputs": {"def": {}, "obj": {}},
        "endpoints": [],
    }


class HubCPU:
    """CPU seconds of the hub's process tree, read from /proc (None: not known)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid

    def read(self) -> float | None:
        if self.pid is None:
            return None
        total = 0.0
        for p in proc_tree(self.pid):
            try:
                total += cpu_seconds(p)
            except OSError:
                continue  # a child that just ended
        return total


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


def report(
    name: str,
    rate: float,
    lat: list[float],
    floor: tuple[float, list[float]],
    cpu: float | None = None,
) -> None:
    f_rate, f_lat = floor
    per_request = f"  hub CPU {cpu * 1e6:6.0f} us/req" if cpu is not None else ""
    print(
        f"{name:<28} {rate:8.0f}/s  p50 {fmt_ms(pct(lat, 50))}  p99 {fmt_ms(pct(lat, 99))}"
        f"{per_request}   | floor {f_rate:6.0f}/s p99 {fmt_ms(pct(f_lat, 99))}"
        f"   | hub/floor throughput {rate / f_rate:5.2f}, p99 x{pct(lat, 99) / pct(f_lat, 99):5.2f}"
    )


async def measured(
    cpu: HubCPU, concurrency: int, total: int, op: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float], float | None]:
    """`run_load`, plus the hub's CPU seconds per call (None when the hub's pid is unknown)."""
    before = cpu.read()
    rate, lat = await run_load(concurrency, total, op)
    after = cpu.read()
    per_call = (after - before) / total if before is not None and after is not None else None
    return rate, lat, per_call


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

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        extra = b""
        if body:
            extra = b"Content-Type: %s\r\nContent-Length: %d\r\n" % (
                content_type.encode(),
                len(body),
            )
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


async def bench_http(
    url: str, token: str, concurrency: int, n: int, run_id: str, cpu: HubCPU
) -> None:
    conns = [await RawConnection.open(url, token) for _ in range(concurrency)]
    pool: asyncio.Queue[RawConnection] = asyncio.Queue()
    for c in conns:
        pool.put_nowait(c)

    async def call(
        method: str,
        path: str,
        body: bytes = b"",
        ok: int = 200,
        content_type: str = "application/json",
    ) -> None:
        conn = await pool.get()
        try:
            code, payload = await conn.request(method, path, body, content_type)
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

    # The fleet's requests: Works in a spoke namespace, their agent's status patches, and the
    # agent's Lease renewals (merge patches of renewTime).
    spoke_ns = f"spoke-bench-{run_id}"
    works = f"/apis/axle.dev/v1alpha1/namespaces/{spoke_ns}/works"
    leases = f"/apis/coordination.k8s.io/v1/namespaces/{spoke_ns}/leases"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": spoke_ns}}
    await call("POST", "/api/v1/namespaces", json.dumps(namespace).encode(), ok=201)

    async def create_work(i: int) -> None:
        body = {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Work",
            "metadata": {
                "name": f"bench.w-{i}",
                "namespace": spoke_ns,
                "labels": {"axle.dev/workloaddeployment": f"w-{i}"},
                "finalizers": ["axle.dev/spoke-cleanup"],
            },
            "spec": WORK_SPEC,
        }
        await call("POST", works, json.dumps(body).encode(), ok=201)

    def patch_status(round_: int) -> Callable[[int], Awaitable[None]]:
        body = json.dumps({"status": work_status(round_)}).encode()

        async def op(i: int) -> None:
            await call("PATCH", f"{works}/bench.w-{i}/status", body, content_type=MERGE)

        return op

    async def create_lease(i: int) -> None:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": f"l-{i}", "namespace": spoke_ns},
            "spec": {
                "holderIdentity": f"vm/bench-{i}",
                "leaseDurationSeconds": 60,
                "acquireTime": "2026-11-27T14:51:42.630998Z",
                "renewTime": "2026-11-27T14:51:42.630998Z",
            },
        }
        await call("POST", leases, json.dumps(body).encode(), ok=201)

    async def renew_lease(i: int) -> None:
        spec = {"renewTime": f"2026-11-27T14:52:{i % 60:02d}.{i:06d}Z", "leaseDurationSeconds": 60}
        await call(
            "PATCH", f"{leases}/l-{i}", json.dumps({"spec": spec}).encode(), content_type=MERGE
        )

    await run_load(concurrency, 500, floor_op)  # warm up
    floor = await run_load(concurrency, n, floor_op)
    print(f"\n{concurrency} concurrent clients (keep-alive connections), {n} requests each op")
    ops: list[tuple[str, int, Callable[[int], Awaitable[None]]]] = [
        ("floor (/version)", n, floor_op),
        ("create ConfigMap", n, create),
        ("get ConfigMap", n, get),
        ("list 100 (label selector)", max(50, n // 10), lst),
        ("create Work", n, create_work),
        ("patch works/status (1st)", n, patch_status(1)),
        ("patch works/status (2nd)", n, patch_status(2)),
        ("create Lease", n, create_lease),
        ("patch Lease (renewal)", n, renew_lease),
    ]
    for name, total, op in ops:
        rate, lat, per_call = await measured(cpu, concurrency, total, op)
        report(name, rate, lat, floor, per_call)
    for c in conns:
        c.close()


async def open_watch(
    url: str, token: str, rv: str, selector: str = "fanout%3D1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    u = urlparse(url)
    reader, writer = await asyncio.open_connection(u.hostname, u.port, limit=1 << 20)
    path = f"{CM}?watch=1&resourceVersion={rv}&labelSelector={selector}"
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n".encode()
    )
    await writer.drain()
    # Skip the response head.
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    return reader, writer


async def bench_watch(url: str, token: str, watchers: int, events: int, cpu: HubCPU) -> None:
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
        before = cpu.read()
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
        after = cpu.read()
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
        if before is not None and after is not None and got:
            # One event per stream per write: the agents' pattern (each watches its namespace).
            print(f"{'hub CPU per delivery':<28} {(after - before) / got * 1e6:.0f} us")


async def read_chunks(reader: asyncio.StreamReader, want: int) -> tuple[int, int]:
    """Read a chunked watch stream until `want` events; returns (events, HTTP chunks)."""
    events = chunks = 0
    while events < want:
        size_line = await reader.readline()
        if not size_line:
            break
        size = int(size_line.split(b";")[0], 16)
        data = await reader.readexactly(size + 2)  # the chunk and its CRLF
        if size == 0:
            break
        chunks += 1
        events += data.count(b"\n") - 1
    return events, chunks


async def bench_watch_burst(
    url: str, token: str, watchers: int, n: int, concurrency: int, run_id: str, cpu: HubCPU
) -> None:
    """A burst of creates while `watchers` streams watch them (the fleet's AIWorkload watch).

    Prints the hub's CPU per create with the watches open and the HTTP chunks the streams
    took: one chunk per event means one socket write per event.
    """
    label = f"burst-{run_id}"
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        rv = (await http.get(CM, params={"limit": "1"})).json()["metadata"]["resourceVersion"]
    conns = [await open_watch(url, token, rv, f"burst%3D{label}") for _ in range(watchers)]
    readers = [asyncio.create_task(read_chunks(r, n)) for r, _ in conns]
    await asyncio.sleep(0.5)  # let every watch reach the server's live stream
    writers = [await RawConnection.open(url, token) for _ in range(concurrency)]
    pool: asyncio.Queue[RawConnection] = asyncio.Queue()
    for c in writers:
        pool.put_nowait(c)

    async def create(i: int) -> None:
        meta = {"name": f"{label}-{i}", "namespace": "default", "labels": {"burst": label}}
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v" * 64}}
        conn = await pool.get()
        try:
            code, payload = await conn.request("POST", CM, json.dumps(body).encode())
        finally:
            pool.put_nowait(conn)
        if code != 201:
            raise RuntimeError(f"create: {code} {payload[:300]!r}")

    before = cpu.read()
    start = time.perf_counter()
    await run_load(concurrency, n, create)
    results = await asyncio.wait_for(asyncio.gather(*readers), timeout=120)
    elapsed = time.perf_counter() - start
    after = cpu.read()
    for c in writers:
        c.close()
    for _, w in conns:
        w.close()
    events = sum(e for e, _ in results)
    chunks = sum(c for _, c in results)
    per_create = (
        f", hub CPU {(after - before) / n * 1e6:.0f} us per create"
        if before is not None and after is not None
        else ""
    )
    print(
        f"\nwatch burst: {n} creates ({concurrency} in flight) seen by {watchers} watchers in "
        f"{elapsed:.2f} s{per_create}; {events} events in {chunks} chunks "
        f"({events / max(chunks, 1):.1f} events per chunk)"
    )


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
    ap.add_argument("--burst-watchers", type=int, default=10, help="watchers of the burst")
    ap.add_argument("--hub-pid", type=int, help="the hub's pid, for CPU figures with --server")
    args = ap.parse_args()
    proc = None
    if args.server:
        url, token = args.server, args.token or os.environ.get("AXLE_TOKEN", "")
        cpu = HubCPU(args.hub_pid)
    else:
        proc, url, token = start_hub()
        cpu = HubCPU(proc.pid)
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
        await bench_http(url, token, args.concurrency, args.requests, run_id, cpu)
        await bench_watch_burst(
            url, token, args.burst_watchers, args.requests, args.concurrency, run_id, cpu
        )
        await bench_watch(url, token, args.watchers, args.events, cpu)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)


if __name__ == "__main__":
    asyncio.run(main())
