"""Create, get, update, delete: the object rules of base.py, one behaviour per test."""

from __future__ import annotations

import asyncio
import re

import pytest

from axle.errors import AlreadyExists, BadRequest, Conflict, Invalid, NotFound
from axle.store.sqlite import SqliteStore

from .conftest import GADGET, WIDGET, gadget, next_event, widget


async def test_create_sets_server_fields(store: SqliteStore) -> None:
    obj = await store.create(WIDGET, widget("a", spec={"size": 1}))
    md = obj["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", md["uid"])
    assert md["generation"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", md["creationTimestamp"])
    assert int(md["resourceVersion"]) == await store.current_revision()
    assert obj["apiVersion"] == "axle.dev/v1alpha1" and obj["kind"] == "Widget"
    assert await store.get(WIDGET, "default", "a") == obj


async def test_create_does_not_mutate_the_callers_object(store: SqliteStore) -> None:
    mine = widget("a", spec={"size": 1})
    await store.create(WIDGET, mine)
    assert "uid" not in mine["metadata"]


async def test_create_existing_name_is_already_exists(store: SqliteStore) -> None:
    await store.create(WIDGET, widget("acme"))
    with pytest.raises(AlreadyExists) as exc:
        await store.create(WIDGET, widget("acme"))
    assert exc.value.message == 'widgets.axle.dev "acme" already exists'
    assert exc.value.to_status()["code"] == 409
    # Same name in another namespace is another object.
    await store.create(WIDGET, widget("acme", ns="other"))


async def test_generate_name(store: SqliteStore) -> None:
    obj = await store.create(WIDGET, widget("", metadata={"name": None, "generateName": "job-"}))
    name = obj["metadata"]["name"]
    assert re.fullmatch(r"job-[a-z0-9]{5}", name)
    names = {
        (await store.create(GADGET, gadget("", metadata={"name": None, "generateName": "g-"})))[
            "metadata"
        ]["name"]
        for _ in range(20)
    }
    assert len(names) == 20


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"metadata": {"namespace": "default"}}, "metadata.name"),
        ({"metadata": {"name": "x"}}, "metadata.namespace"),
        (
            {
                "metadata": {
                    "name": "x",
                    "namespace": "d",
                    "deletionTimestamp": "2020-01-01T00:00:00Z",
                }
            },
            "metadata.deletionTimestamp",
        ),
        ({"metadata": {"name": "x", "namespace": "d", "labels": {"a": 1}}}, "metadata.labels"),
        ({"metadata": "x"}, "metadata"),
    ],
)
async def test_create_rejects_bad_metadata(store: SqliteStore, obj: dict, field: str) -> None:
    with pytest.raises(Invalid) as exc:
        await store.create(WIDGET, obj)
    assert exc.value.causes[0].field == field
    assert (await store.list(WIDGET)).items == []
    assert await store.current_revision() == 0


async def test_cluster_scoped_ignores_namespace(store: SqliteStore) -> None:
    obj = await store.create(GADGET, gadget("g1", metadata={"namespace": "x"}))
    assert "namespace" not in obj["metadata"]
    assert (await store.get(GADGET, None, "g1"))["metadata"]["uid"] == obj["metadata"]["uid"]


async def test_get_missing_is_not_found(store: SqliteStore) -> None:
    with pytest.raises(NotFound) as exc:
        await store.get(WIDGET, "default", "acme")
    assert exc.value.message == 'widgets.axle.dev "acme" not found'
    assert exc.value.to_status()["details"] == {
        "name": "acme",
        "group": "axle.dev",
        "kind": "widgets",
    }


