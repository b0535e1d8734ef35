"""Watch streams over a real HTTP connection: events in order and once, resume from a
resourceVersion, bookmarks, timeoutSeconds, table events, 410 Gone, and server shutdown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.server.conftest import Hub, cm, ns_obj, tenant

TENANTS = "/apis/axle.dev/v1alpha1/tenants"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


async def _events(resp: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    async for line in resp.aiter_lines():
        if line.strip():
            yield json.loads(line)


async def _watching(hub: Hub, n: int) -> None:
    """Wait (polling, with a deadline) until `n` watch streams are open on the server."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while len(hub.api.watches) < n:
        assert loop.time() < deadline, "watch did not open"
        await asyncio.sleep(0.01)


async def _collect(
    base: str, token: str, path: str, n: int, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c,
        c.stream("GET", path, headers=headers, timeout=10) as resp,
    ):
        assert resp.status_code == 200, await resp.aread()
        async for ev in _events(resp):
            out.append(ev)
            if len(out) >= n:
                break
    return out


async def test_watch_resume_sees_each_later_event_once_in_order(
    hub: Hub, served: str, client: httpx.AsyncClient
) -> None:
    first = (await client.post(TENANTS, json=tenant("t0"))).json()
    start_rv = first["metadata"]["resourceVersion"]
    for i in range(1, 4):
        assert (await client.post(TENANTS, json=tenant(f"t{i}"))).status_code == 201
    await client.delete(f"{TENANTS}/t1")
    events = await asyncio.wait_for(
        _collect(served, hub.admin_token, f"{TENANTS}?watch=1&resourceVersion={start_rv}", 4), 10
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "t1"),
        ("ADDED", "t2"),
        ("ADDED", "t3"),
        ("DELETED", "t1"),
    ]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == 4


async def test_watch_live_events_and_table_format(
    hub: Hub, served: str, client: httpx.AsyncClient
) -> None:
    task = asyncio.create_task(
        _collect(served, hub.admin_token, f"{TENANTS}?watch=true", 2, headers={"Accept": TABLE})
    )
    await _watching(hub, 1)
    await client.post(TENANTS, json=tenant("live"))
    await client.patch(
        f"{TENANTS}/live",
        content=b'{"spec":{"displayName":"Live"}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    events = await asyncio.wait_for(task, 10)
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["kind"] == "Table"
    assert events[0]["object"]["rows"][0]["cells"][0] == "live"
    assert events[1]["type"] == "MODIFIED"


async def test_watch_bookmarks_and_timeout(
    hub: Hub, served: str, client: httpx.AsyncClient
) -> None:
    created = (await client.post(TENANTS, json=tenant("bm"))).json()
    rv = created["metadata"]["resourceVersion"]
    path = f"{TENANTS}?watch=1&allowWatchBookmarks=true&resourceVersion={rv}&timeoutSeconds=1"
    events: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(
            base_url=served, headers={"Authorization": f"Bearer {hub.admin_token}"}
        ) as c,
        c.stream("GET", path, timeout=10) as resp,
    ):
        async for ev in _events(resp):
            events.append(ev)
    # The stream ended by itself (timeoutSeconds) after at least one bookmark.
    assert events and all(e["type"] == "BOOKMARK" for e in events)
    assert events[0]["object"]["metadata"]["resourceVersion"] == rv
    assert events[0]["object"]["kind"] == "Tenant"


async def test_watch_namespace_and_selector(
    hub: Hub, served: str, client: httpx.AsyncClient
) -> None:
    for ns in ("a", "b"):
        await client.post("/api/v1/namespaces", json=ns_obj(ns))
    task = asyncio.create_task(
        _collect(
            served,
            hub.admin_token,
            "/api/v1/namespaces/b/configmaps?watch=1&labelSelector=keep%3Dyes",
            1,
        )
    )
    skip = cm("skip", ns="b")
    keep = cm("keep", ns="b")
    keep["metadata"]["labels"] = {"keep": "yes"}
    other = cm("other", ns="a")
    other["metadata"]["labels"] = {"keep": "yes"}
    await _watching(hub, 1)
    for obj, ns in ((other, "a"), (skip, "b"), (keep, "b")):
        await client.post(f"/api/v1/namespaces/{ns}/configmaps", json=obj)
    events = await asyncio.wait_for(task, 10)
    assert events[0]["object"]["metadata"]["name"] == "keep"


