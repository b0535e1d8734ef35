"""Event expiry: Events last seen longer ago than the TTL go; recent and renewed ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from axle.api.registry import REGISTRY
from axle.controllers import eventttl
from axle.controllers.eventttl import EventExpiry, last_seen
from axle.controllers.manager import ControllerManager
from axle.errors import NotFound
from axle.store.base import Obj, Store
from tests.controllers.conftest import fast_settings
from tests.controllers.helpers import eventually

EVENT = REGISTRY.by_group_kind("", "Event")
NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def event(name: str, last: datetime | None, ns: str = "default") -> Obj:
    body: Obj = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": {"kind": "AIWorkload", "name": "chat", "namespace": ns},
        "reason": "Running",
        "message": "1 workload deployment(s) running",
        "type": "Normal",
        "count": 1,
    }
    if last is not None:
        body["firstTimestamp"] = body["lastTimestamp"] = stamp(last)
    return body


async def names(store: Store) -> set[str]:
    return {e["metadata"]["name"] for e in (await store.list(EVENT)).items}


def test_last_seen_prefers_last_timestamp_then_event_time_then_creation() -> None:
    assert last_seen(event("a", NOW)) == NOW
    micro = {"eventTime": "2026-11-27T12:00:00.500000Z", "metadata": {}}
    assert last_seen(micro) == NOW + timedelta(milliseconds=500)
    created = {"metadata": {"creationTimestamp": stamp(NOW)}}
    assert last_seen(created) == NOW
    assert last_seen({"lastTimestamp": "yesterday", "metadata": {}}) is None


async def test_a_sweep_deletes_only_what_is_older_than_the_ttl(store: Store) -> None:
    await store.create(EVENT, event("old", NOW - timedelta(hours=2)))
    await store.create(EVENT, event("edge", NOW - timedelta(minutes=59)))
    await store.create(EVENT, event("fresh", NOW - timedelta(seconds=5), ns="ml-prod"))
    expiry = EventExpiry(store, EVENT, 3600, clock=lambda: NOW)
    assert await expiry.sweep() == 1
    assert await names(store) == {"edge", "fresh"}
    # An hour later the next sweep takes the rest that aged.
    expiry.clock = lambda: NOW + timedelta(minutes=30)
    assert await expiry.sweep() == 1
    assert await names(store) == {"fresh"}
    assert expiry.deleted == 2


async def test_an_event_renewed_after_the_list_is_kept(store: Store) -> None:
    old = await store.create(EVENT, event("repeat", NOW - timedelta(hours=2)))
    expiry = EventExpiry(store, EVENT, 3600, clock=lambda: NOW)
    listed = store.list

    async def list_then_renew(*args: object, **kwargs: object) -> object:
        page = await listed(*args, **kwargs)  # type: ignore[arg-type]
        renewed = dict(old, count=2, lastTimestamp=stamp(NOW))
        await store.update(EVENT, renewed)  # happened again between the list and the delete
        return page

    store.list = list_then_renew  # type: ignore[method-assign]
    try:
        assert await expiry.sweep() == 0
    finally:
        store.list = listed  # type: ignore[method-assign]
    kept = await store.get(EVENT, "default", "repeat")
    assert kept["count"] == 2


async def test_a_sweep_walks_every_page(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eventttl, "PAGE", 3)
    for i in range(8):
        await store.create(EVENT, event(f"old-{i}", NOW - timedelta(days=1)))
    await store.create(EVENT, event("new", NOW))
    assert await EventExpiry(store, EVENT, 60, clock=lambda: NOW).sweep() == 8
    assert await names(store) == {"new"}


def test_sweeps_run_every_tenth_of_the_ttl_within_bounds() -> None:
    store: Store = None  # type: ignore[assignment]
    assert EventExpiry(store, EVENT, 3600).interval == 360
    assert EventExpiry(store, EVENT, 5).interval == eventttl.MIN_INTERVAL
    assert EventExpiry(store, EVENT, 10 * 24 * 3600).interval == eventttl.MAX_INTERVAL


async def test_the_leading_manager_expires_events(store: Store, tmp_path: Path) -> None:
    await store.create(EVENT, event("ancient", datetime.now(UTC) - timedelta(hours=3)))
    await store.create(EVENT, event("recent", datetime.now(UTC)))
    mgr = ControllerManager(
        store, fast_settings(tmp_path, event_ttl_seconds=3600), "test-hub", reconcilers=[]
    )
    await mgr.start()
    try:

        async def ancient_gone() -> bool:
            try:
                await store.get(EVENT, "default", "ancient")
            except NotFound:
                return True
            return False

        await eventually(ancient_gone, what="the expired Event deleted")
        assert await names(store) == {"recent"}
    finally:
        await mgr.stop()
