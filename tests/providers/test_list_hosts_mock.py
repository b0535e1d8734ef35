"""list_hosts / get_host / check_credentials against httpx.MockTransport: request shape,
pagination, client-side tag filtering, dedupe, headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from axle.providers.base import BadResponse, Capability, Provider
from axle.providers.palette import PAGE_LIMIT
from tests.providers.helpers import body, edge_host, mock_client

SCHEMA = {
    "schema": {
        "properties": [
            {"name": "state", "type": "string", "enum": ["ready", "unpaired", "in-use"]},
            {"name": "tags", "type": "keyValue"},
        ]
    }
}


def paged(hosts: list[dict[str, Any]], seen: list[httpx.Request], schema: Any = SCHEMA) -> Any:
    """A search handler serving `hosts` PAGE_LIMIT at a time with opaque continue tokens."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/search/schema"):
            if schema is None:
                return httpx.Response(404, json={"code": "NotFound", "message": "no schema"})
            return httpx.Response(200, json=schema)
        assert request.url.path == "/v1/dashboard/edgehosts/search"
        limit = int(request.url.params["limit"])
        start = int(request.url.params.get("continue", "tok-0").removeprefix("tok-"))
        items = hosts[start : start + limit]
        nxt = start + limit
        token = f"tok-{nxt}" if nxt < len(hosts) else ""
        return httpx.Response(
            200,
            json={
                "items": items,
                "listmeta": {"continue": token, "count": len(hosts), "limit": limit},
            },
        )

    return handler


async def test_pages_until_continue_is_empty() -> None:
    seen: list[httpx.Request] = []
    hosts = [edge_host(f"h{i:03d}") for i in range(120)]
    client, _ = mock_client(paged(hosts, seen))
    async with client:
        result = await client.list_hosts()
    assert [h.uid for h in result] == [f"h{i:03d}" for i in range(120)]
    assert len(seen) == 3
    assert [r.url.params.get("continue") for r in seen] == [None, "tok-50", "tok-100"]
    assert all(r.url.params["limit"] == str(PAGE_LIMIT) for r in seen)
    assert client.calls["edgehosts.search"] == 3
    assert client.requests_made == 3


async def test_headers_and_filter_body() -> None:
    seen: list[httpx.Request] = []
    client, _ = mock_client(paged([], seen))
    async with client:
        await client.list_hosts({"palette.ai": "true", "zone": "a"})
        await client.list_hosts({"palette.ai": "true"})
    assert [r.url.path.rsplit("/", 1)[-1] for r in seen] == ["schema", "search", "search"]
    req = seen[1]
    assert req.method == "POST"
    assert req.headers["ApiKey"] == "k-123"
    assert req.headers["ProjectUid"] == "proj-1"
    filters = body(req)["filter"]["filterGroups"][0]["filters"]
    assert [f["condition"]["keyValue"]["key"] for f in filters] == ["palette.ai", "zone"]
    assert filters[0]["type"] == "keyValue"
    assert filters[0]["condition"]["keyValue"]["match"]["values"] == ["true"]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"schema": {"properties": [{"name": "labels", "type": "keyValue"}]}}, "labels"),
        ({"schema": {"properties": [{"name": "hostTags", "type": "keyValue"}]}}, "hostTags"),
        (
            {
                "schema": {
                    "properties": [
                        {"name": "tags", "type": "keyValue", "isDeprecated": True},
                        {"name": "edgeTags", "type": "keyValue"},
                    ]
                }
            },
            "edgeTags",
        ),
        ({"schema": {"properties": [{"name": "state", "type": "string"}]}}, None),
        (None, None),
    ],
)
async def test_tag_property_is_learned_from_the_schema(schema: Any, expected: str | None) -> None:
    seen: list[httpx.Request] = []
    hosts = [edge_host("a", labels={"k": "v"}), edge_host("b")]
    client, _ = mock_client(paged(hosts, seen, schema))
    async with client:
        assert [h.uid for h in await client.list_hosts({"k": "v"})] == ["a"]
    groups = body(seen[-1])["filter"]["filterGroups"]
    if expected is None:
        assert groups == []  # filtered client-side only
    else:
        assert groups[0]["filters"][0]["property"] == expected


async def test_an_explicit_tag_property_skips_the_schema() -> None:
    seen: list[httpx.Request] = []
    client, _ = mock_client(paged([], seen), tag_property="labels")
    async with client:
        await client.list_hosts({"k": "v"})
    assert len(seen) == 1
    assert body(seen[0])["filter"]["filterGroups"][0]["filters"][0]["property"] == "labels"


