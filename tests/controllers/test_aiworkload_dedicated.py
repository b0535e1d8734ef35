"""AIWorkload with its own dedicated pool: precheck (hosts, GPU limits), creation, delete order.

The Compute inventory is written by hand (the status the Compute controller gives it); no
ComputePool controller runs, so the test moves the pool through its phases as that controller
would and holds it with a finalizer to see the AIWorkload wait for it on delete.
"""

from __future__ import annotations

import copy
from typing import Any

from axle.api.admission import admit
from axle.controllers.aiworkload_inputs import DEFAULT_INFRA_LABEL, dedicated_pool_name
from axle.controllers.manager import ControllerManager
from axle.controllers.objects import get_or_none
from axle.store.base import Obj, Store
from tests.controllers.helpers import eventually
from tests.controllers.test_aiworkload import (
    AIW,
    AXLE,
    BUNDLE,
    COMPUTE,
    H100,
    NS,
    POOL,
    PRODUCT,
    WD,
    aiw_obj,
    base,
    cond,
    edit,
    hub,
    render,
    set_status,
    wait_aiw,
    wait_phase,
    wait_wd,
)
from tests.controllers.test_tenant import K

__all__ = ["hub"]


def group(names: list[str], *, gpu: tuple[str, int] | None = None, cpu: int = 16) -> dict[str, Any]:
    g: dict[str, Any] = {
        "architecture": "AMD64",
        "cpuCount": cpu,
        "memoryMiB": 65536,
        "machines": [{"id": f"id-{n}", "name": n, "state": "available"} for n in names],
    }
    if gpu:
        g["gpu"] = {"family": gpu[0], "gpuCount": gpu[1]}
    return g


INVENTORY = {
    "lastSyncTime": "2026-01-01T00:00:00Z",
    "controlPlaneCompute": [group(["cp-1", "cp-2"])],
    "workerCompute": [group(["h100-1", "h100-2"], gpu=(H100, 8), cpu=112)],
}


def config(workers: int = 1) -> dict[str, Any]:
    return {
        "nodePoolRequirements": {
            "controlPlanePool": {"nodeCount": 1, "workerNodeEligible": True},
            "workerPools": [
                {"name": "gpu", "nodeCount": workers, "gpu": {"family": H100, "gpuCount": 8}}
            ],
        },
        "edge": {"vip": "10.0.0.100"},
    }


def infra_bundle(name: str = "infra", **labels: str) -> Obj:
    return {
        "apiVersion": AXLE,
        "kind": "ProfileBundle",
        "metadata": {"name": name, "namespace": NS, "labels": dict(labels)},
        "spec": {
            "type": "Infrastructure",
            "clusterProfiles": [{"name": "edge-k8s", "type": "Infrastructure"}],
        },
    }


async def setup(store: Store, *, limit: int = 16, infra: bool = True) -> None:
    await base(store, project_limits={H100: limit})
    await store.create(
        COMPUTE,
        {
            "apiVersion": AXLE,
            "kind": "Compute",
            "metadata": {"name": "fleet", "namespace": NS},
            "spec": {},
        },
    )
    await set_status(store, COMPUTE, NS, "fleet", **copy.deepcopy(INVENTORY))
    if infra:
        await store.create(BUNDLE, infra_bundle())


def dedicated(name: str = "chat", workers: int = 1) -> Obj:
    return aiw_obj(name, pool=None, paletteClusterDeploymentConfig=config(workers))


async def message(store: Store, name: str, part: str) -> Obj:
    return await wait_aiw(
        store, name, lambda o: part in str(o["status"].get("message")), f"message with {part}"
    )


async def test_not_enough_hosts_waits_with_what_is_missing(
    store: Store, hub: ControllerManager
) -> None:
    await setup(store)
    await store.create(AIW, dedicated(workers=3))
    obj = await message(store, "chat", "available")
    assert obj["status"]["phase"] == "Pending"
    assert obj["status"]["message"].startswith(
        f"needs 3x {H100} hosts with 8 GPUs, 2 available in Compute {NS}/fleet"
    )
    assert cond(obj, "PoolReady")["reason"] == "InsufficientCompute"
    assert await get_or_none(store, POOL, NS, "chat") is None


