"""GPU quota: usage recomputed from scratch, the family of a GPU product, headroom messages.

Usage is never incremented. A project's (or tenant's) GPU usage per family is recomputed from
what holds GPUs right now:

- the host claims (`reservations.py`, one Lease per host) of DEDICATED pools: a dedicated
  pool's hosts serve one workload, so the whole hosts are charged;
- `status.gpuReservation` of the AIWorkloads on SHARED pools: a shared pool's hosts are shared
  by many workloads, so each workload is charged what its rendered manifests request, once the
  AIWorkload controller has reserved it.

A claim whose pool cannot be read (deleted meanwhile, its claims not yet collected) is charged
as dedicated: it still holds the host, and charging too much for a moment is safer than
admitting a workload the limits do not cover. Both the ComputePool controller (when claims
change) and the AIWorkload controller (when reservations or claims change, coalesced per
project over a short interval) call `write_usage`, so `Project.status.gpuUsage` and
`Tenant.status.gpuUsage` equal a fresh recomputation once things settle. Decisions never read
that status: they recount. `Cached` lets a caller recount from informer caches instead of
listing claims and workloads from the store.

Reservations are made under `project_lock(namespace)` after a recomputation, so two workloads
of one project never both take the same headroom in this process (and only the leader hub
reconciles). The lock is per project; a tenant's limit shared by several projects is checked
with the same fresh recomputation, which is as strong as one process and the leader lease make
it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from axle.api.meta import GROUP
from axle.api.registry import KindInfo, UnknownKind
from axle.controllers.kinds import Kinds
from axle.controllers.objects import get_or_none, write_status
from axle.controllers.reservations import (
    PROJECT_LABEL,
    TENANT_LABEL,
    HostClaim,
    gpu_usage,
    list_claims,
)
from axle.errors import Conflict
from axle.store.base import Obj, Store
from axle.utils.jsoncopy import copy_json

# Per event loop (an asyncio.Lock belongs to the loop it first waits on), per project.
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def project_lock(namespace: str) -> asyncio.Lock:
    """The lock under which a project's GPU reservations are checked and made."""
    locks = _LOCKS.setdefault(asyncio.get_running_loop(), {})
    lock = locks.get(namespace)
    if lock is None:
        lock = locks[namespace] = asyncio.Lock()
    return lock


def _optional(kinds: Kinds, kind: str) -> KindInfo | None:
    try:
        return kinds.registry.by_group_kind(GROUP, kind)
    except UnknownKind:
        return None


def add(into: dict[str, int], more: Mapping[str, int]) -> dict[str, int]:
    for family, n in more.items():
        into[family] = into.get(family, 0) + int(n)
    return into


def clean(usage: Mapping[str, int]) -> dict[str, int]:
    """Sorted, without zero entries: the shape written to status."""
    return {f: int(usage[f]) for f in sorted(usage) if usage[f]}


# Where a recomputation reads claims and pools from instead of the store (the AIWorkload
# controller passes its informer caches, so a check costs no store list): claims matching one
# label selector `key=value` ("" for all), and a pool by namespace and name.
ClaimSource = Callable[[str], list[HostClaim]]
PoolLookup = Callable[[str, str], Obj | None]


@dataclass(frozen=True)
class Cached:
    """The inputs of a recomputation from caches: claims, pools, the tenant's project
    namespaces, and reservations (see `ReservedTotal`)."""

    claims: ClaimSource
    pool: PoolLookup
    tenant_namespaces: Callable[[str], list[str]]
    reserved: ReservedTotal


