"""Admission of AIWorkloads: an inline dedicated pool over the GPU limits is refused (403)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from axle.errors import Forbidden
from axle.store.base import Obj, Store
from tests.server.test_admission_plugins import (
    AXLE,
    create,
    exists,
    kind,
    project,
    store,
    tenant,
    update,
)

__all__ = ["store"]

H100 = "NVIDIA-H100"


def aiw(name: str = "chat", workers: int = 2, gpus: int = 8, ns: str = "ml-prod") -> Obj:
    return {
        "apiVersion": AXLE,
        "kind": "AIWorkload",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "profileBundleRef": {"name": "app"},
            "paletteClusterDeploymentConfig": {
                "nodePoolRequirements": {
                    "controlPlanePool": {"nodeCount": 1, "workerNodeEligible": True},
                    "workerPools": [
                        {
                            "name": "gpu",
                            "nodeCount": workers,
                            "gpu": {"family": H100, "gpuCount": gpus},
                        }
                    ],
                }
            },
        },
    }


async def setup(store: Store, project_limit: int, tenant_limit: int) -> None:
    await create(store, tenant(**{H100: tenant_limit}))
    await create(store, project("ml-prod", **{H100: project_limit}))


async def test_over_the_project_limit_is_refused_with_the_numbers(store: Store) -> None:
    await setup(store, 8, 32)
    with pytest.raises(Forbidden) as err:
        await create(store, aiw())
    status = err.value.to_status()
    assert status["code"] == 403
    assert status["message"] == (
        'aiworkloads.axle.dev "chat" is forbidden: exceeded GPU quota: needs 16 NVIDIA-H100, '
        "project ml-prod has 8 of 8 free (0 used)"
    )
    causes: list[dict[str, Any]] = status["details"]["causes"]
    assert causes[0]["field"] == (
        "spec.paletteClusterDeploymentConfig.nodePoolRequirements.workerPools"
    )
    assert not await exists(store, kind("AIWorkload"), "ml-prod", "chat")  # nothing stored


async def test_over_the_tenant_limit_is_refused(store: Store) -> None:
    await setup(store, 16, 16)
    other = project("ml-dev", **{H100: 16})
    await create(store, other)
    await create(store, aiw("ok", workers=1, ns="ml-dev"))
    # Usage the tenant already carries: a reservation of a workload on a shared pool.
    ok = await store.get(kind("AIWorkload"), "ml-dev", "ok")
    ok["status"] = {"gpuReservation": {H100: 10}}
    await store.update(kind("AIWorkload"), ok, subresource="status")
    with pytest.raises(Forbidden) as err:
        await create(store, aiw("big", workers=1))
    assert err.value.message.endswith(
        "exceeded GPU quota: needs 8 NVIDIA-H100, tenant acme has 6 of 16 free (10 used)"
    )


async def test_within_limits_is_admitted_and_growth_is_checked_on_update(store: Store) -> None:
    await setup(store, 16, 32)
    created = await create(store, aiw(workers=1))
    assert created["metadata"]["name"] == "chat"
    # An unrelated edit is not re-checked (usage may have grown meanwhile).
    edited = copy.deepcopy(created)
    edited["spec"]["variables"] = {"a": 1}
    await update(store, edited)
    grown = await store.get(kind("AIWorkload"), "ml-prod", "chat")
    grown["spec"]["paletteClusterDeploymentConfig"]["nodePoolRequirements"]["workerPools"][0][
        "nodeCount"
    ] = 4
    with pytest.raises(Forbidden) as err:
        await update(store, grown)
    # Only the growth (3 more hosts of 8) is asked for: the pool's current hosts are in the
    # usage once it holds them.
    assert err.value.message.endswith(
        "needs 24 NVIDIA-H100, project ml-prod has 16 of 16 free (0 used)"
    )


async def test_shared_pool_workloads_are_not_checked_here(store: Store) -> None:
    await setup(store, 0, 0)
    body = aiw()
    del body["spec"]["paletteClusterDeploymentConfig"]
    body["spec"]["computePoolRef"] = {"name": "shared"}
    await create(store, body)  # its GPUs are known once rendered: the controller reserves them


async def test_a_new_workload_carries_the_cleanup_finalizer_and_an_update_may_drop_it(
    store: Store,
) -> None:
    await setup(store, 16, 32)
    body = aiw(workers=1)
    body["metadata"]["finalizers"] = ["example.com/hold"]
    created = await create(store, body)
    assert created["metadata"]["finalizers"] == ["example.com/hold", "axle.dev/aiworkload-cleanup"]
    again = await create(
        store,
        {
            **aiw("twice", workers=1),
            "metadata": {
                "name": "twice",
                "namespace": "ml-prod",
                "finalizers": ["axle.dev/aiworkload-cleanup"],
            },
        },
    )
    assert again["metadata"]["finalizers"] == ["axle.dev/aiworkload-cleanup"]  # not twice
    # Only creates get it: whoever removes it later (the controller, when it is done) may.
    created["metadata"]["finalizers"] = []
    updated = await update(store, created)
    assert not updated["metadata"].get("finalizers")
