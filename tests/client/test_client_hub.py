"""The client against the real hub (in-process, over real HTTP on a loopback port)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from axle.client import Client, TransportPool
from axle.errors import AlreadyExists, Conflict, Invalid, NotFound, Unauthorized
from tests.client.hubthread import HubThread, api_only_hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    yield from api_only_hub(tmp_path_factory)


@pytest.fixture(params=["httpx", "keepalive"])
async def client(hub: HubThread, request: pytest.FixtureRequest) -> AsyncIterator[Client]:
    """Each test runs twice: through httpx's own pool, and through a transport lent by a
    `TransportPool`, whose requests take the keep-alive pool's direct path."""
    pool = TransportPool() if request.param == "keepalive" else None
    transport = pool.lend() if pool is not None else None
    try:
        async with Client(hub.url, hub.token, transport=transport) as c:
            yield c
    finally:
        if pool is not None:
            await pool.aclose()


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def namespace(name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def configmap(name: str, ns: str, **labels: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "data": {"k": "v"},
    }


@pytest.mark.parametrize(
    "typed,plural",
    [
        ("tnt", "tenants"),
        ("Tenant", "tenants"),
        ("projects.axle.dev", "projects"),
        ("projects.spectrocloud.com", "projects"),
        ("ns", "namespaces"),
        ("cm", "configmaps"),
        ("rolebindings", "rolebindings"),
    ],
)
async def test_resolves_through_real_discovery(client: Client, typed: str, plural: str) -> None:
    assert (await client.resolve(typed)).plural == plural


async def test_crud_apply_and_errors(client: Client) -> None:
    ns = uniq("ns")
    await client.create(namespace(ns))
    cm = await client.create(configmap("one", ns))
    with pytest.raises(AlreadyExists):
        await client.create(configmap("one", ns))
    cm["data"] = {"k": "v2"}
    updated = await client.replace(cm)
    with pytest.raises(Conflict):
        await client.replace(cm)  # stale resourceVersion
    assert updated["data"] == {"k": "v2"}
    # The first apply takes field ownership (a managedFields change); the same apply again
    # changes nothing, so the resourceVersion stays.
    owned = await client.apply(configmap("one", ns) | {"data": {"k": "v2"}}, force=True)
    same = await client.apply(configmap("one", ns) | {"data": {"k": "v2"}}, force=True)
    assert same["metadata"]["resourceVersion"] == owned["metadata"]["resourceVersion"]
    changed = await client.apply(configmap("one", ns) | {"data": {"k": "v3"}}, force=True)
    assert changed["data"] == {"k": "v3"}
    patched = await client.patch("configmaps", "one", {"data": {"x": "y"}}, ns)
    assert patched["data"] == {"k": "v3", "x": "y"}
    with pytest.raises(Invalid) as info:
        await client.create(configmap("Not_A_Name", ns))
    assert info.value.causes and info.value.causes[0].field.startswith("metadata.name")
    await client.delete("cm", "one", ns)
    with pytest.raises(NotFound, match='"one" not found'):
        await client.get("configmaps", "one", ns)


async def test_list_pages_and_selectors(client: Client) -> None:
    ns = uniq("ns")
    await client.create(namespace(ns))
    for i in range(5):
        await client.create(configmap(f"cm{i}", ns, parity="odd" if i % 2 else "even"))
    everything = await client.list("configmaps", ns, limit=2)
    assert sorted(o["metadata"]["name"] for o in everything["items"]) == [
        f"cm{i}" for i in range(5)
    ]
    odd = await client.list("configmaps", ns, label_selector="parity=odd")
    assert sorted(o["metadata"]["name"] for o in odd["items"]) == ["cm1", "cm3"]
    one = await client.list("configmaps", ns, field_selector="metadata.name=cm4")
    assert [o["metadata"]["name"] for o in one["items"]] == ["cm4"]
    table = await client.table("configmaps", namespace=ns, label_selector="parity=even")
    assert table["kind"] == "Table"
    assert table["columnDefinitions"][0]["name"] == "Name"
    assert sorted(r["cells"][0] for r in table["rows"]) == ["cm0", "cm2", "cm4"]


async def test_watch_sees_changes_in_order_and_resumes(client: Client) -> None:
    ns = uniq("ns")
    await client.create(namespace(ns))
    first = await client.create(configmap("a", ns))
    seen: list[tuple[str, str]] = []
    listed = asyncio.Event()

    async def consume() -> None:
        async for ev in client.watch("configmaps", ns):
            seen.append((ev["type"], ev["object"]["metadata"]["name"]))
            listed.set()
            if len(seen) == 4:
                return

    task = asyncio.create_task(consume())
    # The initial list gives ADDED a; wait for it before changing anything else.
    async with asyncio.timeout(10):
        await listed.wait()
    await client.create(configmap("b", ns))
    await client.patch("configmaps", "a", {"data": {"k": "changed"}}, ns)
    await client.delete("configmaps", "b", ns)
    async with asyncio.timeout(10):
        await task
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    # From a resourceVersion: only what came after, each once, in order.
    after: list[tuple[str, str]] = []
    async with asyncio.timeout(10):
        async for ev in client.watch(
            "configmaps", ns, resource_version=first["metadata"]["resourceVersion"]
        ):
            after.append((ev["type"], ev["object"]["metadata"]["name"]))
            if len(after) == 3:
                break
    assert after == seen[1:]


async def test_events_for_object(client: Client) -> None:
    ns = uniq("ns")
    await client.create(namespace(ns))
    cm = await client.create(configmap("watched", ns))
    for reason, other in (("Mine", "watched"), ("NotMine", "other")):
        await client.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"{other}.{reason.lower()}", "namespace": ns},
                "involvedObject": {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": other,
                    "namespace": ns,
                },
                "reason": reason,
                "message": "hello",
                "type": "Normal",
            }
        )
    assert [e["reason"] for e in await client.events_for(cm)] == ["Mine"]


async def test_bad_token(hub: HubThread) -> None:
    async with Client(hub.url, "not-a-token") as c:
        with pytest.raises(Unauthorized):
            await c.list("tenants")


@pytest.mark.parametrize("lent", [False, True], ids=["httpx", "keepalive"])
async def test_watch_resumes_across_a_hub_restart(tmp_path: Path, lent: bool) -> None:
    first = HubThread(tmp_path / "data", controllers=False).start()
    port = int(first.url.rsplit(":", 1)[1])
    pool = TransportPool()
    transport = pool.lend() if lent else None
    async with Client(first.url, first.token, transport=transport) as c:
        ns = uniq("ns")
        await c.create(namespace(ns))
        await c.create(configmap("before", ns))
        events = c.watch("configmaps", ns)
        assert (await anext(events))["object"]["metadata"]["name"] == "before"
        # The hub goes away with the stream open, and comes back on the same port and data.
        await asyncio.to_thread(first.stop)
        second = await asyncio.to_thread(
            HubThread(tmp_path / "data", controllers=False, port=port).start
        )
        try:
            await c.create(configmap("after", ns))
            async with asyncio.timeout(30):
                ev = await anext(events)
            assert (ev["type"], ev["object"]["metadata"]["name"]) == ("ADDED", "after")
        finally:
            await events.aclose()
            await asyncio.to_thread(second.stop)
    await pool.aclose()
