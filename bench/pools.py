"""Pool benchmark: 200 compute pools on a 2,000-host simulated fleet, until all are Running.

Starts `axle up --palette-sim` on a generated fleet with zero provisioning delay, applies a
tenant, project, settings, compute and an Infrastructure bundle, then creates the pools at
once: each one control-plane host (which also runs workloads) and one GPU worker, GPU families
in turn. Measures the time until every pool is Running (Palette cluster created, kubeconfig
fetched, spoke agent joined), the CPU seconds of the hub and of its companion processes (the
Palette simulator, the spoke agent host) and the hub's peak memory. Nothing asserts.

    python bench/pools.py [--pools 200] [--hosts 2000]

Target (issue 4, this 2-core machine): all Running within 60 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from axle.sim.palette.fleet import generate
from procs import cpu_seconds, describe, memory_mib, proc_tree
from serve import HUB_URL, SIM_URL, start_axle

AXLE = "/apis/axle.dev/v1alpha1"
FAMILIES = ["NVIDIA-H100", "NVIDIA-A100", "NVIDIA-L40S", "NVIDIA-L4", "NVIDIA-H200"]


def start_hub(data: Path, inventory: Path) -> tuple[subprocess.Popen[str], str, str]:
    args = ["up", "--data-dir", str(data), "--port", "0", "--palette-sim"]
    args += ["--inventory", str(inventory), "--palette-sim-port", "0"]
    args += ["--palette-sim-provisioning-seconds", "0"]
    proc, seen = start_axle(args, until=HUB_URL, also=[SIM_URL], timeout=60)
    return proc, seen[HUB_URL], seen.get(SIM_URL, "")


def apply(http: httpx.Client, obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    group, _, version = obj["apiVersion"].rpartition("/")
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    plural = {
        "Namespace": "namespaces",
        "Secret": "secrets",
        "Tenant": "tenants",
        "Project": "projects",
        "Settings": "settings",
        "ComputeConfig": "computeconfigs",
        "Compute": "computes",
        "ProfileBundle": "profilebundles",
        "ComputePool": "computepools",
    }[obj["kind"]]
    ns = f"/namespaces/{meta['namespace']}" if meta.get("namespace") else ""
    r = http.patch(
        f"{base}{ns}/{plural}/{meta['name']}?fieldManager=bench&force=true",
        content=yaml.safe_dump(obj),
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    if r.status_code not in (200, 201):
        raise SystemExit(f"{obj['kind']}/{meta['name']}: {r.status_code} {r.text}")


def setup(http: httpx.Client, sim: str) -> None:
    import json

    ns = "bench"
    palette = json.dumps(
        {
            "apiKey": "sim-api-key",
            "hostUrl": sim,
            "tenant": "bench",
            "defaultProjectID": "acme-default",
        }
    )
    for obj in [
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "bench"},
            "spec": {"tenantRoleMapping": {"groups": ["bench-admins"]}},
        },
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Project",
            "metadata": {"name": ns, "namespace": ns},
            "spec": {
                "tenantRef": {"name": "bench"},
                "settingsRef": {"name": "palette"},
                "computeConfigRef": {"name": "defaults"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "palette", "namespace": ns},
            "stringData": {"palette": palette},
        },
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Settings",
            "metadata": {"name": "palette", "namespace": ns},
            "spec": {"palette": {"secretRef": {"name": "palette"}}},
        },
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "ComputeConfig",
            "metadata": {"name": "defaults", "namespace": ns},
            "spec": {
                "paletteClusterConfig": {
                    "defaults": {"controlPlanePool": {"nodeCount": 1, "workerNodeEligible": True}}
                }
            },
        },
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Compute",
            "metadata": {"name": "fleet", "namespace": ns},
            "spec": {"tagSelector": {"palette.ai": "true"}},
        },
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "ProfileBundle",
            "metadata": {"name": "infra", "namespace": ns},
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
    ]:
        apply(http, obj)


def pool(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "ComputePool",
        "metadata": {"name": f"pool-{i:03d}", "namespace": "bench"},
        "spec": {
            "profileBundleRef": {"name": "infra", "namespace": "bench"},
            "clusterVariant": {
                "dedicated": {
                    "paletteClusterDeploymentConfig": {
                        "nodePoolRequirements": {
                            "controlPlanePool": {
                                "nodeCount": 1,
                                "workerNodeEligible": True,
                                "architecture": "AMD64",
                            },
                            "workerPools": [
                                {
                                    "name": "gpu",
                                    "nodeCount": 1,
                                    "architecture": "AMD64",
                                    "gpu": {"family": FAMILIES[i % len(FAMILIES)], "gpuCount": 1},
                                }
                            ],
                        },
                        "deletionPolicy": "delete",
                    }
                }
            },
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pools", type=int, default=200)
    ap.add_argument("--hosts", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="axle-bench-pools-"))
    inventory = work / "fleet.yaml"
    fleet = generate(args.hosts, seed=1)
    # Each pool takes a control-plane host; the generated fleet has far fewer CPU-only hosts
    # than 200 pools need, so GPU hosts may also serve as control planes (the tag Compute
    # honours). Host selection still prefers the smallest fitting host.
    for host in fleet["hosts"]:
        if host.get("gpus"):
            host.setdefault("tags", {})["axle.dev/compute-role"] = "both"
    inventory.write_text(yaml.safe_dump(fleet, sort_keys=False))
    proc, url, sim = start_hub(work / "data", inventory)
    token = (work / "data" / "admin-token").read_text().strip()
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            setup(http, sim)
            while not (
                http.get(f"{AXLE}/namespaces/bench/computes/fleet").json().get("status") or {}
            ).get("totalMachines"):
                time.sleep(0.2)
            cpu0 = {p: cpu_seconds(p) for p in proc_tree(proc.pid)}
            t0 = time.monotonic()
            for i in range(args.pools):
                apply(http, pool(i))
            created = time.monotonic() - t0
            phases: dict[str, int] = {}
            while time.monotonic() - t0 < args.timeout:
                items = http.get(f"{AXLE}/namespaces/bench/computepools").json()["items"]
                phases = {}
                for item in items:
                    phase = (item.get("status") or {}).get("phase") or "Pending"
                    phases[phase] = phases.get(phase, 0) + 1
                if phases.get("Running", 0) == args.pools:
                    break
                time.sleep(0.5)
            elapsed = time.monotonic() - t0
            tree = proc_tree(proc.pid)
            print(
                f"pool benchmark: {args.pools} pools on {args.hosts} simulated hosts, "
                f"{os.cpu_count()} CPUs"
            )
            print(f"  created (API) in {created:.1f} s; phases at the end: {phases}")
            print(
                f"  all Running after {elapsed:.1f} s (target <= 60 s)"
                if phases.get("Running") == args.pools
                else f"  NOT all Running after {elapsed:.1f} s"
            )
            for p in tree:
                used = cpu_seconds(p) - cpu0.get(p, 0.0)
                peak = memory_mib(p)[1]
                print(f"  {describe(p, proc.pid):<20} CPU {used:6.1f} s   peak RSS {peak:6.0f} MiB")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
