"""Grouping a provider's hosts into a Compute inventory: a pure function, timed on its own.

`group_hosts(hosts, resource_group_prefix=...)` returns the status fields one Compute sync
writes. It does no I/O and reads no clock, so the benchmark can time it apart from the
Palette calls, and the same hosts in any order give an equal result (status is compared
before it is written, so order must never change by itself).

Roles (notes: "hosts may be both"): a host with GPUs is a worker candidate, a host without
GPUs a control-plane candidate; the host tag `axle.dev/compute-role` (`control-plane`,
`worker` or `both`) overrides that, e.g. to let a large CPU host also run CPU-only workers,
or a GPU host serve as a single-node cluster's control plane. A host listed under both roles
appears in both lists but counts once in the totals.

Machine state: `unhealthy` when Palette's health is not healthy (this wins, as a broken
machine must not be picked even if a cluster still holds it); else `in-use` when its state is
`in-use` or it is in a cluster (`usedBy` names the clusters); else `available` (`ready` and
`unpaired` hosts alike).

Groups: one per (architecture, CPU cores, memory MiB, GPUs (vendor, model, count, memory per
GPU), resource groups). Resource groups are the host's tags (all of them, or only those whose
key starts with `spec.resourceGroupPrefix`), so a pool's `workerResourceGroups` selects
groups. Groups and machines are sorted, so the same inventory always yields the same status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from axle.providers.base import GPU, Host

ROLE_TAG = "axle.dev/compute-role"
ROLE_CONTROL_PLANE, ROLE_WORKER, ROLE_BOTH = "control-plane", "worker", "both"


@dataclass(frozen=True)
class ComputeInventory:
    """The status fields one sync produces, in wire shape."""

    control_plane: list[dict[str, Any]]
    workers: list[dict[str, Any]]
    total: int
    available: int
    in_use: int
    unhealthy: int
    gpus: dict[str, dict[str, int]]
    gpu_summary: str | None

    def status_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "controlPlaneCompute": self.control_plane,
            "workerCompute": self.workers,
            "totalMachines": self.total,
            "availableMachines": self.available,
            "inUseMachines": self.in_use,
            "unhealthyMachines": self.unhealthy,
            "gpus": self.gpus,
        }
        if self.gpu_summary:
            out["gpuSummary"] = self.gpu_summary
        return out

    def machine_states(self) -> dict[str, tuple[str, str]]:
        """Machine id -> (name, state), over both lists."""
        return machine_states(
            {"controlPlaneCompute": self.control_plane, "workerCompute": self.workers}
        )


def machine_states(status: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for list_name in ("controlPlaneCompute", "workerCompute"):
        for group in status.get(list_name) or []:
            for m in group.get("machines") or []:
                out[str(m.get("id"))] = (str(m.get("name") or m.get("id")), str(m.get("state")))
    return out


def machine_state(host: Host) -> str:
    """available, in-use or unhealthy. An `unpaired` host is registered with Palette but not
    paired, and Palette refuses to build a cluster on it, so it is not available; of the three
    states it can be only `unhealthy` (with a message saying why)."""
    if not host.healthy or host.state == "unpaired":
        return "unhealthy"
    if host.state == "in-use" or host.in_use_by:
        return "in-use"
    return "available"


def host_roles(host: Host) -> tuple[bool, bool]:
    """(control-plane candidate, worker candidate)."""
    role = str(host.tags.get(ROLE_TAG, "")).strip().lower()
    if role == ROLE_BOTH:
        return True, True
    if role == ROLE_CONTROL_PLANE:
        return True, False
    if role == ROLE_WORKER:
        return False, True
    has_gpu = host.gpu_count > 0
    return not has_gpu, has_gpu


def _merged_gpus(gpus: Iterable[GPU]) -> list[GPU]:
    """One entry per (vendor, model, memory), most numerous first."""
    counts: dict[tuple[str, str, int | None], int] = {}
    for g in gpus:
        if g.count > 0:
            k = (g.vendor, g.model, g.memory_mib)
            counts[k] = counts.get(k, 0) + g.count
    merged = [GPU(vendor, model, n, mem) for (vendor, model, mem), n in counts.items()]
    merged.sort(key=lambda g: (-g.count, g.family, g.memory_mib or 0))
    return merged


def _gpu_wire(g: GPU) -> dict[str, Any]:
    out: dict[str, Any] = {
        "family": g.family,
        "vendor": g.vendor,
        "model": g.model,
        "gpuCount": g.count,
    }
    if g.memory_mib is not None:
        out["gpuMemory"] = g.memory_mib
    return out


def _resource_groups(tags: Mapping[str, str], prefix: str | None) -> dict[str, str]:
    return {
        str(k): str(v) for k, v in sorted(tags.items()) if prefix is None or k.startswith(prefix)
    }


def _machine(host: Host, state: str) -> dict[str, Any]:
    m: dict[str, Any] = {"id": host.uid, "name": host.name, "state": state}
    if host.in_use_by:
        m["usedBy"] = ",".join(host.in_use_by)
    if state == "unhealthy":
        if host.healthy and host.state == "unpaired":
            m["message"] = "unpaired in Palette: pair the edge host before it can join a cluster"
        else:
            m["message"] = host.health_message or "Palette reports the host unhealthy"
    if host.address:
        m["edgeHostDetails"] = {"hostAddress": host.address}
    return m


GroupKey = tuple[Any, ...]


def group_hosts(
    hosts: Sequence[Host], *, resource_group_prefix: str | None = None
) -> ComputeInventory:
    """Group hosts by hardware profile into control-plane and worker candidates, with totals.

    Deterministic: the same hosts in any order give an equal result.
    """
    cp_groups: dict[GroupKey, dict[str, Any]] = {}
    worker_groups: dict[GroupKey, dict[str, Any]] = {}
    totals = {"available": 0, "in-use": 0, "unhealthy": 0}
    gpus: dict[str, dict[str, int]] = {}
    models: dict[str, str] = {}
    seen: set[str] = set()
    for host in hosts:
        if host.uid in seen:
            continue
        seen.add(host.uid)
        state = machine_state(host)
        totals[state] += 1
        merged = _merged_gpus(host.gpus)
        for g in merged:
            fam = gpus.setdefault(
                g.family, {"available": 0, "inUse": 0, "unhealthy": 0, "total": 0}
            )
            fam[{"available": "available", "in-use": "inUse", "unhealthy": "unhealthy"}[state]] += (
                g.count
            )
            fam["total"] += g.count
            models.setdefault(g.family, g.model)
        arch = host.architecture.upper()
        rgs = _resource_groups(host.tags, resource_group_prefix)
        key: GroupKey = (
            arch,
            host.cpu_cores,
            host.memory_mib,
            tuple((g.vendor, g.model, g.count, g.memory_mib or 0) for g in merged),
            tuple(rgs.items()),
        )
        is_cp, is_worker = host_roles(host)
        for wanted, groups in ((is_cp, cp_groups), (is_worker, worker_groups)):
            if not wanted:
                continue
            group = groups.get(key)
            if group is None:
                group = {
                    "architecture": arch,
                    "cpuCount": host.cpu_cores,
                    "memoryMiB": host.memory_mib,
                }
                if merged:
                    group["gpu"] = _gpu_wire(merged[0])
                    if len(merged) > 1:
                        group["additionalGpus"] = [_gpu_wire(g) for g in merged[1:]]
                if rgs:
                    group["resourceGroups"] = rgs
                group["machines"] = []
                groups[key] = group
            group["machines"].append(_machine(host, state))
    summary = ", ".join(
        f"{gpus[f]['available']}/{gpus[f]['total']} {models[f]}"
        for f in sorted(gpus, key=lambda f: (-gpus[f]["total"], f))
    )
    return ComputeInventory(
        control_plane=_finish(cp_groups),
        workers=_finish(worker_groups),
        total=len(seen),
        available=totals["available"],
        in_use=totals["in-use"],
        unhealthy=totals["unhealthy"],
        gpus={f: gpus[f] for f in sorted(gpus)},
        gpu_summary=summary or None,
    )


def _finish(groups: dict[GroupKey, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for key in sorted(groups, key=lambda k: (k[3], k[0], k[1], k[2], k[4])):
        group = groups[key]
        machines = sorted(group.pop("machines"), key=lambda m: (m["name"], m["id"]))
        free = sum(1 for m in machines if m["state"] == "available")
        group.update(
            instances=len(machines),
            availableInstances=free,
            available=free > 0,
            machines=machines,
        )
        out.append(group)
    return out
