"""The Environment reconciler: decisions from pool membership or a label placement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from axle.api.kinds import REGISTRY
from axle.controllers.environment import EnvironmentReconciler
from axle.controllers.manager import ControllerManager
from axle.controllers.objects import get_or_none
from axle.store.base import Store
from tests.controllers.conftest import fast_settings
from tests.controllers.deliveryfixtures import ENV, NS, SPOKE, add_spoke
from tests.controllers.helpers import eventually


@pytest.fixture
async def envs(store: Store, tmp_path: Path) -> AsyncIterator[Store]:
    mgr = ControllerManager(
        store, fast_settings(tmp_path), "test-hub", reconcilers=[EnvironmentReconciler]
    )
    await mgr.start()
    await eventually(mgr.ready.is_set, what="the controllers to start")
    try:
        yield store
    finally:
        await mgr.stop()


def env(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def placement(*selectors: dict[str, Any], clusters: int | None = None) -> dict[str, Any]:
    place: dict[str, Any] = {
        "predicates": [{"requiredClusterSelector": {"labelSelector": sel}} for sel in selectors]
    }
    if clusters:
        place["numberOfClusters"] = clusters
    return {"topology": {"type": "topology-ocm", "properties": {"placement": place}}}


async def decisions(store: Store, name: str) -> list[str] | None:
    obj = await get_or_none(store, ENV, NS, name)
    status = (obj or {}).get("status")
    if not status:
        return None
    return [d["spoke"] for d in status.get("decisions") or []]


async def ready(store: Store, name: str) -> dict[str, Any]:
    obj = await store.get(ENV, NS, name)
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")


async def test_pool_members_that_joined(envs: Store) -> None:
    store = envs
    await store.create(ENV, env("gpu-a", {"computePoolRefs": [{"name": "gpu-a"}]}))
    await eventually(lambda: _equals(decisions(store, "gpu-a"), []), what="no decisions yet")
    condition = await ready(store, "gpu-a")
    assert condition["status"] == "False" and condition["reason"] == "NoSpokes"
    assert condition["message"] == "no joined spoke in pool gpu-a yet"
    await add_spoke(store, "b1")
    await add_spoke(store, "a1")
    await add_spoke(store, "other", pool="gpu-b")
    # A spoke that has not joined is not decided.
    await store.create(
        SPOKE,
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Spoke",
            "metadata": {
                "name": "c1",
                "labels": {"axle.dev/compute-pool": "gpu-a", "axle.dev/pool-namespace": NS},
            },
        },
    )
    await eventually(lambda: _equals(decisions(store, "gpu-a"), ["a1", "b1"]), what="a1, b1")
    assert (await ready(store, "gpu-a"))["status"] == "True"
    await store.delete(SPOKE, None, "a1")
    await eventually(lambda: _equals(decisions(store, "gpu-a"), ["b1"]), what="a1 dropped")


async def add_project(store: Store, namespace: str, tenant: str) -> None:
    await store.create(
        REGISTRY.by_group_kind("axle.dev", "Project"),
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Project",
            "metadata": {"name": namespace, "namespace": namespace},
            "spec": {"tenantRef": {"name": tenant}},
        },
    )


async def test_placement_by_labels_and_number(envs: Store) -> None:
    store = envs
    await add_project(store, NS, "acme")
    for name, pool in (("s1", "x"), ("s2", "y"), ("s3", "x"), ("s4", "z")):
        await add_spoke(store, name, pool=pool)
    await store.create(
        ENV,
        env(
            "by-label",
            placement(
                {
                    "matchExpressions": [
                        {"key": "axle.dev/compute-pool", "operator": "In", "values": ["x", "y"]}
                    ]
                },
                clusters=2,
            ),
        ),
    )
    await store.create(ENV, env("any", placement()))
    await store.create(
        ENV, env("z-only", placement({"matchLabels": {"axle.dev/compute-pool": "z"}}))
    )
    await eventually(lambda: _equals(decisions(store, "by-label"), ["s1", "s2"]), what="2 of x|y")
    await eventually(
        lambda: _equals(decisions(store, "any"), ["s1", "s2", "s3", "s4"]), what="all spokes"
    )
    await eventually(lambda: _equals(decisions(store, "z-only"), ["s4"]), what="z")
    assert (await ready(store, "by-label"))["reason"] == "PlacementMatched"
    await add_spoke(store, "s0", pool="y")
    await eventually(
        lambda: _equals(decisions(store, "by-label"), ["s0", "s1"]), what="the new spoke first"
    )


async def test_placements_never_cross_tenants(envs: Store) -> None:
    store = envs
    await add_project(store, NS, "acme")
    await add_project(store, "rival-team", "rival")
    await add_spoke(store, "mine", pool="x")
    await add_spoke(store, "theirs", pool="x", namespace="rival-team")
    await store.create(ENV, env("any", placement()))
    await eventually(lambda: _equals(decisions(store, "any"), ["mine"]), what="own tenant only")
    # An Environment in a namespace without a project places nothing.
    orphan = env("orphan", placement())
    orphan["metadata"]["namespace"] = "scratch"
    await store.create(ENV, orphan)

    async def reason() -> str | None:
        obj = await get_or_none(store, ENV, "scratch", "orphan")
        conds = ((obj or {}).get("status") or {}).get("conditions") or []
        return next((c["message"] for c in conds if c["type"] == "Ready"), None)

    message = await eventually(reason, what="orphan decided")
    assert message == "namespace scratch holds no project: a placement has no spokes"


async def test_user_placements_are_not_resolved(envs: Store) -> None:
    store = envs
    await store.create(
        ENV,
        env(
            "byop",
            {
                "topology": {
                    "type": "topology-ocm-byop",
                    "properties": {"placementRef": {"name": "mine"}},
                }
            },
        ),
    )
    await eventually(lambda: _equals(decisions(store, "byop"), []), what="no decisions")
    condition = await ready(store, "byop")
    assert condition["reason"] == "PlacementRefUnsupported"
    assert "'mine'" in condition["message"]


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


def test_pool_environments_select_spokes_by_the_label_the_pool_controller_writes() -> None:
    from axle.controllers import computepool, environment

    assert environment.POOL_LABEL == computepool.POOL_LABEL
