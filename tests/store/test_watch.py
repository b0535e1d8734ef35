"""Watch: live fan-out, resume from a revision, selectors, compaction, slow readers, and
changes made through another store instance on the same file."""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axle.errors import BadRequest, Gone
from axle.store.base import StoreEvent
from axle.store.sqlite import SqliteStore

from .conftest import GADGET, WIDGET, eventually, gadget, next_event, widget


async def test_watch_live_events_in_namespace(store: SqliteStore) -> None:
    w = store.watch(WIDGET, "ns1", resource_version=str(await store.current_revision()))
    await store.create(WIDGET, widget("other", ns="ns2"))
    a = await store.create(WIDGET, widget("a", ns="ns1", spec={"v": 1}))
    a2 = await store.update(WIDGET, {**a, "spec": {"v": 2}})
    gone = await store.delete(WIDGET, "ns1", "a")
    events = [await next_event(w) for _ in range(3)]
    assert [(e.type, e.object) for e in events] == [
        ("ADDED", a),
        ("MODIFIED", a2),
        ("DELETED", gone),
    ]
    assert [e.resource_version for e in events] == [
        int(o["metadata"]["resourceVersion"]) for o in (a, a2, gone)
    ]
    assert events[0].wire.startswith(b'{"type":"ADDED","object":{')
    await w.close()
    assert [e async for e in w] == []


async def test_watch_without_revision_starts_with_current_objects(store: SqliteStore) -> None:
    await store.create(GADGET, gadget("a"))
    await store.create(GADGET, gadget("b"))
    for rv in (None, "0"):
        current = (await store.list(GADGET)).items
        w = store.watch(GADGET, resource_version=rv)
        snapshot = [await next_event(w) for _ in current]
        assert [(e.type, e.object) for e in snapshot] == [("ADDED", o) for o in current]
        c = await store.create(GADGET, gadget(f"c{rv}"))
        ev = await next_event(w)
        assert (ev.type, ev.object) == ("ADDED", c)
        await w.close()


async def test_watch_label_selector_transitions(store: SqliteStore) -> None:
    w = store.watch(WIDGET, label_selector="app=web", resource_version="0")
    obj = await store.create(WIDGET, widget("x", labels={"app": "db"}))
    joined = await store.update(
        WIDGET, {**obj, "metadata": {**obj["metadata"], "labels": {"app": "web"}}}
    )
    changed = await store.update(WIDGET, {**joined, "spec": {"v": 1}})
    left = await store.update(
        WIDGET, {**changed, "metadata": {**changed["metadata"], "labels": {}}}
    )
    outside = await store.update(WIDGET, {**left, "spec": {"v": 2}})
    back = await store.update(
        WIDGET, {**outside, "metadata": {**outside["metadata"], "labels": {"app": "web"}}}
    )
    deleted = await store.delete(WIDGET, "default", "x")
    events = [await next_event(w) for _ in range(5)]
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "DELETED", "ADDED", "DELETED"]
    assert events[0].object == joined
    assert events[1].object == changed
    # Leaving the selection reports the last matching state at the revision it left.
    assert events[2].object["metadata"]["labels"] == {"app": "web"}
    assert events[2].resource_version == int(left["metadata"]["resourceVersion"])
    assert events[2].object["metadata"]["resourceVersion"] == left["metadata"]["resourceVersion"]
    assert events[3].object == back
    assert events[4].object == deleted
    await w.close()


async def test_replayed_selector_watch_reports_the_same_transitions(store: SqliteStore) -> None:
    await store.create(GADGET, gadget("seed"))
    obj = await store.create(WIDGET, widget("x", labels={"app": "db"}))
    joined = await store.update(
        WIDGET, {**obj, "metadata": {**obj["metadata"], "labels": {"app": "web"}}}
    )
    left = await store.update(WIDGET, {**joined, "metadata": {**joined["metadata"], "labels": {}}})
    await store.update(WIDGET, {**left, "spec": {"v": 1}})
    # Everything above happened before the watch: it comes from the change log.
    w = store.watch(WIDGET, label_selector="app=web", resource_version="1")
    first, second = await next_event(w), await next_event(w)
    assert (first.type, first.object) == ("ADDED", joined)
    assert second.type == "DELETED"
    assert second.object["metadata"]["labels"] == {"app": "web"}
    assert second.resource_version == int(left["metadata"]["resourceVersion"])
    later = await store.create(WIDGET, widget("y", labels={"app": "web"}))
    third = await next_event(w)
    assert (third.type, third.object) == ("ADDED", later)
    await w.close()


