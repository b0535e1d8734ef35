"""The controller runtime: work queue, informers, workers, errors, resync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from axle.api.meta import get_condition
from axle.api.registry import KindInfo
from axle.controllers.controller import (
    Context,
    Controller,
    ControllerOptions,
    Mapper,
    Reconciler,
    owned_by,
)
from axle.controllers.events import EventRecorder
from axle.controllers.informer import Informer, InformerSet
from axle.controllers.kinds import Kinds
from axle.controllers.queue import NEW_KEY_SHARE, WorkQueue
from axle.errors import Gone, PermanentError, TemporaryError
from axle.store.base import Store
from tests.controllers.fakestore import FakeStore
from tests.controllers.helpers import GADGET, WIDGET, eventually, private_registry, widget

Behaviour = Callable[[str], Awaitable[float | None]]


async def _noop(key: str) -> float | None:
    return None


class Recording(Reconciler):
    name = "widgets"

    def __init__(self, ctx: Context, behaviour: Behaviour = _noop) -> None:
        super().__init__(ctx)
        self.behaviour = behaviour
        self.calls: list[str] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight_per_key = 0
        self.max_in_flight_total = 0

    @property
    def kind(self) -> KindInfo:
        return WIDGET

    def watches(self) -> list[tuple[KindInfo, Mapper]]:
        return [(GADGET, owned_by(WIDGET))]

    async def reconcile(self, key: str) -> float | None:
        self.calls.append(key)
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        self.max_in_flight_per_key = max(self.max_in_flight_per_key, self.in_flight[key])
        self.max_in_flight_total = max(self.max_in_flight_total, sum(self.in_flight.values()))
        try:
            return await self.behaviour(key)
        finally:
            self.in_flight[key] -= 1


@asynccontextmanager
async def running(
    store: FakeStore, behaviour: Behaviour = _noop, **options: Any
) -> AsyncIterator[tuple[Recording, Controller]]:
    kinds = Kinds.from_registry(private_registry())
    informers = InformerSet(store)
    ctx = Context(store, kinds, informers, EventRecorder(store, kinds.event))
    rec = Recording(ctx, behaviour)
    opts = {"workers": 4, "resync_seconds": 0, "backoff_base": 0.01, **options}
    ctl = Controller(rec, ControllerOptions(**opts))
    informers.start()
    await informers.wait_synced()
    ctl.start()
    try:
        yield rec, ctl
    finally:
        await ctl.stop()
        await informers.stop()


# -- work queue ---------------------------------------------------------------------------


async def test_queue_dedupes_and_coalesces_during_processing() -> None:
    q = WorkQueue()
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2
    key = await q.get()
    assert key == "a"
    q.add("a")  # arrives while "a" is processing: not handed out again ...
    q.add("a")
    assert len(q) == 1  # ... only "b" is ready
    assert await q.get() == "b"
    q.done("b")
    q.done("a")  # ... but re-queued exactly once when the reconcile finishes
    assert len(q) == 1
    assert await q.get() == "a"


async def test_queue_hands_out_known_keys_first_but_never_starves_new_ones() -> None:
    q = WorkQueue()
    for key in ("k1", "k2", "k3", "k4", "k5", "k6"):
        q.add(key)
        assert await q.get() == key
        q.done(key)
    for key in ("n1", "n2", "n3"):
        q.add(key)  # never reconciled
    for key in ("k1", "k2", "k3", "k4", "k5", "k6"):
        q.add(key)  # reconciled before
    order = []
    while len(q):
        key = await q.get()
        order.append(key)
        q.done(key)
    # Each lane keeps its order; while both lanes wait, exactly one hand-out in every
    # NEW_KEY_SHARE consecutive ones is a new key (and the rest are known ones).
    assert [k for k in order if k.startswith("k")] == ["k1", "k2", "k3", "k4", "k5", "k6"]
    assert [k for k in order if k.startswith("n")] == ["n1", "n2", "n3"]
    last_known = max(i for i, k in enumerate(order) if k.startswith("k"))
    last_new = max(i for i, k in enumerate(order) if k.startswith("n"))
    assert last_new < last_known  # known keys were not all handed out first
    for start in range(min(last_known, last_new) - NEW_KEY_SHARE + 2):
        window = order[start : start + NEW_KEY_SHARE]
        assert sum(k.startswith("n") for k in window) == 1, (start, order)
    # A key whose object is gone is new again once dropped.
    q.drop("k1")
    q.add("k2")
    q.add("k1")
    assert [await q.get(), await q.get()] in (["k2", "k1"], ["k1", "k2"])


async def test_queue_backoff_grows_exponentially_and_is_capped() -> None:
    q = WorkQueue(backoff_base=0.5, backoff_max=3.0)
    assert [q.backoff("k") for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert q.failures("k") == 5
    q.forget("k")
    assert q.backoff("k") == 0.5


async def test_queue_add_after_keeps_the_earliest_time() -> None:
    q = WorkQueue()
    q.add_after("k", 30)
    q.add_after("k", 0.01)
    q.add_after("k", 60)
    assert await asyncio.wait_for(q.get(), 5) == "k"
    q.shut_down()


# -- controller ---------------------------------------------------------------------------


async def test_no_two_reconciles_of_one_key_at_once() -> None:
    store = FakeStore()
    names = [f"w{i}" for i in range(4)]
    for n in names:
        await store.create(WIDGET, widget(n))

    async def slow(key: str) -> None:
        await asyncio.sleep(0.01)

    async with running(store, slow, workers=8) as (rec, _):
        for round_ in range(10):
            for n in names:
                obj = await store.get(WIDGET, "default", n)
                obj["spec"]["round"] = round_
                await store.update(WIDGET, obj)
            await asyncio.sleep(0.001)
        await eventually(lambda: not any(rec.in_flight.values()) and len(rec.calls) >= 8)
    assert rec.max_in_flight_per_key == 1
    assert rec.max_in_flight_total > 1  # distinct keys do run in parallel


async def test_events_during_a_reconcile_coalesce_into_one_rerun() -> None:
    store = FakeStore()
    await store.create(WIDGET, widget("w"))
    gate = asyncio.Event()

    async def blocked(key: str) -> None:
        await gate.wait()

    async with running(store, blocked) as (rec, ctl):
        await eventually(lambda: rec.calls == ["default/w"])
        for i in range(5):
            obj = await store.get(WIDGET, "default", "w")
            obj["spec"]["n"] = i
            await store.update(WIDGET, obj)
        await eventually(lambda: "default/w" in ctl.queue._dirty)
        gate.set()
        await eventually(lambda: len(rec.calls) == 2 and ctl.queue.idle())
    assert rec.calls == ["default/w", "default/w"]


async def test_errors_back_off_exponentially_then_reset() -> None:
    store = FakeStore()
    await store.create(WIDGET, widget("w"))
    failures = 3

    async def flaky(key: str) -> None:
        if len(rec_ref[0].calls) <= failures:
            raise RuntimeError("store unreachable")

    rec_ref: list[Recording] = []
    delays: list[float] = []
    async with running(store, flaky, backoff_base=0.01, backoff_max=1.0) as (rec, ctl):
        rec_ref.append(rec)
        original = ctl.queue.add_after

        def spy(key: str, delay: float) -> None:
            delays.append(delay)
            original(key, delay)

        ctl.queue.add_after = spy  # type: ignore[method-assign]
        await eventually(lambda: len(rec.calls) >= failures + 1)
        await eventually(lambda: ctl.queue.failures("default/w") == 0)
        obj = await store.get(WIDGET, "default", "w")
    assert delays[:failures] == [0.01, 0.02, 0.04]
    ready = get_condition(obj, "Ready")
    assert ready is not None and ready["reason"] == "ReconcileError"
    assert "store unreachable" in ready["message"]


async def test_temporary_error_retries_after_its_delay_and_is_reported() -> None:
    store = FakeStore()
    await store.create(WIDGET, widget("w"))
    kinds = Kinds.from_registry(private_registry())

    async def waiting(key: str) -> None:
        if len(rec_ref[0].calls) == 1:
            raise TemporaryError("waiting for the pool", delay=0.03, reason="PoolPending")

    rec_ref: list[Recording] = []
    delays: list[float] = []
    async with running(store, waiting) as (rec, ctl):
        rec_ref.append(rec)
        original = ctl.queue.add_after
        ctl.queue.add_after = lambda k, d: (delays.append(d), original(k, d))[1]  # type: ignore[method-assign]
        await eventually(lambda: len(rec.calls) >= 2)
    assert delays[0] == 0.03
    obj = await store.get(WIDGET, "default", "w")
    cond = get_condition(obj, "Ready")
    assert cond is not None and cond["reason"] == "PoolPending"
    events = (await store.list(kinds.event, "default")).items
    assert [(e["type"], e["reason"]) for e in events] == [("Warning", "PoolPending")]
    assert events[0]["involvedObject"]["uid"] == obj["metadata"]["uid"]


async def test_permanent_error_is_not_retried_on_a_timer() -> None:
    store = FakeStore()
    await store.create(WIDGET, widget("w"))

    async def broken(key: str) -> None:
        raise PermanentError("spec.size must be even", reason="InvalidSize")

    async with running(store, broken, resync_seconds=0) as (rec, ctl):
        await eventually(lambda: rec.calls and not rec.in_flight["default/w"])
        obj = await eventually(lambda: store.get(WIDGET, "default", "w"))
        await eventually(lambda: get_condition(obj, "Ready") or None)
        # The status write by the runtime wakes the controller once more, then it stays quiet:
        # nothing queued, running or scheduled for a timed retry.
        await eventually(ctl.queue.idle)
        assert ctl.queue.failures("default/w") == 0
        assert len(rec.calls) <= 2
    final = await store.get(WIDGET, "default", "w")
    assert get_condition(final, "Ready")["reason"] == "InvalidSize"  # type: ignore[index]


async def test_requeue_after_and_periodic_resync() -> None:
    store = FakeStore()
    await store.create(WIDGET, widget("w"))
    async with running(store, resync_seconds=0.02) as (rec, _):
        await eventually(lambda: len(rec.calls) >= 4, what="resync re-runs")

    async def again(key: str) -> float:
        return 0.01

    async with running(store, again) as (rec, _):
        await eventually(lambda: len(rec.calls) >= 3, what="requeue_after re-runs")


async def test_secondary_kind_maps_to_its_owner() -> None:
    store = FakeStore()
    owner = await store.create(WIDGET, widget("w"))
    async with running(store) as (rec, _):
        await eventually(lambda: rec.calls == ["default/w"])
        gadget = {
            "metadata": {
                "name": "g",
                "namespace": "default",
                "ownerReferences": [
                    {
                        "apiVersion": WIDGET.api_version,
                        "kind": "Widget",
                        "name": "w",
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            }
        }
        await store.create(GADGET, gadget)
        await eventually(lambda: rec.calls == ["default/w", "default/w"])


# -- informer -----------------------------------------------------------------------------


async def _started(store: FakeStore) -> tuple[Informer, asyncio.Task[None]]:
    inf = Informer(store, WIDGET, retry_base=0.001)
    inf.add_index("color", lambda o: [o["spec"].get("color", "")])
    task = asyncio.create_task(inf.run())
    await asyncio.wait_for(inf.synced.wait(), 5)
    return inf, task


async def test_informer_resumes_from_last_revision_after_a_watch_error() -> None:
    store = FakeStore()
    await store.create(WIDGET, widget("a", color="red"))
    inf, task = await _started(store)
    seen: list[tuple[str | None, str | None]] = []
    inf.add_handler(
        lambda old, new: seen.append(
            (old and old["metadata"]["name"], new and new["metadata"]["name"])
        )
    )
    try:
        store.break_watches(ConnectionError("connection reset"))
        await store.create(WIDGET, widget("b", color="blue"))
        await eventually(lambda: inf.get("default/b"))
        store.break_watches()  # a watch that simply ends is resumed as well
        await store.delete(WIDGET, "default", "a")
        await eventually(lambda: inf.get("default/a") is None)
        assert store.list_calls == 1  # resumed by watching, never re-listed
        assert store.watch_calls >= 3
        assert seen == [(None, "b"), ("a", None)]  # every change once, in order
        assert [o["metadata"]["name"] for o in inf.by_index("color", "blue")] == ["b"]
        assert inf.by_index("color", "red") == []
    finally:
        task.cancel()


async def test_informer_relists_after_gone() -> None:
    store = FakeStore()
    await store.create(WIDGET, widget("a"))
    await store.create(WIDGET, widget("b"))
    inf, task = await _started(store)
    deleted: list[str] = []
    inf.add_handler(
        lambda old, new: new is None and old and deleted.append(old["metadata"]["name"])
    )
    try:
        # While the informer is disconnected, changes happen and the log is compacted.
        store.watch_down = True
        store.break_watches(ConnectionError("down"))
        await store.delete(WIDGET, "default", "a")
        await store.create(WIDGET, widget("c"))
        await store.compact(0)
        store.watch_down = False
        await eventually(lambda: inf.relists == 2, what="re-list after Gone")
        assert sorted(inf.cached_keys()) == ["default/b", "default/c"]
        assert deleted == ["a"]  # the vanished object is reported as deleted
        await store.create(WIDGET, widget("d"))
        await eventually(lambda: inf.get("default/d"))
    finally:
        task.cancel()


async def test_informer_set_shares_one_informer_per_kind() -> None:
    store = FakeStore()
    informers = InformerSet(store)
    assert informers.get(WIDGET) is informers.get(WIDGET)
    assert informers.get(WIDGET) is not informers.get(GADGET)


@pytest.mark.parametrize("exc", [Gone("compacted")])
async def test_gone_on_first_watch_relists(exc: Exception) -> None:
    store = FakeStore()
    await store.create(WIDGET, widget("a"))
    inf = Informer(store, WIDGET, retry_base=0.001)
    store.fail_watch_with = exc
    task = asyncio.create_task(inf.run())
    try:
        await eventually(lambda: inf.relists == 2)
        assert inf.cached_keys() == ["default/a"]
    finally:
        task.cancel()


async def test_informer_resumes_or_relists_on_either_store(store: Store) -> None:
    """The same informer loop against the fake and the real SQLite store."""
    kinds = Kinds.from_registry()
    cm = kinds.config_map

    def config_map(name: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": "default"}, "data": {}}

    await store.create(cm, config_map("a"))
    inf = Informer(store, cm, retry_base=0.001)
    task = asyncio.create_task(inf.run())
    await asyncio.wait_for(inf.synced.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    # Stopped, then restarted from the same revision: it resumes by watching.
    await store.create(cm, config_map("b"))
    task = asyncio.create_task(inf.run())
    await eventually(lambda: inf.get("default/b"), what="resumed watch")
    assert inf.relists == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    # Stopped again while the log moves on and is compacted: it must re-list.
    await store.delete(cm, "default", "a")
    for i in range(3):
        await store.create(cm, config_map(f"c{i}"))
    await store.compact(1)
    task = asyncio.create_task(inf.run())
    try:
        await eventually(lambda: inf.relists == 2, what="re-list after Gone")
        assert sorted(inf.cached_keys()) == ["default/b", "default/c0", "default/c1", "default/c2"]
    finally:
        task.cancel()
