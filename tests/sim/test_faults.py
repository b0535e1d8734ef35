"""Faults on demand through /admin and the flags: 429/500 rules, rates, paths, latency,
provisioning failures, host health, timings, counters, reset, and the admin guard."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sim.conftest import SimHarness, tag_filter
from tests.sim.helpers import cluster_body, create, host_state, state_of

SEARCH = "/v1/dashboard/edgehosts/search"


async def add_fault(h: SimHarness, **rule: Any) -> dict[str, Any]:
    r = await h.client.post("/admin/faults", json=rule)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_next_n_requests_get_429_with_retry_after(h: SimHarness) -> None:
    await add_fault(h, status=429, count=2, retryAfter=3)
    for _ in range(2):
        r = await h.client.get("/v1/users/info")
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "3"
        body = r.json()
        assert body["code"] == "TooManyRequests" and body["details"]["injected"] is True
    assert (await h.client.get("/v1/users/info")).status_code == 200
    assert (await h.client.get("/admin/faults")).json()["rules"] == []


async def test_fractional_retry_after_rounds_up(h: SimHarness) -> None:
    await add_fault(h, status=429, count=1, retryAfter=0.2)
    assert (await h.client.get("/v1/users/info")).headers["Retry-After"] == "1"


async def test_500_on_a_path_pattern_and_method_only(h: SimHarness) -> None:
    await add_fault(h, status=500, path="/v1/dashboard/edgehosts/*", method="POST")
    r = await h.client.post(SEARCH, json={})
    assert r.status_code == 500 and r.json()["code"] == "InternalError"
    assert "Retry-After" not in r.headers
    assert (await h.client.get("/v1/dashboard/edgehosts/search/schema")).status_code == 200
    assert (await h.client.get("/v1/edgehosts/metadata")).status_code == 200
    faults = (await h.client.get("/admin/faults")).json()
    assert faults["rules"][0]["fired"] == 1 and faults["rules"][0]["count"] is None
    assert (await h.client.delete("/admin/faults")).status_code == 204
    assert (await h.client.post(SEARCH, json={})).status_code == 200


async def test_fault_rate_is_a_seeded_fraction(h: SimHarness) -> None:
    await add_fault(h, status=503, rate=0.5)
    statuses = [(await h.client.get("/v1/users/info")).status_code for _ in range(200)]
    failed = statuses.count(503)
    assert 60 < failed < 140  # about half, from a seeded generator
    assert set(statuses) == {200, 503}


async def test_fail_rate_flag_and_reset(make_sim: Any) -> None:
    h = await make_sim(fail_rate=1.0)
    r = await h.client.get("/v1/users/info")
    assert r.status_code == 500
    await h.client.delete("/admin/faults")
    assert (await h.client.get("/v1/users/info")).status_code == 200
    assert (await h.client.post("/admin/reset", json={})).status_code == 204
    assert (await h.client.get("/v1/users/info")).status_code == 500  # back to the flag's rule


async def test_faults_come_before_auth(h: SimHarness) -> None:
    await add_fault(h, status=429, count=1)
    r = await h.client.get("/v1/users/info", headers={"ApiKey": "wrong"})
    assert r.status_code == 429


@pytest.mark.parametrize(
    "rule",
    [{"status": 200}, {"count": 0}, {"rate": 2}, {"path": "v1"}, {"bogus": 1}, {"retryAfter": -1}],
)
async def test_bad_fault_rules_are_refused(h: SimHarness, rule: dict[str, Any]) -> None:
    r = await h.client.post("/admin/faults", json=rule)
    assert r.status_code == 400
    assert (await h.client.get("/admin/faults")).json()["rules"] == []


async def test_latency_flag_and_setting(make_sim: Any) -> None:
    h = await make_sim(latency_ms=250)
    await h.client.get("/v1/users/info")
    assert h.sleeps == [0.25]
    r = await h.client.patch("/admin/settings", json={"latencyMs": 40})
    assert r.json()["latencyMs"] == 40
    await h.client.get("/v1/users/info")
    await h.client.get("/admin/requests")  # the admin API is not slowed down
    assert h.sleeps == [0.25, 0.04]
    await h.client.patch("/admin/settings", json={"latencyMs": 0})
    await h.client.get("/v1/users/info")
    assert len(h.sleeps) == 2


async def test_bad_settings_change_nothing(h: SimHarness) -> None:
    for body in ({"latencyMs": -1}, {"provisioningSeconds": "x"}, {"nope": 1}, [1]):
        r = await h.client.patch("/admin/settings", json=body)
        assert r.status_code == 400
    assert (await h.client.get("/admin/settings")).json()["provisioningSeconds"] == 60


async def test_next_provisioning_fails_with_a_condition(h: SimHarness) -> None:
    r = await h.client.post(
        "/admin/provisioning-failures", json={"count": 1, "message": "PXE boot timed out"}
    )
    assert r.json()["provisioningFailures"] == ["PXE boot timed out"]
    bad = await create(h, cluster_body(h, "bad", workers=[]))
    good = await create(h, cluster_body(h, "good", cp=["gpu-l40s-01"], workers=[]))
    h.clock.advance(30)
    assert await state_of(h, bad) == "Provisioning"
    h.clock.advance(30)
    assert await state_of(h, bad) == "Error"
    assert await state_of(h, good) == "Running"
    doc = (await h.client.get(f"/v1/spectroclusters/{bad}")).json()
    ready = next(c for c in doc["status"]["conditions"] if c["type"] == "Ready")
    assert ready == ready | {
        "status": "False",
        "reason": "ProvisioningFailed",
        "message": "PXE boot timed out",
    }
    summary = (await h.client.get(f"/v1/dashboard/spectroclusters/{bad}")).json()
    assert summary["status"]["health"]["state"] == "UnHealthy"
    # The hosts stay held by the failed cluster until it is deleted.
    assert h.sim.find_host("cp-01").state == "in-use"
    await h.client.delete(f"/v1/spectroclusters/{bad}")
    h.clock.advance(10)
    assert (await host_state(h, "cp-01"))["state"] == "ready"
    r = await h.client.post("/admin/provisioning-failures", json={"count": 0})
    assert r.status_code == 400


async def test_changed_durations_apply_to_new_clusters(h: SimHarness) -> None:
    first = await create(h, cluster_body(h, "first", workers=[]))
    r = await h.client.patch(
        "/admin/settings",
        json={"provisioningSeconds": 2, "pendingSeconds": 0, "deletionSeconds": 0},
    )
    assert r.status_code == 200
    second = await create(h, cluster_body(h, "second", cp=["gpu-l40s-01"], workers=[]))
    assert await state_of(h, second) == "Provisioning"
    h.clock.advance(2)
    assert await state_of(h, second) == "Running"
    assert await state_of(h, first) == "Pending"  # kept its own 5 s Pending, 60 s total
    await h.client.delete(f"/v1/spectroclusters/{second}")
    assert await state_of(h, second) == "Deleted"
    await h.client.patch("/admin/settings", json={"provisioningSeconds": 0})
    third = await create(h, cluster_body(h, "third", cp=["gpu-l40s-02"], workers=[]))
    assert await state_of(h, third) == "Running"


async def test_host_health_and_state_via_admin(h: SimHarness) -> None:
    r = await h.client.patch(
        "/admin/hosts/gpu-h100-03", json={"health": "unhealthy", "message": "fan failure"}
    )
    assert r.status_code == 200 and r.json()["healthState"] == "unhealthy"
    uid = h.sim.find_host("gpu-h100-03").uid
    health = (await h.client.get(f"/v1/edgehosts/{uid}")).json()["status"]["health"]
    assert health["state"] == "unhealthy" and health["message"] == "fan failure"
    page = (await h.client.post(SEARCH, json=tag_filter())).json()
    item = next(i for i in page["items"] if i["metadata"]["name"] == "gpu-h100-03")
    assert item["status"]["health"]["state"] == "unhealthy"  # cached summaries were refreshed
    r = await h.client.patch(f"/admin/hosts/{uid}", json={"health": "healthy"})
    assert r.json()["healthState"] == "healthy" and r.json()["healthMessage"] == ""
    assert (
        await h.client.patch("/admin/hosts/nope", json={"health": "healthy"})
    ).status_code == 404
    assert (await h.client.patch(f"/admin/hosts/{uid}", json={"health": "meh"})).status_code == 400
    assert (
        await h.client.patch(f"/admin/hosts/{uid}", json={"state": "in-use"})
    ).status_code == 400
    await create(h, cluster_body(h, workers=["gpu-h100-03"]))
    assert (
        await h.client.patch(f"/admin/hosts/{uid}", json={"state": "unpaired"})
    ).status_code == 409


async def test_request_counters_per_route_path_and_status(h: SimHarness) -> None:
    await h.client.delete("/admin/requests")
    for _ in range(3):
        await h.client.post(SEARCH, json={})
    a, b = h.sim.state.hosts[0].uid, h.sim.state.hosts[1].uid
    await h.client.get(f"/v1/edgehosts/{a}")
    await h.client.get(f"/v1/edgehosts/{b}")
    await h.client.get("/v1/users/info", headers={"ApiKey": "bad"})
    counts = (await h.client.get("/admin/requests")).json()
    assert counts["total"] == 6
    assert counts["byRoute"]["POST /v1/dashboard/edgehosts/search"] == 3
    assert counts["byRoute"]["GET /v1/edgehosts/{uid}"] == 2
    assert counts["byPath"][f"/v1/edgehosts/{a}"] == 1
    assert counts["byStatus"] == {"200": 5, "401": 1}
    await h.client.delete("/admin/requests")
    assert (await h.client.get("/admin/requests")).json()["total"] == 0


async def test_reset_restores_state_from_the_inventory(h: SimHarness) -> None:
    await create(h, cluster_body(h))
    await h.client.patch("/admin/hosts/cp-02", json={"health": "unhealthy"})
    await add_fault(h, status=500, path="/v1/edgehosts/*")
    await h.client.post("/admin/reset", json={"state": True})
    assert h.sim.state.clusters == []
    assert h.sim.find_host("cp-02").health == "healthy"
    assert h.sim.find_host("cp-01").state == "ready"
    assert (await h.client.get("/v1/edgehosts/metadata")).status_code == 200
    assert (await h.client.get("/admin/requests")).json()["total"] == 1


async def test_admin_is_loopback_only(h: SimHarness) -> None:
    transport = httpx.ASGITransport(app=h.client._transport.app, client=("10.0.0.9", 5000))  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as remote:
        r = await remote.get("/admin/requests")
        assert r.status_code == 403 and r.json()["code"] == "Forbidden"


async def test_admin_key_when_configured(make_sim: Any) -> None:
    h = await make_sim(admin_key="s3cret")
    assert (await h.client.get("/admin/requests")).status_code == 401
    r = await h.client.get("/admin/requests", headers={"X-Admin-Key": "s3cret"})
    assert r.status_code == 200
    # The /v1 API key does not open /admin.
    r = await h.client.get("/admin/requests", headers={"X-Admin-Key": "sim-api-key"})
    assert r.status_code == 401
