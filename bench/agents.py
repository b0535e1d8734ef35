"""Agent-host benchmark: memory per idle spoke and CPU per Work of `axle spoke-agent host`.

Starts a hub (`axle up`, no Palette simulator) and one agent host process, as the hub's spoke
installer does for simulated clusters, but fed by this script: N Spokes with bootstrap tokens
are created through the API and N JSON lines (`cluster: sim://NAME`, a one-node simulated
cluster) go to the host's stdin. Then M Works (spread evenly over the spokes, each its own
OCI artifact in a file:// layout, one Deployment of one replica and one Service, as a
`webservice` component renders) are created directly in the spokes' namespaces, and the run
waits until every Work reports `Available=True`.

Printed, from /proc of the host process only (the hub's cost is bench/fleet.py's business):

- RSS of the host with no agent, with N idle agents, and after the M Works: MiB per idle
  spoke and per Work held;
- CPU seconds while the agents joined (per spoke) and while the Works were applied (per
  Work), and at rest afterwards (per spoke per minute: what an idle fleet costs).

    python bench/agents.py [--spokes 100] [--works 1000]

Targets (docs/benchmarks.md, Fleet): <= 0.3 MiB per idle spoke, <= 0.03 MiB and <= 5 ms CPU
per Work, neither growing with the fleet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from axle.api.spoketokens import bootstrap_secret, new_bootstrap_token
from axle.oci import build_artifact, push
from procs import cpu_seconds, memory_mib
from serve import HUB_URL, start_axle

AXLE = "/apis/axle.dev/v1alpha1"


def start_hub(data: Path) -> tuple[subprocess.Popen[str], str]:
    proc, seen = start_axle(["up", "--data-dir", str(data), "--port", "0"], until=HUB_URL)
    return proc, seen[HUB_URL]


class Host:
    """The agent host process; its stdout events are collected by a thread."""

    def __init__(self, base: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "axle.cli.main", "spoke-agent", "host", "--base-dir", str(base)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(base.parent / "host.log").open("w"),
            text=True,
            bufsize=1,
        )
        self.joined: set[str] = set()
        self.failed: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout or []:
            event = json.loads(line)
            if event.get("event") == "joined":
                self.joined.add(str(event["spoke"]))
            elif event.get("event") in ("failed", "error"):
                self.failed.append(event)

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def rss(self) -> float:
        return memory_mib(self.proc.pid)[0]


def wait(what: str, check: Any, timeout: float) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - start


def settle(host: Host, seconds: float = 3.0) -> float:
    """Let the host go quiet (its loops asleep), then its RSS."""
    time.sleep(seconds)
    return host.rss()


def manifests(i: int) -> list[dict[str, Any]]:
    name, ns = f"web-{i}", "apps"
    labels = {"app": name}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                "image": "nginx:1.27",
                                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"selector": labels, "ports": [{"port": 80}]},
        },
    ]


async def push_all(url: str, count: int) -> list[str]:
    digests = []
    for i in range(count):
        artifact = build_artifact(manifests(i), source=f"axle://bench/{i}", revision=f"{i}@1")
        digests.append(await push(artifact, url, f"w{i}"))
    return digests


def available(http: httpx.Client) -> int:
    items = http.get(f"{AXLE}/works").json().get("items") or []
    return sum(
        1
        for w in items
        if any(
            c.get("type") == "Available" and c.get("status") == "True"
            for c in (w.get("status") or {}).get("conditions") or []
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--spokes", type=int, default=100)
    ap.add_argument("--works", type=int, default=1000)
    ap.add_argument("--rest", type=float, default=30.0, help="seconds measured at rest after")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument(
        "--py-spy", metavar="EXE", help="record the host with this py-spy while Works apply"
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="axle-bench-agents-"))
    hub_proc, url = start_hub(work / "data")
    token = (work / "data" / "admin-token").read_text().strip()
    layout = work / "oci"
    host: Host | None = None
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            names = [f"s{i:04d}" for i in range(args.spokes)]
            tokens = {}
            for name in names:
                tokens[name] = new_bootstrap_token()
                http.post(
                    f"{AXLE}/spokes",
                    json={
                        "apiVersion": "axle.dev/v1alpha1",
                        "kind": "Spoke",
                        "metadata": {"name": name},
                    },
                ).raise_for_status()
                secret = bootstrap_secret(name, tokens[name])
                ns = secret["metadata"]["namespace"]
                http.post(f"/api/v1/namespaces/{ns}/secrets", json=secret).raise_for_status()
            digests = asyncio.run(push_all(f"file://{layout}", args.works))

            host = Host(work / "spokes")
            rss0 = settle(host, 2.0)
            cpu0 = host.cpu()
            for name in names:
                host.send(
                    {
                        "hub": url,
                        "spoke": name,
                        "bootstrapToken": tokens[name],
                        "cluster": f"sim://{name}",
                    }
                )
            joined = wait("every agent to join", lambda: len(host.joined) == len(names), 600)
            cpu_join = host.cpu() - cpu0
            rss_idle = settle(host)
            cpu1 = host.cpu()

            spy = None
            if args.py_spy:
                out = work / "py-spy-host.txt"
                cmd = [args.py_spy, "record", "-p", str(host.proc.pid), "-r", "50", "-f", "raw"]
                spy = subprocess.Popen([*cmd, "-o", str(out)], stdout=subprocess.DEVNULL)
            t0 = time.monotonic()
            for i, digest in enumerate(digests):
                spoke = names[i % len(names)]
                http.post(
                    f"{AXLE}/namespaces/spoke-{spoke}/works",
                    json={
                        "apiVersion": "axle.dev/v1alpha1",
                        "kind": "Work",
                        "metadata": {"name": f"w{i}", "namespace": f"spoke-{spoke}"},
                        "spec": {"artifact": {"url": f"file://{layout}", "digest": digest}},
                    },
                ).raise_for_status()
            wait("every Work Available", lambda: available(http) == len(digests), args.timeout)
            elapsed = time.monotonic() - t0
            cpu_works = host.cpu() - cpu1
            if spy is not None:
                spy.send_signal(2)  # py-spy writes its file on SIGINT
                spy.wait(60)
            rss_works = settle(host)
            cpu2 = host.cpu()
            time.sleep(args.rest)
            cpu_rest = host.cpu() - cpu2
    finally:
        if host is not None:
            host.proc.terminate()
            host.proc.wait(30)
        hub_proc.terminate()
        hub_proc.wait(30)

    n, m = args.spokes, max(args.works, 1)
    print(f"agent host: {n} spokes, {args.works} Works ({work})")
    if args.py_spy:
        print(f"  py-spy stacks: {work / 'py-spy-host.txt'}")
    if host.failed:
        print(f"  failures reported by the host: {host.failed[:3]}")
    print(f"  RSS: {rss0:.0f} MiB without agents, {rss_idle:.0f} MiB with {n} idle agents,")
    print(f"       {rss_works:.0f} MiB holding {args.works} Works")
    per_spoke, per_work = (rss_idle - rss0) / n, (rss_works - rss_idle) / m
    print(f"  per idle spoke: {per_spoke:.3f} MiB; per Work: {per_work:.4f} MiB")
    print(f"  join: {joined:.1f} s, {cpu_join:.1f} CPU s ({1000 * cpu_join / n:.1f} ms per spoke)")
    print(
        f"  Works: all Available after {elapsed:.1f} s, {cpu_works:.1f} CPU s"
        f" ({1000 * cpu_works / m:.1f} ms per Work)"
    )
    print(
        f"  at rest {args.rest:.0f} s: {cpu_rest:.2f} CPU s"
        f" ({1000 * cpu_rest / n / (args.rest / 60):.1f} ms per spoke per minute)"
    )


if __name__ == "__main__":
    main()
