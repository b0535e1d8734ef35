"""Deletion propagation and garbage collection through ownerReferences, across kinds."""

from __future__ import annotations

from pathlib import Path

import pytest

from axle.errors import NotFound
from axle.store.sqlite import SqliteStore

from .conftest import GADGET, WIDGET, eventually, gadget, owner_ref, widget


async def absent(store: SqliteStore, info: object, ns: str | None, name: str) -> None:
    async def check() -> None:
        try:
            await store.get(info, ns, name)  # type: ignore[arg-type]
        except NotFound:
            return
        raise AssertionError(f"{name} still exists")

    await eventually(check)


async def test_background_cascades_two_levels_across_kinds(store: SqliteStore) -> None:
    root = await store.create(GADGET, gadget("root"))
    mid = await store.create(WIDGET, widget("mid", metadata={"ownerReferences": [owner_ref(root)]}))
    leaf = await store.create(
        GADGET, gadget("leaf", metadata={"ownerReferences": [owner_ref(mid)]})
    )
    bystander = await store.create(WIDGET, widget("bystander"))
    await store.delete(GADGET, None, "root")
    await absent(store, WIDGET, "default", "mid")
    await absent(store, GADGET, None, "leaf")
    assert (await store.get(WIDGET, "default", "bystander")) == bystander
    assert leaf["metadata"]["uid"] != mid["metadata"]["uid"]


async def test_dependent_with_another_live_owner_survives(store: SqliteStore) -> None:
    a = await store.create(GADGET, gadget("a"))
    b = await store.create(GADGET, gadget("b"))
    await store.create(
        WIDGET, widget("shared", metadata={"ownerReferences": [owner_ref(a), owner_ref(b)]})
    )
    await store.delete(GADGET, None, "a")

    async def dangling_ref_dropped() -> None:
        obj = await store.get(WIDGET, "default", "shared")
        assert [r["name"] for r in obj["metadata"]["ownerReferences"]] == ["b"]

    await eventually(dangling_ref_dropped)
    await store.delete(GADGET, None, "b")
    await absent(store, WIDGET, "default", "shared")


async def test_orphan_keeps_dependents_and_drops_the_reference(store: SqliteStore) -> None:
    root = await store.create(GADGET, gadget("root"))
    await store.create(WIDGET, widget("child", metadata={"ownerReferences": [owner_ref(root)]}))
    await store.delete(GADGET, None, "root", propagation="Orphan")
    with pytest.raises(NotFound):
        await store.get(GADGET, None, "root")
    child = await store.get(WIDGET, "default", "child")
    assert "ownerReferences" not in child["metadata"]


async def test_orphan_with_finalizers_waits_for_them(store: SqliteStore) -> None:
    root = await store.create(GADGET, gadget("root", metadata={"finalizers": ["keep"]}))
    await store.create(WIDGET, widget("child", metadata={"ownerReferences": [owner_ref(root)]}))
    marked = await store.delete(GADGET, None, "root", propagation="Orphan")
    assert "orphan" in marked["metadata"]["finalizers"]

    async def orphaned() -> None:
        child = await store.get(WIDGET, "default", "child")
        assert "ownerReferences" not in child["metadata"]
        owner = await store.get(GADGET, None, "root")
        assert owner["metadata"]["finalizers"] == ["keep"]

    await eventually(orphaned)
    owner = await store.get(GADGET, None, "root")
    await store.update(GADGET, {**owner, "metadata": {**owner["metadata"], "finalizers": []}})
    await absent(store, GADGET, None, "root")
    assert (await store.get(WIDGET, "default", "child"))["metadata"]["name"] == "child"


async def test_foreground_keeps_owner_until_dependents_are_gone(store: SqliteStore) -> None:
    root = await store.create(GADGET, gadget("root"))
    await store.create(
        WIDGET,
        widget("blocker", metadata={"ownerReferences": [owner_ref(root)], "finalizers": ["hold"]}),
    )
    await store.create(WIDGET, widget("plain", metadata={"ownerReferences": [owner_ref(root)]}))
    marked = await store.delete(GADGET, None, "root", propagation="Foreground")
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    await absent(store, WIDGET, "default", "plain")

    async def blocker_deleting() -> None:
        blocker = await store.get(WIDGET, "default", "blocker")
        assert blocker["metadata"]["deletionTimestamp"]
        # Its own (empty) foreground deletion is done: only the foreign finalizer is left.
        assert blocker["metadata"]["finalizers"] == ["hold"]

    await eventually(blocker_deleting)
    assert (await store.get(GADGET, None, "root"))["metadata"]["finalizers"] == [
        "foregroundDeletion"
    ]
    blocker = await store.get(WIDGET, "default", "blocker")
    await store.update(WIDGET, {**blocker, "metadata": {**blocker["metadata"], "finalizers": []}})
    await absent(store, GADGET, None, "root")


async def test_foreground_without_dependents_removes_at_once(store: SqliteStore) -> None:
    await store.create(GADGET, gadget("lonely"))
    await store.delete(GADGET, None, "lonely", propagation="Foreground")
    with pytest.raises(NotFound):
        await store.get(GADGET, None, "lonely")


async def test_dependent_created_for_a_missing_owner_is_collected(store: SqliteStore) -> None:
    ghost = {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Gadget",
        "name": "ghost",
        "uid": "0000-gone",
    }
    await store.create(WIDGET, widget("stray", metadata={"ownerReferences": [ghost]}))
    await absent(store, WIDGET, "default", "stray")


async def test_startup_pass_collects_orphans_left_by_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "axle.db"
    first = SqliteStore(path)
    await first.start()
    root = await first.create(GADGET, gadget("root"))
    await first.create(WIDGET, widget("child", metadata={"ownerReferences": [owner_ref(root)]}))
    # Simulate a crash right after the owner's removal commit: no GC ran.
    first._queue_gc = lambda uid: None  # type: ignore[method-assign]
    await first.delete(GADGET, None, "root")
    assert (await first.get(WIDGET, "default", "child"))["metadata"]["name"] == "child"
    await first.close()

    second = SqliteStore(path)
    await second.start()
    try:
        await absent(second, WIDGET, "default", "child")
    finally:
        await second.close()