async def _dedicated_claims(
    store: Store, kinds: Kinds, claims: list[HostClaim], lookup: PoolLookup | None = None
) -> list[HostClaim]:
    pool_kind = _optional(kinds, "ComputePool")
    if pool_kind is None:
        return claims
    variants: dict[str, str | None] = {}
    out = []
    for claim in claims:
        if claim.holder not in variants:
            ns, _, name = claim.holder.partition("/")
            pool: Obj | None = None
            if name:
                pool = lookup(ns, name) if lookup else await get_or_none(store, pool_kind, ns, name)
            if pool is not None and pool["metadata"].get("uid") != claim.pool_uid:
                pool = None  # a namesake created after the claim's pool was deleted
            variant = None
            if pool is not None:
                cv = (pool.get("spec") or {}).get("clusterVariant") or {}
                variant = "shared" if cv.get("shared") is not None else "dedicated"
            variants[claim.holder] = variant
        if variants[claim.holder] != "shared":
            out.append(claim)
    return out


# Reservations from a cache instead of the store: the GPUs reserved in one namespace, leaving
# out the AIWorkload `exclude` (`ns/name`) if given. The AIWorkload controller keeps the total
# per namespace as its cache changes, plus the writes it made that the cache does not show
# yet, so a check neither lists the store nor walks every workload of the project.
ReservedTotal = Callable[[str, str | None], Mapping[str, int]]


def reservation_of(aiw: Obj) -> dict[str, int]:
    raw = (aiw.get("status") or {}).get("gpuReservation") or {}
    return {str(f): int(n) for f, n in raw.items() if isinstance(n, int)}


async def _reservations(
    store: Store,
    kinds: Kinds,
    namespaces: Iterable[str],
    exclude: str | None,
    cached: Cached | None = None,
) -> dict[str, int]:
    total: dict[str, int] = {}
    if cached is not None:
        for ns in sorted(set(namespaces)):
            add(total, cached.reserved(ns, exclude))
        return total
    aiw_kind = _optional(kinds, "AIWorkload")
    if aiw_kind is None:
        return total
    for ns in sorted(set(namespaces)):
        for aiw in (await store.list(aiw_kind, ns)).items:
            if exclude is not None and f"{ns}/{aiw['metadata']['name']}" == exclude:
                continue
            add(total, reservation_of(aiw))
    return total


async def _claims(
    store: Store, kinds: Kinds, selector: str, cached: Cached | None
) -> list[HostClaim]:
    """Claims matching `selector` that charge GPUs (the dedicated pools')."""
    if cached is not None:
        return await _dedicated_claims(store, kinds, cached.claims(selector), cached.pool)
    return await _dedicated_claims(store, kinds, await list_claims(store, kinds.lease, selector))


async def recompute_usage(
    store: Store,
    kinds: Kinds,
    project_ns: str,
    *,
    exclude: str | None = None,
    cached: Cached | None = None,
) -> dict[str, int]:
    """GPUs per family the project in `project_ns` uses now: dedicated pools' claims plus the
    reservations of its AIWorkloads on shared pools (`exclude`: an AIWorkload key
    `ns/name` whose own reservation is left out, for checking a new one). With `cached`,
    everything is read from it instead of the store."""
    claims = await _claims(store, kinds, f"{PROJECT_LABEL}={project_ns}", cached)
    reserved = await _reservations(store, kinds, [project_ns], exclude, cached)
    return clean(add(dict(gpu_usage(claims)), reserved))


async def tenant_namespaces(store: Store, kinds: Kinds, tenant: str) -> list[str]:
    projects = await store.list(kinds.project, None, field_selector=f"spec.tenantRef.name={tenant}")
    return sorted({str(p["metadata"]["namespace"]) for p in projects.items})


async def recompute_tenant_usage(
    store: Store,
    kinds: Kinds,
    tenant: str,
    *,
    exclude: str | None = None,
    cached: Cached | None = None,
) -> dict[str, int]:
    """The tenant equivalent of `recompute_usage`, over all of its projects."""
    claims = await _claims(store, kinds, f"{TENANT_LABEL}={tenant}", cached)
    if cached is not None:
        namespaces = cached.tenant_namespaces(tenant)
    else:
        namespaces = await tenant_namespaces(store, kinds, tenant)
    reserved = await _reservations(store, kinds, namespaces, exclude, cached)
    return clean(add(dict(gpu_usage(claims)), reserved))


