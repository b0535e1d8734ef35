"""Every JSON body the simulator answers with matches the spec's schema for its operation:
no invented fields, the declared types and enums, required fields present."""

from __future__ import annotations

from typing import Any

from tests.sim.conftest import SimHarness, tag_filter
from tests.sim.helpers import cluster_body, create, pool
from tests.sim.spec import conformance_errors, definition, response_schema


async def check(h: SimHarness, method: str, template: str, url: str, body: Any = None) -> Any:
    r = await h.client.request(method, url, json=body)
    assert r.status_code in (200, 201), r.text
    errors = conformance_errors(r.json(), response_schema(method, template))
    assert errors == [], f"{method} {template}"
    return r.json()


async def test_every_response_matches_the_spec(h: SimHarness) -> None:
    host = h.sim.find_host("gpu-h100-01").uid
    await check(h, "GET", "/v1/users/info", "/v1/users/info")
    await check(h, "GET", "/v1/dashboard/projects/metadata", "/v1/dashboard/projects/metadata")
    await check(h, "GET", "/v1/projects/{uid}", "/v1/projects/acme-default")
    await check(
        h, "POST", "/v1/dashboard/edgehosts/search", "/v1/dashboard/edgehosts/search", tag_filter()
    )
    await check(
        h, "GET", "/v1/dashboard/edgehosts/search/schema", "/v1/dashboard/edgehosts/search/schema"
    )
    await check(h, "GET", "/v1/edgehosts/metadata", "/v1/edgehosts/metadata")
    await check(h, "GET", "/v1/edgehosts/tags", "/v1/edgehosts/tags")
    await check(h, "GET", "/v1/edgehosts/{uid}", f"/v1/edgehosts/{host}")
    await check(h, "GET", "/v1/clusterprofiles/{uid}", "/v1/clusterprofiles/edge-k8s-1-32")
    await check(
        h, "GET", "/v1/dashboard/clusterprofiles/metadata", "/v1/dashboard/clusterprofiles/metadata"
    )
    imported = {
        "metadata": {"name": "p"},
        "spec": {"template": {"packs": [{"name": "a", "layer": "addon"}]}},
    }
    await check(
        h, "POST", "/v1/clusterprofiles/import", "/v1/clusterprofiles/import?publish=true", imported
    )

    body = cluster_body(h, workers=["gpu-h100-01", "gpu-a100-01"])
    await check(
        h,
        "POST",
        "/v1/spectroclusters/edge-native/validate",
        "/v1/spectroclusters/edge-native/validate",
        body,
    )
    uid = await create(h, cluster_body(h))
    await check(
        h,
        "POST",
        "/v1/spectroclusters/edge-native",
        "/v1/spectroclusters/edge-native",
        cluster_body(h, "b", cp=["gpu-l40s-01"], workers=[]),
    )
    for _ in range(2):  # Pending, then Running
        spc = await check(h, "GET", "/v1/spectroclusters/{uid}", f"/v1/spectroclusters/{uid}")
        await check(
            h, "GET", "/v1/spectroclusters/{uid}/status", f"/v1/spectroclusters/{uid}/status"
        )
        await check(
            h, "GET", "/v1/dashboard/spectroclusters/{uid}", f"/v1/dashboard/spectroclusters/{uid}"
        )
        await check(
            h,
            "POST",
            "/v1/dashboard/spectroclusters/search",
            "/v1/dashboard/spectroclusters/search",
            {},
        )
        await check(
            h,
            "GET",
            "/v1/spectroclusters/{uid}/edge-native/edgeHosts",
            f"/v1/spectroclusters/{uid}/edge-native/edgeHosts",
        )
        cfg = spc["spec"]["cloudConfigRef"]["uid"]
        await check(
            h,
            "GET",
            "/v1/cloudconfigs/edge-native/{configUid}",
            f"/v1/cloudconfigs/edge-native/{cfg}",
        )
        machines = (
            "/v1/cloudconfigs/edge-native/{configUid}/machinePools/{machinePoolName}/machines"
        )
        await check(
            h, "GET", machines, f"/v1/cloudconfigs/edge-native/{cfg}/machinePools/gpu/machines"
        )
        h.clock.advance(60)
    await check(
        h,
        "POST",
        "/v1/cloudconfigs/edge-native/{configUid}/machinePools",
        f"/v1/cloudconfigs/edge-native/{cfg}/machinePools",
        pool(h, "more", ["gpu-h100-04"]),
    )
    await check(h, "GET", "/v1/edgehosts/{uid}", f"/v1/edgehosts/{host}")  # in use now


async def test_errors_match_v1error(h: SimHarness) -> None:
    for r in [
        await h.client.get("/v1/users/info", headers={"ApiKey": "bad"}),
        await h.client.get("/v1/edgehosts/nope"),
        await h.client.post(
            "/v1/spectroclusters/edge-native", json=cluster_body(h, workers=["gpu-a100-01"])
        ),
    ]:
        assert r.status_code >= 400
        assert conformance_errors(r.json(), definition("v1Error")) == []
        assert set(r.json()) == {"code", "message", "details", "ref"}
