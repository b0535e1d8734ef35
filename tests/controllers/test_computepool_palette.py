"""ComputePools against the Palette simulator (in this process, zero provisioning time).

The hub side is the controller manager with the tenancy, Compute and ComputePool reconcilers
over the in-memory and the SQLite store; Palette is `axle.sim.palette.serve` on a free port,
seeded from `examples/inventory/small-fleet.yaml` (3 control-plane hosts, 4 H100 hosts with 8
GPUs each, A100 and L40S hosts). The spoke agent is replaced by `JoiningInstaller`, which does
what a joined agent's heartbeats do to the Spoke (Joined and Available True, capacity), so
these tests cover the pool's lifecycle; the agent itself has its own tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from axle.api.meta import SYSTEM_NAMESPACE, get_condition, set_condition
from axle.controllers.compute import ComputeReconciler
from axle.controllers.computepool import FINALIZER, ComputePoolReconciler
from axle.controllers.controller import Context
from axle.controllers.integrations import SettingsReconciler
from axle.controllers.manager import ControllerManager
from axle.controllers.namespace import NamespaceReconciler
from axle.controllers.project import ProjectReconciler
from axle.controllers.reservations import CLAIM_LABEL, list_claims
from axle.controllers.spokeinstaller import AgentRequest
from axle.controllers.tenant import TenantReconciler
from axle.errors import Conflict, NotFound
from axle.providers.base import Unreachable
from axle.sim.palette import SimConfig, serve
from axle.store.base import Obj, Store
from tests.controllers.conftest import fast_settings
from tests.controllers.helpers import eventually
from tests.controllers.test_compute_palette import COMPUTE, ROOT, SMALL_FLEET, quickstart
from tests.controllers.test_tenant import K

POOL = K.registry.by_group_kind("axle.dev", "ComputePool")
SPOKE = K.registry.by_group_kind("axle.dev", "Spoke")
WORK = K.registry.by_group_kind("axle.dev", "Work")
BUNDLE = K.registry.by_group_kind("axle.dev", "ProfileBundle")
ENVIRONMENT = K.registry.by_group_kind("axle.dev", "Environment")


class JoiningInstaller:
    """Stands in for the agent: on install, the Spoke joins and reports capacity."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.running: set[str] = set()
        self.installs: list[str] = []
        self.join = True

    def installed(self, spoke: str) -> bool:
        return spoke in self.running

    async def install(self, request: AgentRequest) -> None:
        assert request.kubeconfig.strip() and request.bootstrap_token
        self.running.add(request.spoke)
        self.installs.append(request.spoke)
        if self.join:
            await set_spoke(self.store, request.spoke, "True", gpus=16)

    async def uninstall(self, spoke: str, kubeconfig: str | None = None) -> None:
        self.running.discard(spoke)

    async def aclose(self) -> None:
        self.running.clear()


async def set_spoke(store: Store, name: str, available: str, gpus: int = 16) -> None:
    for _ in range(20):
        spoke = await store.get(SPOKE, None, name)
        status = copy.deepcopy(spoke.get("status") or {})
        conds = status.setdefault("conditions", [])
        set_condition(conds, "Joined", "True", "Joined", "joined")
        set_condition(conds, "Available", available, "Heartbeat", "heartbeat")
        status["capacity"] = {"nvidia.com/gpu": gpus}
        status["lastHeartbeatTime"] = "2026-01-01T00:00:00Z"
        spoke["status"] = status
        try:
            await store.update(SPOKE, spoke, subresource="status")
            return
        except Exception:  # a conflict with the controller: read again
            await asyncio.sleep(0.01)


