"""Micro-benchmark of the SQLite store on its own (no HTTP): what the hub's floor is.

Prints creates/s (one client and many concurrent clients), get+update (compare-and-swap)
pairs/s, get latency p50/p99 under
concurrency, list throughput, lists by label selector among many objects of one kind (the
hub's controllers list e.g. one workload's ControllerRevisions among every workload's), and
how long one event takes to reach 1,000 in-process watchers of one kind (p50/p99 over all
event x watcher deliveries). No assertions: the figures go into docs/benchmarks.md.

    .venv/bin/python bench/store.py [--creates 3000] [--labelled 10000] [--watchers 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from axle.api.registry import KindInfo
from axle.store.sqlite import SqliteStore

KIND = KindInfo(
    group="axle.dev",
    version="v1alpha1",
    kind="BenchWidget",
    plural="benchwidgets",
    singular="benchwidget",
    namespaced=True,
)


# A second kind for the label-selector lists, so that they run against exactly `--labelled`
# objects whatever the other phases created.
LABELLED = KindInfo(
    group="axle.dev",
    version="v1alpha1",
    kind="BenchRevision",
    plural="benchrevisions",
    singular="benchrevision",
    namespaced=True,
)


def revision(i: int) -> dict[str, object]:
    """Shaped like a ControllerRevision of one AIWorkload: labelled with its owner's name."""
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "BenchRevision",
        "metadata": {
            "name": f"rev-{i:06}",
            "namespace": "bench",
            "labels": {"axle.dev/aiworkload": f"wl-{i:06}", "tier": ("gpu", "cpu")[i % 2]},
        },
        "data": {"spec": {"replicas": 3, "image": "registry.example/app:1.0", "index": i}},
        "revision": 1,
    }


