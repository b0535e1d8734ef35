"""The client against an in-memory fake hub (httpx.MockTransport): resolution, CRUD, errors,
pagination, tables, events and watch resume/relist."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from axle.client import Client, ConnectionFailed, UnknownResource
from axle.errors import AlreadyExists, Conflict, Invalid, NotFound, Unauthorized
from tests.client.fakehub import FakeHub


@pytest.fixture
def hub() -> FakeHub:
    return FakeHub()


@pytest.fixture
async def client(hub: FakeHub) -> AsyncIterator[Client]:
    async with Client("http://hub.test", hub.token, transport=hub.transport()) as c:
        yield c


def tenant(name: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.mark.parametrize(
    "typed,plural",
    [
        ("cp", "computepools"),
        ("computepool", "computepools"),
        ("ComputePool", "computepools"),
        ("computepools.axle.dev", "computepools"),
        ("computepools.spectrocloud.com", "computepools"),
        ("ns", "namespaces"),
        ("events", "events"),
        ("tenants.v1alpha1.axle.dev", "tenants"),
    ],
)
async def test_resolve_names(client: Client, typed: str, plural: str) -> None:
    assert (await client.resolve(typed)).plural == plural


async def test_discovery_is_cached_and_unknown_kind_is_clear(client: Client, hub: FakeHub) -> None:
    await client.resolve("tenants")
    await client.resolve("projects")
    discovery_calls = [r for r in hub.requests if r.url.path in ("/api", "/apis")]
    assert len(discovery_calls) == 2
    with pytest.raises(UnknownResource, match='resource type "gadgets"'):
        await client.resolve("gadgets")


async def test_create_get_replace_delete(client: Client, hub: FakeHub) -> None:
    created = await client.create(tenant("acme", displayName="ACME"))
    assert created["metadata"]["resourceVersion"]
    got = await client.get("tenant", "acme")
    assert got["spec"] == {"displayName": "ACME"}
    got["spec"]["displayName"] = "Acme Corp"
    replaced = await client.replace(got)
    assert replaced["spec"]["displayName"] == "Acme Corp"
    # A stale resourceVersion is the server's 409 Conflict, with its message.
    with pytest.raises(Conflict, match="has been modified"):
        await client.replace(got)
    with pytest.raises(AlreadyExists):
        await client.create(tenant("acme"))
    await client.delete("tn", "acme")
    with pytest.raises(NotFound, match=r'tenants\.axle\.dev "acme" not found'):
        await client.get("tenants", "acme")


async def test_invalid_keeps_causes(client: Client) -> None:
    with pytest.raises(Invalid) as info:
        await client.create(tenant("ACME"))
    assert info.value.causes[0].field == "metadata.name"


async def test_bad_token_is_unauthorized(hub: FakeHub) -> None:
    async with Client("http://hub.test", "wrong", transport=hub.transport()) as c:
        with pytest.raises(Unauthorized):
            await c.list("tenants")


async def test_namespaces_default_and_mismatch(client: Client, hub: FakeHub) -> None:
    proj = {"apiVersion": "axle.dev/v1alpha1", "kind": "Project", "metadata": {"name": "p1"}}
    created = await client.create(proj)
    assert created["metadata"]["namespace"] == "default"
    created = await client.create(proj, namespace="team")
    assert created["metadata"]["namespace"] == "team"
    proj["metadata"]["namespace"] = "other"
    with pytest.raises(Exception, match="does not match the namespace"):
        await client.create(proj, namespace="team")
    both = await client.list("projects", all_namespaces=True)
    assert {i["metadata"]["namespace"] for i in both["items"]} == {"default", "team"}
    assert [i["kind"] for i in both["items"]] == ["Project", "Project"]
    only = await client.list("projects", namespace="team")
    assert [i["metadata"]["name"] for i in only["items"]] == ["p1"]


async def test_alias_group_manifest_sent_as_axle(client: Client, hub: FakeHub) -> None:
    obj = {"apiVersion": "spectrocloud.com/v1alpha1", "kind": "Tenant", "metadata": {"name": "t"}}
    created = await client.create(obj)
    assert created["apiVersion"] == "axle.dev/v1alpha1"
    assert hub.requests[-1].url.path == "/apis/axle.dev/v1alpha1/tenants"


async def test_list_follows_continue_and_selectors(client: Client, hub: FakeHub) -> None:
    for i in range(7):
        hub.seed("Tenant", f"t{i}", metadata={"labels": {"tier": "gold" if i % 2 else "silver"}})
    everything = await client.list("tenants", limit=2)
    assert [o["metadata"]["name"] for o in everything["items"]] == [f"t{i}" for i in range(7)]
    assert sum(1 for r in hub.requests if "limit=2" in str(r.url)) == 4
    gold = await client.list("tenants", label_selector="tier=gold")
    assert [o["metadata"]["name"] for o in gold["items"]] == ["t1", "t3", "t5"]
    one = await client.list("tenants", field_selector="metadata.name=t4")
    assert [o["metadata"]["name"] for o in one["items"]] == ["t4"]


async def test_apply_is_server_side_apply(client: Client, hub: FakeHub) -> None:
    first = await client.apply(tenant("acme", displayName="A"), force=True)
    req = hub.requests[-1]
    assert req.method == "PATCH"
    assert req.headers["content-type"] == "application/apply-patch+yaml"
    assert req.url.params["fieldManager"] == "axle" and req.url.params["force"] == "true"
    same = await client.apply(tenant("acme", displayName="A"))
    assert same["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    changed = await client.apply(tenant("acme", displayName="B"))
    assert changed["metadata"]["resourceVersion"] != first["metadata"]["resourceVersion"]
    dry = await client.apply(tenant("acme", displayName="C"), dry_run=True)
    assert dry["spec"]["displayName"] == "C"
    assert hub.requests[-1].url.params["dryRun"] == "All"
    assert (await client.get("tenants", "acme"))["spec"]["displayName"] == "B"


async def test_patch_merge_and_content_types(client: Client, hub: FakeHub) -> None:
    hub.seed("Tenant", "acme", spec={"a": 1, "b": 2})
    out = await client.patch("tenants", "acme", {"spec": {"b": None, "c": 3}})
    assert out["spec"] == {"a": 1, "c": 3}
    assert hub.requests[-1].headers["content-type"] == "application/merge-patch+json"
    with pytest.raises(ValueError):
        await client.patch("tenants", "acme", {}, patch_type="bogus")


async def test_table_from_server_and_fallback(client: Client, hub: FakeHub) -> None:
    hub.seed("Tenant", "acme", status={"phase": "Ready"})
    table = await client.table("tenants")
    assert [c["name"] for c in table["columnDefinitions"]][:2] == ["Name", "Status"]
    assert table["rows"][0]["cells"][:2] == ["acme", "Ready"]
    assert "as=Table" in hub.requests[-1].headers["accept"]
    hub.table_support = False
    plain = await client.table("tenants", name="acme")
    assert [c["name"] for c in plain["columnDefinitions"]] == ["Name", "Age"]
    assert plain["rows"][0]["cells"] == ["acme", "2026-01-01T00:00:00Z"]


def event(name: str, obj_name: str, reason: str, ts: str, ns: str = "default") -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "involvedObject": {
            "kind": "Project",
            "name": obj_name,
            "namespace": ns,
            "uid": f"uid-{obj_name}",
        },
        "reason": reason,
        "lastTimestamp": ts,
        "type": "Normal",
    }


@pytest.mark.parametrize("server_filters", [True, False])
async def test_events_for(client: Client, hub: FakeHub, server_filters: bool) -> None:
    if server_filters:
        hub.field_selectors |= {f"involvedObject.{f}" for f in ("name", "kind", "namespace", "uid")}
    proj = hub.seed("Project", "p1", "default")
    for ev in (
        event("e2", "p1", "Second", "2026-01-01T00:00:02Z"),
        event("e1", "p1", "First", "2026-01-01T00:00:01Z"),
        event("e3", "p2", "Other", "2026-01-01T00:00:03Z"),
    ):
        body = ev.pop("metadata")
        hub.seed("Event", body["name"], "default", **ev)
    events = await client.events_for(proj)
    assert [e["reason"] for e in events] == ["First", "Second"]


async def test_watch_lists_then_resumes_without_duplicates(client: Client, hub: FakeHub) -> None:
    hub.seed("Tenant", "a")
    seen: list[tuple[str, str]] = []
    async for ev in client.watch("tenants"):
        seen.append((ev["type"], ev["object"]["metadata"]["name"]))
        if len(seen) == 1:
            hub.seed("Tenant", "b")  # arrives on the first watch stream
        elif len(seen) == 2:
            hub.remove("Tenant", "a")  # that stream has ended: arrives after a reconnect
        elif len(seen) == 3:
            break
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    # The fake ends each stream after its events: the client resumed from the last rv it saw.
    rvs = [r.url.params["resourceVersion"] for r in hub.requests if r.url.params.get("watch")]
    assert rvs[:2] == ["1", "2"]


@pytest.mark.parametrize(("as_event", "remember"), [(False, True), (True, True), (True, False)])
async def test_watch_relists_on_gone(
    client: Client, hub: FakeHub, as_event: bool, remember: bool
) -> None:
    hub.gone_as_event = as_event
    hub.seed("Tenant", "keep")
    hub.seed("Tenant", "drop", spec={"big": "x" * 100})
    seen: list[tuple[str, str]] = []
    deleted: list[dict[str, Any]] = []
    async for ev in client.watch("tenants", remember=remember):
        seen.append((ev["type"], ev["object"]["metadata"]["name"]))
        if ev["type"] == "DELETED":
            deleted.append(ev["object"])
        if len(seen) == 2:
            # Everything changes and the log is compacted past what the client has seen.
            hub.remove("Tenant", "drop")
            hub.update("Tenant", "keep", spec={"x": 1})
            hub.seed("Tenant", "new")
            hub.compacted = hub.rv + 1
        if len(seen) == 5:
            break
    assert sorted(seen[2:]) == [("ADDED", "new"), ("DELETED", "drop"), ("MODIFIED", "keep")]
    # Without `remember`, what the watch kept of the object was its identity only.
    assert ("spec" in deleted[0]) == remember


async def test_watch_from_resource_version_skips_list(client: Client, hub: FakeHub) -> None:
    hub.seed("Tenant", "old")
    rv = hub.seed("Tenant", "mid")["metadata"]["resourceVersion"]
    hub.seed("Tenant", "later")
    async for ev in client.watch("tenants", resource_version=rv):
        assert ev["object"]["metadata"]["name"] == "later"
        break


async def test_unreachable_server_names_it() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused")

    async with Client("http://127.0.0.1:9", "t", transport=httpx.MockTransport(refuse)) as c:
        with pytest.raises(
            ConnectionFailed, match=r"cannot reach the axle hub at http://127.0.0.1:9"
        ):
            await c.list("tenants")


async def test_non_status_error_body(hub: FakeHub) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="bad gateway")

    async with Client("http://x", "t", transport=httpx.MockTransport(broken)) as c:
        with pytest.raises(Exception, match="bad gateway"):
            await c.version()