async def test_gpu_limits_checked_before_the_pool_exists(
    store: Store, hub: ControllerManager
) -> None:
    await setup(store, limit=8)
    await store.create(AIW, dedicated(workers=2))
    obj = await message(store, "chat", "free")
    assert obj["status"]["message"] == (
        f"needs 16 {H100}, project {NS} has 8 of 8 free (0 used) (the dedicated pool's hosts "
        "are charged whole)"
    )
    assert cond(obj, "PoolReady")["reason"] == "QuotaExceeded"
    assert await get_or_none(store, POOL, NS, "chat") is None

    def raise_limit(p: Obj) -> None:
        p["spec"]["gpuLimits"] = {H100: 16}

    await edit(store, K.project, NS, NS, raise_limit)

    async def created() -> Obj | None:
        return await get_or_none(store, POOL, NS, "chat")

    await eventually(created, what="the dedicated pool")


async def test_no_cluster_profile_says_so(store: Store, hub: ControllerManager) -> None:
    await setup(store, infra=False)
    await store.create(AIW, dedicated())
    obj = await message(store, "chat", "cluster profile")
    assert cond(obj, "PoolReady")["reason"] == "ClusterProfileMissing"
    assert "use a Fullstack bundle" in obj["status"]["message"]


async def test_dedicated_pool_created_owned_provisioned_then_deleted_in_order(
    store: Store, hub: ControllerManager
) -> None:
    await setup(store)
    await store.create(BUNDLE, infra_bundle("other-infra", **{DEFAULT_INFRA_LABEL: "true"}))
    await store.create(AIW, dedicated())

    async def created() -> Obj | None:
        return await get_or_none(store, POOL, NS, "chat")

    pool = await eventually(created, what="the dedicated pool")
    aiw = await store.get(AIW, NS, "chat")
    owner = pool["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "AIWorkload",
        aiw["metadata"]["uid"],
        True,
    )
    # The labelled Infrastructure bundle builds the cluster (the app bundle has no cluster).
    assert pool["spec"]["profileBundleRef"] == {"name": "other-infra", "namespace": NS}
    admit(POOL, pool)
    assert pool["spec"]["clusterVariant"] == {
        "dedicated": {"paletteClusterDeploymentConfig": config()}
    }
    obj = await wait_phase(store, "chat", "Provisioning")
    assert obj["status"]["message"] == "pool chat is Pending: not reconciled yet"
    await set_status(
        store, POOL, NS, "chat", phase="Provisioning", message="cluster chat-1 is Provisioning"
    )
    await message(store, "chat", "cluster chat-1 is Provisioning")

    await set_status(store, POOL, NS, "chat", phase="Running", message="1 cluster running")
    wd = await wait_wd(store, "chat-web")
    assert wd["spec"]["suspend"] is False  # dedicated: charged by the pool's claims
    assert wd["spec"]["environmentRef"] == {"name": "chat"}
    await render(store, "chat-web", 1, gpus={PRODUCT: 8}, phase="Running")
    obj = await wait_phase(store, "chat", "Running")
    assert obj["status"].get("gpuReservation") is None
    assert obj["status"]["gpuRequests"] == {H100: 8}
    assert cond(obj, "QuotaReserved")["reason"] == "DedicatedPool"

    # The pool controller's finalizer holds the pool until its clusters are gone.
    await edit(store, POOL, NS, "chat", lambda p: p["metadata"].update(finalizers=["cp/x"]))
    await store.delete(AIW, NS, "chat")
    obj = await message(store, "chat", "waiting for dedicated pool chat to be deleted")
    assert obj["status"]["phase"] == "Deleting"
    assert await get_or_none(store, WD, NS, "chat-web") is None  # deployments went first
    assert (await store.get(POOL, NS, "chat"))["metadata"].get("deletionTimestamp")
    await edit(store, POOL, NS, "chat", lambda p: p["metadata"].update(finalizers=[]))

    async def gone() -> bool:
        return await get_or_none(store, AIW, NS, "chat") is None

    await eventually(gone, what="the AIWorkload gone")


def test_dedicated_pool_names() -> None:
    assert dedicated_pool_name("chat") == "chat"
    long = dedicated_pool_name("a-very-long-aiworkload-name-that-does-not-fit")
    assert len(long) <= 33 and long.startswith("a-very-long")
    assert long == dedicated_pool_name("a-very-long-aiworkload-name-that-does-not-fit")
    assert dedicated_pool_name("9lives")[0].isalpha()
