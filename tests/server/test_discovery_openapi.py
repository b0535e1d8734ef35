"""Discovery in Kubernetes' legacy shapes, `/version`, and OpenAPI documents covering every
kind (what kubectl reads before anything else)."""

from __future__ import annotations

import httpx

from axle.api.registry import REGISTRY
from axle.server.openapi import schema_name
from tests.server.conftest import Hub

AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


async def test_api_versions_and_group_list(client: httpx.AsyncClient) -> None:
    r = await client.get("/api", headers={"Accept": "application/json, */*"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["kind"] == "APIVersions" and r.json()["versions"] == ["v1"]
    groups = (await client.get("/apis")).json()
    assert groups["kind"] == "APIGroupList"
    by_name = {g["name"]: g for g in groups["groups"]}
    assert by_name["axle.dev"]["preferredVersion"]["groupVersion"] == "axle.dev/v1alpha1"
    assert [v["version"] for v in by_name["spectrocloud.com"]["versions"]] == [
        "v1alpha1",
        "v1beta1",
    ]
    assert "rbac.authorization.k8s.io" in by_name
    # axle.dev is listed before its alias, so kubectl resolves `tenants` to axle.dev.
    names = [g["name"] for g in groups["groups"]]
    assert names.index("axle.dev") < names.index("spectrocloud.com")
    group = (await client.get("/apis/axle.dev")).json()
    assert group["kind"] == "APIGroup" and group["name"] == "axle.dev"


async def test_resource_lists_describe_every_kind(client: httpx.AsyncClient) -> None:
    for info in REGISTRY:
        path = f"/apis/{info.api_version}" if info.group else f"/api/{info.version}"
        doc = (await client.get(path)).json()
        assert doc["kind"] == "APIResourceList" and doc["groupVersion"] == info.api_version
        by_name = {r["name"]: r for r in doc["resources"]}
        entry = by_name[info.plural]
        assert entry["kind"] == info.kind
        assert entry["namespaced"] == info.namespaced
        assert entry["singularName"] == info.singular
        assert sorted(entry["verbs"]) == sorted(info.verbs)
        assert entry.get("shortNames", []) == list(info.short_names)
        if info.has_status:
            assert by_name[f"{info.plural}/status"]["verbs"] == ["get", "patch", "update"]
        else:
            assert f"{info.plural}/status" not in by_name
    alias = (await client.get("/apis/spectrocloud.com/v1beta1")).json()
    assert "tenants" in {r["name"] for r in alias["resources"]}
    assert "configmaps" not in {r["name"] for r in alias["resources"]}


async def test_version(client: httpx.AsyncClient) -> None:
    v = (await client.get("/version")).json()
    assert v["major"] == "1" and v["gitVersion"].startswith("v1.")


async def test_openapi_v3_has_every_kind(client: httpx.AsyncClient) -> None:
    index = (await client.get("/openapi/v3")).json()
    for info in REGISTRY:
        key = f"apis/{info.api_version}" if info.group else f"api/{info.version}"
        url = index["paths"][key]["serverRelativeURL"]
        doc = (await client.get(url)).json()
        name = schema_name(info.group, info.version, info.kind)
        schema = doc["components"]["schemas"][name]
        assert schema["x-kubernetes-group-version-kind"] == [
            {"group": info.group, "kind": info.kind, "version": info.version}
        ]
        # What kubectl checks before it leaves field validation to the server: a PATCH
        # operation for the kind with a fieldValidation query parameter.
        patches = [
            item["patch"]
            for item in doc["paths"].values()
            if "patch" in item
            and item["patch"]["x-kubernetes-group-version-kind"]["kind"] == info.kind
        ]
        assert patches
        assert any(p["name"] == "fieldValidation" for p in patches[0]["parameters"])
        # Every reference resolves inside the document.
        text = (await client.get(url)).text
        for ref in _refs(doc):
            assert ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"], (
                ref,
                text[:200],
            )


def _refs(node: object) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out.append(v)
            else:
                out.extend(_refs(v))
    elif isinstance(node, list):
        for v in node:
            out.extend(_refs(v))
    return out


async def test_openapi_v2(client: httpx.AsyncClient, hub: Hub) -> None:
    doc = (await client.get("/openapi/v2")).json()
    assert doc["swagger"] == "2.0"
    for info in REGISTRY:
        assert schema_name(info.group, info.version, info.kind) in doc["definitions"]
    for ref in _refs(doc):
        assert ref.startswith("#/definitions/")
        assert ref.removeprefix("#/definitions/") in doc["definitions"], ref
    r = await client.get(
        "/openapi/v2",
        headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"},
    )
    assert r.status_code == 406


async def test_openapi_carries_list_merge_extensions(client: httpx.AsyncClient) -> None:
    index = (await client.get("/openapi/v3")).json()
    doc = (await client.get(index["paths"]["api/v1"]["serverRelativeURL"])).json()
    ns = doc["components"]["schemas"]["io.k8s.api.core.v1.Namespace"]
    finalizers = ns["properties"]["metadata"]["properties"]["finalizers"]
    assert finalizers["x-kubernetes-patch-strategy"] == "merge"
    conditions = ns["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    patch = doc["paths"]["/api/v1/namespaces/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    axle_doc = (
        await client.get(index["paths"]["apis/axle.dev/v1alpha1"]["serverRelativeURL"])
    ).json()
    tenant_patch = axle_doc["paths"]["/apis/axle.dev/v1alpha1/tenants/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in tenant_patch["requestBody"]["content"]


async def test_aggregated_discovery(client: httpx.AsyncClient) -> None:
    r = await client.get("/apis", headers={"Accept": AGGREGATED_ACCEPT})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )
    doc = r.json()
    assert doc["kind"] == "APIGroupDiscoveryList"
    groups = {g["metadata"]["name"]: g for g in doc["items"]}
    assert "" not in groups and "axle.dev" in groups
    tenants = next(
        res
        for res in groups["axle.dev"]["versions"][0]["resources"]
        if res["resource"] == "tenants"
    )
    assert tenants["scope"] == "Cluster" and tenants["singularResource"] == "tenant"
    assert tenants["responseKind"] == {"group": "axle.dev", "version": "v1alpha1", "kind": "Tenant"}
    assert tenants["subresources"][0]["subresource"] == "status"
    core = (await client.get("/api", headers={"Accept": AGGREGATED_ACCEPT})).json()
    assert [g["metadata"]["name"] for g in core["items"]] == [""]
    names = {res["resource"] for res in core["items"][0]["versions"][0]["resources"]}
    assert {"namespaces", "configmaps", "secrets", "events"} <= names
    # Only v2beta1 asked for: the legacy document.
    legacy = await client.get(
        "/apis",
        headers={
            "Accept": "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            ",application/json"
        },
    )
    assert legacy.json()["kind"] == "APIGroupList"