def obj(name: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "BenchWidget",
        "metadata": {"name": name, "namespace": "bench", "labels": {"app": "bench"}},
        "spec": {"replicas": 3, "image": "registry.example/app:1.0", **spec},
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_creates(
    store: SqliteStore, n: int, concurrency: int, prefix: str
) -> tuple[float, float]:
    """Creates/s and CPU ms per create (all threads: wall time is noisy on a shared machine)."""
    queue = iter(range(n))

    async def client() -> None:
        for i in queue:
            await store.create(KIND, obj(f"{prefix}-{i:06}"))

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e3


async def bench_updates(
    store: SqliteStore, names: list[str], concurrency: int
) -> tuple[float, float]:
    """Compare-and-swap updates (read, change spec, write with its resourceVersion): pairs/s
    and CPU ms per pair."""
    it = iter(names)

    async def client() -> None:
        for name in it:
            current = await store.get(KIND, "bench", name)
            current["spec"]["replicas"] = 5
            await store.update(KIND, current)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    n = len(names)
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e3


async def bench_gets(store: SqliteStore, names: list[str], n: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    it = iter(range(n))

    async def client() -> None:
        for i in it:
            t0 = time.perf_counter()
            await store.get(KIND, "bench", names[i % len(names)])
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


async def bench_label_lists(store: SqliteStore, n: int, concurrency: int, rounds: int) -> None:
    """List latency by label selector among `n` objects of one kind in one namespace."""
    it = iter(range(n))

    async def client() -> None:
        for i in it:
            await store.create(LABELLED, revision(i))

    await asyncio.gather(*(client() for _ in range(concurrency)))
    cases: list[tuple[str, Callable[[int], str]]] = [
        ("k=v, 1 match", lambda i: f"axle.dev/aiworkload=wl-{i:06}"),
        ("k in (a,b), 2 matches", lambda i: f"axle.dev/aiworkload in (wl-{i:06},wl-{i + 1:06})"),
        ("k=v,k2=v2, 1 match", lambda i: f"tier=gpu,axle.dev/aiworkload=wl-{i - i % 2:06}"),
        ("k=v,k2!=v2, 1 match", lambda i: f"axle.dev/aiworkload=wl-{i:06},tier!=x"),
        ("k!=v (scan), n-1 match", lambda i: f"axle.dev/aiworkload!=wl-{i:06}"),
    ]
    for label, selector in cases:
        took: list[float] = []
        cpu0 = time.process_time()
        for r in range(rounds):
            i = (r * 7919) % (n - 1)
            t0 = time.perf_counter()
            await store.list(LABELLED, "bench", label_selector=selector(i))
            took.append(time.perf_counter() - t0)
        # CPU per list (all threads) as well: wall times are noisy on a shared machine.
        cpu = (time.process_time() - cpu0) / rounds
        print(
            f"list by label among {n} ({label}): "
            f"p50 {statistics.median(took) * 1e3:7.2f} ms  cpu {cpu * 1e3:7.2f} ms"
        )
    # A continue page (an older snapshot, merged with the change log) by label.
    first = await store.list(LABELLED, "bench", label_selector="tier=gpu", limit=100)
    for i in range(0, 200, 2):
        current = await store.get(LABELLED, "bench", f"rev-{i:06}")
        current["revision"] = 2
        await store.update(LABELLED, current)
    t0 = time.perf_counter()
    await store.list(
        LABELLED, "bench", label_selector="tier=gpu", limit=100, continue_token=first.continue_token
    )
    took_page = time.perf_counter() - t0
    print(f"list by label, continue page of 100 at an older revision: {took_page * 1e3:7.2f} ms")
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = await store.list(LABELLED, "bench")
    took_all, cpu_all = time.perf_counter() - t0, time.process_time() - cpu0
    print(
        f"list of all {len(result.items)} (no selector):        {took_all * 1e3:8.1f} ms  "
        f"cpu {cpu_all * 1e3:7.1f} ms"
    )


async def bench_fanout(store: SqliteStore, watchers: int, events: int) -> list[float]:
    rev = await store.current_revision()
    latencies: list[float] = []
    done = asyncio.Event()
    remaining = [watchers * events]

    async def watcher() -> None:
        w = store.watch(KIND, "bench", resource_version=str(rev))
        got = 0
        async for ev in w:
            latencies.append(time.perf_counter() - ev.object["spec"]["sentAt"])
            got += 1
            remaining[0] -= 1
            if remaining[0] == 0:
                done.set()
            if got == events:
                break
        await w.close()

    tasks = [asyncio.create_task(watcher()) for _ in range(watchers)]
    await asyncio.sleep(0.2)  # let every watcher finish its (empty) replay and go live
    for i in range(events):
        await store.create(KIND, obj(f"fan-{i:04}", sentAt=time.perf_counter()))
        await asyncio.sleep(0.02)
    await asyncio.wait_for(done.wait(), 60)
    await asyncio.gather(*tasks)
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creates", type=int, default=3000)
    parser.add_argument("--gets", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--labelled", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        await store.start()
        try:
            seq = await bench_creates(store, args.creates, 1, "seq")
            conc = await bench_creates(store, args.creates, args.concurrency, "conc")
            print(f"creates/s, 1 client:            {seq[0]:8.0f}  cpu {seq[1]:.3f} ms each")
            print(
                f"creates/s, {args.concurrency} clients:          {conc[0]:8.0f}  "
                f"cpu {conc[1]:.3f} ms each"
            )
            names = [f"seq-{i:06}" for i in range(args.creates)]
            upd = await bench_updates(store, names, args.concurrency)
            print(
                f"get+update/s, {args.concurrency} clients:       {upd[0]:8.0f}  "
                f"cpu {upd[1]:.3f} ms each"
            )
            lat = await bench_gets(store, names, args.gets, args.concurrency)
            print(
                f"get latency, {args.concurrency} clients:       "
                f"p50 {pct(lat, 0.5) * 1e3:6.2f} ms  p99 {pct(lat, 0.99) * 1e3:6.2f} ms  "
                f"({len(lat) / sum(lat) * args.concurrency:.0f}/s)"
            )
            t0 = time.perf_counter()
            result = await store.list(KIND, "bench")
            took = time.perf_counter() - t0
            print(f"list of {len(result.items)} objects:         {took * 1e3:8.1f} ms")
            await bench_label_lists(store, args.labelled, args.concurrency, args.rounds)
            fan = await bench_fanout(store, args.watchers, args.events)
            print(
                f"watch fan-out to {args.watchers} watchers:  "
                f"p50 {statistics.median(fan) * 1e3:6.2f} ms  p99 {pct(fan, 0.99) * 1e3:6.2f} ms  "
                f"max {max(fan) * 1e3:6.2f} ms ({len(fan)} deliveries)"
            )
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