async def test_watch_field_selector(store: SqliteStore) -> None:
    w = store.watch(GADGET, field_selector="metadata.name=wanted", resource_version="0")
    await store.create(GADGET, gadget("unwanted"))
    wanted = await store.create(GADGET, gadget("wanted"))
    ev = await next_event(w)
    assert (ev.type, ev.object) == ("ADDED", wanted)
    await w.close()


async def test_watch_rejects_bad_input_at_once(store: SqliteStore) -> None:
    with pytest.raises(BadRequest):
        store.watch(WIDGET, label_selector="a in b")
    with pytest.raises(BadRequest):
        store.watch(WIDGET, field_selector="nonsense")
    with pytest.raises(BadRequest, match="invalid resourceVersion"):
        store.watch(WIDGET, resource_version="abc")


async def test_watch_from_compacted_revision_is_gone(store: SqliteStore) -> None:
    for i in range(10):
        await store.create(GADGET, gadget(f"g{i}"))
    assert await store.compact(3) == 7
    assert await store.compact(3) == 0
    w = store.watch(GADGET, resource_version="2")
    with pytest.raises(Gone) as exc:
        await next_event(w)
    assert exc.value.message == "too old resource version: 2 (7)"
    assert exc.value.reason == "Expired"
    # The oldest kept revision still resumes.
    w = store.watch(GADGET, resource_version="7")
    assert [(await next_event(w)).resource_version for _ in range(3)] == [8, 9, 10]
    await w.close()


async def test_slow_watcher_is_closed_without_blocking_others(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "a.db", watch_queue_size=5)
    await s.start()
    try:
        slow = s.watch(GADGET, resource_version=str(await s.current_revision()))
        fast = s.watch(GADGET, resource_version=str(await s.current_revision()))
        received: list[StoreEvent] = []

        async def drain() -> None:
            async for ev in fast:
                received.append(ev)
                if len(received) == 20:
                    return

        async def both_live() -> None:
            assert not slow.replaying and not fast.replaying  # type: ignore[attr-defined]

        await eventually(both_live)
        reader = asyncio.create_task(drain())
        for i in range(20):
            await s.create(GADGET, gadget(f"g{i}"))
            await asyncio.sleep(0)
        await asyncio.wait_for(reader, 5)
        assert [e.resource_version for e in received] == list(range(1, 21))
        with pytest.raises(Gone, match="slow reader"):
            async for _ in slow:
                pass
        await fast.close()
    finally:
        await s.close()


async def test_two_instances_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    one, two = SqliteStore(path, poll_interval=0.01), SqliteStore(path, poll_interval=0.01)
    await one.start()
    await two.start()
    try:
        await one.create(WIDGET, widget("seed"))
        w1 = one.watch(GADGET, resource_version="1")
        w2 = two.watch(GADGET, resource_version="1")
        a = await one.create(GADGET, gadget("from-one"))
        b = await two.create(GADGET, gadget("from-two"))
        c = await one.update(GADGET, {**a, "spec": {"x": 1}})
        expected = [("ADDED", a), ("ADDED", b), ("MODIFIED", c)]
        for w in (w1, w2):
            got = [await next_event(w) for _ in range(3)]
            assert [(e.type, e.object) for e in got] == expected
            assert [e.resource_version for e in got] == [2, 3, 4]
        # Changes of another process reach a watcher with no local write to piggyback on.
        d = await two.create(GADGET, gadget("only-two"))
        assert (await next_event(w1)).object == d
        assert (await two.get(GADGET, None, "from-one")) == c
        await w1.close()
        await w2.close()
    finally:
        await one.close()
        await two.close()


# -- resume property: every later event exactly once, in order ------------------------------

Op = tuple[str, int]
ops_strategy = st.lists(
    st.tuples(st.sampled_from(["create", "update", "label", "delete"]), st.integers(0, 4)),
    min_size=1,
    max_size=40,
)


async def _apply(store: SqliteStore, op: Op, log: list[tuple[str, str, int]]) -> None:
    """Apply one random op; record (type, name, revision) of what it committed, if anything."""
    kind, i = op
    name = f"w{i}"
    try:
        current = await store.get(WIDGET, "default", name)
    except Exception:
        current = None
    if current is None:
        obj = await store.create(WIDGET, widget(name, labels={"n": str(i)}, spec={"v": 0}))
        log.append(("ADDED", name, int(obj["metadata"]["resourceVersion"])))
    elif kind == "delete":
        obj = await store.delete(WIDGET, "default", name)
        log.append(("DELETED", name, int(obj["metadata"]["resourceVersion"])))
    else:
        patch = {"spec": {"v": current["spec"]["v"] + 1}} if kind != "label" else {}
        md = dict(current["metadata"])
        if kind == "label":
            md["labels"] = {"n": str(i), "flip": str(len(log))}
        obj = await store.update(WIDGET, {**current, **patch, "metadata": md})
        log.append(("MODIFIED", name, int(obj["metadata"]["resourceVersion"])))


