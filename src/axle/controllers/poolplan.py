"""What a ComputePool asks for, read from its spec: cluster names and host needs.

Pure functions over the pool object, kept apart from the reconciler so the rules are tested
on their own: a dedicated pool is one cluster, a shared pool `clusterCount` clusters; every
cluster needs the control-plane pool's `nodeCount` hosts (matching
`controlPlaneResourceGroups`) and each worker pool's `nodeCount` hosts (matching
`workerResourceGroups` and its GPU family and count). Cluster names are deterministic
(`<pool>-<first 8 of the pool uid>`, then `-<i>` per cluster of a multi-cluster shared pool),
which is what lets a restarted hub find a cluster it created before it could record the uid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from axle.controllers.hostselection import CONTROL_PLANE, WORKER, HostNeed
from axle.store.base import Obj


@dataclass
class PoolPlan:
    """What a pool asks for, read from its spec."""

    variant: str
    config: dict[str, Any]
    clusters: dict[str, list[HostNeed]]
    deletion_policy: str


def cluster_names(pool: Obj, count: int) -> list[str]:
    """Deterministic Palette cluster (and Spoke) names for a pool."""
    m = pool["metadata"]
    base = f"{m['name']}-{str(m['uid']).replace('-', '')[:8]}"
    if count <= 1:
        return [base]
    return [f"{base}-{i}" for i in range(count)]


def _memory_mib(mem: dict[str, Any] | None) -> int | None:
    if not mem:
        return None
    if mem.get("memoryMiB"):
        return int(mem["memoryMiB"])
    text = str(mem.get("memory") or "").strip().replace(" ", "")
    units = {
        "GB": 1000**3,
        "G": 1000**3,
        "GI": 1024**3,
        "GIB": 1024**3,
        "MB": 1000**2,
        "MI": 1024**2,
        "MIB": 1024**2,
        "TB": 1000**4,
        "TI": 1024**4,
    }
    for unit in sorted(units, key=len, reverse=True):
        if text.upper().endswith(unit):
            try:
                return int(float(text[: -len(unit)]) * units[unit] / 1024**2)
            except ValueError:
                return None
    return None


def pool_plan(pool: Obj) -> PoolPlan:
    """Cluster names and host needs from a pool's spec."""
    spec = pool.get("spec") or {}
    variant_spec = spec.get("clusterVariant") or {}
    variant = "dedicated" if variant_spec.get("dedicated") is not None else "shared"
    chosen = variant_spec.get(variant) or {}
    config = chosen.get("paletteClusterDeploymentConfig") or {}
    count = 1 if variant == "dedicated" else int(chosen.get("clusterCount") or 1)
    req = config.get("nodePoolRequirements") or {}
    cp = req.get("controlPlanePool") or {}
    cp_groups = dict(variant_spec.get("controlPlaneResourceGroups") or {})
    worker_groups = dict(variant_spec.get("workerResourceGroups") or {})
    needs = [
        HostNeed(
            role=CONTROL_PLANE,
            count=int(cp.get("nodeCount") or 1),
            architecture=(cp.get("architecture") or "").upper() or None,
            cpu=(cp.get("cpu") or {}).get("cpuCount"),
            memory_mib=_memory_mib(cp.get("memory")),
            resource_groups=cp_groups,
        )
    ]
    for wp in req.get("workerPools") or []:
        gpu = wp.get("gpu") or {}
        needs.append(
            HostNeed(
                role=WORKER,
                count=int(wp.get("nodeCount") or 1),
                worker_pool=wp.get("name"),
                architecture=(wp.get("architecture") or "").upper() or None,
                cpu=(wp.get("cpu") or {}).get("cpuCount"),
                memory_mib=_memory_mib(wp.get("memory")),
                gpu_family=gpu.get("family"),
                gpu_count=gpu.get("gpuCount") if gpu else None,
                resource_groups=worker_groups,
            )
        )
    names = cluster_names(pool, count)
    return PoolPlan(
        variant=variant,
        config=config,
        clusters={name: needs for name in names},
        deletion_policy=str(config.get("deletionPolicy") or "delete"),
    )
