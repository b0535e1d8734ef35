"""Large simulated fleets for benchmarks: `generate(n_hosts, seed)` -> an inventory document.

The same (n_hosts, seed) always yields the same document, so benchmark runs compare like with
like. The mix follows what a GPU fleet looks like: about one host in eight is a CPU-only
control-plane candidate, the rest carry 8x H100/H200/A100 or 4x L40S/2x L4, spread over sites
and racks (the `axle.dev/resource-group` tag); about 2% are unhealthy, 1% unpaired, and 3%
lack the `palette.ai` tag (so a correct client must filter them out).

    python -m axle.sim.palette.fleet --hosts 5000 --seed 1 -o fleet.yaml
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

import yaml

# (model, per-GPU MiB, GPUs per host, CPU cores, memory MB, weight)
GPU_KINDS: list[tuple[str, int, int, int, int, int]] = [
    ("H100", 81559, 8, 112, 2_097_152, 30),
    ("H200", 143771, 8, 112, 2_097_152, 10),
    ("A100", 81920, 8, 64, 1_048_576, 25),
    ("L40S", 46068, 4, 48, 524_288, 20),
    ("L4", 23034, 2, 32, 262_144, 15),
]
UNHEALTHY_MESSAGES = [
    "GPU 3: Xid 79, fallen off the bus",
    "node agent heartbeat missed for 5m",
    "disk /dev/nvme1n1 SMART failure predicted",
    "ECC uncorrectable errors on GPU 0",
]


def _host(rng: random.Random, i: int, sites: int) -> dict[str, Any]:
    site = i % sites
    rack = (i // sites) % 40
    slot = (i // (sites * 40)) % 250 + 1
    group = f"site-{site:02d}-rack-{rack:02d}"
    control_plane = rng.random() < 0.125
    if control_plane:
        arm = rng.random() < 0.2
        host: dict[str, Any] = {
            "name": f"cp-{i:05d}",
            "architecture": "arm64" if arm else "amd64",
            "cpuCores": rng.choice([16, 32]),
            "memoryMB": rng.choice([65_536, 131_072]),
            "disks": [{"sizeGB": 480, "controller": "nvme", "vendor": "Samsung"}],
        }
    else:
        model, mib, count, cores, mem, _ = rng.choices(GPU_KINDS, [k[5] for k in GPU_KINDS])[0]
        host = {
            "name": f"gpu-{model.lower()}-{i:05d}",
            "architecture": "amd64",
            "cpuCores": cores,
            "memoryMB": mem,
            "disks": [
                {"sizeGB": 960, "controller": "nvme", "vendor": "Samsung"},
                {"sizeGB": rng.choice([3840, 7680]), "controller": "nvme", "vendor": "Micron"},
            ],
            "gpus": [
                {
                    "vendor": "NVIDIA",
                    "model": model,
                    "count": count,
                    "memoryMiB": mib,
                    "migCapable": model in ("H100", "H200", "A100"),
                }
            ],
        }
    host["nics"] = [
        {
            "name": "eno1",
            "ip": f"10.{site}.{rack}.{slot}",
            "subnet": "255.255.255.0",
            "gateway": f"10.{site}.{rack}.254",
            "dns": ["10.0.0.2"],
        }
    ]
    tags = {"axle.dev/resource-group": group, "site": f"site-{site:02d}"}
    if rng.random() >= 0.03:
        tags["palette.ai"] = "true"
    host["tags"] = tags
    roll = rng.random()
    if roll < 0.02:
        host["health"] = "unhealthy"
        host["healthMessage"] = rng.choice(UNHEALTHY_MESSAGES)
    elif roll < 0.03:
        host["state"] = "unpaired"
    return host


def generate(n_hosts: int, seed: int = 0) -> dict[str, Any]:
    """An inventory document with `n_hosts` edge hosts, the same for the same arguments."""
    if n_hosts < 0:
        raise ValueError("n_hosts must not be negative")
    rng = random.Random(seed)
    sites = max(1, min(8, n_hosts // 500))
    return {
        "apiKeys": ["sim-api-key"],
        "tenant": {"uid": "bench-tenant", "orgName": "bench"},
        "projects": [{"name": "Default", "uid": "acme-default"}],
        "clusterProfiles": [
            {
                "uid": "edge-k8s-1-32",
                "name": "edge-k8s",
                "version": "1.32.0",
                "packs": [
                    {"name": "edge-native-byoi", "tag": "2.1.0", "layer": "os"},
                    {"name": "edge-k8s", "tag": "1.32.3", "layer": "k8s"},
                    {"name": "cni-calico", "tag": "3.29.2", "layer": "cni"},
                ],
            }
        ],
        "hosts": [_host(rng, i, sites) for i in range(n_hosts)],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m axle.sim.palette.fleet", description="Write a generated fleet inventory."
    )
    parser.add_argument("--hosts", type=int, default=5000, help="number of edge hosts")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same fleet")
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    if args.hosts < 0:
        parser.error("--hosts must not be negative")
    text = yaml.safe_dump(generate(args.hosts, args.seed), sort_keys=False, width=120)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
