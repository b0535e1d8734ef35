"""AIWorkload through real delivery: AIWorkload -> WorkloadDeployment -> render -> Work.

The AIWorkload reconciler runs with the WorkloadDeployment and Environment reconcilers (renders
in a real worker process, artifacts in an OCI layout directory). The shared pool and its spokes
are written by hand (what the ComputePool controller and joined agents would leave), and the
test plays the spoke agent on the Works. It shows the contract between the two controllers:
suspended until quota is reserved, GPU requests read from the render, status rolled up from
the spokes, and deletion pruning the spokes before the workload goes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from axle.controllers.aiworkload import AIWorkloadReconciler
from axle.controllers.artifactstore import ArtifactStore
from axle.controllers.definitions import definition_reconcilers
from axle.controllers.environment import EnvironmentReconciler
from axle.controllers.manager import ControllerManager
from axle.controllers.objects import get_or_none
from axle.controllers.renderworker import RenderPool
from axle.controllers.workloaddeployment import WorkloadDeploymentReconciler
from axle.store.base import Obj, Store
from tests.controllers.conftest import fast_settings
from tests.controllers.deliveryfixtures import (
    ENV,
    NS,
    POOL,
    PROFILE,
    WD,
    K,
    add_spoke,
    environment,
    release,
    report,
    work_of,
)
from tests.controllers.helpers import eventually
from tests.controllers.test_aiworkload import (
    AIW,
    AXLE,
    BUNDLE,
    H100,
    PRODUCT,
    project_obj,
    set_status,
    shared_pool_obj,
    tenant_obj,
)

pytestmark = pytest.mark.integration
POOLS = K.registry.by_group_kind("axle.dev", "ComputePool")


@pytest.fixture
async def hub(store: Store, tmp_path: Path) -> AsyncIterator[ControllerManager]:
    pool = RenderPool(1)
    artifacts = ArtifactStore(f"file://{tmp_path / 'artifacts'}", insecure=True)
    factories = [
        *definition_reconcilers(),
        EnvironmentReconciler,
        partial(WorkloadDeploymentReconciler, pool=pool, artifacts=artifacts),
        partial(AIWorkloadReconciler, wait_seconds=0.2, poll_seconds=0.05),
    ]
    manager = ControllerManager(store, fast_settings(tmp_path), "test-hub", reconcilers=factories)
    await manager.start()
    await eventually(manager.ready.is_set, what="the controllers to start")
    try:
        yield manager
    finally:
        await manager.stop()
        await pool.close()


def gpu_profile(gpus: int) -> Obj:
    return {
        "apiVersion": AXLE,
        "kind": "WorkloadProfile",
        "metadata": {"name": "app", "namespace": NS},
        "spec": {
            "type": "Application",
            "workload": {
                "components": [
                    {
                        "name": "web",
                        "type": "webservice",
                        "properties": {"image": "{{ .var.image }}", "port": 8080},
                        "traits": [
                            {"type": "gpu", "properties": {"count": gpus, "family": PRODUCT}}
                        ],
                    }
                ]
            },
        },
    }


async def setup(store: Store, *, limit: int, gpus: int) -> None:
    await store.create(K.tenant, tenant_obj())
    project = project_obj({H100: limit})
    project["metadata"] = {"name": NS, "namespace": NS}
    await store.create(K.project, project)
    pool = shared_pool_obj(POOL)
    pool["metadata"]["namespace"] = NS
    await store.create(POOLS, pool)
    await set_status(store, POOLS, NS, POOL, phase="Running", message="1 cluster running")
    await store.create(ENV, environment())
    await add_spoke(store, "s1")
    await store.create(PROFILE, gpu_profile(gpus))
    await store.create(
        BUNDLE,
        {
            "apiVersion": AXLE,
            "kind": "ProfileBundle",
            "metadata": {"name": "app", "namespace": NS},
            "spec": {
                "type": "Application",
                "workloadProfiles": [{"name": "app"}],
                "variableSet": {
                    "variables": [
                        {"name": "image", "variableType": "string", "value": {"string": "nginx"}}
                    ]
                },
            },
        },
    )


def aiworkload() -> Obj:
    return {
        "apiVersion": AXLE,
        "kind": "AIWorkload",
        "metadata": {"name": "app", "namespace": NS},
        "spec": {"profileBundleRef": {"name": "app"}, "computePoolRef": {"name": POOL}},
    }


async def aiw_where(store: Store, pred: object, what: str) -> Obj:
    async def check() -> Obj | None:
        obj = await get_or_none(store, AIW, NS, "app")
        st = (obj or {}).get("status") or {}
        return obj if obj is not None and pred(st) else None  # type: ignore[operator]

    return await eventually(check, within=30, what=what)


async def test_shared_pool_app_reserves_delivers_runs_and_deletes(
    store: Store, hub: ControllerManager
) -> None:
    await setup(store, limit=8, gpus=2)
    await store.create(AIW, aiworkload())
    obj = await aiw_where(store, lambda st: st.get("gpuReservation") == {H100: 2}, "reserved")
    assert obj["status"]["gpuRequests"] == {H100: 2}
    work = await eventually(lambda: work_of(store, "s1", "app-app"), within=30, what="the Work")
    assert work["spec"]["workloadDeploymentRef"] == {"name": "app-app", "namespace": NS}
    await report(store, "s1", wd="app-app")
    obj = await aiw_where(store, lambda st: st.get("phase") == "Running", "Running")
    assert obj["status"]["url"] == "http://s1:8080"
    assert obj["status"]["components"][0]["ready"] == 1

    await store.delete(AIW, NS, "app")
    await aiw_where(store, lambda st: st.get("phase") == "Deleting", "Deleting")

    async def work_deleting() -> bool:
        w = await work_of(store, "s1", "app-app")
        return w is not None and bool(w["metadata"].get("deletionTimestamp"))

    await eventually(work_deleting, within=30, what="the Work being pruned")
    assert await get_or_none(store, AIW, NS, "app") is not None  # waits for the spoke
    await release(store, "s1", "app-app")

    async def gone() -> bool:
        return await get_or_none(store, AIW, NS, "app") is None

    await eventually(gone, within=30, what="the AIWorkload gone")
    assert await get_or_none(store, WD, NS, "app-app") is None
    project = await store.get(K.project, NS, NS)
    assert project["status"]["gpuUsage"] == {}


async def test_over_quota_stays_suspended_with_nothing_delivered(
    store: Store, hub: ControllerManager
) -> None:
    await setup(store, limit=1, gpus=2)
    await store.create(AIW, aiworkload())
    obj = await aiw_where(
        store, lambda st: "waiting for GPU quota" in str(st.get("message")), "waiting for quota"
    )
    assert obj["status"]["message"] == (
        f"waiting for GPU quota: needs 2 {H100}, project {NS} has 1 of 1 free (0 used)"
    )
    wd = await store.get(WD, NS, "app-app")
    assert wd["spec"]["suspend"] is True
    assert await work_of(store, "s1", "app-app") is None
