"""AIWorkload controller on a shared pool: bundle, WorkloadDeployments, quota, roll-up, delete.

The hub side is the controller manager running the AIWorkload reconciler (and the
DefinitionRevision reconcilers, so profiles get real revisions) on the in-memory and the
SQLite store. Pools are written by hand with the status the ComputePool controller would give
them, and the tests play the WorkloadDeployment controller by writing WD status:
`observedRevision`, `phase`, `gpuRequests`, `components`, `endpoints`, `message`, and by
taking a deleting deployment's finalizer off (`DeploymentCleanup`).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from axle.api.admission import admit
from axle.api.aiworkload import AIWorkloadStatus
from axle.api.meta import get_condition
from axle.api.registry import KindInfo
from axle.api.workloaddeployment import FINALIZER as WD_FINALIZER
from axle.controllers.aiworkload import FINALIZER, AIWorkloadReconciler, deployment_name
from axle.controllers.controller import Reconciler
from axle.controllers.definitions import definition_reconcilers
from axle.controllers.manager import ControllerManager
from axle.controllers.objects import get_or_none, is_deleting
from axle.controllers.quota import recompute_usage
from axle.errors import Conflict, NotFound
from axle.store.base import Obj, Store
from tests.controllers.conftest import fast_settings
from tests.controllers.helpers import eventually
from tests.controllers.test_tenant import K

NS = "ml-prod"
AXLE = "axle.dev/v1alpha1"
AIW = K.registry.by_group_kind("axle.dev", "AIWorkload")
WD = K.registry.by_group_kind("axle.dev", "WorkloadDeployment")
POOL = K.registry.by_group_kind("axle.dev", "ComputePool")
BUNDLE = K.registry.by_group_kind("axle.dev", "ProfileBundle")
PROFILE = K.registry.by_group_kind("axle.dev", "WorkloadProfile")
REVISION = K.registry.by_group_kind("apps", "ControllerRevision")
COMPUTE = K.registry.by_group_kind("axle.dev", "Compute")
H100 = "NVIDIA-H100"
PRODUCT = "NVIDIA-H100-80GB-HBM3"


class DeploymentCleanup(Reconciler):
    """Plays the WorkloadDeployment controller's part in a deletion (these tests run without
    it): a deleting deployment's cleanup finalizer comes off, so it goes. The AIWorkload
    controller creates deployments with that finalizer already on."""

    name = "test-workloaddeployment-cleanup"

    @property
    def kind(self) -> KindInfo:
        return WD

    async def reconcile(self, key: str) -> float | None:
        ns, name = key.split("/")
        wd = await get_or_none(self.store, WD, ns, name)
        if wd is None or not is_deleting(wd):
            return None
        finalizers = wd["metadata"].get("finalizers") or []
        if WD_FINALIZER in finalizers:
            wd["metadata"]["finalizers"] = [f for f in finalizers if f != WD_FINALIZER]
            with contextlib.suppress(NotFound, Conflict):
                await self.store.update(WD, wd)
        return None


def reconcilers() -> list[Any]:
    return [
        partial(AIWorkloadReconciler, wait_seconds=0.1, poll_seconds=0.05),
        DeploymentCleanup,
        *definition_reconcilers(),
    ]


async def start(store: Store, tmp_path: Path) -> ControllerManager:
    mgr = ControllerManager(store, fast_settings(tmp_path), "test-hub", reconcilers=reconcilers())
    await mgr.start()
    await eventually(mgr.ready.is_set, what="controllers running")
    return mgr


@pytest.fixture
async def hub(store: Store, tmp_path: Path) -> AsyncIterator[ControllerManager]:
    mgr = await start(store, tmp_path)
    try:
        yield mgr
    finally:
        await mgr.stop()


# --- objects ----------------------------------------------------------------------------


def tenant_obj(limits: dict[str, int] | None = None) -> Obj:
    return {
        "apiVersion": AXLE,
        "kind": "Tenant",
        "metadata": {"name": "acme"},
        "spec": {"tenantRoleMapping": {"groups": ["acme"]}, "gpuLimits": limits or {}},
    }


def project_obj(limits: dict[str, int] | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": AXLE,
        "kind": "Project",
        "metadata": {"name": NS, "namespace": NS},
        "spec": {"tenantRef": {"name": "acme"}, "gpuLimits": limits or {}, **spec},
    }


def profile_obj(name: str, ptype: str = "Application", ns: str = NS) -> Obj:
    return {
        "apiVersion": AXLE,
        "kind": "WorkloadProfile",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "type": ptype,
            "workload": {
                "components": [
                    {"name": "server", "type": "webservice", "properties": {"image": "nginx:1"}}
                ]
            },
        },
    }


def bundle_obj(
    name: str = "app",
    profiles: list[str] | None = None,
    btype: str = "Application",
    variables: list[dict[str, Any]] | None = None,
    version: str = "1.0.0",
) -> Obj:
    spec: dict[str, Any] = {
        "type": btype,
        "version": version,
        "workloadProfiles": [{"name": p} for p in (profiles or ["web"])],
    }
    if variables is not None:
        spec["variableSet"] = {"variables": variables}
    return {
        "apiVersion": AXLE,
        "kind": "ProfileBundle",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def shared_pool_obj(name: str = "shared", families: tuple[str, ...] = (H100,)) -> Obj:
    workers = [
        {"name": f"w{i}", "nodeCount": 1, "gpu": {"family": f, "gpuCount": 8}}
        for i, f in enumerate(families)
    ]
    return {
        "apiVersion": AXLE,
        "kind": "ComputePool",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "profileBundleRef": {"name": "infra"},
            "clusterVariant": {
                "shared": {
                    "paletteClusterDeploymentConfig": {
                        "nodePoolRequirements": {
                            "controlPlanePool": {"nodeCount": 1, "workerNodeEligible": True},
                            "workerPools": workers,
                        }
                    }
                }
            },
        },
    }


def aiw_obj(
    name: str = "chat",
    *,
    bundle: str | None = "app",
    pool: str | None = "shared",
    wtype: str = "application",
    **spec: Any,
) -> Obj:
    body: dict[str, Any] = dict(spec)
    if bundle:
        body["profileBundleRef"] = {"name": bundle}
    if pool:
        body["computePoolRef"] = {"name": pool}
    return {
        "apiVersion": AXLE,
        "kind": "AIWorkload",
        "metadata": {"name": name, "namespace": NS, "labels": {"axle.dev/aiworkload-type": wtype}},
        "spec": body,
    }


# --- store helpers ------------------------------------------------------------------------


async def set_status(store: Store, info: Any, ns: str | None, name: str, **fields: Any) -> Obj:
    for _ in range(50):
        obj = await store.get(info, ns, name)
        status = copy.deepcopy(obj.get("status") or {})
        status.update(fields)
        obj["status"] = status
        try:
            return await store.update(info, obj, subresource="status")
        except Conflict:
            continue
    raise AssertionError(f"could not write the status of {name}")


async def edit(store: Store, info: Any, ns: str | None, name: str, fn: Any) -> Obj:
    for _ in range(50):
        obj = await store.get(info, ns, name)
        fn(obj)
        try:
            return await store.update(info, obj)
        except Conflict:
            continue
    raise AssertionError(f"could not update {name}")


async def base(
    store: Store,
    *,
    project_limits: dict[str, int] | None = None,
    tenant_limits: dict[str, int] | None = None,
    pool_phase: str = "Running",
    **project_spec: Any,
) -> None:
    await store.create(K.tenant, tenant_obj(tenant_limits))
    await store.create(K.project, project_obj(project_limits, **project_spec))
    await store.create(PROFILE, profile_obj("web"))
    await store.create(BUNDLE, bundle_obj())
    await store.create(POOL, shared_pool_obj())
    await set_status(store, POOL, NS, "shared", phase=pool_phase, message="2 clusters running")


async def get(store: Store, name: str = "chat") -> Obj:
    return await store.get(AIW, NS, name)


async def wait_aiw(store: Store, name: str, pred: Any, what: str, within: float = 10.0) -> Obj:
    async def check() -> Obj | None:
        obj = await get_or_none(store, AIW, NS, name)
        if obj is None:
            return None
        obj.setdefault("status", {})
        return obj if pred(obj) else None

    return await eventually(check, within=within, what=what)


async def wait_phase(store: Store, name: str, phase: str, within: float = 10.0) -> Obj:
    return await wait_aiw(
        store,
        name,
        lambda o: (o.get("status") or {}).get("phase") == phase,
        f"{name} {phase}",
        within,
    )


async def wait_wd(store: Store, name: str, pred: Any = None, what: str = "") -> Obj:
    async def check() -> Obj | None:
        obj = await get_or_none(store, WD, NS, name)
        return obj if obj is not None and (pred is None or pred(obj)) else None

    return await eventually(check, what=what or f"workloaddeployment {name}")


async def render(
    store: Store,
    wd: str,
    revision: int,
    *,
    gpus: dict[str, int] | None = None,
    phase: str = "Deploying",
    **extra: Any,
) -> Obj:
    """Play the WorkloadDeployment controller: the revision is rendered (GPU requests known)."""
    await wait_wd(store, wd)
    return await set_status(
        store,
        WD,
        NS,
        wd,
        observedRevision=revision,
        phase=phase,
        gpuRequests=gpus if gpus is not None else {PRODUCT: 2},
        **extra,
    )


def cond(obj: Obj, ctype: str) -> dict[str, Any]:
    return get_condition(obj, ctype) or {}


# --- tests --------------------------------------------------------------------------------


async def test_app_on_shared_pool_reserves_quota_then_runs(
    store: Store, hub: ControllerManager
) -> None:
    await base(store, project_limits={H100: 8}, tenant_limits={H100: 16})
    await store.create(AIW, aiw_obj(variables={"replicas": 2}))
    wd_name = deployment_name("chat", "web")
    assert wd_name == "chat-web"
    wd = await wait_wd(store, wd_name)
    spec = wd["spec"]
    assert spec["suspend"] is True  # no quota reserved yet
    assert spec["workloadProfileRef"] == {"name": "web", "revision": 1}
    assert spec["environmentRef"] == {"name": "shared"}
    assert spec["profileBundleRef"] == {"name": "app", "namespace": NS}
    assert spec["aiWorkloadRef"] == {"name": "chat"}
    assert spec["variables"] == {"replicas": 2}
    assert spec["revision"] == 1
    assert wd["metadata"]["labels"]["axle.dev/aiworkload"] == "chat"
    admit(WD, wd)  # the API's own schema accepts what the controller writes
    owner = wd["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "AIWorkload" and owner["controller"] is True
    obj = await wait_phase(store, "chat", "Pending")
    assert FINALIZER in obj["metadata"]["finalizers"]
    assert cond(obj, "QuotaReserved")["reason"] == "WaitingForRender"

    await render(store, wd_name, 1)
    await wait_wd(store, wd_name, lambda w: w["spec"]["suspend"] is False, "unsuspended")
    obj = await wait_aiw(
        store, "chat", lambda o: (o["status"].get("gpuReservation") or {}) == {H100: 2}, "reserved"
    )

    async def charged() -> bool:
        project = await store.get(K.project, NS, NS)
        tenant = await store.get(K.tenant, None, "acme")
        return all((o.get("status") or {}).get("gpuUsage") == {H100: 2} for o in (project, tenant))

    await eventually(charged, what="project and tenant charged 2")

    await render(
        store,
        wd_name,
        1,
        phase="Running",
        components=[{"name": "server", "ready": 2, "desired": 2, "health": "Healthy"}],
        endpoints=[{"component": "server", "spoke": "s1", "url": "http://10.0.0.5:8000"}],
    )
    obj = await wait_phase(store, "chat", "Running")
    st = obj["status"]
    assert st["url"] == "http://10.0.0.5:8000"
    assert st["endpoints"] == [{"name": "server", "url": "http://10.0.0.5:8000"}]
    assert st["components"] == [
        {"name": "server", "workloadDeployment": wd_name, "ready": 2, "desired": 2}
    ]
    assert st["gpuRequests"] == {H100: 2}
    assert st["computePool"] == "shared"
    assert st["revision"] == 1
    assert st["bundle"] == {"name": "app", "namespace": NS, "version": "1.0.0"}
    assert st["workloadDeployments"][0]["name"] == wd_name
    AIWorkloadStatus.model_validate(st)
    for ctype in ("BundleResolved", "PoolReady", "QuotaReserved", "Deployed", "Ready"):
        assert cond(obj, ctype)["status"] == "True", ctype
    wanted = {"RevisionCreated", "WorkloadDeploymentCreated", "QuotaReserved", "Running"}

    async def recorded() -> bool:
        events = (await store.list(K.event, NS)).items
        return wanted <= {e["reason"] for e in events if e["involvedObject"]["name"] == "chat"}

    await eventually(recorded, what=f"events {wanted}")
    # Waiting for its render is a step every workload takes, not a problem: no Warning.
    events = (await store.list(K.event, NS)).items
    assert "WaitingForRender" not in {e["reason"] for e in events}


async def test_over_quota_waits_with_numbers_and_starts_when_freed(
    store: Store, hub: ControllerManager
) -> None:
    await base(store, project_limits={H100: 4})
    await store.create(AIW, aiw_obj("first"))
    await render(store, "first-web", 1, gpus={PRODUCT: 3})
    await wait_aiw(store, "first", lambda o: o["status"].get("gpuReservation") == {H100: 3}, "r1")

    await store.create(AIW, aiw_obj("second"))
    await wait_wd(store, "second-web")
    await render(store, "second-web", 1, gpus={PRODUCT: 2})
    obj = await wait_aiw(
        store,
        "second",
        lambda o: "waiting for GPU quota" in str(o["status"].get("message")),
        "second waits for quota",
    )
    assert obj["status"]["phase"] == "Pending"
    assert obj["status"]["message"] == (
        f"waiting for GPU quota: needs 2 {H100}, project {NS} has 1 of 4 free (3 used)"
    )
    assert cond(obj, "QuotaReserved")["reason"] == "WaitingForQuota"
    assert (await store.get(WD, NS, "second-web"))["spec"]["suspend"] is True
    assert obj["status"].get("gpuReservation") is None

    await store.delete(AIW, NS, "first")
    await wait_aiw(store, "second", lambda o: o["status"].get("gpuReservation") == {H100: 2}, "r2")
    await wait_wd(store, "second-web", lambda w: w["spec"]["suspend"] is False, "unsuspended")

    async def usage() -> bool:
        p = await store.get(K.project, NS, NS)
        return (p.get("status") or {}).get("gpuUsage") == {H100: 2}

    await eventually(usage, what="project usage 2")
    assert await recompute_usage(store, K, NS) == {H100: 2}


async def test_tenant_limit_blocks_too(store: Store, hub: ControllerManager) -> None:
    await base(store, project_limits={H100: 8}, tenant_limits={H100: 1})
    await store.create(AIW, aiw_obj())
    await wait_wd(store, "chat-web")
    await render(store, "chat-web", 1, gpus={PRODUCT: 2})
    obj = await wait_aiw(
        store, "chat", lambda o: "tenant acme" in str(o["status"].get("message")), "tenant wait"
    )
    assert obj["status"]["message"] == (
        f"waiting for GPU quota: needs 2 {H100}, tenant acme has 1 of 1 free (0 used)"
    )


async def test_missing_bundle_waits_then_proceeds(store: Store, hub: ControllerManager) -> None:
    await base(store)
    await store.create(AIW, aiw_obj(bundle="later"))
    obj = await wait_phase(store, "chat", "Pending")
    obj = await wait_aiw(
        store, "chat", lambda o: "later" in str(o["status"].get("message")), "bundle message"
    )
    assert obj["status"]["message"] == f"ProfileBundle {NS}/later not found; waiting for it"
    assert cond(obj, "BundleResolved")["reason"] == "ProfileBundleNotFound"
    assert cond(obj, "PoolReady")["status"] == "Unknown"
    await store.create(BUNDLE, bundle_obj("later"))
    await wait_wd(store, "chat-web")


async def test_missing_profile_waits(store: Store, hub: ControllerManager) -> None:
    await base(store)
    await store.create(BUNDLE, bundle_obj("two", ["web", "ghost"]))
    await store.create(AIW, aiw_obj(bundle="two"))
    obj = await wait_aiw(
        store, "chat", lambda o: "ghost" in str(o["status"].get("message")), "profile message"
    )
    assert obj["status"]["phase"] == "Pending"
    assert (
        "WorkloadProfile ghost of ProfileBundle ml-prod/two not found" in obj["status"]["message"]
    )


async def test_bundle_without_profile_of_the_type_fails(
    store: Store, hub: ControllerManager
) -> None:
    await base(store)
    await store.create(PROFILE, profile_obj("llm", "Model"))
    await store.create(BUNDLE, bundle_obj("models", ["llm"], btype="Model"))
    await store.create(AIW, aiw_obj(bundle="models"))
    obj = await wait_phase(store, "chat", "Failed")
    assert obj["status"]["message"] == (
        f"ProfileBundle {NS}/models has no workload profile of type Application (its profiles: "
        "llm (Model)); a application deployment needs one: choose another bundle"
    )
    assert cond(obj, "BundleResolved")["reason"] == "WrongProfileType"
    assert await get_or_none(store, WD, NS, "chat-llm") is None


async def test_pool_reference_rules(store: Store, hub: ControllerManager) -> None:
    await base(store)
    await store.create(AIW, aiw_obj("a", pool="nope"))
    obj = await wait_aiw(
        store, "a", lambda o: "nope" in str(o["status"].get("message")), "missing pool"
    )
    assert obj["status"]["message"] == (
        f"ComputePool {NS}/nope (spec.computePoolRef) not found; waiting for it"
    )
    dedicated = shared_pool_obj("solo")
    cv = dedicated["spec"]["clusterVariant"]
    cv["dedicated"] = {
        "paletteClusterDeploymentConfig": cv.pop("shared")["paletteClusterDeploymentConfig"]
    }
    await store.create(POOL, dedicated)
    await set_status(store, POOL, NS, "solo", phase="Running", message="ok")
    await store.create(AIW, aiw_obj("b", pool="solo"))
    await wait_wd(store, "b-web")
    await store.create(AIW, aiw_obj("c", pool="solo"))
    obj = await wait_aiw(
        store, "c", lambda o: "dedicated" in str(o["status"].get("message")), "dedicated taken"
    )
    assert obj["status"]["message"] == "pool solo is dedicated to aiworkload b"
    assert obj["status"]["phase"] == "Pending"
    assert cond(obj, "PoolReady")["reason"] == "PoolDedicated"
    # On a dedicated pool nothing waits for quota: the pool's hosts are charged.
    wd = await store.get(WD, NS, "b-web")
    assert wd["spec"]["suspend"] is False


async def test_pool_not_running_is_provisioning(store: Store, hub: ControllerManager) -> None:
    await base(store, pool_phase="Provisioning")
    await set_status(store, POOL, NS, "shared", message="cluster shared-1 is Provisioning")
    await store.create(AIW, aiw_obj())
    obj = await wait_phase(store, "chat", "Provisioning")
    assert obj["status"]["message"] == (
        "pool shared is Provisioning: cluster shared-1 is Provisioning"
    )
    assert cond(obj, "PoolReady")["reason"] == "PoolNotReady"
    await set_status(store, POOL, NS, "shared", phase="Running", message="ok")
    await render(store, "chat-web", 1, gpus={})
    await wait_aiw(store, "chat", lambda o: o["status"].get("gpuReservation") == {}, "reserved")


async def test_roll_up_failed_degraded_and_messages(store: Store, hub: ControllerManager) -> None:
    await base(store)
    await store.create(PROFILE, profile_obj("ui"))
    await store.create(BUNDLE, bundle_obj("two", ["web", "ui"]))
    await store.create(AIW, aiw_obj(bundle="two"))
    await wait_wd(store, "chat-ui")
    await render(store, "chat-web", 1, gpus={}, phase="Running")
    await render(store, "chat-ui", 1, gpus={})
    obj = await wait_aiw(
        store, "chat", lambda o: o["status"].get("phase") == "Deploying", "deploying"
    )
    assert obj["status"]["message"] == "workload deployment chat-ui is Deploying"
    msg = (
        "component vllm: 0/1 pods scheduled: Insufficient nvidia.com/gpu on pool shared "
        "(needs 2, 0 free)"
    )
    await render(store, "chat-ui", 1, gpus={}, phase="Degraded", message=msg)
    obj = await wait_phase(store, "chat", "Degraded")
    assert obj["status"]["message"] == msg
    assert cond(obj, "Ready")["reason"] == "Degraded"
    await render(store, "chat-web", 1, gpus={}, phase="Failed", message="render failed: boom")
    obj = await wait_phase(store, "chat", "Failed")
    assert obj["status"]["message"] == "render failed: boom"
    assert cond(obj, "Deployed")["reason"] == "DeploymentFailed"


async def test_profile_leaving_the_bundle_deletes_its_deployment(
    store: Store, hub: ControllerManager
) -> None:
    await base(store)
    await store.create(PROFILE, profile_obj("ui"))
    await store.create(BUNDLE, bundle_obj("two", ["web", "ui"]))
    await store.create(AIW, aiw_obj(bundle="two"))
    await wait_wd(store, "chat-ui")

    def drop_ui(b: Obj) -> None:
        b["spec"]["workloadProfiles"] = [{"name": "web"}]

    await edit(store, BUNDLE, NS, "two", drop_ui)

    async def gone() -> bool:
        return await get_or_none(store, WD, NS, "chat-ui") is None

    await eventually(gone, what="chat-ui deleted")
    wd = await wait_wd(store, "chat-web", lambda w: w["spec"]["revision"] == 2, "revision 2")
    assert wd["spec"]["revision"] == 2


async def test_delete_waits_for_deployments_then_releases_quota(
    store: Store, hub: ControllerManager
) -> None:
    await base(store, project_limits={H100: 8})
    await store.create(AIW, aiw_obj())
    await wait_wd(store, "chat-web")
    await render(store, "chat-web", 1, phase="Running")
    await wait_aiw(store, "chat", lambda o: o["status"].get("gpuReservation") == {H100: 2}, "r")
    # Helper B's finalizer: the deployment stays until its Works are pruned.
    await edit(store, WD, NS, "chat-web", lambda w: w["metadata"].update(finalizers=["b/cleanup"]))
    await store.delete(AIW, NS, "chat")
    obj = await wait_phase(store, "chat", "Deleting")
    obj = await wait_aiw(
        store, "chat", lambda o: "removing 1 workload" in str(o["status"]["message"]), "msg"
    )
    wd = await store.get(WD, NS, "chat-web")
    assert wd["metadata"].get("deletionTimestamp")
    assert obj["status"]["gpuReservation"] == {H100: 2}  # still held while objects remain
    await edit(store, WD, NS, "chat-web", lambda w: w["metadata"].update(finalizers=[]))

    async def gone() -> bool:
        return await get_or_none(store, AIW, NS, "chat") is None

    await eventually(gone, what="the AIWorkload gone")
    project = await store.get(K.project, NS, NS)
    assert project["status"]["gpuUsage"] == {}
    with pytest.raises(NotFound):
        await store.get(WD, NS, "chat-web")


async def test_unknown_gpu_family_waits(store: Store, hub: ControllerManager) -> None:
    await base(store)
    await store.create(AIW, aiw_obj())
    await wait_wd(store, "chat-web")
    await render(store, "chat-web", 1, gpus={"AMD-MI300X": 1})
    obj = await wait_aiw(
        store, "chat", lambda o: "GPU family" in str(o["status"].get("message")), "family msg"
    )
    assert obj["status"]["message"] == (
        "cannot tell the GPU family of request(s) 'AMD-MI300X' on pool shared (its GPU "
        f"families: {H100}); set the gpu trait's family to one of them"
    )


async def test_moving_to_a_dedicated_pool_releases_the_reservation(
    store: Store, hub: ControllerManager
) -> None:
    await base(store, project_limits={H100: 8})
    await store.create(AIW, aiw_obj())
    await render(store, "chat-web", 1, phase="Running")
    await wait_aiw(store, "chat", lambda o: o["status"].get("gpuReservation") == {H100: 2}, "r")
    dedicated = shared_pool_obj("solo")
    cv = dedicated["spec"]["clusterVariant"]
    cv["dedicated"] = {
        "paletteClusterDeploymentConfig": cv.pop("shared")["paletteClusterDeploymentConfig"]
    }
    await store.create(POOL, dedicated)
    await set_status(store, POOL, NS, "solo", phase="Running", message="ok")

    def move(obj: Obj) -> None:
        obj["spec"]["computePoolRef"] = {"name": "solo"}

    await edit(store, AIW, NS, "chat", move)
    obj = await wait_aiw(
        store, "chat", lambda o: o["status"].get("computePool") == "solo", "moved to solo"
    )
    obj = await wait_aiw(
        store, "chat", lambda o: o["status"].get("gpuReservation") is None, "released"
    )
    assert cond(obj, "QuotaReserved")["reason"] == "DedicatedPool"

    async def usage() -> bool:
        p = await store.get(K.project, NS, NS)
        return (p.get("status") or {}).get("gpuUsage") == {}

    await eventually(usage, what="the reservation no longer charged")
    wd = await store.get(WD, NS, "chat-web")
    assert wd["spec"]["environmentRef"] == {"name": "solo"}
    assert wd["spec"]["suspend"] is False


async def test_quota_is_the_cause_shown_before_the_pool(
    store: Store, hub: ControllerManager
) -> None:
    await base(store, project_limits={H100: 1}, pool_phase="Provisioning")
    await store.create(AIW, aiw_obj())
    obj = await wait_phase(store, "chat", "Provisioning")
    assert cond(obj, "QuotaReserved")["status"] == "Unknown"  # not rendered yet
    await render(store, "chat-web", 1, gpus={PRODUCT: 2})
    obj = await wait_aiw(
        store, "chat", lambda o: "waiting for GPU quota" in str(o["status"].get("message")), "q"
    )
    assert obj["status"]["phase"] == "Pending"
    assert cond(obj, "PoolReady")["reason"] == "PoolNotReady"
    await set_status(store, POOL, NS, "shared", phase="Failed", message="Palette said no")
    obj = await wait_phase(store, "chat", "Failed")
    assert obj["status"]["message"] == "pool shared failed: Palette said no"


async def test_a_failed_render_of_a_new_revision_fails_the_workload(
    store: Store, hub: ControllerManager
) -> None:
    await base(store)
    await store.create(AIW, aiw_obj(variables={"a": 1}))
    await render(store, "chat-web", 1, gpus={}, phase="Running")
    await wait_phase(store, "chat", "Running")
    await edit(store, AIW, NS, "chat", lambda o: o["spec"].update(variables={"a": 2}))
    wd = await wait_wd(store, "chat-web", lambda w: w["spec"]["revision"] == 2, "revision 2")
    # As the WorkloadDeployment controller reports a render error: nothing pushed, so the
    # observed revision stays 1, but it has seen the new spec (observedGeneration).
    await set_status(
        store,
        WD,
        NS,
        "chat-web",
        phase="Failed",
        message="render failed: component 'server' trait 'gpu': count must be >= 1",
        observedGeneration=wd["metadata"]["generation"],
    )
    obj = await wait_phase(store, "chat", "Failed")
    assert obj["status"]["message"].startswith("render failed: component 'server'")
