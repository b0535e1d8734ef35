"""Inventory benchmark: one full Compute sync of a large simulated fleet through the real client.

Generates a fleet (default 5,000 hosts) with the simulator's generator, starts `axle sim
palette` on it as a separate process, and then does in this process what one Compute sync
does: the Palette client lists the tagged hosts page by page over HTTP, `group_hosts` groups
them, and the resulting status is validated by the Compute kind's admission as the hub would
store it. Prints the wall time and memory of each step and the requests the simulator
counted. Nothing here asserts.

    python bench/inventory.py [--hosts 5000] [--runs 3]

Target (issue 3, on this 2-core machine): one full sync <= 5 s and <= 300 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import resource
import signal
import subprocess
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import yaml

import axle.api.kinds  # noqa: F401  (registers Compute)
from axle.api.admission import admit
from axle.api.registry import REGISTRY
from axle.controllers.inventory import group_hosts
from axle.providers.palette import provider_from_secret_data
from axle.sim.palette.fleet import generate
from serve import SIM_URL, start_axle

TAGS = {"palette.ai": "true"}


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_sim(inventory: Path) -> tuple[subprocess.Popen[str], str]:
    args = ["sim", "palette", "--inventory", str(inventory), "--port", "0"]
    proc, seen = start_axle(args, until=SIM_URL, timeout=60)
    return proc, seen[SIM_URL]


async def one_sync(sim_url: str, *, trace_memory: bool) -> dict[str, Any]:
    """One sync; with `trace_memory` the Python heap peak is measured (tracemalloc slows the
    run, so timings are taken from runs without it)."""
    secret = {
        "palette": base64.b64encode(
            json.dumps(
                {
                    "apiKey": "sim-api-key",
                    "hostUrl": sim_url,
                    "tenant": "bench",
                    "defaultProjectID": "acme-default",
                }
            ).encode()
        ).decode()
    }
    async with httpx.AsyncClient() as admin:
        await admin.delete(f"{sim_url}/admin/requests")
    gc.collect()
    if trace_memory:
        tracemalloc.start()
    rss0 = rss_mib()
    t0 = time.perf_counter()
    client = provider_from_secret_data(secret)
    try:
        hosts = await client.list_hosts(TAGS)
    finally:
        await client.close()
    t1 = time.perf_counter()
    inventory = group_hosts(hosts, resource_group_prefix="axle.dev/resource-group")
    t2 = time.perf_counter()
    compute = {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Compute",
        "metadata": {"name": "fleet", "namespace": "bench"},
        "spec": {"tagSelector": TAGS},
        "status": inventory.status_fields(),
    }
    # As the controller's status write: the status subresource of the stored object.
    info = REGISTRY.by_group_kind("axle.dev", "Compute")
    stored = admit(info, compute, {**compute, "status": {}}, subresource="status")
    body = json.dumps(stored)
    t3 = time.perf_counter()
    peak = 0
    if trace_memory:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    async with httpx.AsyncClient() as admin:
        counts = (await admin.get(f"{sim_url}/admin/requests")).json()
    return {
        "hosts": len(hosts),
        "groups": len(inventory.control_plane) + len(inventory.workers),
        "list_s": t1 - t0,
        "group_s": t2 - t1,
        "status_s": t3 - t2,
        "total_s": t3 - t0,
        "peak_mib": peak / 2**20,
        "rss_growth_mib": rss_mib() - rss0,
        "status_kib": len(body) / 1024,
        "requests": counts.get("total"),
    }


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--hosts", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="axle-bench-inventory-"))
    inventory = work / "fleet.yaml"
    inventory.write_text(yaml.safe_dump(generate(args.hosts, seed=1), sort_keys=False))
    proc, url = start_sim(inventory)
    try:
        print(
            f"inventory sync benchmark: {args.hosts} simulated hosts at {url}, "
            f"{os.cpu_count()} CPUs"
        )
        print(
            f"{'run':<5}{'hosts':>7}{'groups':>8}{'requests':>10}{'list':>9}{'group':>9}"
            f"{'status':>9}{'total':>9}{'peak heap':>11}{'RSS +':>9}{'status':>10}"
        )
        for run in range(1, args.runs + 2):
            # The last run measures the heap; the others the time.
            r = await one_sync(url, trace_memory=run == args.runs + 1)
            label = "mem" if run == args.runs + 1 else str(run)
            peak = f"{r['peak_mib']:.0f} MiB" if r["peak_mib"] else "-"
            print(
                f"{label:<5}{r['hosts']:>7}{r['groups']:>8}{r['requests']:>10}"
                f"{r['list_s']:>8.2f}s{r['group_s']:>8.2f}s{r['status_s']:>8.2f}s"
                f"{r['total_s']:>8.2f}s{peak:>11}{r['rss_growth_mib']:>6.0f} MiB"
                f"{r['status_kib']:>7.0f} KiB"
            )
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(
            f"process peak RSS {usage.ru_maxrss / 1024:.0f} MiB (includes Python and axle "
            "imports); target: one sync <= 5 s and <= 300 MiB"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


if __name__ == "__main__":
    asyncio.run(main())
