"""Which Spoke changes wake its pool: not the heartbeat time alone."""

from __future__ import annotations

import copy
from typing import Any

from axle.controllers.computepool import spoke_changed
from axle.controllers.controller import Filtered


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