async def test_stale_update_is_conflict(store: SqliteStore) -> None:
    obj = await store.create(WIDGET, widget("acme", spec={"size": 1}))
    fresh = await store.update(WIDGET, {**obj, "spec": {"size": 2}})
    with pytest.raises(Conflict) as exc:
        await store.update(WIDGET, {**obj, "spec": {"size": 3}})
    assert exc.value.message == (
        'Operation cannot be fulfilled on widgets.axle.dev "acme": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    assert (await store.get(WIDGET, "default", "acme")) == fresh


async def test_update_without_resource_version_is_unconditional(store: SqliteStore) -> None:
    await store.create(WIDGET, widget("acme", spec={"size": 1}))
    await store.update(WIDGET, widget("acme", spec={"size": 2}))
    out = await store.update(WIDGET, widget("acme", spec={"size": 3}))
    assert out["spec"] == {"size": 3}


async def test_update_missing_is_not_found(store: SqliteStore) -> None:
    with pytest.raises(NotFound):
        await store.update(WIDGET, widget("nope"))


async def test_update_keeps_server_fields(store: SqliteStore) -> None:
    obj = await store.create(WIDGET, widget("acme", spec={"size": 1}))
    forged = widget(
        "acme",
        spec={"size": 1},
        metadata={"creationTimestamp": "1999-01-01T00:00:00Z", "generation": 42},
    )
    out = await store.update(WIDGET, forged)
    for field in ("uid", "creationTimestamp", "generation"):
        assert out["metadata"][field] == obj["metadata"][field]
    with pytest.raises(Conflict, match="Precondition failed: UID"):
        await store.update(WIDGET, widget("acme", metadata={"uid": "other"}))


async def test_generation_bumps_only_on_spec_change(store: SqliteStore) -> None:
    obj = await store.create(WIDGET, widget("acme", spec={"size": 1}))
    labelled = await store.update(
        WIDGET, {**obj, "metadata": {**obj["metadata"], "labels": {"a": "b"}}}
    )
    assert labelled["metadata"]["generation"] == 1
    assert labelled["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]
    status = await store.update(
        WIDGET, {**labelled, "status": {"phase": "Ready"}}, subresource="status"
    )
    assert status["metadata"]["generation"] == 1
    spec = await store.update(WIDGET, {**status, "spec": {"size": 2}})
    assert spec["metadata"]["generation"] == 2
    extra = await store.update(WIDGET, {**spec, "data": {"k": "v"}})
    assert extra["metadata"]["generation"] == 3


async def test_noop_update_writes_nothing_and_sends_no_event(store: SqliteStore) -> None:
    obj = await store.create(WIDGET, widget("acme", spec={"size": 1}))
    rev = await store.current_revision()
    w = store.watch(WIDGET, resource_version=str(rev))
    same = await store.update(WIDGET, obj)
    assert same == obj
    unconditional = dict(
        obj, metadata={k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    )
    assert await store.update(WIDGET, unconditional) == obj
    assert await store.current_revision() == rev
    changed = await store.update(WIDGET, {**obj, "spec": {"size": 2}})
    ev = await next_event(w)
    assert (ev.type, ev.resource_version) == (
        "MODIFIED",
        int(changed["metadata"]["resourceVersion"]),
    )
    assert ev.resource_version == rev + 1
    await w.close()


async def test_status_subresource_rules(store: SqliteStore) -> None:
    obj = await store.create(WIDGET, widget("acme", spec={"size": 1}, status={"phase": "New"}))
    # A main-resource update keeps the stored status.
    out = await store.update(WIDGET, {**obj, "spec": {"size": 2}, "status": {"phase": "Hacked"}})
    assert out["status"] == {"phase": "New"}
    # A status update changes only status.
    st = await store.update(
        WIDGET,
        {
            **out,
            "spec": {"size": 99},
            "metadata": {**out["metadata"], "labels": {"x": "y"}},
            "status": {"phase": "Ready"},
        },
        subresource="status",
    )
    assert st["status"] == {"phase": "Ready"}
    assert st["spec"] == {"size": 2}
    assert "labels" not in st["metadata"]
    # ... except the managedFields bookkeeping of who wrote it, which the server keeps.
    fields = [{"manager": "ctl", "operation": "Update", "subresource": "status"}]
    tracked = await store.update(
        WIDGET,
        {**st, "metadata": {**st["metadata"], "managedFields": fields}, "status": {"phase": "X"}},
        subresource="status",
    )
    assert tracked["metadata"]["managedFields"] == fields
    # Stale status writes conflict too.
    with pytest.raises(Conflict):
        await store.update(WIDGET, {**out, "status": {"phase": "Old"}}, subresource="status")
    # A kind without a status subresource stores status with the object.
    g = await store.create(GADGET, gadget("g", status={"a": 1}))
    g2 = await store.update(GADGET, {**g, "status": {"a": 2}})
    assert g2["status"] == {"a": 2}
    assert g2["metadata"]["generation"] == 1
    with pytest.raises(BadRequest, match="no status subresource"):
        await store.update(GADGET, g2, subresource="status")


async def test_dry_run_writes_nothing(store: SqliteStore) -> None:
    w = store.watch(WIDGET, resource_version="0")
    obj = await store.create(WIDGET, widget("acme", spec={"size": 1}), dry_run=True)
    assert obj["metadata"]["uid"]
    with pytest.raises(NotFound):
        await store.get(WIDGET, "default", "acme")
    real = await store.create(WIDGET, widget("acme", spec={"size": 1}))
    upd = await store.update(WIDGET, {**real, "spec": {"size": 5}}, dry_run=True)
    assert upd["spec"] == {"size": 5}
    assert (await store.get(WIDGET, "default", "acme")) == real
    await store.delete(WIDGET, "default", "acme", dry_run=True)
    assert (await store.get(WIDGET, "default", "acme")) == real
    ev = await next_event(w)
    assert (ev.type, ev.object) == ("ADDED", real)
    await store.delete(WIDGET, "default", "acme")
    ev = await next_event(w)
    assert ev.type == "DELETED"
    await w.close()


async def test_delete_without_finalizers_removes(store: SqliteStore) -> None:
    obj = await store.create(WIDGET, widget("acme"))
    out = await store.delete(WIDGET, "default", "acme")
    assert out["metadata"]["uid"] == obj["metadata"]["uid"]
    assert int(out["metadata"]["resourceVersion"]) == await store.current_revision()
    with pytest.raises(NotFound):
        await store.get(WIDGET, "default", "acme")
    with pytest.raises(NotFound):
        await store.delete(WIDGET, "default", "acme")


async def test_delete_preconditions(store: SqliteStore) -> None:
    obj = await store.create(WIDGET, widget("acme"))
    with pytest.raises(Conflict, match="Precondition failed: UID in precondition: bad"):
        await store.delete(WIDGET, "default", "acme", uid="bad")
    with pytest.raises(Conflict, match="the object has been modified"):
        await store.delete(WIDGET, "default", "acme", resource_version="999")
    await store.delete(
        WIDGET,
        "default",
        "acme",
        uid=obj["metadata"]["uid"],
        resource_version=obj["metadata"]["resourceVersion"],
    )


async def test_finalizer_flow(store: SqliteStore) -> None:
    w = store.watch(WIDGET, resource_version=str(await store.current_revision()))
    obj = await store.create(
        WIDGET, widget("acme", metadata={"finalizers": ["a.dev/x", "b.dev/y"]})
    )
    marked = await store.delete(WIDGET, "default", "acme")
    ts = marked["metadata"]["deletionTimestamp"]
    assert ts and marked["metadata"]["finalizers"] == ["a.dev/x", "b.dev/y"]
    # Deleting again changes nothing: the timestamp is set once.
    again = await store.delete(WIDGET, "default", "acme")
    assert again["metadata"]["deletionTimestamp"] == ts
    assert again["metadata"]["resourceVersion"] == marked["metadata"]["resourceVersion"]
    # Updates cannot clear deletionTimestamp or add finalizers.
    cleared = {**marked, "metadata": {**marked["metadata"], "deletionTimestamp": None}}
    cleared["metadata"]["finalizers"] = ["b.dev/y"]
    one_left = await store.update(WIDGET, cleared)
    assert one_left["metadata"]["deletionTimestamp"] == ts
    with pytest.raises(Invalid, match="no new finalizers"):
        await store.update(
            WIDGET,
            {**one_left, "metadata": {**one_left["metadata"], "finalizers": ["b.dev/y", "c"]}},
        )
    # Removing the last finalizer removes the object.
    gone = await store.update(
        WIDGET, {**one_left, "metadata": {**one_left["metadata"], "finalizers": []}}
    )
    with pytest.raises(NotFound):
        await store.get(WIDGET, "default", "acme")
    types = [(await next_event(w)).type for _ in range(4)]
    assert types == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]
    assert gone["metadata"]["uid"] == obj["metadata"]["uid"]
    await w.close()


async def test_concurrent_creates_get_distinct_revisions(store: SqliteStore) -> None:
    results = await asyncio.gather(
        *(store.create(WIDGET, widget(f"w{i:03}", spec={"i": i})) for i in range(100))
    )
    revs = [int(r["metadata"]["resourceVersion"]) for r in results]
    assert len(set(revs)) == 100
    assert sorted(revs) == list(range(1, 101))
    assert len((await store.list(WIDGET)).items) == 100


async def test_errors_leave_revision_unchanged(store: SqliteStore) -> None:
    obj = await store.create(WIDGET, widget("acme"))
    rev = await store.current_revision()
    for bad in (
        store.create(WIDGET, widget("acme")),
        store.update(WIDGET, {**obj, "metadata": {**obj["metadata"], "resourceVersion": "99"}}),
        store.delete(WIDGET, "default", "nope"),
    ):
        with pytest.raises((AlreadyExists, Conflict, NotFound)):
            await bad
    assert await store.current_revision() == rev
