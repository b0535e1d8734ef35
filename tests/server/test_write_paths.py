"""The write paths the fleet runs most, with the copies they no longer make: a Work's status
merge patch (the agents'), a Lease renewal, and an update whose unknown fields are dropped.
Each changes exactly what it asks, leaves the rest of the stored object as it was, refuses bad
input without storing anything, and keeps `managedFields` right."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from axle.api.registry import REGISTRY
from axle.server.apply import track_update
from tests.server.conftest import ns_obj, tenant

NS = "spoke-s1"
WORKS = f"/apis/axle.dev/v1alpha1/namespaces/{NS}/works"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"
TENANTS = "/apis/axle.dev/v1alpha1/tenants"
MERGE = {"Content-Type": "application/merge-patch+json"}


def work(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Work",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"axle.dev/workloaddeployment": "wd"},
            "finalizers": ["axle.dev/spoke-cleanup"],
        },
        "spec": {
            "artifact": {"url": "file:///a", "digest": "sha256:" + "1" * 64},
            "priorityGroups": [{"priority": 0, "components": ["web"]}],
        },
    }


def status(message: str, condition: str = "True") -> dict[str, Any]:
    return {
        "observedGeneration": 1,
        "conditions": [
            {
                "type": "Applied",
                "status": condition,
                "reason": "Applied",
                "message": message,
                "lastTransitionTime": "2026-11-27T14:52:03Z",
            }
        ],
        "resourceStatus": [
            {"kind": "Deployment", "name": "web", "health": "Healthy", "ready": 1, "desired": 1}
        ],
    }


def without_volatile(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    for key in ("resourceVersion", "managedFields"):
        out["metadata"].pop(key, None)
    return out


async def _setup(client: httpx.AsyncClient) -> dict[str, Any]:
    assert (await client.post("/api/v1/namespaces", json=ns_obj(NS))).status_code == 201
    r = await client.post(WORKS, json=work("w1"))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_status_merge_patch_changes_status_only(client: httpx.AsyncClient) -> None:
    created = await _setup(client)
    # A merge patch of the status subresource that also names spec: spec is not changed.
    body = {"spec": {"artifact": {"url": "file:///other"}}, "status": status("applied")}
    r = await client.patch(f"{WORKS}/w1/status", json=body, headers=MERGE)
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["status"]["conditions"][0]["message"] == "applied"
    assert patched["status"]["resourceStatus"][0]["name"] == "web"
    assert patched["spec"] == created["spec"]
    expected = without_volatile(created)
    expected["status"] = patched["status"]
    assert without_volatile(patched) == expected
    assert int(patched["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    got = (await client.get(f"{WORKS}/w1")).json()
    assert got == patched

    # A second report changing one message keeps the other fields.
    r = await client.patch(
        f"{WORKS}/w1/status",
        json={"status": {"conditions": [{**status("x")["conditions"][0], "message": "again"}]}},
        headers=MERGE,
    )
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["status"]["conditions"][0]["message"] == "again"
    assert again["status"]["resourceStatus"] == patched["status"]["resourceStatus"]
    assert again["spec"] == created["spec"]
    entries = {(e["manager"], e.get("subresource", "")) for e in again["metadata"]["managedFields"]}
    assert len(entries) == 2 and any(sub == "status" for _, sub in entries)
    status_entry = next(
        e for e in again["metadata"]["managedFields"] if e.get("subresource") == "status"
    )
    assert set(status_entry["fieldsV1"]["f:status"]) >= {"f:conditions", "f:resourceStatus"}
    spec_entry = next(e for e in again["metadata"]["managedFields"] if "subresource" not in e)
    assert "f:spec" in spec_entry["fieldsV1"]


async def test_bad_status_patch_is_refused_and_changes_nothing(client: httpx.AsyncClient) -> None:
    await _setup(client)
    r = await client.patch(f"{WORKS}/w1/status", json={"status": status("ok")}, headers=MERGE)
    before = r.json()
    r = await client.patch(
        f"{WORKS}/w1/status", json={"status": status("bad", condition="Maybe")}, headers=MERGE
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["kind"] == "Status" and body["reason"] == "Invalid"
    assert any(c["field"].startswith("status.conditions") for c in body["details"]["causes"])
    assert (await client.get(f"{WORKS}/w1")).json() == before

    stale = {"metadata": {"resourceVersion": "1"}, "status": status("late")}
    r = await client.patch(f"{WORKS}/w1/status", json=stale, headers=MERGE)
    assert r.status_code == 409, r.text
    assert r.json()["reason"] == "Conflict"
    assert (await client.get(f"{WORKS}/w1")).json() == before


async def test_lease_renewal_patch(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/v1/namespaces", json=ns_obj(NS))).status_code == 201
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "agent", "namespace": NS},
        "spec": {
            "holderIdentity": "vm/s1",
            "leaseDurationSeconds": 60,
            "renewTime": "2026-11-27T14:51:42.630998Z",
        },
    }
    created = (await client.post(LEASES, json=lease)).json()
    renewal = {"spec": {"renewTime": "2026-11-27T14:52:02.000001Z", "leaseDurationSeconds": 60}}
    r = await client.patch(f"{LEASES}/agent", json=renewal, headers=MERGE)
    assert r.status_code == 200, r.text
    renewed = r.json()
    assert renewed["spec"] == {**created["spec"], "renewTime": "2026-11-27T14:52:02.000001Z"}
    assert renewed["metadata"]["uid"] == created["metadata"]["uid"]
    fields = renewed["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
    assert set(fields) == {"f:holderIdentity", "f:leaseDurationSeconds", "f:renewTime"}


async def test_update_dropping_unknown_fields_keeps_status_and_stored_object(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(TENANTS, json=tenant("t1", displayName="one"))
    assert r.status_code == 201, r.text
    r = await client.patch(
        f"{TENANTS}/t1/status", json={"status": {"observedGeneration": 1}}, headers=MERGE
    )
    assert r.status_code == 200, r.text
    before = r.json()
    patch = {"spec": {"displayName": "two", "colour": "blue"}}
    r = await client.patch(f"{TENANTS}/t1?fieldValidation=Warn", json=patch, headers=MERGE)
    assert r.status_code == 200, r.text
    assert "spec.colour" in r.headers["warning"]
    after = r.json()
    assert "colour" not in after["spec"] and after["spec"]["displayName"] == "two"
    assert after["status"] == before["status"]
    r = await client.patch(f"{TENANTS}/t1", json=patch, headers=MERGE)
    assert r.status_code == 422, r.text
    assert (await client.get(f"{TENANTS}/t1")).json() == after


def test_remembered_field_encodings_are_private_to_each_object() -> None:
    """managedFields trees come from a cache: changing one object's must not change another's."""
    info = REGISTRY.by_group_kind("axle.dev", "Work")
    old = work("w1")
    new = copy.deepcopy(old)
    new["status"] = status("one")
    first = track_update(info, old, new, manager="agent", subresource="status")
    second = track_update(info, old, new, manager="agent", subresource="status")
    tree = first["metadata"]["managedFields"][0]["fieldsV1"]
    assert tree == second["metadata"]["managedFields"][0]["fieldsV1"]
    tree["f:status"].clear()
    third = track_update(info, old, new, manager="agent", subresource="status")
    assert (
        third["metadata"]["managedFields"][0]["fieldsV1"]
        == second["metadata"]["managedFields"][0]["fieldsV1"]
    )
    assert third["metadata"]["managedFields"][0]["fieldsV1"]["f:status"]
    # Decoding is remembered too: a stored entry read back gives the same field set.
    again = track_update(info, third, third, manager="agent", subresource="status")
    assert again["metadata"]["managedFields"] == third["metadata"]["managedFields"]