async def _resume_scenario(ops: list[Op], seed: int) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "p.db")
        await store.start()
        try:
            log: list[tuple[str, str, int]] = []
            first = await store.create(WIDGET, widget("aa-first"))
            log.append(("ADDED", "aa-first", int(first["metadata"]["resourceVersion"])))
            split = rng.randrange(len(ops) + 1)
            for op in ops[:split]:
                await _apply(store, op, log)
            resume = rng.choice([r for _, _, r in log])
            w = store.watch(WIDGET, resource_version=str(resume))
            # Keep writing while the watch replays: the hand-over must not lose or repeat.
            for op in ops[split:]:
                await _apply(store, op, log)
                if rng.random() < 0.3:
                    await asyncio.sleep(0)
            marker = await store.create(WIDGET, widget("zz-marker"))
            log.append(("ADDED", "zz-marker", int(marker["metadata"]["resourceVersion"])))
            want = [entry for entry in log if entry[2] > resume]
            got: list[tuple[str, str, int]] = []
            while len(got) < len(want):
                ev = await next_event(w)
                got.append((ev.type, ev.object["metadata"]["name"], ev.resource_version))
            assert got == want
            await w.close()
        finally:
            await store.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops_strategy, seed=st.integers(0, 2**32))
def test_resume_sees_every_later_event_once_in_order(ops: list[Op], seed: int) -> None:
    asyncio.run(_resume_scenario(ops, seed))


async def test_changes_compacted_by_another_process_end_watches_with_gone(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    # `one` polls rarely, so it cannot see `two`'s changes before they are compacted away.
    one = SqliteStore(path, poll_interval=3600)
    two = SqliteStore(path, poll_interval=3600)
    await one.start()
    await two.start()
    try:
        await one.create(GADGET, gadget("seed"))
        w = one.watch(GADGET, resource_version="1")

        async def live() -> None:
            assert not w.replaying  # type: ignore[attr-defined]

        await eventually(live)
        for i in range(5):
            await two.create(GADGET, gadget(f"g{i}"))
        await two.compact(0)
        await one.create(GADGET, gadget("after"))
        with pytest.raises(Gone, match="compacted before this process saw them"):
            await next_event(w)
    finally:
        await one.close()
        await two.close()


async def test_background_compaction_keeps_the_last_revisions(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "a.db", watch_log_revisions=3, compact_interval=0.01)
    await s.start()
    try:
        for i in range(10):
            await s.create(GADGET, gadget(f"g{i}"))

        async def compacted() -> None:
            w = s.watch(GADGET, resource_version="6")
            try:
                await next_event(w)
            except Gone as exc:
                assert exc.message == "too old resource version: 6 (7)"
                return
            finally:
                await w.close()
            raise AssertionError("revision 6 still in the change log")

        await eventually(compacted)
        w = s.watch(GADGET, resource_version="7")
        assert [(await next_event(w)).resource_version for _ in range(3)] == [8, 9, 10]
        await w.close()
    finally:
        await s.close()


async def test_watch_from_another_event_loop_is_refused(store: SqliteStore) -> None:
    def other_loop() -> None:
        async def attempt() -> None:
            store.watch(GADGET)

        asyncio.run(attempt())

    with pytest.raises(RuntimeError, match="event loop that started it"):
        await asyncio.to_thread(other_loop)


@pytest.mark.integration
async def test_writes_of_another_process_reach_watchers(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    s = SqliteStore(path, poll_interval=0.02)
    await s.start()
    try:
        await s.create(WIDGET, widget("seed"))
        w = s.watch(GADGET, resource_version="1")
        script = (
            "import asyncio, sys\n"
            "from axle.api.registry import KindInfo\n"
            "from axle.store.sqlite import SqliteStore\n"
            "G = KindInfo(group='axle.dev', version='v1alpha1', kind='Gadget', plural='gadgets',"
            " singular='gadget', namespaced=False, has_status=False)\n"
            "async def main():\n"
            "    s = SqliteStore(sys.argv[1])\n"
            "    await s.start()\n"
            "    for i in range(3):\n"
            "        await s.create(G, {'metadata': {'name': f'p{i}'}})\n"
            "    await s.close()\n"
            "asyncio.run(main())\n"
        )
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(path))
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        got = [await next_event(w) for _ in range(3)]
        assert [(e.type, e.object["metadata"]["name"]) for e in got] == [
            ("ADDED", "p0"),
            ("ADDED", "p1"),
            ("ADDED", "p2"),
        ]
        assert [e.resource_version for e in got] == [2, 3, 4]
        await w.close()
    finally:
        await s.close()
