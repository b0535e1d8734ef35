"""Watch routing by namespace: a change reaches the watchers of its namespace and the
cluster-wide ones, and nobody else, with many namespaces watched at once (one per spoke)."""

from __future__ import annotations

from axle.store.sqlite import SqliteStore

from .conftest import GADGET, WIDGET, gadget, next_event, widget


async def test_a_change_reaches_its_namespace_and_all_namespace_watchers(
    store: SqliteStore,
) -> None:
    rv = str(await store.current_revision())
    per_ns = {f"ns{i}": store.watch(WIDGET, f"ns{i}", resource_version=rv) for i in range(50)}
    everywhere = store.watch(WIDGET, resource_version=rv)
    gadgets = store.watch(GADGET, resource_version=rv)
    a = await store.create(WIDGET, widget("a", ns="ns7"))
    b = await store.create(WIDGET, widget("b", ns="ns8"))
    g = await store.create(GADGET, gadget("g"))
    assert (await next_event(per_ns["ns7"])).object == a
    assert (await next_event(per_ns["ns8"])).object == b
    assert [(await next_event(everywhere)).object for _ in range(2)] == [a, b]
    assert (await next_event(gadgets)).object == g
    # Nothing else arrived anywhere: every other queue is empty.
    for ns, w in per_ns.items():
        assert len(w.items) == 0, ns  # type: ignore[attr-defined]
    assert len(everywhere.items) == 0  # type: ignore[attr-defined]
    for w in [*per_ns.values(), everywhere, gadgets]:
        await w.close()
    # Closing the last watcher of a namespace forgets its routing entry.
    assert not store._hub._kinds
