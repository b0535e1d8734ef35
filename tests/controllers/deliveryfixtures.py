"""Objects and a fake spoke agent for the WorkloadDeployment delivery tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from axle.api.meta import GROUP
from axle.api.spoke import WORK_FINALIZER
from axle.controllers.artifactstore import ArtifactStore
from axle.controllers.definitions import definition_reconcilers
from axle.controllers.environment import EnvironmentReconciler
from axle.controllers.kinds import Kinds
from axle.controllers.manager import ControllerManager
from axle.controllers.objects import get_or_none
from axle.controllers.renderworker import RenderPool
from axle.controllers.workloaddeployment import WorkloadDeploymentReconciler
from axle.errors import Conflict
from axle.store.base import Obj, Store
from tests.controllers.conftest import fast_settings
from tests.controllers.helpers import eventually

K = Kinds.from_registry()
REG = K.registry
WD = REG.by_group_kind(GROUP, "WorkloadDeployment")
WORK = REG.by_group_kind(GROUP, "Work")
SPOKE = REG.by_group_kind(GROUP, "Spoke")
ENV = REG.by_group_kind(GROUP, "Environment")
PROFILE = REG.by_group_kind(GROUP, "WorkloadProfile")
NS = "team-a"
POOL = "gpu-a"


@dataclass
class Hub:
    store: Store
    manager: ControllerManager
    pool: RenderPool
    artifacts: ArtifactStore

    @property
    def reconciler(self) -> WorkloadDeploymentReconciler:
        for ctl in self.manager.controllers:
            if isinstance(ctl.reconciler, WorkloadDeploymentReconciler):
                return ctl.reconciler
        raise AssertionError("no WorkloadDeployment controller")


async def start_hub(
    store: Store, tmp_path: Path, artifact_url: str | None = None, workers: int = 1
) -> Hub:
    pool = RenderPool(workers)
    artifacts = ArtifactStore(artifact_url or f"file://{tmp_path / 'artifacts'}", insecure=True)
    factories = [
        *definition_reconcilers(),
        EnvironmentReconciler,
        partial(WorkloadDeploymentReconciler, pool=pool, artifacts=artifacts),
    ]
    manager = ControllerManager(store, fast_settings(tmp_path), "test-hub", reconcilers=factories)
    await manager.start()
    await eventually(manager.ready.is_set, what="the controllers to start")
    return Hub(store, manager, pool, artifacts)


@contextlib.asynccontextmanager
async def running_hub(
    store: Store, tmp_path: Path, artifact_url: str | None = None
) -> AsyncIterator[Hub]:
    h = await start_hub(store, tmp_path, artifact_url)
    try:
        yield h
    finally:
        await h.manager.stop()
        await h.pool.close()


def web_profile(name: str = "app", port: Any = 8080, gpus: int = 2) -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "WorkloadProfile",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "type": "Application",
            "workload": {
                "components": [
                    {
                        "name": "web",
                        "type": "webservice",
                        "properties": {"image": "{{ .var.image }}", "port": port},
                        "traits": [
                            {"type": "gpu", "properties": {"count": gpus, "family": "H100"}}
                        ],
                    }
                ]
            },
        },
    }


def deployment(
    name: str = "app-web", *, image: str = "nginx", revision: int = 1, **spec: Any
) -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "WorkloadDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "workloadProfileRef": {"name": "app", "revision": 1},
            "environmentRef": {"name": POOL},
            "aiWorkloadRef": {"name": "app"},
            "bundleVariables": [
                {"name": "image", "variableType": "string", "value": {"string": image}}
            ],
            "revision": revision,
            **spec,
        },
    }


def environment(strategy: dict[str, Any] | None = None) -> Obj:
    spec: dict[str, Any] = {"computePoolRefs": [{"name": POOL}]}
    if strategy is not None:
        spec["topology"] = {
            "type": "topology-ocm",
            "properties": {"manifestWorkReplicaSet": {"rolloutStrategy": strategy}},
        }
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": POOL, "namespace": NS},
        "spec": spec,
    }


async def add_spoke(
    store: Store, name: str, *, available: str = "True", pool: str = POOL, namespace: str = NS
) -> Obj:
    await store.create(
        SPOKE,
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Spoke",
            "metadata": {
                "name": name,
                "labels": {"axle.dev/compute-pool": pool, "axle.dev/pool-namespace": namespace},
            },
            "spec": {"computePoolRef": {"name": pool, "namespace": namespace}},
        },
    )
    return await set_spoke(store, name, available=available)


async def set_spoke(store: Store, name: str, *, available: str) -> Obj:
    spoke = await store.get(SPOKE, None, name)
    reason = {"True": "LeaseRenewed", "Unknown": "LeaseExpired"}[available]
    spoke["status"] = {
        "lastHeartbeatTime": "2026-11-27T10:42:05Z",
        "conditions": [
            {"type": "Joined", "status": "True", "reason": "AgentJoined", "message": ""},
            {
                "type": "Available",
                "status": available,
                "reason": reason,
                "message": f"spoke {name} unreachable since 2026-11-27T10:42:05Z",
            },
        ],
    }
    return await store.update(SPOKE, spoke, subresource="status")


async def setup(
    store: Store,
    spokes: Sequence[str] = ("s1",),
    *,
    strategy: dict[str, Any] | None = None,
    profile: Obj | None = None,
) -> None:
    for name in spokes:
        await add_spoke(store, name)
    await store.create(ENV, environment(strategy))
    await store.create(PROFILE, profile or web_profile())


def work_name(wd: str = "app-web") -> str:
    return f"{NS}.{wd}"


async def work_of(store: Store, spoke: str, wd: str = "app-web") -> Obj | None:
    return await get_or_none(store, WORK, f"spoke-{spoke}", work_name(wd))


async def wd_status(store: Store, name: str = "app-web") -> dict[str, Any]:
    obj = await get_or_none(store, WD, NS, name)
    return dict((obj or {}).get("status") or {})


async def phase_is(store: Store, phase: str, name: str = "app-web") -> dict[str, Any] | None:
    status = await wd_status(store, name)
    return status if status.get("phase") == phase else None


async def report(
    store: Store,
    spoke: str,
    *,
    wd: str = "app-web",
    available: bool = True,
    applied: bool = True,
    applied_message: str = "",
    health: str = "Healthy",
    message: str | None = None,
    ready: int = 1,
) -> Obj:
    """What the spoke agent would write on the Work after applying it."""
    work = await store.get(WORK, f"spoke-{spoke}", work_name(wd))
    digest = work["spec"]["artifact"]["digest"]
    gen = work["metadata"].get("generation")
    resource: dict[str, Any] = {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
        "namespace": NS,
        "name": "web",
        "component": "web",
        "health": health,
        "ready": ready,
        "desired": 1,
    }
    if message:
        resource["message"] = message
    status: dict[str, Any] = {
        "appliedDigest": digest if applied else None,
        "resourceStatus": [resource] if applied else [],
        "endpoints": [
            {"component": "web", "kind": "Service", "name": "web", "url": f"http://{spoke}:8080"}
        ]
        if applied
        else [],
        "outputs": {"def": {"web": {"url": f"http://{spoke}:8080"}}, "obj": {}},
        "conditions": [
            {
                "type": "Applied",
                "status": "True" if applied else "False",
                "reason": "Applied" if applied else "ArtifactPullFailed",
                "message": applied_message,
                "observedGeneration": gen,
            },
            {
                "type": "Available",
                "status": "True" if available and applied else "False",
                "reason": "Available",
                "message": "",
            },
        ],
    }
    work["status"] = {k: v for k, v in status.items() if v is not None}
    try:
        return await store.update(WORK, work, subresource="status")
    except Conflict:  # the hub wrote the Work meanwhile: report on what it is now
        return await report(
            store,
            spoke,
            wd=wd,
            available=available,
            applied=applied,
            applied_message=applied_message,
            health=health,
            message=message,
            ready=ready,
        )


async def release(store: Store, spoke: str, wd: str = "app-web") -> None:
    """The agent's last act: drop the Work's finalizer once its objects are pruned."""

    def drop(work: Obj) -> None:
        meta = work["metadata"]
        meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != WORK_FINALIZER]

    await modify(store, WORK, f"spoke-{spoke}", work_name(wd), drop)


async def modify(
    store: Store, info: Any, namespace: str | None, name: str, change: Callable[[Obj], None]
) -> Obj:
    """Read, change and write an object, again if the controllers wrote it meanwhile."""
    for _ in range(50):
        obj = await store.get(info, namespace, name)
        change(obj)
        try:
            return await store.update(info, obj)
        except Conflict:
            continue
    raise AssertionError(f"could not update {name}: conflicts all along")
