"""Fixtures: a store (the in-memory fake and the real SQLite store) and a running manager."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from axle.controllers.manager import ControllerManager
from axle.settings import HubSettings
from axle.store.base import Store
from tests.controllers.fakestore import FakeStore
from tests.controllers.helpers import eventually


def fast_settings(tmp_path: Path, **overrides: Any) -> HubSettings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "resync_seconds": 300.0,
        "lease_seconds": 15.0,
        "controller_backoff_base": 0.01,
        "controller_backoff_max": 0.2,
        **overrides,
    }
    return HubSettings(**values)


async def open_sqlite(path: Path) -> Store:
    from axle.store import open_store

    store = open_store(f"sqlite:///{path}")
    await store.start()
    return store


@pytest.fixture(params=["fake", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "fake":
        yield FakeStore()  # type: ignore[misc]
        return
    real = await open_sqlite(tmp_path / "axle.db")
    try:
        yield real
    finally:
        await real.close()


@pytest.fixture
async def manager(store: Store, tmp_path: Path) -> AsyncIterator[ControllerManager]:
    mgr = ControllerManager(store, fast_settings(tmp_path), "test-hub")
    await mgr.start()
    await eventually(mgr.ready.is_set, what="the manager to lead and start its controllers")
    try:
        yield mgr
    finally:
        await mgr.stop()