@pytest.fixture
async def palette_url() -> AsyncIterator[str]:
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    config = SimConfig(
        inventory=SMALL_FLEET,
        port=0,
        tick_seconds=0,
        provisioning_seconds=0,
        pending_seconds=0,
        deletion_seconds=0,
    )
    task = asyncio.create_task(serve(config, on_ready=ready.set_result))
    try:
        yield await asyncio.wait_for(ready, 10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def reconcilers(installer: JoiningInstaller) -> list[Callable[[Context], Any]]:
    return [
        TenantReconciler,
        ProjectReconciler,
        SettingsReconciler,
        NamespaceReconciler,
        partial(ComputeReconciler, sync_seconds=0.2),
        partial(
            ComputePoolReconciler,
            installer=installer,
            hub_url="http://hub.test",
            poll_seconds=0.05,
            wait_seconds=0.2,
        ),
    ]


async def start_hub(store: Store, tmp_path: Path, installer: JoiningInstaller) -> ControllerManager:
    mgr = ControllerManager(
        store, fast_settings(tmp_path), "test-hub", reconcilers=reconcilers(installer)
    )
    await mgr.start()
    await eventually(mgr.ready.is_set, what="controllers running")
    return mgr


@pytest.fixture
async def installer(store: Store) -> JoiningInstaller:
    return JoiningInstaller(store)


@pytest.fixture
async def hub(
    store: Store, tmp_path: Path, installer: JoiningInstaller
) -> AsyncIterator[ControllerManager]:
    mgr = await start_hub(store, tmp_path, installer)
    try:
        yield mgr
    finally:
        await mgr.stop()


def bundle(ns: str = "ml-prod") -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "ProfileBundle",
        "metadata": {"name": "edge-infra", "namespace": ns},
        "spec": {
            "type": "Infrastructure",
            "clusterProfiles": [{"name": "edge-k8s", "type": "Infrastructure"}],
        },
    }


def pool(
    name: str,
    *,
    workers: int = 2,
    family: str = "NVIDIA-H100",
    variant: str = "dedicated",
    policy: str = "delete",
    ns: str = "ml-prod",
) -> Obj:
    config = {
        "nodePoolRequirements": {
            "controlPlanePool": {"nodeCount": 1, "workerNodeEligible": True},
            "workerPools": [
                {"name": "gpu", "nodeCount": workers, "gpu": {"family": family, "gpuCount": 8}}
            ],
        },
        "deletionPolicy": policy,
    }
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "ComputePool",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "profileBundleRef": {"name": "edge-infra", "namespace": ns},
            "clusterVariant": {variant: {"paletteClusterDeploymentConfig": config}},
        },
    }


async def setup(store: Store, url: str, *, h100_limit: int = 24) -> None:
    await quickstart(store, url)
    for _ in range(50):
        project = await store.get(K.project, "ml-prod", "ml-prod")
        project["spec"]["gpuLimits"] = {"NVIDIA-H100": h100_limit}
        try:
            await store.update(K.project, project)
            break
        except Conflict:
            continue
    await store.create(BUNDLE, bundle())

    async def synced() -> bool:
        st = (await store.get(COMPUTE, "ml-prod", "fleet")).get("status") or {}
        return bool(st.get("lastSyncTime"))

    await eventually(synced, what="the Compute inventory")


async def get_pool(store: Store, name: str) -> Obj:
    return await store.get(POOL, "ml-prod", name)


async def phase_of(store: Store, name: str) -> str | None:
    try:
        return ((await get_pool(store, name)).get("status") or {}).get("phase")
    except Exception:
        return None


async def wait_phase(store: Store, name: str, phase: str, within: float = 20.0) -> Obj:
    async def check() -> Obj | None:
        obj = await get_pool(store, name)
        return obj if (obj.get("status") or {}).get("phase") == phase else None

    return await eventually(check, within=within, what=f"pool {name} {phase}")


async def palette_clusters(url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, headers={"ApiKey": "sim-api-key"}) as c:
        r = await c.post("/v1/dashboard/spectroclusters/search", json={}, params={"limit": 50})
        r.raise_for_status()
        return list(r.json()["items"])


