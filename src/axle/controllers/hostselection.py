"""Choosing a pool's hosts from a Compute inventory: a pure function, so it is tested alone.

Input: the Compute's `status` (groups of machines by hardware, see `controllers/inventory.py`),
the hosts other pools hold (their claims), and what each cluster of the pool needs. Output:
either one `Pick` per needed host (which cluster, role and worker pool) or the shortfalls, each
a sentence a user can act on ("needs 2x NVIDIA-H100 hosts with 8 GPUs, 1 available").

The rules (notes section 9, "Host selection"):

- control-plane hosts come from `controlPlaneCompute` groups whose resource groups include
  `controlPlaneResourceGroups`, of the requested architecture, with at least the requested
  CPUs and memory; `nodeCount` of them per cluster;
- workers of each worker pool come from `workerCompute` groups matching
  `workerResourceGroups`, architecture, CPU and memory, and GPU family with at least
  `gpuCount` GPUs; `nodeCount` of them per cluster;
- only `available` machines that no other pool claims; a host is picked once.

A resource-group tag the Compute's `tagSelector` already requires (`palette.ai: "true"`)
matches every machine of the inventory, since only tagged hosts are listed.

Determinism: candidates are taken in a fixed order (smallest fitting hardware first, so a
request for 8 GPUs does not take a larger host another pool may need, then by name and id), so
the same inventory and claims always give the same picks; two pools racing for the same last
hosts therefore ask for the same ones, and the claim store decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CONTROL_PLANE = "control-plane"
WORKER = "worker"


@dataclass(frozen=True)
class HostNeed:
    """What one group of identical hosts must satisfy (a control plane or a worker pool)."""

    role: str  # control-plane | worker
    count: int
    worker_pool: str | None = None
    architecture: str | None = None  # upper case: AMD64, ARM64
    cpu: int | None = None
    memory_mib: int | None = None
    gpu_family: str | None = None
    gpu_count: int | None = None
    resource_groups: Mapping[str, str] = field(default_factory=dict)

    def describe(self, count: int | None = None) -> str:
        """`2x NVIDIA-H100 hosts with 8 GPUs` / `1x control-plane host (AMD64, 8 CPUs)`."""
        n = self.count if count is None else count
        noun = "host" if n == 1 else "hosts"
        if self.gpu_family:
            gpus = self.gpu_count or 1
            text = f"{n}x {self.gpu_family} {noun} with {gpus} GPU{'s' if gpus != 1 else ''}"
        else:
            text = f"{n}x {self.role} {noun}"
        extras = []
        if self.architecture:
            extras.append(self.architecture)
        if self.cpu:
            extras.append(f">= {self.cpu} CPUs")
        if self.memory_mib:
            extras.append(f">= {self.memory_mib} MiB memory")
        if self.resource_groups:
            extras.append(
                "tags " + ", ".join(f"{k}={v}" for k, v in sorted(self.resource_groups.items()))
            )
        return text + (f" ({', '.join(extras)})" if extras else "")


@dataclass(frozen=True)
class Candidate:
    """One machine of the inventory, with what the rules read."""

    id: str
    name: str
    role: str
    state: str
    architecture: str
    cpu: int
    memory_mib: int
    gpus: Mapping[str, int]  # family -> count (all models of the host)
    main_gpu_family: str | None
    main_gpu_count: int
    resource_groups: Mapping[str, str]


@dataclass(frozen=True)
class Pick:
    host: Candidate
    cluster: str
    role: str
    worker_pool: str | None


@dataclass(frozen=True)
class Shortfall:
    cluster: str
    need: HostNeed
    available: int

    def message(self) -> str:
        return f"needs {self.need.describe()}, {self.available} available"


@dataclass
class Selection:
    picks: list[Pick] = field(default_factory=list)
    shortfalls: list[Shortfall] = field(default_factory=list)
    name_clusters: bool = False  # several clusters: say which one lacks hosts

    @property
    def ok(self) -> bool:
        return not self.shortfalls

    def message(self) -> str:
        parts = []
        for s in self.shortfalls:
            prefix = f"cluster {s.cluster} " if s.cluster and self.name_clusters else ""
            parts.append(prefix + s.message())
        return "; ".join(parts)


def candidates(status: Mapping[str, Any]) -> list[Candidate]:
    """Every machine of a Compute status, once per role it may take."""
    out: list[Candidate] = []
    for list_name, role in (("controlPlaneCompute", CONTROL_PLANE), ("workerCompute", WORKER)):
        for group in status.get(list_name) or []:
            gpus: dict[str, int] = {}
            main = group.get("gpu") or {}
            for g in [main, *(group.get("additionalGpus") or [])]:
                if g.get("family"):
                    gpus[g["family"]] = gpus.get(g["family"], 0) + int(g.get("gpuCount") or 0)
            for m in group.get("machines") or []:
                out.append(
                    Candidate(
                        id=str(m["id"]),
                        name=str(m.get("name") or m["id"]),
                        role=role,
                        state=str(m.get("state")),
                        architecture=str(group.get("architecture") or "").upper(),
                        cpu=int(group.get("cpuCount") or 0),
                        memory_mib=int(group.get("memoryMiB") or 0),
                        gpus=gpus,
                        main_gpu_family=main.get("family"),
                        main_gpu_count=int(main.get("gpuCount") or 0),
                        resource_groups=dict(group.get("resourceGroups") or {}),
                    )
                )
    return out


def fits(host: Candidate, need: HostNeed, implied_tags: Mapping[str, str]) -> bool:
    """Whether `host` satisfies `need` (ignoring its state and claims)."""
    if host.role != need.role:
        return False
    if need.architecture and host.architecture != need.architecture.upper():
        return False
    if need.cpu and host.cpu < need.cpu:
        return False
    if need.memory_mib and host.memory_mib < need.memory_mib:
        return False
    if need.gpu_family and host.gpus.get(need.gpu_family, 0) < (need.gpu_count or 1):
        return False
    for k, v in need.resource_groups.items():
        if host.resource_groups.get(k) != v and implied_tags.get(k) != v:
            return False
    return True


def _order(host: Candidate) -> tuple[Any, ...]:
    # Smallest fitting hardware first (fewest GPUs, CPUs, memory), then name and id.
    return (sum(host.gpus.values()), host.cpu, host.memory_mib, host.name, host.id)


def select_hosts(
    inventory: Iterable[Candidate],
    clusters: Mapping[str, list[HostNeed]],
    *,
    taken: Iterable[str] = (),
    implied_tags: Mapping[str, str] | None = None,
) -> Selection:
    """Pick hosts for every need of every cluster, or say what is missing.

    `clusters` maps each cluster name to its needs (control plane first). `taken` holds host
    ids other pools claim. All needs are evaluated even after one fails, so the message names
    everything missing at once.
    """
    implied = dict(implied_tags or {})
    used = set(taken)
    pool = sorted((h for h in inventory if h.state == "available" and h.id not in used), key=_order)
    selection = Selection(name_clusters=len(clusters) > 1)
    for cluster in sorted(clusters):
        for need in clusters[cluster]:
            fitting = [h for h in pool if h.id not in used and fits(h, need, implied)]
            if len(fitting) < need.count:
                selection.shortfalls.append(Shortfall(cluster, need, len(fitting)))
                continue
            for host in fitting[: need.count]:
                used.add(host.id)
                selection.picks.append(Pick(host, cluster, need.role, need.worker_pool))
    return selection
