"""GPU quota arithmetic and usage recomputed from claims (dedicated pools) and reservations."""

from __future__ import annotations

from axle.controllers.quota import (
    Cached,
    family_of,
    headroom_problems,
    map_requests,
    recompute_tenant_usage,
    recompute_usage,
    write_usage,
)
from axle.controllers.reservations import (
    ALL_CLAIMS,
    HostClaim,
    claim_all,
    claim_object,
    claims_index,
    claims_of,
)
from axle.store.base import Obj, Store
from tests.controllers.test_aiworkload import (
    AIW,
    H100,
    NS,
    POOL,
    aiw_obj,
    project_obj,
    set_status,
    shared_pool_obj,
    tenant_obj,
)
from tests.controllers.test_tenant import K

A100 = "NVIDIA-A100"


def test_family_of_a_product() -> None:
    fams = [H100, A100, "NVIDIA-H100-NVL"]
    assert family_of("NVIDIA-H100-80GB-HBM3", fams) == H100
    assert family_of("NVIDIA-H100-NVL-94GB", fams) == "NVIDIA-H100-NVL"  # the longest prefix
    assert family_of(A100, fams) == A100
    assert family_of("AMD-MI300X", fams) is None
    assert family_of("", [H100]) == H100  # no product: the pool's only family
    assert family_of("", fams) is None


def test_map_requests() -> None:
    mapped = map_requests({"NVIDIA-H100-80GB-HBM3": 2, "": 1, "X": 0}, [H100])
    assert mapped.by_family == {H100: 3}
    assert mapped.unmapped == []
    mapped = map_requests({"": 1, "NVIDIA-A100-SXM4": 1}, [H100, A100])
    assert mapped.by_family == {A100: 1}
    assert mapped.unmapped == [""]


def test_headroom_problems_say_the_numbers() -> None:
    assert headroom_problems({H100: 2}, {H100: 24}, {H100: 24}, "project ml-prod") == [
        f"needs 2 {H100}, project ml-prod has 0 of 24 free (24 used)"
    ]
    assert headroom_problems({H100: 2}, {H100: 22}, {H100: 24}, "p") == []
    assert headroom_problems({A100: 99}, {}, {H100: 1}, "p") == []  # unlisted: not limited
    assert headroom_problems({H100: 1}, {H100: 3}, {H100: 2}, "p") == [
        f"needs 1 {H100}, p has 0 of 2 free (3 used)"
    ]


def dedicated_pool_obj(name: str, ns: str = NS) -> Obj:
    pool = shared_pool_obj(name)
    pool["metadata"]["namespace"] = ns
    cv = pool["spec"]["clusterVariant"]
    cv["dedicated"] = {
        "paletteClusterDeploymentConfig": cv.pop("shared")["paletteClusterDeploymentConfig"]
    }
    return pool


def claim(host: str, gpus: int) -> HostClaim:
    return HostClaim(host, host, "c", "worker", "gpu", {H100: gpus} if gpus else {})


async def test_usage_counts_dedicated_claims_and_shared_reservations(store: Store) -> None:
    await store.create(K.tenant, tenant_obj())
    await store.create(K.project, project_obj())
    other = project_obj()
    other["metadata"] = {"name": "ml-dev", "namespace": "ml-dev"}
    await store.create(K.project, other)
    dedicated = await store.create(POOL, dedicated_pool_obj("solo"))
    shared = await store.create(POOL, shared_pool_obj("shared"))
    dev_pool = await store.create(POOL, dedicated_pool_obj("devpool", "ml-dev"))
    assert (
        await claim_all(store, K.lease, dedicated, [claim("h1", 8), claim("cp1", 0)], "acme")
        is None
    )
    assert await claim_all(store, K.lease, shared, [claim("h2", 8), claim("h3", 8)], "acme") is None
    assert await claim_all(store, K.lease, dev_pool, [claim("h4", 4)], "acme") is None
    for name, gpus in (("a", 2), ("b", 3)):
        await store.create(AIW, aiw_obj(name))
        await set_status(store, AIW, NS, name, gpuReservation={H100: gpus})
    await store.create(AIW, aiw_obj("waiting"))  # no reservation yet: not charged

    # The shared pool's hosts are not charged; its workloads' reservations are.
    assert await recompute_usage(store, K, NS) == {H100: 8 + 2 + 3}
    assert await recompute_usage(store, K, NS, exclude=f"{NS}/a") == {H100: 8 + 3}
    assert await recompute_usage(store, K, "ml-dev") == {H100: 4}
    assert await recompute_tenant_usage(store, K, "acme") == {H100: 8 + 2 + 3 + 4}

    project = await store.get(K.project, NS, NS)
    await write_usage(store, K, project, "acme")
    assert (await store.get(K.project, NS, NS))["status"]["gpuUsage"] == {H100: 13}
    assert (await store.get(K.tenant, None, "acme"))["status"]["gpuUsage"] == {H100: 17}

    # A claim whose pool is gone still holds its host: charged until it is released.
    ghost = {
        "apiVersion": POOL.api_version,
        "kind": "ComputePool",
        "metadata": {"name": "ghost", "namespace": NS, "uid": "ghost-uid"},
    }
    orphan = claim_object(ghost, claim("h9", 1), "acme")
    orphan["metadata"].pop("ownerReferences")  # (the store would collect it otherwise)
    await store.create(K.lease, orphan)
    assert await recompute_usage(store, K, NS) == {H100: 14}

    # The same recount from caches (here: snapshots of the store) gives the same numbers.
    leases = (await store.list(K.lease, "axle-system")).items
    pools = {
        (p["metadata"]["namespace"], p["metadata"]["name"]): p
        for p in (await store.list(POOL, None)).items
    }
    workloads = (await store.list(AIW, None)).items

    def reserved(ns: str, exclude: str | None) -> dict[str, int]:
        total: dict[str, int] = {}
        for a in workloads:
            key = f"{a['metadata']['namespace']}/{a['metadata']['name']}"
            if a["metadata"]["namespace"] == ns and key != exclude:
                for f, n in ((a.get("status") or {}).get("gpuReservation") or {}).items():
                    total[f] = total.get(f, 0) + n
        return total

    cached = Cached(
        claims=lambda sel: claims_of(o for o in leases if (sel or ALL_CLAIMS) in claims_index(o)),
        pool=lambda ns, name: pools.get((ns, name)),
        tenant_namespaces=lambda t: [NS, "ml-dev"],
        reserved=reserved,
    )
    assert await recompute_usage(store, K, NS, cached=cached) == {H100: 14}
    assert await recompute_usage(store, K, NS, exclude=f"{NS}/a", cached=cached) == {H100: 12}
    assert await recompute_tenant_usage(store, K, "acme", cached=cached) == {H100: 18}
    assert claims_index(orphan) == [
        ALL_CLAIMS,
        f"axle.dev/project-namespace={NS}",
        "axle.dev/tenant=acme",
    ]
    assert claims_index({"metadata": {"name": "leader", "labels": {}}}) == []
