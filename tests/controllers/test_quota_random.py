"""Quota usage always equals a from-scratch recomputation, after random histories.

Each sequence (seeded, so a failure replays) applies random operations to two projects of one
tenant: create an AIWorkload on a shared pool requesting 0-4 GPUs, delete one, create a
dedicated or shared pool holding hosts (claims, as the ComputePool controller makes them, with
its usage write), delete one, and restart the controllers (a new reconciler on the same
store). A stand-in for the WorkloadDeployment controller renders every deployment as it
appears. Once the sequence settles, `Project.status.gpuUsage` and `Tenant.status.gpuUsage`
must equal usage computed here independently from the store (dedicated pools' claims plus
shared-pool reservations), and every reservation must equal what its workload requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from pathlib import Path

import pytest

from axle.controllers.quota import write_usage
from axle.controllers.reservations import HostClaim, claim_all, release_pool
from axle.errors import Conflict, NotFound
from axle.store.base import Store
from tests.controllers.conftest import open_sqlite
from tests.controllers.fakestore import FakeStore
from tests.controllers.helpers import eventually
from tests.controllers.test_aiworkload import (
    AIW,
    H100,
    POOL,
    PRODUCT,
    WD,
    aiw_obj,
    bundle_obj,
    profile_obj,
    project_obj,
    shared_pool_obj,
    start,
    tenant_obj,
)
from tests.controllers.test_tenant import K

PROJECTS = ("ml-prod", "ml-dev")
BUNDLE = K.registry.by_group_kind("axle.dev", "ProfileBundle")
PROFILE = K.registry.by_group_kind("axle.dev", "WorkloadProfile")


async def fake_b(store: Store) -> None:
    """Render each deployment's current revision: GPUs from the AIWorkload's `gpus` variable."""
    while True:
        for wd in (await store.list(WD, None)).items:
            st = wd.get("status") or {}
            if st.get("observedRevision") == wd["spec"].get("revision"):
                continue
            gpus = int((wd["spec"].get("variables") or {}).get("gpus") or 0)
            wd["status"] = {
                **st,
                "observedRevision": wd["spec"].get("revision"),
                "phase": "Running",
                "gpuRequests": {PRODUCT: gpus} if gpus else {},
            }
            with contextlib.suppress(Conflict, NotFound):
                await store.update(WD, wd, subresource="status")
        await asyncio.sleep(0.005)


async def setup(store: Store) -> None:
    await store.create(K.tenant, tenant_obj({H100: 12}))
    for ns in PROJECTS:
        project = project_obj({H100: 8})
        project["metadata"] = {"name": ns, "namespace": ns}
        await store.create(K.project, project)
        await store.create(
            PROFILE, {**profile_obj("web"), "metadata": {"name": "web", "namespace": ns}}
        )
        bundle = bundle_obj()
        bundle["metadata"]["namespace"] = ns
        await store.create(BUNDLE, bundle)
        pool = shared_pool_obj()
        pool["metadata"]["namespace"] = ns
        pool["status"] = {"phase": "Running"}
        created = await store.create(POOL, pool)
        created["status"] = {"phase": "Running", "message": "ok"}
        await store.update(POOL, created, subresource="status")


async def expected_usage(store: Store) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Usage per project and for the tenant, computed here from the store."""
    per: dict[str, dict[str, int]] = {ns: {} for ns in PROJECTS}
    leases = (
        await store.list(K.lease, "axle-system", label_selector="axle.dev/host-claim=true")
    ).items
    for lease in leases:
        holder = lease["spec"]["holderIdentity"]
        ns, _, name = holder.partition("/")
        try:
            pool = await store.get(POOL, ns, name)
            if pool["metadata"]["uid"] == lease["metadata"]["labels"]["axle.dev/pool-uid"] and (
                "shared" in pool["spec"]["clusterVariant"]
            ):
                continue
        except NotFound:
            pass
        for family, n in json.loads(lease["metadata"]["annotations"]["axle.dev/gpus"]).items():
            per[ns][family] = per[ns].get(family, 0) + n
    for ns in PROJECTS:
        for aiw in (await store.list(AIW, ns)).items:
            for family, n in ((aiw.get("status") or {}).get("gpuReservation") or {}).items():
                per[ns][family] = per[ns].get(family, 0) + n
    tenant: dict[str, int] = {}
    for usage in per.values():
        for family, n in usage.items():
            tenant[family] = tenant.get(family, 0) + n
    clean = {ns: {f: n for f, n in sorted(u.items()) if n} for ns, u in per.items()}
    return clean, {f: n for f, n in sorted(tenant.items()) if n}


