"""Leader election: two managers on one SQLite file never both reconcile; takeover on expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from axle.api.registry import KindInfo
from axle.controllers.controller import Context, Reconciler
from axle.controllers.manager import ControllerManager
from axle.controllers.objects import get_or_none
from axle.store.base import Obj, Store
from tests.controllers.conftest import fast_settings, open_sqlite
from tests.controllers.fakestore import FakeStore
from tests.controllers.helpers import eventually
from tests.controllers.test_tenant import K, tenant


class Log:
    """Which manager ran reconciles, and whether two ever overlapped."""

    def __init__(self) -> None:
        self.by: dict[str, int] = {}
        self.active: set[str] = set()
        self.overlap = False


def counting(log: Log, identity: str) -> type[Reconciler]:
    class Counting(Reconciler):
        name = "tenant-counter"

        def __init__(self, ctx: Context) -> None:
            super().__init__(ctx)

        @property
        def kind(self) -> KindInfo:
            return self.kinds.tenant

        async def reconcile(self, key: str) -> float | None:
            if log.active - {identity}:
                log.overlap = True
            log.active.add(identity)
            try:
                log.by[identity] = log.by.get(identity, 0) + 1
                await asyncio.sleep(0.001)
            finally:
                log.active.discard(identity)
            return 0.01  # keep reconciling, so a second leader would show up at once

    return Counting


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    a = await open_sqlite(tmp_path / "shared.db")
    b = await open_sqlite(tmp_path / "shared.db")
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_only_one_manager_reconciles_and_a_follower_takes_over(
    stores: tuple[Store, Store], tmp_path: Path
) -> None:
    store_a, store_b = stores
    await store_a.create(K.tenant, tenant("acme", []))
    log = Log()
    settings = fast_settings(tmp_path, lease_seconds=0.6)
    first = ControllerManager(store_a, settings, "hub-a", reconcilers=[counting(log, "hub-a")])
    second = ControllerManager(store_b, settings, "hub-b", reconcilers=[counting(log, "hub-b")])
    await first.start()
    await eventually(lambda: first.is_leader, what="hub-a leads")
    await second.start()
    await eventually(lambda: log.by.get("hub-a", 0) > 20, what="hub-a reconciling")
    assert not second.is_leader
    assert "hub-b" not in log.by

    lease = await store_a.get(K.lease, "axle-system", "axle-hub-leader")
    assert lease["spec"]["holderIdentity"] == "hub-a"
    transitions = lease["spec"]["leaseTransitions"]

    # hub-a stops renewing without releasing (as if it hung): its elector is cancelled but
    # the lease still names it, so hub-b must wait for the lease to expire.
    task = first._elector_task
    assert task is not None
    first.elector.release = _no_release  # type: ignore[method-assign]
    await first.stop()
    assert not first.is_leader
    held = await store_a.get(K.lease, "axle-system", "axle-hub-leader")
    assert held["spec"]["holderIdentity"] == "hub-a"

    await eventually(lambda: second.is_leader, what="hub-b takes over after expiry")
    await eventually(lambda: log.by.get("hub-b", 0) > 5, what="hub-b reconciling")
    lease = await store_b.get(K.lease, "axle-system", "axle-hub-leader")
    assert lease["spec"]["holderIdentity"] == "hub-b"
    assert lease["spec"]["leaseTransitions"] == transitions + 1
    assert not log.overlap
    await second.stop()
    released = await store_b.get(K.lease, "axle-system", "axle-hub-leader")
    assert not released["spec"]["holderIdentity"]  # a clean stop hands over at once


async def _no_release() -> None:
    return None


async def test_a_leader_that_cannot_renew_stops_reconciling(tmp_path: Path) -> None:
    store = await open_sqlite(tmp_path / "axle.db")
    try:
        await store.create(K.tenant, tenant("acme", []))
        log = Log()
        settings = fast_settings(tmp_path, lease_seconds=0.6)
        mgr = ControllerManager(store, settings, "hub-a", reconcilers=[counting(log, "hub-a")])
        await mgr.start()
        await eventually(lambda: mgr.is_leader and log.by.get("hub-a", 0) > 3)
        # Someone else grabs the lease (as a follower would after a long pause of ours).
        lease = await store.get(K.lease, "axle-system", "axle-hub-leader")
        lease["spec"]["holderIdentity"] = "intruder"
        lease["spec"]["leaseDurationSeconds"] = 3600
        await store.update(K.lease, lease)
        await eventually(lambda: not mgr.is_leader, what="the leader steps down")
        assert mgr.controllers == []
        count = log.by["hub-a"]
        rounds = mgr.elector.attempts
        await eventually(lambda: mgr.elector.attempts >= rounds + 3, what="more election rounds")
        assert log.by["hub-a"] == count  # no reconcile after stepping down
        assert not mgr.is_leader
        await mgr.stop()
        still = await get_or_none(store, K.lease, "axle-system", "axle-hub-leader")
        assert still is not None and still["spec"]["holderIdentity"] == "intruder"
    finally:
        await store.close()


async def test_a_leader_whose_store_fails_steps_down(tmp_path: Path) -> None:
    store = FakeStore()
    await store.create(K.tenant, tenant("acme", []))
    log = Log()
    settings = fast_settings(tmp_path, lease_seconds=0.6)
    mgr = ControllerManager(store, settings, "hub-a", reconcilers=[counting(log, "hub-a")])
    await mgr.start()
    try:
        await eventually(lambda: mgr.is_leader and log.by.get("hub-a", 0) > 3)
        real_get = store.get

        async def broken_get(info: KindInfo, ns: str | None, name: str) -> Obj:
            if info.kind == "Lease":
                raise OSError("disk I/O error")
            return await real_get(info, ns, name)

        store.get = broken_get  # type: ignore[method-assign]
        await eventually(lambda: not mgr.is_leader, what="step down after the renew deadline")
        assert mgr.controllers == []
        store.get = real_get  # type: ignore[method-assign]
        # Once the store answers again, the same manager leads again (a new term).
        await eventually(lambda: mgr.is_leader and mgr.terms == 2, what="leads again")
    finally:
        await mgr.stop()


def test_concurrency_per_controller_comes_from_settings(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, controller_workers=2, controller_concurrency={"project": 5})
    mgr = ControllerManager(FakeStore(), settings, "hub")  # type: ignore[arg-type]
    assert mgr._options("project").workers == 5
    assert mgr._options("tenant").workers == 2
    assert mgr._options("tenant").backoff_base == settings.controller_backoff_base