async def machine_states(store: Store) -> dict[str, str]:
    st = (await store.get(COMPUTE, "ml-prod", "fleet")).get("status") or {}
    return {
        m["name"]: m["state"]
        for key in ("controlPlaneCompute", "workerCompute")
        for g in st.get(key) or []
        for m in g["machines"]
    }


async def test_dedicated_pool_runs_and_delete_frees_the_hosts(
    store: Store, hub: ControllerManager, palette_url: str, installer: JoiningInstaller
) -> None:
    await setup(store, palette_url)
    await store.create(POOL, pool("train"))
    obj = await wait_phase(store, "train", "Running")
    st = obj["status"]
    assert st["variant"] == "dedicated"
    assert FINALIZER in obj["metadata"]["finalizers"]
    [cluster] = st["clusters"]
    assert cluster["name"] == f"train-{obj['metadata']['uid'].replace('-', '')[:8]}"
    assert cluster["phase"] == "Running" and cluster["paletteClusterUid"]
    roles = sorted((m["role"], m["name"]) for m in st["reservedMachines"])
    assert [r for r, _ in roles] == ["control-plane", "worker", "worker"]
    assert st["capacity"]["gpu"] == {"NVIDIA-H100": 16}
    assert st["capacity"]["spokes"][cluster["name"]] == {"nvidia.com/gpu": 16}
    for ctype in ("ComputeAvailable", "QuotaAvailable", "ClusterProvisioned", "SpokeJoined"):
        assert (get_condition(obj, ctype) or {}).get("status") == "True", ctype
    spoke = await store.get(SPOKE, None, cluster["name"])
    assert spoke["spec"]["computePoolRef"] == {"name": "train", "namespace": "ml-prod"}
    secret = await store.get(K.secret, "ml-prod", "train-kubeconfig")
    assert cluster["name"] in secret["data"] and "kubeconfig" in secret["data"]
    tokens = await store.list(
        K.secret, SYSTEM_NAMESPACE, label_selector=f"axle.dev/spoke={cluster['name']}"
    )
    assert tokens.items, "a bootstrap token Secret"
    env = await store.get(ENVIRONMENT, "ml-prod", "train")
    assert env["spec"]["computePoolRefs"] == [{"name": "train"}]
    project = await store.get(K.project, "ml-prod", "ml-prod")
    assert project["status"]["gpuUsage"] == {"NVIDIA-H100": 16}
    tenant = await store.get(K.tenant, None, "acme")
    assert tenant["status"]["gpuUsage"] == {"NVIDIA-H100": 16}
    [palette] = await palette_clusters(palette_url)
    assert palette["metadata"]["name"] == cluster["name"]
    reserved = {m["name"] for m in st["reservedMachines"]}

    async def in_use() -> bool:
        states = await machine_states(store)
        return all(states[n] == "in-use" for n in reserved)

    await eventually(in_use, what="the reserved hosts in-use in Compute")

    await store.delete(POOL, "ml-prod", "train")

    async def gone() -> bool:
        try:
            await get_pool(store, "train")
            return False
        except Exception:
            return True

    await eventually(gone, what="the pool deleted")
    assert await palette_clusters(palette_url) == []

    async def freed() -> bool:
        states = await machine_states(store)
        return all(states[n] == "available" for n in reserved)

    await eventually(freed, what="the hosts available again in Compute")
    assert await list_claims(store, K.lease) == []
    assert (await store.get(K.project, "ml-prod", "ml-prod"))["status"]["gpuUsage"] == {}
    with pytest.raises(NotFound):
        await store.get(SPOKE, None, cluster["name"])
    with pytest.raises(NotFound):
        await store.get(K.secret, "ml-prod", "train-kubeconfig")


