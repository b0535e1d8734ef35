"""ComputePool admission: project Ready, an Infrastructure/Fullstack bundle, Palette Settings."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import axle.api.kinds  # noqa: F401
from axle.errors import Invalid
from axle.store import open_store
from axle.store.base import Obj, Store
from tests.server.test_admission_plugins import create, kind

AXLE = "axle.dev/v1alpha1"


def pool(**spec: Any) -> Obj:
    config = {
        "nodePoolRequirements": {
            "controlPlanePool": {"nodeCount": 1, "workerNodeEligible": True},
            "workerPools": [{"name": "h100", "gpu": {"family": "NVIDIA-H100", "gpuCount": 8}}],
        }
    }
    return {
        "apiVersion": AXLE,
        "kind": "ComputePool",
        "metadata": {"name": "train", "namespace": "ml-prod"},
        "spec": {
            "profileBundleRef": {"name": "edge-infra"},
            "clusterVariant": {"dedicated": {"paletteClusterDeploymentConfig": config}},
            **spec,
        },
    }


def bundle(type_: str = "Infrastructure") -> Obj:
    spec: dict[str, Any] = {
        "type": type_,
        "clusterProfiles": [{"name": "edge-k8s", "type": "Infrastructure"}],
    }
    if type_ != "Infrastructure":
        spec["workloadProfiles"] = [{"name": "web"}]
    return {
        "apiVersion": AXLE,
        "kind": "ProfileBundle",
        "metadata": {"name": "edge-infra", "namespace": "ml-prod"},
        "spec": spec,
    }


async def world(store: Store, *, ready: bool = True, palette: bool = True) -> None:
    """Objects written straight to the store (their own admission is tested elsewhere)."""
    await store.create(
        kind("Namespace"),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml-prod"}},
    )
    settings_spec: dict[str, Any] = {}
    if palette:
        settings_spec["palette"] = {"secretRef": {"name": "palette-credentials"}}
    await store.create(
        kind("Settings"),
        {
            "apiVersion": AXLE,
            "kind": "Settings",
            "metadata": {"name": "prod-settings", "namespace": "ml-prod"},
            "spec": settings_spec,
        },
    )
    project = {
        "apiVersion": AXLE,
        "kind": "Project",
        "metadata": {"name": "ml-prod", "namespace": "ml-prod"},
        "spec": {"tenantRef": {"name": "acme"}, "settingsRef": {"name": "prod-settings"}},
    }
    created = await store.create(kind("Project"), project)
    if ready:
        created = copy.deepcopy(created)
        created["status"] = {"phase": "Ready", "conditions": []}
        await store.update(kind("Project"), created, subresource="status")


def fields(err: Invalid) -> list[str]:
    return [c.field for c in err.causes]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    st = open_store("sqlite:///" + str(tmp_path / "db"))
    await st.start()
    yield st
    await st.close()


@pytest.fixture
async def ready_world(store: Store) -> AsyncIterator[Store]:
    await world(store)
    yield store


async def test_a_pool_with_its_prerequisites_is_admitted(ready_world: Store) -> None:
    await ready_world.create(kind("ProfileBundle"), bundle())
    created = await create(ready_world, pool())
    assert created["metadata"]["name"] == "train"


async def test_project_not_ready(store: Store) -> None:
    await world(store, ready=False)
    await store.create(kind("ProfileBundle"), bundle())
    with pytest.raises(Invalid) as err:
        await create(store, pool())
    assert fields(err.value) == ["metadata.namespace"]
    assert "not Ready" in err.value.message


async def test_missing_bundle(ready_world: Store) -> None:
    with pytest.raises(Invalid) as err:
        await create(ready_world, pool())
    assert fields(err.value) == ["spec.profileBundleRef.name"]
    assert "does not exist" in err.value.message


@pytest.mark.parametrize("type_", ["Application", "Model"])
async def test_bundle_of_the_wrong_type(ready_world: Store, type_: str) -> None:
    await ready_world.create(kind("ProfileBundle"), bundle(type_))
    with pytest.raises(Invalid) as err:
        await create(ready_world, pool())
    assert fields(err.value) == ["spec.profileBundleRef.name"]
    assert "Infrastructure or Fullstack" in err.value.message


async def test_fullstack_bundle_is_accepted(ready_world: Store) -> None:
    await ready_world.create(kind("ProfileBundle"), bundle("Fullstack"))
    await create(ready_world, pool())


async def test_no_palette_settings(store: Store) -> None:
    await world(store, palette=False)
    await store.create(kind("ProfileBundle"), bundle())
    with pytest.raises(Invalid) as err:
        await create(store, pool())
    assert fields(err.value) == ["spec.settingsRef"]
    assert "Palette integration" in err.value.message


async def test_nothing_is_written_when_refused(ready_world: Store) -> None:
    with pytest.raises(Invalid):
        await create(ready_world, pool())
    assert not (await ready_world.list(kind("ComputePool"), "ml-prod")).items
