"""Host claims: one Lease per reserved host, so a host is never reserved by two pools.

A claim is a `coordination.k8s.io/v1` Lease named `host-<host uid>` in `axle-system`, with
`holderIdentity` `<namespace>/<pool>`, an ownerReference to the pool (garbage collection frees
the claims of a pool that is gone) and labels to find a pool's, a project's or a tenant's
claims. The store's `create` is the lock: AlreadyExists means the host is taken, so two
pools, or two hub processes, or a hub before and after a SIGKILL, can never both hold a host.

`claim_all` takes hosts in one global order (sorted host uid), so two pools competing for
overlapping hosts meet at the same first contested host, and releases what it took when any
host is taken already: a pool holds either all the hosts it needs or none.

GPU charges are recorded on each claim (annotation `axle.dev/gpus`, `{family: count}` of the
whole host), so a project's and a tenant's usage is recomputed from the claims alone
(`gpu_usage`), never incremented, and a crash cannot leave a stale count behind.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from axle.api.meta import SYSTEM_NAMESPACE
from axle.api.registry import KindInfo
from axle.controllers.objects import owner_ref
from axle.errors import AlreadyExists, NotFound
from axle.store.base import Obj, Store

CLAIM_LABEL = "axle.dev/host-claim"
POOL_UID_LABEL = "axle.dev/pool-uid"
PROJECT_LABEL = "axle.dev/project-namespace"
TENANT_LABEL = "axle.dev/tenant"
GPUS_ANNOTATION = "axle.dev/gpus"
CLAIM_ANNOTATION = "axle.dev/claim"


def claim_name(host_uid: str) -> str:
    """`host-<uid>`, made a DNS label (long or odd uids are hashed)."""
    clean = re.sub(r"[^a-z0-9-]", "-", host_uid.lower()).strip("-")
    if not clean or len(clean) > 50 or clean != host_uid:
        digest = hashlib.sha256(host_uid.encode()).hexdigest()[:16]
        clean = f"{clean[:32].strip('-')}-{digest}".strip("-")
    return f"host-{clean}"


def holder_of(pool: Obj) -> str:
    m = pool["metadata"]
    return f"{m['namespace']}/{m['name']}"


@dataclass(frozen=True)
class HostClaim:
    """What a pool holds a host for."""

    host_uid: str
    host_name: str
    cluster: str
    role: str
    worker_pool: str | None = None
    gpus: Mapping[str, int] = field(default_factory=dict)
    holder: str = ""
    pool_uid: str = ""

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.host_uid,
            "name": self.host_name,
            "role": self.role,
            "cluster": self.cluster,
        }
        if self.worker_pool:
            out["workerPool"] = self.worker_pool
        if self.gpus:
            out["gpus"] = dict(self.gpus)
        return out


def claim_object(pool: Obj, claim: HostClaim, tenant: str) -> Obj:
    m = pool["metadata"]
    detail = {
        "host": claim.host_uid,
        "name": claim.host_name,
        "cluster": claim.cluster,
        "role": claim.role,
        "workerPool": claim.worker_pool,
    }
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": claim_name(claim.host_uid),
            "namespace": SYSTEM_NAMESPACE,
            "labels": {
                CLAIM_LABEL: "true",
                POOL_UID_LABEL: m["uid"],
                PROJECT_LABEL: m["namespace"],
                TENANT_LABEL: tenant,
            },
            "annotations": {
                GPUS_ANNOTATION: json.dumps(dict(claim.gpus), sort_keys=True),
                CLAIM_ANNOTATION: json.dumps(detail, sort_keys=True),
            },
            "ownerReferences": [owner_ref(pool, controller=False)],
        },
        "spec": {"holderIdentity": holder_of(pool)},
    }


def parse_claim(lease: Obj) -> HostClaim:
    m = lease.get("metadata") or {}
    ann = m.get("annotations") or {}
    try:
        detail = json.loads(ann.get(CLAIM_ANNOTATION) or "{}")
        gpus = json.loads(ann.get(GPUS_ANNOTATION) or "{}")
    except ValueError:
        detail, gpus = {}, {}
    return HostClaim(
        host_uid=str(detail.get("host") or m.get("name", "")),
        host_name=str(detail.get("name") or detail.get("host") or ""),
        cluster=str(detail.get("cluster") or ""),
        role=str(detail.get("role") or ""),
        worker_pool=detail.get("workerPool"),
        gpus={str(k): int(v) for k, v in (gpus or {}).items()},
        holder=str((lease.get("spec") or {}).get("holderIdentity") or ""),
        pool_uid=str((m.get("labels") or {}).get(POOL_UID_LABEL) or ""),
    )


# An index of claim Leases for informer caches: every claim under "all", and under
# "<PROJECT_LABEL>=<namespace>" and "<TENANT_LABEL>=<tenant>", the selectors `list_claims` takes.
CLAIMS_INDEX = "host-claims"
ALL_CLAIMS = "all"


def claims_index(lease: Obj) -> list[str]:
    """Index values of a Lease that is a host claim (none for any other Lease)."""
    labels = (lease.get("metadata") or {}).get("labels") or {}
    if labels.get(CLAIM_LABEL) != "true":
        return []
    out = [ALL_CLAIMS]
    for label in (PROJECT_LABEL, TENANT_LABEL):
        if labels.get(label):
            out.append(f"{label}={labels[label]}")
    return out


def claims_of(leases: Iterable[Obj]) -> list[HostClaim]:
    """Claim Leases (e.g. from a cache index) as claims, in host order like `list_claims`."""
    return sorted((parse_claim(o) for o in leases), key=lambda c: c.host_uid)


async def list_claims(store: Store, lease: KindInfo, selector: str = "") -> list[HostClaim]:
    """Claims matching an extra label selector (all claims when empty), read from the store."""
    sel = f"{CLAIM_LABEL}=true" + (f",{selector}" if selector else "")
    result = await store.list(lease, SYSTEM_NAMESPACE, label_selector=sel)
    return sorted((parse_claim(o) for o in result.items), key=lambda c: c.host_uid)


async def pool_claims(store: Store, lease: KindInfo, pool_uid: str) -> list[HostClaim]:
    return await list_claims(store, lease, f"{POOL_UID_LABEL}={pool_uid}")


async def release(store: Store, lease: KindInfo, host_uids: Iterable[str], pool_uid: str) -> int:
    """Delete the claims of `host_uids` held by the pool `pool_uid`; how many were deleted."""
    n = 0
    for uid in sorted(set(host_uids)):
        name = claim_name(uid)
        try:
            current = await store.get(lease, SYSTEM_NAMESPACE, name)
        except NotFound:
            continue
        if (current["metadata"].get("labels") or {}).get(POOL_UID_LABEL) != pool_uid:
            continue  # someone else's claim now: never free it
        try:
            await store.delete(lease, SYSTEM_NAMESPACE, name, uid=current["metadata"]["uid"])
            n += 1
        except NotFound:
            pass
    return n


async def release_pool(store: Store, lease: KindInfo, pool_uid: str) -> int:
    claims = await pool_claims(store, lease, pool_uid)
    return await release(store, lease, (c.host_uid for c in claims), pool_uid)


async def claim_all(
    store: Store, lease: KindInfo, pool: Obj, claims: list[HostClaim], tenant: str
) -> str | None:
    """Claim every host or none; returns None on success, else the name of a taken host.

    Hosts are claimed in sorted uid order; on the first one already held by another pool,
    every claim made by this call is deleted again. A claim this pool already holds counts
    as taken by this call (a re-run after a crash).
    """
    pool_uid = pool["metadata"]["uid"]
    made: list[str] = []
    for claim in sorted(claims, key=lambda c: c.host_uid):
        body = claim_object(pool, claim, tenant)
        try:
            await store.create(lease, body)
            made.append(claim.host_uid)
        except AlreadyExists:
            try:
                current = await store.get(lease, SYSTEM_NAMESPACE, body["metadata"]["name"])
            except NotFound:
                current = None
            labels = (current or {}).get("metadata", {}).get("labels") or {}
            if current is not None and labels.get(POOL_UID_LABEL) == pool_uid:
                continue
            await release(store, lease, made, pool_uid)
            return claim.host_name or claim.host_uid
    return None


def gpu_usage(claims: Iterable[HostClaim]) -> dict[str, int]:
    """GPUs per family over `claims` (each host's whole GPU count)."""
    out: dict[str, int] = {}
    for c in claims:
        for family, n in c.gpus.items():
            out[family] = out.get(family, 0) + n
    return {f: out[f] for f in sorted(out)}


async def usage_by(store: Store, lease: KindInfo, label: str, value: str) -> dict[str, int]:
    """GPU usage of all claims of one project (PROJECT_LABEL) or tenant (TENANT_LABEL)."""
    return gpu_usage(await list_claims(store, lease, f"{label}={value}"))


def quota_problems(
    needed: Mapping[str, int],
    used: Mapping[str, int],
    limits: Mapping[str, int],
    scope: str,
) -> list[str]:
    """One sentence per family over its limit; `used` excludes the asking pool."""
    out = []
    for family in sorted(needed):
        if family not in limits:
            continue  # an unlisted family is not limited
        limit, have, want = limits[family], used.get(family, 0), needed[family]
        if have + want > limit:
            out.append(f"needs {want} {family}, {scope} has {have} of limit {limit} in use")
    return out