async def test_insufficient_compute_names_what_is_missing(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    await setup(store, palette_url, h100_limit=64)
    await store.create(POOL, pool("huge", workers=5))
    obj = await wait_phase(store, "huge", "Pending")

    async def reason() -> Obj | None:
        o = await get_pool(store, "huge")
        c = get_condition(o, "ComputeAvailable") or {}
        return o if c.get("reason") == "InsufficientCompute" else None

    obj = await eventually(reason, what="InsufficientCompute")
    msg = get_condition(obj, "ComputeAvailable")["message"]  # type: ignore[index]
    assert "needs 5x NVIDIA-H100 hosts with 8 GPUs, 4 available" in msg
    env = await store.get(ENVIRONMENT, "ml-prod", "huge")  # there from the start
    assert env["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
    assert await list_claims(store, K.lease) == []
    assert await palette_clusters(palette_url) == []


async def test_quota_exceeded_with_numbers(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    await setup(store, palette_url, h100_limit=24)
    await store.create(POOL, pool("first", workers=2))
    await wait_phase(store, "first", "Running")
    await store.create(POOL, pool("second", workers=2))

    async def exceeded() -> Obj | None:
        o = await get_pool(store, "second")
        c = get_condition(o, "QuotaAvailable") or {}
        return o if c.get("reason") == "QuotaExceeded" else None

    obj = await eventually(exceeded, what="QuotaExceeded")
    msg = get_condition(obj, "QuotaAvailable")["message"]  # type: ignore[index]
    assert "needs 16 NVIDIA-H100, project ml-prod has 16 of limit 24 in use" in msg
    assert obj["status"]["phase"] == "Pending"
    claims = await list_claims(store, K.lease)
    assert {c.holder for c in claims} == {"ml-prod/first"}
    assert len(await palette_clusters(palette_url)) == 1


async def test_two_pools_race_for_the_last_hosts(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    """4 H100 hosts, two pools of 1+3: exactly one gets them, the other waits."""
    await setup(store, palette_url, h100_limit=64)
    for round_ in range(20):
        a, b = f"race-a-{round_}", f"race-b-{round_}"
        await asyncio.gather(
            store.create(POOL, pool(a, workers=3)), store.create(POOL, pool(b, workers=3))
        )

        async def settled(a: str = a, b: str = b) -> tuple[str | None, str | None] | None:
            phases = (await phase_of(store, a), await phase_of(store, b))
            return phases if sorted(map(str, phases)) == ["Pending", "Running"] else None

        phases = await eventually(settled, what=f"round {round_}: one Running, one Pending")
        loser = b if phases[0] == "Running" else a

        async def waits(loser: str = loser) -> dict[str, Any] | None:
            cond = get_condition(await get_pool(store, loser), "ComputeAvailable") or {}
            return cond if cond.get("reason") == "InsufficientCompute" else None

        cond = await eventually(waits, what=f"round {round_}: the loser InsufficientCompute")
        assert cond["message"].startswith("needs 3x NVIDIA-H100 hosts with 8 GPUs, 1 available")
        claims = await list_claims(store, K.lease)
        assert len(claims) == len({c.host_uid for c in claims}) == 4
        assert len({c.holder for c in claims}) == 1
        assert len(await palette_clusters(palette_url)) == 1
        for name in (a, b):
            await store.delete(POOL, "ml-prod", name)

        async def empty() -> bool:
            return not (await store.list(POOL, "ml-prod")).items and not (
                await palette_clusters(palette_url)
            )

        await eventually(empty, what="both pools gone")

        async def available() -> bool:
            states = await machine_states(store)
            return all(s == "available" for n, s in states.items() if "h100" in n)

        await eventually(available, what="H100 hosts available again")


async def test_crash_after_create_adopts_the_cluster(
    store: Store, tmp_path: Path, palette_url: str
) -> None:
    """The hub dies after the create call and before recording the uid: a new hub adopts."""
    installer = JoiningInstaller(store)
    installer.join = False
    mgr = await start_hub(store, tmp_path, installer)
    try:
        await setup(store, palette_url)
        await store.create(POOL, pool("crash"))

        async def created() -> bool:
            return len(await palette_clusters(palette_url)) == 1

        await eventually(created, what="the Palette cluster created")
    finally:
        await mgr.stop()
    # Forget the uid, as if the process had died between the create and the status write.
    obj = await get_pool(store, "crash")
    st = copy.deepcopy(obj["status"])
    for entry in st["clusters"]:
        entry.pop("paletteClusterUid", None)
        entry["phase"] = "Creating"
    obj["status"] = st
    await store.update(POOL, obj, subresource="status")
    claims_before = sorted(c.host_uid for c in await list_claims(store, K.lease))

    installer2 = JoiningInstaller(store)
    mgr2 = await start_hub(store, tmp_path, installer2)
    try:
        await wait_phase(store, "crash", "Running")
        assert len(await palette_clusters(palette_url)) == 1
        claims = await list_claims(store, K.lease)
        assert sorted(c.host_uid for c in claims) == claims_before
        assert len({c.host_uid for c in claims}) == len(claims) == 3
    finally:
        await mgr2.stop()


async def test_orphan_keeps_the_palette_cluster(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    await setup(store, palette_url)
    await store.create(POOL, pool("keep", policy="orphan"))
    obj = await wait_phase(store, "keep", "Running")
    name = obj["status"]["clusters"][0]["name"]
    await store.delete(POOL, "ml-prod", "keep")

    async def gone() -> bool:
        return not (await store.list(POOL, "ml-prod")).items

    await eventually(gone, what="the pool deleted")
    [cluster] = await palette_clusters(palette_url)
    assert cluster["metadata"]["name"] == name
    assert await list_claims(store, K.lease) == []
    with pytest.raises(NotFound):
        await store.get(SPOKE, None, name)


async def test_deletion_waits_for_works(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    await setup(store, palette_url)
    await store.create(POOL, pool("busy"))
    obj = await wait_phase(store, "busy", "Running")
    name = obj["status"]["clusters"][0]["name"]
    await store.create(K.namespace, {"metadata": {"name": f"spoke-{name}"}})
    work = {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Work",
        "metadata": {"name": "app", "namespace": f"spoke-{name}"},
        "spec": {"artifact": {"url": "oci://registry.test/app", "digest": "sha256:" + "a" * 64}},
    }
    await store.create(WORK, work)
    await store.delete(POOL, "ml-prod", "busy")
    obj = await wait_phase(store, "busy", "Deleting")
    assert (get_condition(obj, "Ready") or {}).get("reason") == "WorkloadsRemain"
    assert len(await palette_clusters(palette_url)) == 1
    await store.delete(WORK, f"spoke-{name}", "app")

    async def gone() -> bool:
        return not (await store.list(POOL, "ml-prod")).items

    await eventually(gone, what="the pool deleted once the Work is gone")
    assert await palette_clusters(palette_url) == []


async def test_unavailable_spoke_degrades_the_pool(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    await setup(store, palette_url)
    await store.create(POOL, pool("flaky"))
    obj = await wait_phase(store, "flaky", "Running")
    name = obj["status"]["clusters"][0]["name"]
    await set_spoke(store, name, "Unknown")
    obj = await wait_phase(store, "flaky", "Degraded")
    assert "last heartbeat" in obj["status"]["message"]
    assert name in obj["status"]["message"]
    await set_spoke(store, name, "True")
    await wait_phase(store, "flaky", "Running")


async def test_claims_are_leases_owned_by_the_pool(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    await setup(store, palette_url)
    await store.create(POOL, pool("owned"))
    obj = await wait_phase(store, "owned", "Running")
    leases = await store.list(K.lease, SYSTEM_NAMESPACE, label_selector=f"{CLAIM_LABEL}=true")
    assert len(leases.items) == 3
    for lease in leases.items:
        assert lease["spec"]["holderIdentity"] == "ml-prod/owned"
        assert lease["metadata"]["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
        assert lease["metadata"]["name"].startswith("host-edge-")
    _ = datetime.now(UTC)


async def test_the_quickstart_shared_pool_runs(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    import yaml

    await quickstart(store, palette_url)
    docs = list(yaml.safe_load_all((ROOT / "examples" / "quickstart" / "50-pool.yaml").read_text()))
    [bundle_doc] = [d for d in docs if d["kind"] == "ProfileBundle"]
    [pool_doc] = [d for d in docs if d["kind"] == "ComputePool"]
    await store.create(BUNDLE, bundle_doc)
    await store.create(POOL, pool_doc)
    obj = await wait_phase(store, "shared-h100", "Running")
    assert obj["status"]["variant"] == "shared"
    assert obj["status"]["capacity"]["gpu"] == {"NVIDIA-H100": 16}
    names = sorted(m["name"] for m in obj["status"]["reservedMachines"])
    assert names[0].startswith("cp-") and all(n.startswith("gpu-h100-") for n in names[1:])


async def test_a_shared_pool_of_two_clusters(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    await setup(store, palette_url)
    obj = pool("twins", workers=1, variant="shared")
    obj["spec"]["clusterVariant"]["shared"]["clusterCount"] = 2
    await store.create(POOL, obj)
    obj = await wait_phase(store, "twins", "Running")
    clusters = obj["status"]["clusters"]
    assert [c["name"][-2:] for c in clusters] == ["-0", "-1"]
    assert sorted(c["metadata"]["name"] for c in await palette_clusters(palette_url)) == sorted(
        c["name"] for c in clusters
    )
    by_cluster: dict[str, set[str]] = {}
    for m in obj["status"]["reservedMachines"]:
        by_cluster.setdefault(m["cluster"], set()).add(m["id"])
    assert len(by_cluster) == 2 and not set.intersection(*by_cluster.values())
    for c in clusters:
        assert (await store.get(SPOKE, None, c["name"]))["spec"]["computePoolRef"][
            "name"
        ] == "twins"
    secret = await store.get(K.secret, "ml-prod", "twins-kubeconfig")
    assert all(c["name"] in secret["data"] for c in clusters)
    assert obj["status"]["capacity"]["gpu"] == {"NVIDIA-H100": 16}


async def test_a_palette_error_fails_the_pool_with_palettes_message(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    async with httpx.AsyncClient(base_url=palette_url) as c:
        r = await c.post(
            "/admin/provisioning-failures",
            json={"count": 1, "message": "kubeadm init failed on cp-01: etcd did not start"},
        )
        assert r.status_code < 300, r.text
    await setup(store, palette_url)
    await store.create(POOL, pool("doomed"))
    obj = await wait_phase(store, "doomed", "Failed")
    cond = get_condition(obj, "ClusterProvisioned") or {}
    assert cond.get("reason") == "ProvisioningFailed"
    assert "etcd did not start" in cond["message"]
    assert "delete the pool" in obj["status"]["message"]
    # Deleting a failed pool deletes its Palette cluster, which frees the hosts.
    await store.delete(POOL, "ml-prod", "doomed")

    async def gone() -> bool:
        return not (await store.list(POOL, "ml-prod")).items

    await eventually(gone, what="the failed pool deleted")
    assert await palette_clusters(palette_url) == []
    assert await list_claims(store, K.lease) == []


async def add_fault(url: str, **rule: Any) -> None:
    async with httpx.AsyncClient(base_url=url) as c:
        r = await c.post("/admin/faults", json=rule)
        assert r.status_code < 300, r.text


async def clear_faults(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as c:
        (await c.delete("/admin/faults")).raise_for_status()


async def test_a_refused_create_releases_the_hosts_and_tries_again(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    await setup(store, palette_url)
    await add_fault(
        palette_url,
        status=409,
        count=1,
        method="POST",
        path="/v1/spectroclusters/edge-native",
        message="edge host gpu-h100-01 is in use by cluster legacy",
    )

    async def refused() -> Obj | None:
        events = (await store.list(K.event, "ml-prod")).items
        return next((e for e in events if e["reason"] == "CreateRefused"), None)

    await store.create(POOL, pool("retry"))
    event = await eventually(refused, what="a CreateRefused event")
    assert event["type"] == "Warning"
    assert "in use by cluster legacy" in event["message"]
    assert "hosts were released" in event["message"]
    # The fault fired once: the next pass reserves again and the pool comes up.
    await wait_phase(store, "retry", "Running")
    assert len(await palette_clusters(palette_url)) == 1
    assert len(await list_claims(store, K.lease)) == 3


async def test_deletion_waits_while_palette_refuses_to_delete(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    await setup(store, palette_url)
    await store.create(POOL, pool("sticky"))
    await wait_phase(store, "sticky", "Running")
    await add_fault(
        palette_url, status=400, method="DELETE", path="/v1/spectroclusters/*", message="busy"
    )
    await store.delete(POOL, "ml-prod", "sticky")
    obj = await wait_phase(store, "sticky", "Deleting")

    async def reported() -> Obj | None:
        o = await get_pool(store, "sticky")
        return o if "waiting for Palette to delete" in (o["status"].get("message") or "") else None

    obj = await eventually(reported, what="the deletion waiting on Palette")
    assert "InvalidRequest" in obj["status"]["message"]
    assert len(await palette_clusters(palette_url)) == 1
    assert len(await list_claims(store, K.lease)) == 3  # hosts stay held meanwhile
    await clear_faults(palette_url)

    async def gone() -> bool:
        return not (await store.list(POOL, "ml-prod")).items

    await eventually(gone, what="the pool deleted once Palette deletes")
    assert await palette_clusters(palette_url) == []
    assert await list_claims(store, K.lease) == []


class FlakyPalette:
    """The real client, except that status polls fail while `down` is set."""

    down = False

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def get_cluster_status(self, uid: str) -> str:
        if FlakyPalette.down:
            raise Unreachable("connection refused")
        return str(await self.inner.get_cluster_status(uid))


async def test_an_unreachable_palette_while_provisioning_is_retried(
    store: Store, tmp_path: Path, palette_url: str
) -> None:
    from axle.controllers.provider_cache import palette_provider

    installer = JoiningInstaller(store)
    factories = reconcilers(installer)
    factories[-1] = partial(
        ComputePoolReconciler,
        installer=installer,
        hub_url="http://hub.test",
        poll_seconds=0.05,
        wait_seconds=0.2,
        provider_factory=lambda data, key: FlakyPalette(palette_provider(data, key)),
    )
    mgr = ControllerManager(store, fast_settings(tmp_path), "test-hub", reconcilers=factories)
    await mgr.start()
    try:
        await eventually(mgr.ready.is_set, what="controllers running")
        await setup(store, palette_url)
        FlakyPalette.down = True
        await store.create(POOL, pool("flaky-palette"))

        async def unreachable() -> Obj | None:
            o = await get_pool(store, "flaky-palette")
            c = get_condition(o, "ClusterProvisioned") or {}
            return o if c.get("reason") == "Unreachable" else None

        obj = await eventually(unreachable, what="ClusterProvisioned Unreachable")
        assert obj["status"]["phase"] == "Provisioning"
        assert "retrying" in get_condition(obj, "ClusterProvisioned")["message"]  # type: ignore[index]
        assert len(await palette_clusters(palette_url)) == 1  # created once, polled in vain
        FlakyPalette.down = False
        await wait_phase(store, "flaky-palette", "Running")
        assert len(await palette_clusters(palette_url)) == 1
    finally:
        FlakyPalette.down = False
        await mgr.stop()
