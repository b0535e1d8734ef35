"""Which Spoke and Project changes wake a pool: not a heartbeat time or usage counts alone."""

from __future__ import annotations

import copy
from typing import Any

from axle.controllers.computepool import spoke_changed
from axle.controllers.controller import Filtered
from axle.controllers.tenancy import project_changed


def _spoke() -> dict[str, Any]:
    return {
        "metadata": {"name": "gpu-a-1", "labels": {"axle.dev/compute-pool": "gpu-a"}},
        "spec": {"computePoolRef": {"name": "gpu-a", "namespace": "ml-prod"}},
        "status": {
            "lastHeartbeatTime": "2026-11-27T10:42:05Z",
            "capacity": {"gpu": 16},
            "conditions": [{"type": "Available", "status": "True", "reason": "LeaseRenewed"}],
        },
    }


def test_a_heartbeat_alone_does_not_matter() -> None:
    old = _spoke()
    new = copy.deepcopy(old)
    new["status"]["lastHeartbeatTime"] = "2026-11-27T10:42:10Z"
    new["metadata"]["resourceVersion"] = "99"
    assert not spoke_changed(old, new)


def test_conditions_capacity_labels_and_lifecycle_matter() -> None:
    old = _spoke()
    for change in (
        lambda s: s["status"]["conditions"][0].update(status="Unknown"),
        lambda s: s["status"].update(capacity={"gpu": 8}),
        lambda s: s["metadata"]["labels"].update(extra="x"),
        lambda s: s["metadata"].update(deletionTimestamp="2026-11-27T11:00:00Z"),
    ):
        new = copy.deepcopy(old)
        change(new)
        assert spoke_changed(old, new)
    assert spoke_changed(None, old) and spoke_changed(old, None)


def test_filtered_mapper_maps_like_its_mapper() -> None:
    mapper = Filtered(lambda o: [o["metadata"]["name"]], spoke_changed)
    assert list(mapper(_spoke())) == ["gpu-a-1"]


def _project() -> dict[str, Any]:
    return {
        "metadata": {"name": "ml-prod", "namespace": "ml-prod", "labels": {"team": "a"}},
        "spec": {"tenantRef": {"name": "acme"}, "gpuLimits": {"NVIDIA-H100": 16}},
        "status": {"phase": "Ready", "gpuUsage": {"NVIDIA-H100": 2}},
    }


def test_a_project_usage_update_does_not_wake_its_pools() -> None:
    old = _project()
    new = copy.deepcopy(old)
    new["status"]["gpuUsage"] = {"NVIDIA-H100": 3}
    new["metadata"]["resourceVersion"] = "7"
    assert not project_changed(old, new)
    for change in (
        lambda p: p["spec"]["gpuLimits"].update({"NVIDIA-H100": 8}),
        lambda p: p["status"].update(phase="Failed"),
        lambda p: p["metadata"]["labels"].update(team="b"),
        lambda p: p["metadata"].update(deletionTimestamp="2026-11-27T11:00:00Z"),
    ):
        new = copy.deepcopy(old)
        change(new)
        assert project_changed(old, new)
    assert project_changed(None, old) and project_changed(old, None)
