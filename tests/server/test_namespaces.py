"""The namespace index: which namespaces exist, from a list and a watch; and NamespaceLifecycle
answers that do not change with it (an update in a namespace that is gone is still 404, a
create in a terminating one still 403)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from axle.api.registry import REGISTRY
from axle.server.namespaces import NamespaceIndex
from tests.server.conftest import Hub, cm, ns_obj

NS_INFO = REGISTRY.by_group_kind("", "Namespace")
MERGE = {"Content-Type": "application/merge-patch+json"}


async def _until(check: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not check():
        assert loop.time() < deadline, what
        await asyncio.sleep(0.01)


async def test_index_follows_creates_and_deletes(hub: Hub) -> None:
    await hub.store.create(NS_INFO, ns_obj("before"))
    index = NamespaceIndex(hub.store)
    assert not index.has("before")  # not started: ask the store
    await index.start()
    try:
        assert index.has("before")
        assert not index.has("later")
        await hub.store.create(NS_INFO, ns_obj("later"))
        await _until(lambda: index.has("later"), "a new namespace was not seen")
        await hub.store.delete(NS_INFO, None, "before")
        await _until(lambda: not index.has("before"), "a deleted namespace was kept")
    finally:
        await index.stop()
    assert not index.has("later")  # stopped: ask the store


async def test_index_relists_after_losing_its_watch(hub: Hub) -> None:
    index = NamespaceIndex(hub.store)
    await index.start()
    try:
        await _until(lambda: index._watch is not None, "the index did not watch")
        watch = index._watch
        assert watch is not None
        await watch.close()
        await hub.store.create(NS_INFO, ns_obj("during"))
        await _until(lambda: index.has("during"), "the index did not recover")
    finally:
        await index.stop()


async def test_update_in_a_namespace_that_is_gone_is_still_404(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    # A namespace removed behind admission's back (as a forced finalizer removal would),
    # leaving an object in it: updates of the orphan are refused, as before.
    await hub.store.create(NS_INFO, ns_obj("orphanage"))
    await _until(lambda: hub.namespaces.has("orphanage"), "namespace not indexed")
    path = "/api/v1/namespaces/orphanage/configmaps"
    assert (await client.post(path, json=cm("kid", ns="orphanage"))).status_code == 201
    r = await client.patch(f"{path}/kid", json={"data": {"a": "1"}}, headers=MERGE)
    assert r.status_code == 200, r.text
    await hub.store.delete(NS_INFO, None, "orphanage")
    await _until(lambda: not hub.namespaces.has("orphanage"), "namespace still indexed")
    r = await client.patch(f"{path}/kid", json={"data": {"a": "2"}}, headers=MERGE)
    assert r.status_code == 404, r.text
    assert r.json()["message"] == 'namespaces "orphanage" not found'
    r = await client.put(f"{path}/kid", json=cm("kid", ns="orphanage", a="3"))
    assert r.status_code == 404, r.text


async def test_create_in_a_terminating_namespace_is_refused_at_once(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    assert (await client.post("/api/v1/namespaces", json=ns_obj("closing"))).status_code == 201
    path = "/api/v1/namespaces/closing/configmaps"
    assert (await client.post(path, json=cm("a", ns="closing"))).status_code == 201
    # The Namespace keeps its finalizer (no controller runs here): it stays Terminating.
    assert (await client.delete("/api/v1/namespaces/closing")).status_code == 200
    r = await client.post(path, json=cm("b", ns="closing"))
    assert r.status_code == 403, r.text
    assert any(c["reason"] == "NamespaceTerminating" for c in r.json()["details"]["causes"])
    # Updates of what is there still go through while it terminates.
    r = await client.patch(f"{path}/a", json={"data": {"k": "v"}}, headers=MERGE)
    assert r.status_code == 200, r.text
