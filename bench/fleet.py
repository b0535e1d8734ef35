"""Fleet benchmark: N simulated spokes, M AIWorkloads, from apply until every one is Running.

Starts `axle up --palette-sim` on a generated fleet with zero provisioning delay. Setup (timed
apart, not the result): a tenant and project with GPU limits far above what the run uses,
settings, a Compute, an Infrastructure bundle, and N shared ComputePools of one GPU host each
(a single-node cluster whose control plane runs workloads), so N spokes; then an Application
bundle whose WorkloadProfile has one small `webservice` component (one replica; with `--gpu`
also a `gpu` trait of one GPU) and a variable `index`, so every AIWorkload renders differently.

Measured: M AIWorkloads, spread evenly over the pools (`computePoolRef`), created concurrently
through the REST API, from the first create until every one has `status.phase == Running`
(seen through a watch on the AIWorkloads, so the hub serves one stream instead of a list of M
objects per poll). It prints the wall time, percentiles of each workload's time from its create
to Running, the CPU seconds and peak memory of the hub and each of its child processes (the
Palette simulator, the spoke agent host, render workers), and the API request rate from the
hub's audit log (one line per request) with the busiest (client, verb, resource) rows.

If not everything is Running by `--timeout` it prints how many workloads are in each phase,
the most common status messages and the phases of the WorkloadDeployments: that is output,
not a failure. Nothing asserts.

    python bench/fleet.py [--spokes 1000] [--workloads 10000] [--timeout 600]

Target (issue 6, this 2-core machine): 1,000 spokes and 10,000 AIWorkloads all Running within
120 s and under 2 GiB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from api import RawConnection
from axle.server.auth import ADMIN_USER
from axle.sim.palette.fleet import GPU_KINDS, generate
from procs import (
    cpu_seconds,
    describe,
    memory_mib,
    proc_tree,
    reaped_children_cpu,
    system_seconds,
)
from serve import HUB_URL, SIM_URL, start_axle

AXLE = "/apis/axle.dev/v1alpha1"
NS = "bench"
FAMILIES = [f"NVIDIA-{kind[0]}" for kind in GPU_KINDS]
PLURALS = {
    "Namespace": "namespaces",
    "Secret": "secrets",
    "Tenant": "tenants",
    "Project": "projects",
    "Settings": "settings",
    "ComputeConfig": "computeconfigs",
    "Compute": "computes",
    "ProfileBundle": "profilebundles",
    "WorkloadProfile": "workloadprofiles",
    "ComputePool": "computepools",
    "AIWorkload": "aiworkloads",
    "WorkloadDeployment": "workloaddeployments",
}


# --- processes ------------------------------------------------------------------------------


@dataclass
class ProcSample:
    name: str
    cpu0: float  # CPU seconds when first seen in the measured phase (0 if born in it)
    sys0: float = 0.0  # of which in the kernel
    cpu: float = 0.0
    sys: float = 0.0
    rss_max: float = 0.0
    hwm: float = 0.0
    alive: bool = True


@dataclass
class ProcWatch:
    """Samples the hub's process tree twice a second: CPU, RSS, and processes that come and go
    (render workers), whose CPU would otherwise be lost when they exit."""

    hub: int
    interval: float = 0.5
    procs: dict[int, ProcSample] = field(default_factory=dict)
    reaped0: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    total_rss_max: float = 0.0

    def start(self) -> None:
        self.reaped0 = reaped_children_cpu(self.hub)
        for pid in proc_tree(self.hub):
            try:
                self.procs[pid] = ProcSample(
                    describe(pid, self.hub), cpu_seconds(pid), system_seconds(pid)
                )
            except OSError:
                continue
        self.sample()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        seen = set()
        total = 0.0
        for pid in proc_tree(self.hub):
            try:
                cpu, sys_ = cpu_seconds(pid), system_seconds(pid)
                rss, hwm = memory_mib(pid)
                if pid not in self.procs:
                    self.procs[pid] = ProcSample(describe(pid, self.hub), 0.0)
            except OSError:
                continue
            s = self.procs[pid]
            s.cpu, s.sys, s.rss_max, s.hwm = cpu, sys_, max(s.rss_max, rss), hwm
            seen.add(pid)
            total += rss
        for pid, s in self.procs.items():
            s.alive = pid in seen
        self.total_rss_max = max(self.total_rss_max, total)

    def finish(self) -> None:
        self.stop.set()
        self.sample()

    def report(self, elapsed: float) -> list[str]:
        rows: dict[str, list[float]] = {}
        for s in self.procs.values():
            row = rows.setdefault(s.name, [0.0, 0.0, 0.0, 0.0, 0.0])
            row[0] += s.cpu - s.cpu0
            row[1] = max(row[1], s.rss_max)
            row[2] = max(row[2], s.hwm)
            row[3] += 1
            row[4] += s.sys - s.sys0
        reaped = reaped_children_cpu(self.hub) - self.reaped0
        lines = [
            f"  {'process':<26} {'CPU s':>7} {'cores':>6} {'peak RSS (phase)':>17} {'VmHWM':>8}"
            f" {'of CPU: kernel':>15}"
        ]
        total = 0.0
        for name, (cpu, rss, hwm, count, sys_) in sorted(rows.items(), key=lambda kv: -kv[1][0]):
            label = name if count == 1 else f"{name} x{int(count)}"
            total += cpu
            lines.append(
                f"  {label:<26} {cpu:7.1f} {cpu / elapsed:6.2f} {rss:13.0f} MiB {hwm:5.0f} MiB"
                f" {sys_:13.1f} s"
            )
        if reaped > 0.05:
            total += reaped
            lines.append(
                f"  {'exited children (reaped)':<26} {reaped:7.1f} {reaped / elapsed:6.2f}"
            )
        lines.append(
            f"  {'all':<26} {total:7.1f} {total / elapsed:6.2f} {self.total_rss_max:13.0f} MiB"
            "  (sum of RSS at one sample)"
        )
        return lines


# --- hub ------------------------------------------------------------------------------------


def start_hub(
    data: Path, inventory: Path, extra: list[str]
) -> tuple[subprocess.Popen[str], str, str]:
    """`axle up` with its Palette simulator on the fleet's inventory; its output is kept in
    DATA/hub-output.log."""
    args = ["up", "--data-dir", str(data), "--port", "0", "--palette-sim"]
    args += ["--inventory", str(inventory), "--palette-sim-port", "0"]
    args += ["--palette-sim-provisioning-seconds", "0", *extra]
    proc, seen = start_axle(args, until=HUB_URL, also=[SIM_URL], log=data / "hub-output.log")
    return proc, seen[HUB_URL], seen.get(SIM_URL, "")


def start_py_spy(exe: str, hub: int, out: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy recorders of the hub and the spoke agent host (folded stacks, 20 samples/s)."""
    spies = []
    for pid in proc_tree(hub):
        name = describe(pid, hub)
        if name in ("hub", "spoke agent host"):
            target = out / f"py-spy-{name.replace(' ', '-')}.txt"
            spies.append(
                subprocess.Popen(
                    [exe, "record", "-p", str(pid), "-r", "20", "-f", "raw", "-o", str(target)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    return spies


def path_of(obj: dict[str, Any], *, collection: bool = False) -> str:
    meta = obj["metadata"]
    group, _, version = obj["apiVersion"].rpartition("/")
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    ns = f"/namespaces/{meta['namespace']}" if meta.get("namespace") else ""
    out = f"{base}{ns}/{PLURALS[obj['kind']]}"
    return out if collection else f"{out}/{meta['name']}"


def apply(http: httpx.Client, obj: dict[str, Any]) -> None:
    r = http.patch(
        path_of(obj) + "?fieldManager=bench&force=true",
        content=yaml.safe_dump(obj),
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    if r.status_code not in (200, 201):
        raise SystemExit(f"{obj['kind']}/{obj['metadata']['name']}: {r.status_code} {r.text}")


async def create_all(
    url: str, token: str, objs: list[dict[str, Any]], concurrency: int
) -> tuple[dict[str, float], list[str]]:
    """POST every object with `concurrency` requests in flight; returns (name -> monotonic
    time the create was sent, errors)."""
    sent: dict[str, float] = {}
    errors: list[str] = []
    todo = iter(objs)

    # bench/api.py's bare keep-alive client: httpx would spend more CPU per create than the
    # hub does, on the same two cores, and at 10,000 creates that is most of a core-minute.
    async def worker() -> None:
        conn = await RawConnection.open(url, token)
        try:
            for obj in todo:
                name = obj["metadata"]["name"]
                sent[name] = time.monotonic()
                try:
                    code, body = await conn.request(
                        "POST", path_of(obj, collection=True), orjson.dumps(obj)
                    )
                except (OSError, asyncio.IncompleteReadError) as err:
                    errors.append(f"{name}: {err!r}")
                    conn.close()
                    conn = await RawConnection.open(url, token)
                    continue
                if code != 201:
                    errors.append(f"{name}: {code} {body[:300].decode(errors='replace')}")
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sent, errors


def list_all(http: httpx.Client, path: str, page: int = 500) -> tuple[list[dict[str, Any]], str]:
    """Every object of a collection, in pages; returns (items, resourceVersion of the list)."""
    items: list[dict[str, Any]] = []
    cont = ""
    rv = ""
    while True:
        params: dict[str, Any] = {"limit": page}
        if cont:
            params["continue"] = cont
        r = http.get(path, params=params)
        r.raise_for_status()
        body = r.json()
        items.extend(body.get("items") or [])
        rv = rv or (body.get("metadata") or {}).get("resourceVersion") or ""
        cont = (body.get("metadata") or {}).get("continue") or ""
        if not cont:
            return items, rv


def phase_of(obj: dict[str, Any]) -> str:
    return str((obj.get("status") or {}).get("phase") or "(none)")


def message_of(obj: dict[str, Any]) -> str:
    return str((obj.get("status") or {}).get("message") or "")


# --- the watch on AIWorkloads ---------------------------------------------------------------


@dataclass
class Tracker:
    """The phase of every AIWorkload, kept current by a watch; records when each first became
    Running (monotonic clock of this process)."""

    url: str
    token: str
    path: str
    phases: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    running_at: dict[str, float] = field(default_factory=dict)
    events: int = 0
    event_bytes: int = 0
    restarts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    changed: threading.Event = field(default_factory=threading.Event)

    def start(self, resource_version: str) -> None:
        threading.Thread(target=self._run, args=(resource_version,), daemon=True).start()

    def _observe(self, obj: dict[str, Any], deleted: bool = False) -> None:
        name = obj["metadata"]["name"]
        with self.lock:
            if deleted:
                self.phases.pop(name, None)
                return
            phase = phase_of(obj)
            self.phases[name] = phase
            self.messages[name] = message_of(obj)
            if phase == "Running" and name not in self.running_at:
                self.running_at[name] = time.monotonic()
        self.changed.set()

    def _run(self, rv: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=None) as http:
            while not self.stop.is_set():
                params = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true"}
                try:
                    with http.stream("GET", self.path, params=params) as r:
                        if r.status_code == 410:
                            rv = self._relist(http)
                            continue
                        r.raise_for_status()
                        for line in _lines(r.iter_raw()):
                            if self.stop.is_set():
                                return
                            if not line:
                                continue
                            self.events += 1
                            self.event_bytes += len(line)
                            event = orjson.loads(line)
                            obj = event.get("object") or {}
                            if event.get("type") == "ERROR":
                                if obj.get("code") == 410:
                                    rv = self._relist(http)
                                break
                            rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                            if event.get("type") in ("ADDED", "MODIFIED"):
                                self._observe(obj)
                            elif event.get("type") == "DELETED":
                                self._observe(obj, deleted=True)
                except httpx.HTTPError:
                    if self.stop.is_set():
                        return
                    time.sleep(0.2)
                self.restarts += 1

    def _relist(self, http: httpx.Client) -> str:
        items, rv = list_all(http, self.path)
        for obj in items:
            self._observe(obj)
        return rv

    def snapshot(self) -> tuple[Counter[str], int]:
        with self.lock:
            return Counter(self.phases.values()), len(self.running_at)


# --- objects --------------------------------------------------------------------------------


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Newline-separated watch events as bytes: httpx's `iter_lines` decodes and splits text in
    Python, which at 40,000 events cost this process more CPU than it left the hub."""
    rest = b""
    for chunk in chunks:
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def fleet_inventory(spokes: int) -> dict[str, Any]:
    """A generated fleet with at least `spokes` healthy, tagged GPU hosts, and only those.

    Each pool is one single-node cluster whose control plane also runs workloads, so each
    host is both control plane and worker (the `axle.dev/compute-role: both` tag Compute
    honours); CPU-only hosts are dropped so every spoke has GPUs for `--gpu` workloads.
    """
    n = math.ceil(spokes / 0.78) + 10
    while True:
        fleet = generate(n, seed=1)
        hosts = [
            h
            for h in fleet["hosts"]
            if h.get("gpus")
            and (h.get("tags") or {}).get("palette.ai") == "true"
            and h.get("health", "healthy") == "healthy"
            and h.get("state") != "unpaired"
        ]
        if len(hosts) >= spokes:
            break
        n = int(n * 1.1) + 10
    for h in hosts:
        h["tags"]["axle.dev/compute-role"] = "both"
    fleet["hosts"] = hosts
    return fleet


def setup_objects(sim: str) -> list[dict[str, Any]]:
    palette = json.dumps(
        {
            "apiKey": "sim-api-key",
            "hostUrl": sim,
            "tenant": "bench",
            "defaultProjectID": "acme-default",
        }
    )
    # Far above anything the run uses: quota must never be what the benchmark waits for.
    limits = {family: 1_000_000 for family in FAMILIES}
    return [
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "bench"},
            "spec": {"tenantRoleMapping": {"groups": ["bench-admins"]}, "gpuLimits": limits},
        },
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Project",
            "metadata": {"name": NS, "namespace": NS},
            "spec": {
                "tenantRef": {"name": "bench"},
                "settingsRef": {"name": "palette"},
                "computeConfigRef": {"name": "defaults"},
                "gpuLimits": limits,
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "palette", "namespace": NS},
            "stringData": {"palette": palette},
        },
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Settings",
            "metadata": {"name": "palette", "namespace": NS},
            "spec": {"palette": {"secretRef": {"name": "palette"}}},
        },
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "ComputeConfig",
            "metadata": {"name": "defaults", "namespace": NS},
            "spec": {
                "paletteClusterConfig": {
                    "defaults": {"controlPlanePool": {"nodeCount": 1, "workerNodeEligible": True}}
                }
            },
        },
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Compute",
            "metadata": {"name": "fleet", "namespace": NS},
            "spec": {"tagSelector": {"palette.ai": "true"}},
        },
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "ProfileBundle",
            "metadata": {"name": "infra", "namespace": NS},
            "spec": {
                "type": "Infrastructure",
                "clusterProfiles": [
                    {
                        "name": "edge-k8s",
                        "uid": "edge-k8s-1-32",
                        "version": "1.32.0",
                        "type": "Infrastructure",
                        "cloudType": "edge-native",
                    }
                ],
            },
        },
    ]


def app_objects(gpu: bool, copies: int) -> list[dict[str, Any]]:
    """`copies` WorkloadProfiles and Application bundles, `fleet-web-K` / `fleet-app-K`.

    The hub renders a component's objects under the component's name in the project's
    namespace, so two workloads of one bundle on one spoke would both write Deployment
    `bench/web` (the agent hands it from one Work to the other) and the spoke would run one
    Deployment for both. Workload i goes to pool i % N and uses copy i // N, whose component
    is `web-K`: every workload on a spoke has objects of its own, as ten different apps would.
    """
    traits = [{"type": "gpu", "properties": {"count": 1}}] if gpu else []
    out: list[dict[str, Any]] = []
    for k in range(copies):
        out.append(
            {
                "apiVersion": "axle.dev/v1alpha1",
                "kind": "WorkloadProfile",
                "metadata": {"name": f"fleet-web-{k}", "namespace": NS},
                "spec": {
                    "type": "Application",
                    "description": "One small web service per workload (bench/fleet.py).",
                    "workload": {
                        "components": [
                            {
                                "name": f"web-{k}",
                                "type": "webservice",
                                "properties": {
                                    "image": "nginx:1.27",
                                    "port": 80,
                                    "replicas": 1,
                                    "env": {"INDEX": "{{ .var.index }}"},
                                },
                                **({"traits": traits} if traits else {}),
                            }
                        ]
                    },
                },
            }
        )
        out.append(
            {
                "apiVersion": "axle.dev/v1alpha1",
                "kind": "ProfileBundle",
                "metadata": {"name": f"fleet-app-{k}", "namespace": NS},
                "spec": {
                    "type": "Application",
                    "version": "1.0.0",
                    "workloadProfiles": [{"name": f"fleet-web-{k}"}],
                    "variableSet": {
                        "variables": [
                            {"name": "index", "variableType": "string", "value": {"string": "0"}}
                        ]
                    },
                },
            }
        )
    return out


def pool_name(i: int, width: int) -> str:
    return f"fleet-{i:0{width}d}"


def pool(i: int, width: int) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "ComputePool",
        "metadata": {"name": pool_name(i, width), "namespace": NS},
        "spec": {
            "profileBundleRef": {"name": "infra", "namespace": NS},
            "clusterVariant": {
                "shared": {
                    "clusterCount": 1,
                    "paletteClusterDeploymentConfig": {
                        "nodePoolRequirements": {
                            "controlPlanePool": {
                                "nodeCount": 1,
                                "workerNodeEligible": True,
                                "architecture": "AMD64",
                            },
                        },
                        "deletionPolicy": "delete",
                    },
                }
            },
        },
    }


def aiworkload(i: int, width: int, pools: int, pool_width: int) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "AIWorkload",
        "metadata": {"name": f"aiw-{i:0{width}d}", "namespace": NS},
        "spec": {
            "profileBundleRef": {"name": f"fleet-app-{i // pools}", "namespace": NS},
            "computePoolRef": {"name": pool_name(i % pools, pool_width)},
            "variables": {"index": str(i)},
        },
    }


def deployment(i: int, width: int, pools: int, pool_width: int) -> dict[str, Any]:
    """The WorkloadDeployment the AIWorkload controller would write for workload i (for
    `--deployments-only`: delivery timed without the AIWorkload controller in front)."""
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "WorkloadDeployment",
        "metadata": {
            "name": f"wd-{i:0{width}d}",
            "namespace": NS,
            # As the AIWorkload controller writes it: with its cleanup finalizer from the start.
            "finalizers": ["axle.dev/workloaddeployment-cleanup"],
        },
        "spec": {
            "workloadProfileRef": {"name": f"fleet-web-{i // pools}", "revision": 1},
            "environmentRef": {"name": pool_name(i % pools, pool_width)},
            "profileBundleRef": {"name": f"fleet-app-{i // pools}", "namespace": NS},
            "variables": {"index": str(i)},
            "bundleVariables": [
                {"name": "index", "variableType": "string", "value": {"string": "0"}}
            ],
            "revision": 1,
        },
    }


# --- waiting and reporting ------------------------------------------------------------------


def wait_for(what: str, check: Callable[[], bool], timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    print(f"  gave up waiting for {what} after {timeout:.0f} s")
    return False


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


def audit_lines(path: Path, start: int) -> Iterator[dict[str, Any]]:
    with path.open("rb") as f:
        f.seek(start)
        for raw in f:
            if raw.strip():
                try:
                    yield orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue


def client_of(user: str | None, admin: str) -> str:
    if user is None:
        return "(unauthenticated)"
    if user == admin:
        return "bench"
    if user.startswith("system:spoke:"):
        return "spoke agents"
    return user


def audit_report(path: Path, start: int, elapsed: float, admin: str) -> list[str]:
    rows: Counter[tuple[str, str, str]] = Counter()
    codes: Counter[int] = Counter()
    total = 0
    for line in audit_lines(path, start):
        total += 1
        resource = str(line.get("resource") or "")
        if line.get("subresource"):
            resource += f"/{line['subresource']}"
        rows[(client_of(line.get("user"), admin), str(line.get("verb")), resource)] += 1
        codes[int(line.get("code") or 0)] += 1
    out = [
        f"  API requests (audit log): {total:,} in {elapsed:.1f} s = {total / elapsed:,.0f}/s;"
        f" status codes {dict(sorted(codes.items()))}"
    ]
    for (client, verb, resource), n in rows.most_common(12):
        out.append(f"    {n:>9,} {n / elapsed:8.1f}/s  {client:<14} {verb:<7} {resource}")
    return out


def top_messages(tracker: Tracker, n: int) -> list[tuple[str, int]]:
    """The most common (phase, message) of the objects not Running, names generalised."""
    with tracker.lock:
        messages = Counter(
            f"[{tracker.phases.get(k)}] {re.sub(r'aiw-[0-9]+|fleet-[0-9]+', '<name>', m)}"
            for k, m in tracker.messages.items()
            if tracker.phases.get(k) != "Running"
        )
    return messages.most_common(n)


def pending_report(http: httpx.Client, aiws: Tracker, wds: Tracker) -> list[str]:
    out: list[str] = []
    pairs = [("AIWorkloads", aiws), ("WorkloadDeployments", wds)] if aiws is not wds else []
    for title, tracker in pairs or [("WorkloadDeployments", wds)]:
        phases, _ = tracker.snapshot()
        out.append(f"  {title}: {sum(phases.values())}, phases {dict(phases.most_common())}")
        for text, n in top_messages(tracker, 6):
            out.append(f"    {n:>6} x {text[:200]}")
    try:
        works, _ = list_all(http, f"{AXLE}/works")
        applied = sum(
            1
            for w in works
            for c in (w.get("status") or {}).get("conditions") or []
            if c.get("type") == "Available" and c.get("status") == "True"
        )
        out.append(f"  Works: {len(works)}, Available {applied}")
    except httpx.HTTPError as err:
        out.append(f"  works: {err!r}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--spokes", type=int, default=1000, help="shared pools of one host = spokes")
    ap.add_argument("--workloads", type=int, default=10000, help="AIWorkloads")
    ap.add_argument("--timeout", type=float, default=600, help="seconds for the measured phase")
    ap.add_argument("--setup-timeout", type=float, default=1800, help="seconds for all pools")
    ap.add_argument("--concurrency", type=int, default=32, help="creates in flight")
    ap.add_argument("--rest", type=float, default=10, help="seconds measured at rest first")
    ap.add_argument("--gpu", action="store_true", help="each workload asks for one GPU")
    ap.add_argument(
        "--hub-arg", action="append", default=[], help="extra `axle up` argument (repeatable)"
    )
    ap.add_argument(
        "--deployments-only",
        action="store_true",
        help="create the WorkloadDeployments directly (delivery and agents without the "
        "AIWorkload controller)",
    )
    ap.add_argument(
        "--py-spy",
        metavar="EXE",
        help="record the hub and the agent host with this py-spy during the measured phase "
        "(raw stacks written to the data dir; implies --keep)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the data dir and print its path")
    args = ap.parse_args()
    if args.spokes < 1 or args.workloads < 0:
        ap.error("--spokes must be >= 1 and --workloads >= 0")

    work = Path(tempfile.mkdtemp(prefix="axle-bench-fleet-"))
    data = work / "data"
    inventory = work / "fleet.yaml"
    t_setup = time.monotonic()
    fleet = fleet_inventory(args.spokes)
    inventory.write_text(yaml.safe_dump(fleet, sort_keys=False))
    hub_args = [a for arg in args.hub_arg for a in arg.split()]
    proc, url, sim = start_hub(data, inventory, hub_args)
    token = (data / "admin-token").read_text().strip()
    audit = data / "audit.log"
    pw = max(3, len(str(args.spokes - 1)))
    ww = max(4, len(str(args.workloads - 1)))
    print(
        f"fleet benchmark: {args.spokes} spokes, {args.workloads} AIWorkloads"
        f"{' (1 GPU each)' if args.gpu else ''}, {os.cpu_count()} CPUs; "
        f"{len(fleet['hosts'])} simulated hosts; hub {url}, data {data}",
        flush=True,
    )
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120
        ) as http:
            for obj in setup_objects(sim):
                apply(http, obj)
            wait_for(
                "the Compute inventory",
                lambda: bool(
                    (
                        http.get(f"{AXLE}/namespaces/{NS}/computes/fleet").json().get("status")
                        or {}
                    ).get("totalMachines")
                ),
                120,
            )
            copies = max(1, math.ceil(args.workloads / args.spokes))
            for obj in app_objects(args.gpu, copies):
                apply(http, obj)
            t_pools = time.monotonic()
            _, errors = asyncio.run(
                create_all(url, token, [pool(i, pw) for i in range(args.spokes)], args.concurrency)
            )
            for e in errors[:5]:
                print(f"  pool create failed: {e}")
            created = time.monotonic() - t_pools
            state: dict[str, Any] = {"phases": Counter(), "last": 0.0}

            def pools_running() -> bool:
                items, _ = list_all(http, f"{AXLE}/namespaces/{NS}/computepools")
                state["phases"] = Counter(phase_of(o) for o in items)
                if time.monotonic() - state["last"] > 15:
                    state["last"] = time.monotonic()
                    print(
                        f"  setup {time.monotonic() - t_pools:6.0f} s: pools "
                        f"{dict(state['phases'].most_common())}",
                        flush=True,
                    )
                return bool(state["phases"]["Running"] == args.spokes)

            ok = wait_for("all pools Running", pools_running, args.setup_timeout, every=2)
            wait_for(
                "the workload profiles' revisions",
                lambda: all(
                    (p.get("status") or {}).get("latestRevision")
                    for p in list_all(http, f"{AXLE}/namespaces/{NS}/workloadprofiles")[0]
                ),
                60,
            )
            spokes = len(list_all(http, f"{AXLE}/spokes")[0])
            print(
                f"  setup: {args.spokes} pools created (API) in {created:.1f} s, "
                f"{state['phases']['Running']} Running after {time.monotonic() - t_pools:.1f} s "
                f"({spokes} spokes); whole setup {time.monotonic() - t_setup:.1f} s",
                flush=True,
            )
            if not ok:
                print(f"  pool phases: {dict(state['phases'])}; not measuring workloads")
                return

            # What N idle spokes cost (heartbeats, capacity reports, resyncs) before any work:
            # the measured phase has only what is left of the machine.
            if args.rest > 0:
                rest = ProcWatch(proc.pid)
                rest.start()
                rest_audit = audit.stat().st_size if audit.exists() else 0
                time.sleep(args.rest)
                rest.finish()
                time.sleep(0.3)
                print(f"  at rest for {args.rest:.0f} s with {spokes} spokes:")
                for line in rest.report(args.rest)[1:]:
                    print(line)
                for line in audit_report(audit, rest_audit, args.rest, ADMIN_USER)[:4]:
                    print(line)

            # --- measured phase ---
            what = "WorkloadDeployments" if args.deployments_only else "AIWorkloads"
            path = f"{AXLE}/namespaces/{NS}/{what.lower()}"
            _, rv = list_all(http, path)
            tracker = Tracker(url, token, path)
            tracker.start(rv)
            wds = tracker
            if not args.deployments_only:
                # The WorkloadDeployments too: where the workloads are in the chain, as it runs.
                wd_path = f"{AXLE}/namespaces/{NS}/workloaddeployments"
                _, rv = list_all(http, wd_path)
                wds = Tracker(url, token, wd_path)
                wds.start(rv)
            time.sleep(0.3)  # the audit log flushes every 0.2 s: start counting after setup's lines
            audit_start = audit.stat().st_size if audit.exists() else 0
            procs = ProcWatch(proc.pid)
            procs.start()
            spies = start_py_spy(args.py_spy, proc.pid, data) if args.py_spy else []
            bench_cpu0 = time.process_time()
            make = deployment if args.deployments_only else aiworkload
            objs = [make(i, ww, args.spokes, pw) for i in range(args.workloads)]
            t0 = time.monotonic()
            sent, errors = asyncio.run(create_all(url, token, objs, args.concurrency))
            created = time.monotonic() - t0
            print(
                f"  {args.workloads} {what} created (API) in {created:.1f} s "
                f"({args.workloads / max(created, 1e-9):,.0f}/s), {len(errors)} failed",
                flush=True,
            )
            for e in errors[:5]:
                print(f"    {e}")
            want = args.workloads - len(errors)
            last = 0.0
            while time.monotonic() - t0 < args.timeout:
                tracker.changed.wait(1.0)
                tracker.changed.clear()
                phases, running = tracker.snapshot()
                if running >= want:
                    break
                if time.monotonic() - last >= 10:
                    last = time.monotonic()
                    wd_phases, _ = wds.snapshot()
                    top = top_messages(tracker, 1)
                    print(
                        f"  {last - t0:6.0f} s: {running} Running; {dict(phases.most_common())}; "
                        f"WDs {dict(wd_phases.most_common())}"
                        + (f"; {top[0][1]} x {top[0][0][:120]}" if top else ""),
                        flush=True,
                    )
            elapsed = time.monotonic() - t0
            procs.finish()
            for spy in spies:
                spy.send_signal(signal.SIGINT)  # py-spy writes what it recorded and exits
            for spy in spies:
                try:
                    spy.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    spy.kill()
            tracker.stop.set()
            wds.stop.set()
            bench_cpu = time.process_time() - bench_cpu0
            time.sleep(0.3)
            phases, running = tracker.snapshot()
            done = running >= want
            latencies = [tracker.running_at[n] - sent[n] for n in tracker.running_at if n in sent]
            times = sorted(tracker.running_at.values())

            def when(fraction: float) -> str:
                k = math.ceil(fraction * want) - 1
                return f"{times[k] - t0:.1f} s" if 0 <= k < len(times) else "-"

            print()
            print(
                f"fleet: {args.spokes} spokes, {args.workloads} {what} "
                f"({running} Running, {len(errors)} create errors)"
            )
            print(
                f"  all Running after {elapsed:.1f} s (target <= 120 s)"
                if done
                else f"  NOT all Running after {elapsed:.1f} s (timeout)"
            )
            print(
                f"  Running: 10% {when(0.1)}, 50% {when(0.5)}, 90% {when(0.9)}, 100% {when(1)}; "
                f"throughput {running / elapsed:.1f}/s"
            )
            if latencies:
                print(
                    f"  per workload, create -> Running: p50 {pct(latencies, 50):.1f} s, "
                    f"p90 {pct(latencies, 90):.1f} s, p99 {pct(latencies, 99):.1f} s, "
                    f"max {max(latencies):.1f} s, mean {statistics.fmean(latencies):.1f} s"
                )
            for line in procs.report(elapsed):
                print(line)
            print(
                f"  this benchmark process: CPU {bench_cpu:.1f} s; watch {tracker.events:,} "
                f"events, {tracker.event_bytes / 2**20:.0f} MiB, {tracker.restarts} reconnects"
            )
            for line in audit_report(audit, audit_start, elapsed, ADMIN_USER):
                print(line)
            if not done:
                for line in pending_report(http, tracker, wds):
                    print(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        if args.keep or args.py_spy:
            print(f"  data dir kept: {data}")
        else:
            subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