async def write_usage(
    store: Store,
    kinds: Kinds,
    project: Obj,
    tenant: str,
    *,
    cached: Cached | None = None,
) -> None:
    """Recompute the project's and the tenant's usage into their `status.gpuUsage` (each
    read fresh from the store, written only when it changed)."""
    ns = str(project["metadata"]["namespace"])
    name = str(project["metadata"]["name"])
    for _ in range(5):
        obj = await get_or_none(store, kinds.project, ns, name)
        if obj is None:
            break
        usage = await recompute_usage(store, kinds, ns, cached=cached)
        status = copy_json(obj.get("status") or {})
        if status.get("gpuUsage") == usage:
            break
        status["gpuUsage"] = usage
        try:
            await write_status(store, kinds.project, obj, status)
            break
        except Conflict:
            continue
    if not tenant:
        return
    for _ in range(5):
        obj = await get_or_none(store, kinds.tenant, None, tenant)
        if obj is None:
            break
        usage = await recompute_tenant_usage(store, kinds, tenant, cached=cached)
        status = copy_json(obj.get("status") or {})
        if status.get("gpuUsage") == usage:
            break
        status["gpuUsage"] = usage
        try:
            await write_status(store, kinds.tenant, obj, status)
            break
        except Conflict:
            continue


# --- GPU families -------------------------------------------------------------------------


def family_of(product: str, families: Iterable[str]) -> str | None:
    """The pool GPU family a `nvidia.com/gpu.product` value belongs to: the family whose name
    is a prefix of the product (the longest, if several); no product means the pool's only
    family. None when it cannot be told."""
    known = sorted(set(families), key=len, reverse=True)
    if not product:
        return known[0] if len(known) == 1 else None
    for family in known:
        if product == family or product.startswith(family):
            return family
    return None


@dataclass
class FamilyMapping:
    by_family: dict[str, int]
    unmapped: list[str]  # products (or "" for none) that map to no family

    def message(self, pool: str, families: Iterable[str]) -> str:
        fams = ", ".join(sorted(set(families))) or "none"
        what = ", ".join(repr(p) if p else "(no product)" for p in self.unmapped)
        return (
            f"cannot tell the GPU family of request(s) {what} on pool {pool} (its GPU "
            f"families: {fams}); set the gpu trait's family to one of them"
        )


def map_requests(requests: Mapping[str, int], families: Iterable[str]) -> FamilyMapping:
    """GPU requests by product -> by family (see `family_of`)."""
    fams = list(families)
    out: dict[str, int] = {}
    unmapped: list[str] = []
    for product in sorted(requests):
        n = int(requests[product])
        if n <= 0:
            continue
        family = family_of(product, fams)
        if family is None:
            unmapped.append(product)
        else:
            out[family] = out.get(family, 0) + n
    return FamilyMapping(clean(out), unmapped)


def headroom_problems(
    needed: Mapping[str, int], used: Mapping[str, int], limits: Mapping[str, int], scope: str
) -> list[str]:
    """`needs 2 NVIDIA-H100, project ml-prod has 0 of 24 free (24 used)`, per family over its
    limit (`used` leaves out the asker's own share); an unlisted family is not limited."""
    out = []
    for family in sorted(needed):
        want = int(needed[family])
        if family not in limits or want <= 0:
            continue
        limit, have = int(limits[family]), int(used.get(family, 0))
        if have + want > limit:
            free = max(0, limit - have)
            out.append(f"needs {want} {family}, {scope} has {free} of {limit} free ({have} used)")
    return out


def limits_of(obj: Obj | None) -> dict[str, int]:
    raw = ((obj or {}).get("spec") or {}).get("gpuLimits") or {}
    return {str(k): int(v) for k, v in raw.items() if isinstance(v, int)}