async def test_no_tags_sends_an_empty_filter() -> None:
    seen: list[httpx.Request] = []
    client, _ = mock_client(paged([], seen))
    async with client:
        await client.list_hosts()
    assert body(seen[0]) == {"filter": {"conjunction": "and", "filterGroups": []}, "sort": []}


async def test_tags_are_filtered_client_side_when_the_server_ignores_the_filter() -> None:
    seen: list[httpx.Request] = []
    hosts = [
        edge_host("a", labels={"palette.ai": "true"}),
        edge_host("b", labels={"palette.ai": "false"}),
        edge_host("c"),
        edge_host("d", labels={"palette.ai": "true", "x": "y"}),
    ]
    client, _ = mock_client(paged(hosts, seen))
    async with client:
        result = await client.list_hosts({"palette.ai": "true"})
    assert [h.uid for h in result] == ["a", "d"]


async def test_a_host_on_two_pages_is_kept_once() -> None:
    pages = [
        {"items": [edge_host("a"), edge_host("b")], "listmeta": {"continue": "t1"}},
        {"items": [edge_host("b", state="in-use"), edge_host("c")], "listmeta": {"continue": ""}},
    ]
    calls = iter(pages)
    client, _ = mock_client(lambda r: httpx.Response(200, json=next(calls)))
    async with client:
        result = await client.list_hosts()
    assert [h.uid for h in result] == ["a", "b", "c"]
    assert next(h for h in result if h.uid == "b").state == "in-use"


async def test_missing_listmeta_means_one_page() -> None:
    client, _ = mock_client(lambda r: httpx.Response(200, json={"items": [edge_host("a")]}))
    async with client:
        assert [h.uid for h in await client.list_hosts()] == ["a"]
        assert client.requests_made == 1


async def test_a_looping_continue_token_is_a_bad_response() -> None:
    page = {"items": [edge_host("a")], "listmeta": {"continue": "same"}}
    client, _ = mock_client(lambda r: httpx.Response(200, json=page))
    async with client:
        with pytest.raises(BadResponse, match="repeated"):
            await client.list_hosts()


async def test_wrong_shape_page_is_a_bad_response() -> None:
    client, _ = mock_client(lambda r: httpx.Response(200, json={"hosts": []}))
    async with client:
        with pytest.raises(BadResponse, match="items"):
            await client.list_hosts()


async def test_a_host_missing_a_required_field_is_named() -> None:
    page = {"items": [edge_host("good"), edge_host("bad", cores=None)]}
    client, _ = mock_client(lambda r: httpx.Response(200, json=page))
    async with client:
        with pytest.raises(BadResponse) as info:
            await client.list_hosts()
    assert "'bad'" in info.value.message and "spec.device.cpu.cores" in info.value.message


async def test_get_host_and_check_credentials_scopes() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/users/info":
            return httpx.Response(200, json={"orgName": "acme", "tenantUid": "t", "userUid": "u"})
        assert request.url.path == "/v1/edgehosts/h1"
        record = edge_host("h1")
        record["spec"]["host"] = {"hostUid": "h1", "hostAddress": "10.1.1.1"}
        return httpx.Response(200, json=record)

    client, _ = mock_client(handler)
    async with client:
        await client.check_credentials()
        host = await client.get_host("h1")
    assert host.address == "10.1.1.1"
    assert "ProjectUid" not in seen[0].headers  # tenant-scoped
    assert seen[1].headers["ProjectUid"] == "proj-1"


async def test_client_satisfies_the_provider_protocol() -> None:
    client, _ = mock_client(lambda r: httpx.Response(200, json={}))
    async with client:
        assert isinstance(client, Provider)
        assert Capability.INVENTORY in client.capabilities
        assert Capability.CLUSTERS in client.capabilities


async def test_endless_fresh_tokens_stop_at_the_page_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("axle.providers.palette.client.MAX_PAGES", 5)
    counter = iter(range(1000))

    def handler(request: httpx.Request) -> httpx.Response:
        token = f"t{next(counter)}"
        return httpx.Response(200, json={"items": [], "listmeta": {"continue": token}})

    client, _ = mock_client(handler)
    async with client:
        with pytest.raises(BadResponse, match="more than 5 pages"):
            await client.list_hosts()
    assert client.requests_made == 6