async def settled(store: Store) -> bool:
    for ns in PROJECTS:
        for aiw in (await store.list(AIW, ns)).items:
            st = aiw.get("status") or {}
            if aiw["metadata"].get("deletionTimestamp"):
                return False
            want = int((aiw["spec"].get("variables") or {}).get("gpus") or 0)
            reserved = st.get("gpuReservation")
            if reserved is not None:
                if reserved != ({H100: want} if want else {}):
                    return False
            elif "waiting for GPU quota" not in str(st.get("message")):
                return False
    per, tenant = await expected_usage(store)
    for ns in PROJECTS:
        got = ((await store.get(K.project, ns, ns)).get("status") or {}).get("gpuUsage") or {}
        if got != per[ns]:
            return False
    got = ((await store.get(K.tenant, None, "acme")).get("status") or {}).get("gpuUsage") or {}
    return bool(got == tenant)


async def make_pool(store: Store, rng: random.Random, n: int) -> None:
    ns = rng.choice(PROJECTS)
    pool = shared_pool_obj(f"p{n}")
    pool["metadata"]["namespace"] = ns
    if rng.random() < 0.6:
        cv = pool["spec"]["clusterVariant"]
        cv["dedicated"] = {
            "paletteClusterDeploymentConfig": cv.pop("shared")["paletteClusterDeploymentConfig"]
        }
    created = await store.create(POOL, pool)
    hosts = [
        HostClaim(f"h{n}-{i}", f"h{n}-{i}", "c", "worker", "gpu", {H100: rng.choice((0, 2, 4))})
        for i in range(rng.randint(1, 2))
    ]
    assert await claim_all(store, K.lease, created, hosts, "acme") is None
    await write_usage(store, K, await store.get(K.project, ns, ns), "acme")


async def drop_pool(store: Store, rng: random.Random) -> None:
    pools = [
        p
        for ns in PROJECTS
        for p in (await store.list(POOL, ns)).items
        if p["metadata"]["name"] != "shared"
    ]
    if not pools:
        return
    pool = rng.choice(pools)
    ns = pool["metadata"]["namespace"]
    await release_pool(store, K.lease, pool["metadata"]["uid"])
    with contextlib.suppress(NotFound):
        await store.delete(POOL, ns, pool["metadata"]["name"])
    await write_usage(store, K, await store.get(K.project, ns, ns), "acme")


async def run_sequence(store: Store, tmp_path: Path, seed: int, steps: int) -> list[str]:
    rng = random.Random(seed)
    await setup(store)
    mgr = await start(store, tmp_path)
    b = asyncio.create_task(fake_b(store))
    log: list[str] = []
    try:
        for n in range(steps):
            op = rng.choices(
                ["create", "delete", "pool", "unpool", "restart"], weights=[5, 2, 2, 1, 1]
            )[0]
            log.append(op)
            if op == "create":
                ns = rng.choice(PROJECTS)
                obj = aiw_obj(f"w{n}", variables={"gpus": rng.randint(0, 4)})
                obj["metadata"]["namespace"] = ns
                await store.create(AIW, obj)
            elif op == "delete":
                existing = [a for ns in PROJECTS for a in (await store.list(AIW, ns)).items]
                if existing:
                    victim = rng.choice(existing)
                    with contextlib.suppress(NotFound):
                        await store.delete(
                            AIW, victim["metadata"]["namespace"], victim["metadata"]["name"]
                        )
            elif op == "pool":
                await make_pool(store, rng, n)
            elif op == "unpool":
                await drop_pool(store, rng)
            else:
                await mgr.stop()
                mgr = await start(store, tmp_path)
            if rng.random() < 0.5:
                await asyncio.sleep(rng.random() * 0.02)
        await eventually(lambda: settled(store), within=20, what=f"seed {seed} settles {log}")
    finally:
        b.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await b
        await mgr.stop()
    return log


@pytest.mark.parametrize("seed", range(30))
async def test_random_histories_fake_store(seed: int, tmp_path: Path) -> None:
    log = await run_sequence(FakeStore(), tmp_path, seed, steps=15)  # type: ignore[arg-type]
    assert log


@pytest.mark.parametrize("seed", range(3))
async def test_random_histories_sqlite(seed: int, tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path / "axle.db")
    try:
        assert await run_sequence(store, tmp_path, 1000 + seed, steps=15)
    finally:
        await store.close()
