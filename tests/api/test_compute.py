"""The Compute kind: spec rules, the status the controller writes, and its table columns."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import axle.api.kinds  # noqa: F401  (registers every kind)
from axle.api.admission import admit
from axle.api.compute import COMPUTE
from axle.controllers.inventory import group_hosts
from axle.errors import Invalid
from axle.server.tables import evaluate
from tests.controllers.test_compute_inventory import fleet


def compute(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Compute",
        "metadata": {"name": "fleet", "namespace": "ml-prod"},
        "spec": spec,
    }


def causes(obj: dict[str, Any], old: dict[str, Any] | None = None, **kw: Any) -> dict[str, str]:
    with pytest.raises(Invalid) as exc:
        admit(COMPUTE, obj, old, **kw)
    return {c.field: c.message for c in exc.value.causes}


def written_status() -> dict[str, Any]:
    return {
        **group_hosts(fleet()).status_fields(),
        "lastSyncTime": "2026-01-02T03:04:05Z",
        "settings": {"namespace": "acme-shared", "name": "acme-palette"},
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Synced",
                "status": "True",
                "reason": "InventoryListed",
                "message": "13 machines",
                "lastTransitionTime": "2026-01-02T03:04:05Z",
            }
        ],
    }


def test_spec() -> None:
    out = admit(COMPUTE, compute())
    assert out["spec"] == {}
    ok = compute(
        settingsRef={"name": "acme-palette"},
        tagSelector={"palette.ai": "true", "axle.dev/site": "east"},
        resourceGroupPrefix="axle.dev/",
    )
    assert admit(COMPUTE, ok)["spec"]["resourceGroupPrefix"] == "axle.dev/"
    assert "spec.tagSelector[bad key]" in causes(compute(tagSelector={"bad key": "x"}))
    assert "spec.tagSelector.k" in causes(compute(tagSelector={"k": "not a value!"}))
    assert "spec.resourceGroupPrefix" in causes(compute(resourceGroupPrefix=""))
    assert "spec.settingsRef.name" in causes(compute(settingsRef={"name": "Bad_Name"}))
    assert "spec.hosts" in causes(compute(hosts=["x"]))
    assert "metadata.name" in causes({**compute(), "metadata": {"name": "a.b", "namespace": "x"}})


def test_the_status_the_controller_writes_is_admitted_unchanged() -> None:
    stored = admit(COMPUTE, compute())
    body = copy.deepcopy(stored)
    body["status"] = written_status()
    out = admit(COMPUTE, body, stored, subresource="status")
    assert out["status"] == written_status()


def test_status_rules() -> None:
    stored = admit(COMPUTE, compute())
    bad = copy.deepcopy(stored)
    bad["status"] = written_status()
    bad["status"]["workerCompute"][0]["machines"][0]["state"] = "broken"
    assert any(
        f.startswith("status.workerCompute[0].machines[0].state")
        for f in causes(bad, stored, subresource="status")
    )
    bad["status"] = written_status()
    bad["status"]["gpus"]["NVIDIA-A100"]["total"] = -1
    assert "status.gpus.NVIDIA-A100.total" in causes(bad, stored, subresource="status")


def test_columns() -> None:
    obj = {**compute(), "status": written_status()}
    by_name = {c.name: c for c in COMPUTE.columns}
    assert [c.name for c in COMPUTE.columns if c.priority == 0] == [
        "Available",
        "Total",
        "GPUs",
        "Synced",
        "Age",
    ]
    assert evaluate(obj, by_name["Available"].json_path) == [12]
    assert evaluate(obj, by_name["Total"].json_path) == [13]
    assert evaluate(obj, by_name["GPUs"].json_path) == ["24/32 A100, 32/32 H100, 8/8 L40S"]
    assert evaluate(obj, by_name["Synced"].json_path) == ["True"]
    assert evaluate(obj, by_name["Unhealthy"].json_path) == [1]