async def test_watch_gone_is_an_error_event(
    hub: Hub, served: str, client: httpx.AsyncClient
) -> None:
    for i in range(5):
        await client.post(TENANTS, json=tenant(f"g{i}"))
    await hub.store.compact(1)
    async with (
        httpx.AsyncClient(
            base_url=served, headers={"Authorization": f"Bearer {hub.admin_token}"}
        ) as c,
        c.stream("GET", f"{TENANTS}?watch=1&resourceVersion=1", timeout=10) as resp,
    ):
        if resp.status_code == 410:
            body = json.loads(await resp.aread())
            assert body["code"] == 410
            return
        events = [e async for e in _events(resp)]
    assert events[-1]["type"] == "ERROR"
    assert events[-1]["object"]["code"] == 410
    assert events[-1]["object"]["reason"] == "Expired"


async def test_shutdown_ends_open_streams(hub: Hub, served: str) -> None:
    async def watch_until_end() -> int:
        async with (
            httpx.AsyncClient(
                base_url=served, headers={"Authorization": f"Bearer {hub.admin_token}"}
            ) as c,
            c.stream("GET", f"{TENANTS}?watch=1", timeout=10) as resp,
        ):
            return len([e async for e in _events(resp)])

    tasks = [asyncio.create_task(watch_until_end()) for _ in range(5)]
    await _watching(hub, 5)
    hub.api.watches.close_all()
    assert await asyncio.wait_for(asyncio.gather(*tasks), 10) == [0] * 5


async def test_client_disconnect_closes_the_stream(hub: Hub, served: str) -> None:
    async with (
        httpx.AsyncClient(
            base_url=served, headers={"Authorization": f"Bearer {hub.admin_token}"}
        ) as c,
        c.stream("GET", f"{TENANTS}?watch=1", timeout=10) as resp,
    ):
        assert resp.status_code == 200
        await _watching(hub, 1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while len(hub.api.watches):
        assert loop.time() < deadline, "the stream outlived its client"
        await asyncio.sleep(0.01)


async def test_legacy_watch_prefix(hub: Hub, served: str, client: httpx.AsyncClient) -> None:
    await client.post(TENANTS, json=tenant("legacy"))
    events = await asyncio.wait_for(
        _collect(served, hub.admin_token, "/apis/axle.dev/v1alpha1/watch/tenants", 1), 10
    )
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["metadata"]["name"] == "legacy"


async def test_alias_group_watch_carries_the_alias_api_version(
    hub: Hub, served: str, client: httpx.AsyncClient
) -> None:
    await client.post(TENANTS, json=tenant("aliased"))
    events = await asyncio.wait_for(
        _collect(served, hub.admin_token, "/apis/spectrocloud.com/v1beta1/tenants?watch=1", 1),
        10,
    )
    assert events[0]["object"]["apiVersion"] == "spectrocloud.com/v1beta1"


def test_encoded_event_cache_is_bounded_by_entries_and_bytes() -> None:
    from axle.server.watch import EncodedEvents

    cache = EncodedEvents(size=3, max_bytes=100)
    calls: list[int] = []

    def enc(i: int, n: int) -> bytes:
        calls.append(i)
        return b"x" * n

    assert cache.get(1, lambda: enc(1, 10)) == b"x" * 10
    cache.get(1, lambda: enc(1, 10))
    assert calls == [1]  # encoded once
    for i in range(2, 6):
        cache.get(i, lambda i=i: enc(i, 10))  # type: ignore[misc]
    cache.get(1, lambda: enc(1, 10))
    assert calls.count(1) == 2  # evicted by the entry bound
    cache.get(99, lambda: enc(99, 95))
    cache.get(2, lambda: enc(2, 10))
    assert calls.count(2) == 2  # evicted by the byte bound
