"""Edge hosts: auth, the search (filters, sort, paging), one host, metadata, tags, retagging."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sim.conftest import API_KEY, SimHarness, tag_filter

SEARCH = "/v1/dashboard/edgehosts/search"


def names(page: dict[str, Any]) -> list[str]:
    return [i["metadata"]["name"] for i in page["items"]]


def string_filter(prop: str, values: list[str], **cond: Any) -> dict[str, Any]:
    condition = {"operator": "eq", "match": {"conjunction": "or", "values": values}, **cond}
    item = {"property": prop, "type": "string", "condition": {"string": condition}}
    return {"filter": {"conjunction": "and", "filterGroups": [{"filters": [item]}]}}


async def search_all(h: SimHarness, body: dict[str, Any], limit: int = 50) -> tuple[list[str], int]:
    """Every page of a search, following `continue`; returns names and the request count."""
    out: list[str] = []
    token = ""
    requests = 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if token:
            params["continue"] = token
        r = await h.client.post(SEARCH, json=body, params=params)
        assert r.status_code == 200, r.text
        requests += 1
        page = r.json()
        out += names(page)
        token = page["listmeta"]["continue"]
        if not token:
            return out, requests


# ---- auth ----------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"ApiKey": "wrong"}, {"ApiKey": ""}])
async def test_bad_or_missing_api_key_is_401_v1error(
    h: SimHarness, headers: dict[str, str]
) -> None:
    r = await h.client.get("/v1/users/info", headers={"ApiKey": "", **headers})
    assert r.status_code == 401
    body = r.json()
    assert body["code"] == "Unauthorized"
    assert set(body) == {"code", "message", "details", "ref"}
    assert "ApiKey" in body["message"]


async def test_users_info_checks_the_key(h: SimHarness) -> None:
    r = await h.client.get("/v1/users/info", headers={"ApiKey": API_KEY})
    assert r.status_code == 200
    assert r.json() == {"orgName": "acme", "tenantUid": "acme-tenant", "userUid": "sim-user"}


async def test_unknown_project_is_403_and_missing_project_is_tenant_scope(h: SimHarness) -> None:
    r = await h.client.post(SEARCH, json={}, headers={"ProjectUid": "nope"})
    assert r.status_code == 403
    assert r.json()["code"] == "Forbidden"
    r = await h.client.post(SEARCH, json={}, headers={"ProjectUid": ""})
    assert r.status_code == 200
    assert r.json()["listmeta"]["count"] == 14


async def test_unknown_path_and_method_answer_v1error(h: SimHarness) -> None:
    r = await h.client.get("/v1/nothing/here")
    assert r.status_code == 404
    assert r.json()["code"] == "ResourceNotFound"
    r = await h.client.delete("/v1/users/info")
    assert r.status_code == 405
    assert r.json()["code"] == "MethodNotAllowed"


async def test_bad_json_body_is_400(h: SimHarness) -> None:
    r = await h.client.post(SEARCH, content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["code"] == "InvalidRequest"


# ---- search ----------------------------------------------------------------------------------


async def test_search_by_tag_excludes_the_untagged_host(h: SimHarness) -> None:
    r = await h.client.post(SEARCH, json=tag_filter())
    page = r.json()
    assert page["listmeta"] == {"continue": "", "count": 13, "limit": 50, "offset": 0}
    assert "build-runner-01" not in names(page)
    assert names(page) == sorted(names(page))  # stable default order: by name


async def test_search_item_has_the_spec_shape(h: SimHarness) -> None:
    r = await h.client.post(SEARCH, json=string_filter("name", ["gpu-h100-01"]))
    (item,) = r.json()["items"]
    assert set(item) == {"metadata", "spec", "status"}
    assert item["metadata"]["labels"] == {"palette.ai": "true", "axle.dev/resource-group": "rack-a"}
    device = item["spec"]["device"]
    assert device["archType"] == "amd64"
    assert device["cpu"] == {"cores": 112}
    assert device["memory"] == {"sizeInMB": 2097152}
    assert [d["size"] for d in device["disks"]] == [960, 7680]
    (gpu,) = device["gpus"]
    assert (gpu["vendor"], gpu["model"], gpu["gpuCount"], gpu["memory"]) == (
        "NVIDIA",
        "H100",
        8,
        "81559 MiB",
    )
    assert [n["nicName"] for n in device["nics"]] == ["eno1", "ib0"]
    assert item["spec"]["host"]["hostAddress"] == "10.10.1.11"
    assert item["spec"]["projectMeta"] == {"name": "Default", "uid": "acme-default"}
    assert item["status"]["state"] == "ready"
    assert item["status"]["health"]["state"] == "healthy"
    assert item["status"]["inUseClustersRef"] == []


async def test_pagination_follows_continue_with_count(h: SimHarness) -> None:
    got, requests = await search_all(h, tag_filter(), limit=4)
    assert requests == 4  # 13 hosts: 4 + 4 + 4 + 1
    assert len(got) == 13 and len(set(got)) == 13
    r = await h.client.post(SEARCH, json=tag_filter(), params={"limit": 4})
    meta = r.json()["listmeta"]
    assert meta["count"] == 13 and meta["limit"] == 4 and meta["offset"] == 0
    r = await h.client.post(
        SEARCH, json=tag_filter(), params={"limit": 4, "continue": meta["continue"]}
    )
    assert r.json()["listmeta"]["offset"] == 4


async def test_offset_pages_and_limit_is_capped_at_50(make_sim: Any) -> None:
    from axle.sim.palette.fleet import generate

    h = await make_sim(inventory=generate(120, seed=3))
    r = await h.client.post(SEARCH, json={}, params={"limit": 500})
    meta = r.json()["listmeta"]
    assert meta["limit"] == 50 and len(r.json()["items"]) == 50 and meta["count"] == 120
    r = await h.client.post(SEARCH, json={}, params={"offset": 100})
    assert len(r.json()["items"]) == 20 and r.json()["listmeta"]["continue"] == ""
    got, requests = await search_all(h, {})
    assert requests == 3 and len(set(got)) == 120


async def test_continue_token_of_another_body_or_garbage_is_400(h: SimHarness) -> None:
    r = await h.client.post(SEARCH, json=tag_filter(), params={"limit": 2})
    token = r.json()["listmeta"]["continue"]
    r = await h.client.post(SEARCH, json={}, params={"continue": token})
    assert r.status_code == 400 and r.json()["code"] == "InvalidContinueToken"
    r = await h.client.post(SEARCH, json={}, params={"continue": "!!garbage"})
    assert r.status_code == 400 and r.json()["code"] == "InvalidContinueToken"
    r = await h.client.post(SEARCH, json={}, params={"limit": "-1"})
    assert r.status_code == 400


async def test_misspelt_conjuction_and_or_groups(h: SimHarness) -> None:
    body = tag_filter("axle.dev/resource-group", "rack-a")
    body["filter"] = {"conjuction": "or", "filterGroups": body["filter"]["filterGroups"]}
    body["filter"]["filterGroups"].append(
        string_filter("name", ["build-runner-01"])["filter"]["filterGroups"][0]
    )
    r = await h.client.post(SEARCH, json=body)
    got = names(r.json())
    assert "build-runner-01" in got and len(got) == 8  # 3 cp + 4 h100 in rack-a, + the runner
    body["filter"]["conjuction"] = "and"
    r = await h.client.post(SEARCH, json=body)
    assert names(r.json()) == []
    body["filter"]["conjuction"] = "xor"
    assert (await h.client.post(SEARCH, json=body)).status_code == 400


async def test_state_and_health_filters(h: SimHarness) -> None:
    r = await h.client.post(SEARCH, json=string_filter("healthState", ["unhealthy"]))
    assert names(r.json()) == ["gpu-a100-01"]
    r = await h.client.post(SEARCH, json=string_filter("state", ["ready", "unpaired"]))
    assert r.json()["listmeta"]["count"] == 14
    r = await h.client.post(SEARCH, json=string_filter("state", ["in-use"]))
    assert r.json()["listmeta"]["count"] == 0


async def test_string_operators_negation_and_ignore_case(h: SimHarness) -> None:
    r = await h.client.post(
        SEARCH, json=string_filter("name", ["GPU-H"], operator="beginsWith", ignoreCase=True)
    )
    assert names(r.json()) == [f"gpu-h100-0{i}" for i in range(1, 5)]
    r = await h.client.post(SEARCH, json=string_filter("name", ["GPU-H"], operator="beginsWith"))
    assert names(r.json()) == []
    r = await h.client.post(SEARCH, json=string_filter("gpuModel", ["A100", "L40S"], negation=True))
    assert len(names(r.json())) == 14 - 6
    r = await h.client.post(SEARCH, json=string_filter("name", ["a100"], operator="contains"))
    assert len(names(r.json())) == 4


async def test_tags_as_key_value_strings_and_key_presence(h: SimHarness) -> None:
    r = await h.client.post(SEARCH, json=string_filter("tags", ["team:ci"]))
    assert names(r.json()) == ["build-runner-01"]
    body = tag_filter("axle.dev/resource-group", "")
    body["filter"]["filterGroups"][0]["filters"][0]["condition"]["keyValue"]["match"]["values"] = []
    r = await h.client.post(SEARCH, json=body)
    assert r.json()["listmeta"]["count"] == 13
    body = tag_filter("axle.dev/resource-group", "rack-")
    kv = body["filter"]["filterGroups"][0]["filters"][0]["condition"]["keyValue"]
    kv["operator"] = "beginsWith"
    kv["negation"] = True
    r = await h.client.post(SEARCH, json=body)
    assert names(r.json()) == ["build-runner-01"]


async def test_numeric_bool_and_date_filters(h: SimHarness) -> None:
    def item(prop: str, ftype: str, cond: dict[str, Any]) -> dict[str, Any]:
        f = {"property": prop, "type": ftype, "condition": {ftype: cond}}
        return {"filter": {"filterGroups": [{"filters": [f]}]}}

    r = await h.client.post(
        SEARCH, json=item("gpuCount", "int", {"operator": "gte", "match": {"values": [8]}})
    )
    assert r.json()["listmeta"]["count"] == 8
    r = await h.client.post(SEARCH, json=item("inUse", "bool", {"value": False}))
    assert r.json()["listmeta"]["count"] == 14
    created = "2027-01-15T08:00:00.000Z"  # the manual clock starts at 2027-01-15T08:00:00Z
    r = await h.client.post(
        SEARCH,
        json=item("creationTimestamp", "date", {"operator": "lte", "match": {"values": [created]}}),
    )
    assert r.json()["listmeta"]["count"] == 14
    r = await h.client.post(
        SEARCH,
        json=item("creationTimestamp", "date", {"operator": "gt", "match": {"values": [created]}}),
    )
    assert r.json()["listmeta"]["count"] == 0


@pytest.mark.parametrize(
    ("filt", "field"),
    [
        ({"property": "nope", "type": "string", "condition": {}}, "property"),
        ({"property": "cpuCores", "type": "string", "condition": {}}, "type"),
        (
            {"property": "name", "type": "string", "condition": {"string": {"operator": "like"}}},
            "operator",
        ),
        ({"property": "tags", "type": "keyValue", "condition": {"keyValue": {}}}, "key"),
    ],
)
async def test_bad_filters_name_the_field(h: SimHarness, filt: dict[str, Any], field: str) -> None:
    r = await h.client.post(SEARCH, json={"filter": {"filterGroups": [{"filters": [filt]}]}})
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "InvalidFilter"
    assert body["details"]["field"].endswith(field)


async def test_sort_desc_and_cluster_enum_alias(h: SimHarness) -> None:
    r = await h.client.post(SEARCH, json={"sort": [{"field": "name", "order": "desc"}]})
    got = names(r.json())
    assert got == sorted(got, reverse=True)
    r = await h.client.post(SEARCH, json={"sort": [{"field": "healthState", "order": "desc"}]})
    assert names(r.json())[0] == "gpu-a100-01"
    r = await h.client.post(SEARCH, json={"sort": [{"field": "clusterName", "order": "asc"}]})
    assert names(r.json())[0] == "build-runner-01"
    r = await h.client.post(SEARCH, json={"sort": [{"field": "environment"}]})
    assert r.status_code == 400


async def test_schema_lists_filterable_properties(h: SimHarness) -> None:
    r = await h.client.get("/v1/dashboard/edgehosts/search/schema")
    props = {p["name"]: p for p in r.json()["schema"]["properties"]}
    assert props["tags"]["type"] == "keyValue"
    assert props["state"]["enum"] == ["ready", "unpaired", "in-use"]
    assert {"name", "healthState", "architecture", "gpuModel"} <= set(props)


# ---- one host, metadata, tags, retag ---------------------------------------------------------


async def test_get_host_and_404(h: SimHarness) -> None:
    uid = h.sim.find_host("gpu-l40s-02").uid
    r = await h.client.get(f"/v1/edgehosts/{uid}")
    body = r.json()
    assert body["metadata"]["uid"] == uid
    assert body["spec"]["host"]["hostUid"] == uid
    assert body["spec"]["device"]["gpus"][0]["model"] == "L40S"
    assert body["aclmeta"]["projectUid"] == "acme-default"
    assert body["status"]["state"] == "ready"
    r = await h.client.get("/v1/edgehosts/edge-missing")
    assert r.status_code == 404 and r.json()["code"] == "ResourceNotFound"


async def test_metadata_lists_every_host_without_paging(h: SimHarness) -> None:
    r = await h.client.get("/v1/edgehosts/metadata")
    hosts = r.json()["edgeHosts"]
    assert len(hosts) == 14
    a100 = next(x for x in hosts if x["name"] == "gpu-a100-01")
    assert a100["healthState"] == "unhealthy" and a100["archType"] == "amd64"
    assert a100["edgeHostType"] == "edge-native"
    r = await h.client.get("/v1/edgehosts/metadata", params={"quickFilter": "unusedEdgeHosts"})
    assert len(r.json()["edgeHosts"]) == 14
    r = await h.client.get("/v1/edgehosts/metadata", params={"type": "vsphere"})
    assert r.json()["edgeHosts"] == []
    r = await h.client.get("/v1/edgehosts/metadata", params={"quickFilter": "bogus"})
    assert r.status_code == 400


async def test_tags_and_retag(h: SimHarness) -> None:
    r = await h.client.get("/v1/edgehosts/tags")
    assert "palette.ai:true" in r.json()["tags"] and "team:ci" in r.json()["tags"]
    host = h.sim.find_host("build-runner-01")
    body = {
        "metadata": {"name": "build-runner-01", "uid": host.uid, "labels": {"palette.ai": "true"}}
    }
    r = await h.client.put(f"/v1/edgehosts/{host.uid}/meta", json=body)
    assert r.status_code == 204
    r = await h.client.post(SEARCH, json=tag_filter())
    assert r.json()["listmeta"]["count"] == 14  # the cached search saw the change
    r = await h.client.get("/v1/edgehosts/tags")
    assert "team:ci" not in r.json()["tags"]


@pytest.mark.parametrize(
    "meta",
    [None, {"uid": "other"}, {"labels": {"a": 1}}, {"name": ""}, {"name": "gpu-h100-01"}],
)
async def test_bad_retag_changes_nothing(h: SimHarness, meta: Any) -> None:
    host = h.sim.find_host("cp-01")
    before = dict(host.tags)
    r = await h.client.put(f"/v1/edgehosts/{host.uid}/meta", json={"metadata": meta})
    assert r.status_code in (400, 409)
    assert host.tags == before and host.name == "cp-01"
