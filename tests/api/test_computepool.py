"""ComputePool validation: one row per rule of the notes (section 9), each naming its field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import axle.api.kinds  # noqa: F401  (registers the kinds)
from axle.api.admission import admit
from axle.api.computepool import COMPUTE_POOL
from axle.errors import Invalid


def pool(name: str = "gpu-pool", **changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "nodePoolRequirements": {
            "controlPlanePool": {"nodeCount": 1, "workerNodeEligible": True},
            "workerPools": [
                {"name": "h100", "nodeCount": 2, "gpu": {"family": "NVIDIA-H100", "gpuCount": 8}}
            ],
        },
        "deletionPolicy": "delete",
    }
    obj: dict[str, Any] = {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "ComputePool",
        "metadata": {"name": name, "namespace": "ml-prod"},
        "spec": {
            "profileBundleRef": {"name": "edge-infra"},
            "clusterVariant": {"dedicated": {"paletteClusterDeploymentConfig": config}},
        },
    }
    for path, value in changes.items():
        target = obj
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        last = keys[-1]
        if value is _DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return obj


_DELETE = object()
CFG = "spec__clusterVariant__dedicated__paletteClusterDeploymentConfig"
REQ = f"{CFG}__nodePoolRequirements"


def test_a_valid_pool_is_admitted_with_defaults() -> None:
    out = admit(COMPUTE_POOL, pool())
    assert out["spec"]["cloudType"] == "edge-native"


def test_a_shared_pool_with_a_cluster_count() -> None:
    obj = pool()
    variant = obj["spec"]["clusterVariant"]
    variant["shared"] = {**variant.pop("dedicated"), "clusterCount": 2}
    assert admit(COMPUTE_POOL, obj)["spec"]["clusterVariant"]["shared"]["clusterCount"] == 2


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        (pool("ab"), "metadata.name"),
        (pool("a" * 34), "metadata.name"),
        (pool("1pool"), "metadata.name"),
        (pool("pool-"), "metadata.name"),
        (pool("Pool"), "metadata.name"),
        (pool("po_ol"), "metadata.name"),
        (pool(**{"spec__clusterVariant__dedicated": _DELETE}), "spec.clusterVariant"),
        (pool(**{f"{REQ}__controlPlanePool__nodeCount": 2}), "nodeCount"),
        (pool(**{f"{REQ}__controlPlanePool__workerNodeEligible": False}), "workerNodeEligible"),
        (pool(**{f"{REQ}__workerPools__0__gpu__family": "H100"}), "family"),
        (pool(**{f"{REQ}__workerPools__0__gpu__gpuCount": 0}), "gpuCount"),
        (pool(**{f"{REQ}__workerPools__0__nodeCount": 0}), "nodeCount"),
        (pool(**{f"{CFG}__deletionPolicy": "retain"}), "deletionPolicy"),
        (pool(**{"spec__profileBundleRef": _DELETE}), "spec.profileBundleRef"),
    ],
)
def test_invalid_pools_are_refused_naming_the_field(obj: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as err:
        admit(COMPUTE_POOL, obj)
    text = str(err.value.to_status())
    assert field in text, text


def test_both_variants_are_refused() -> None:
    obj = pool()
    variant = obj["spec"]["clusterVariant"]
    variant["shared"] = copy.deepcopy(variant["dedicated"])
    with pytest.raises(Invalid) as err:
        admit(COMPUTE_POOL, obj)
    assert "spec.clusterVariant.shared" in str(err.value.to_status())


def test_duplicate_worker_pool_names_are_refused() -> None:
    obj = pool()
    req = obj["spec"]["clusterVariant"]["dedicated"]["paletteClusterDeploymentConfig"]
    req["nodePoolRequirements"]["workerPools"].append(
        copy.deepcopy(req["nodePoolRequirements"]["workerPools"][0])
    )
    with pytest.raises(Invalid) as err:
        admit(COMPUTE_POOL, obj)
    assert "workerPools" in str(err.value.to_status())


def test_the_variant_is_immutable() -> None:
    old = admit(COMPUTE_POOL, pool())
    new = copy.deepcopy(old)
    variant = new["spec"]["clusterVariant"]
    variant["shared"] = variant.pop("dedicated")
    with pytest.raises(Invalid) as err:
        admit(COMPUTE_POOL, new, old)
    assert "spec.clusterVariant" in str(err.value.to_status())
