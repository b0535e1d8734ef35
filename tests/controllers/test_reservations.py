"""Host claims on the store alone: two pools claiming overlapping hosts at the same moment.

No reconciler and no lock here: only the store's create decides, as it would between two hub
processes. Run 20 times on both stores; every time exactly one pool holds all the hosts and the
other holds none.
"""

from __future__ import annotations

import asyncio

from axle.controllers.reservations import (
    PROJECT_LABEL,
    HostClaim,
    claim_all,
    gpu_usage,
    list_claims,
    pool_claims,
    release_pool,
    usage_by,
)
from axle.store.base import Obj, Store
from tests.controllers.test_tenant import K

POOL = K.registry.by_group_kind("axle.dev", "ComputePool")


async def make_pool(store: Store, name: str) -> Obj:
    return await store.create(
        POOL,
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "ComputePool",
            "metadata": {"name": name, "namespace": "ml-prod"},
            "spec": {},
        },
    )


def claims_for(hosts: list[str]) -> list[HostClaim]:
    return [HostClaim(h, h, "c", "worker", "gpu", {"NVIDIA-H100": 8}) for h in hosts]


async def test_two_pools_claiming_the_same_hosts_one_wins_every_time(store: Store) -> None:
    for round_ in range(20):
        a = await make_pool(store, f"a-{round_}")
        b = await make_pool(store, f"b-{round_}")
        # Overlapping but differently ordered requests: b wants the same 4 hosts reversed.
        hosts = [f"edge-{round_}-{i}" for i in range(4)]
        results = await asyncio.gather(
            claim_all(store, K.lease, a, claims_for(hosts), "acme"),
            claim_all(store, K.lease, b, claims_for(list(reversed(hosts))), "acme"),
        )
        winners = [r is None for r in results]
        assert sum(winners) == 1, results
        held_a = await pool_claims(store, K.lease, a["metadata"]["uid"])
        held_b = await pool_claims(store, K.lease, b["metadata"]["uid"])
        assert sorted(len(x) for x in (held_a, held_b)) == [0, 4]
        everything = await list_claims(store, K.lease)
        assert len({c.host_uid for c in everything}) == len(everything)
        winner = a if winners[0] else b
        assert {c.holder for c in held_a + held_b} == {f"ml-prod/{winner['metadata']['name']}"}
        assert await release_pool(store, K.lease, winner["metadata"]["uid"]) == 4
    assert await list_claims(store, K.lease) == []


async def test_a_rerun_keeps_its_own_claims_and_usage_comes_from_claims(store: Store) -> None:
    pool = await make_pool(store, "a-0")
    hosts = ["edge-1", "edge-2"]
    assert await claim_all(store, K.lease, pool, claims_for(hosts), "acme") is None
    # The same pool again (a pass after a crash): its own claims are not "taken".
    assert await claim_all(store, K.lease, pool, claims_for(hosts), "acme") is None
    assert await usage_by(store, K.lease, PROJECT_LABEL, "ml-prod") == {"NVIDIA-H100": 16}
    assert gpu_usage(await list_claims(store, K.lease)) == {"NVIDIA-H100": 16}
    other = await make_pool(store, "b-0")
    assert (
        await claim_all(store, K.lease, other, claims_for(["edge-0", "edge-2"]), "acme") == "edge-2"
    )
    # The loser released what it took before meeting the taken host.
    assert await pool_claims(store, K.lease, other["metadata"]["uid"]) == []
