"""Fixtures of the store tests: test kinds (never registered globally) and a started store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from axle.api.registry import KindInfo
from axle.store.base import StoreEvent, Watch
from axle.store.sqlite import SqliteStore

T = TypeVar("T")

WIDGET = KindInfo(
    group="axle.dev",
    version="v1alpha1",
    kind="Widget",
    plural="widgets",
    singular="widget",
    namespaced=True,
)
GADGET = KindInfo(
    group="axle.dev",
    version="v1alpha1",
    kind="Gadget",
    plural="gadgets",
    singular="gadget",
    namespaced=False,
    has_status=False,
)
SECRET = KindInfo(
    group="",
    version="v1",
    kind="Secret",
    plural="secrets",
    singular="secret",
    namespaced=True,
    has_status=False,
)


def widget(name: str, ns: str = "default", **extra: Any) -> dict[str, Any]:
    labels = extra.pop("labels", None)
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if labels is not None:
        meta["labels"] = labels
    meta.update(extra.pop("metadata", {}))
    return {"apiVersion": "axle.dev/v1alpha1", "kind": "Widget", "metadata": meta, **extra}


def gadget(name: str, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    meta.update(extra.pop("metadata", {}))
    return {"apiVersion": "axle.dev/v1alpha1", "kind": "Gadget", "metadata": meta, **extra}


def owner_ref(obj: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        **extra,
    }


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "axle.db", poll_interval=0.02)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


async def next_event(w: Watch, within: float = 5.0) -> StoreEvent:
    it = w.__aiter__()
    return await asyncio.wait_for(it.__anext__(), within)


async def eventually(check: Callable[[], Awaitable[T]], within: float = 5.0) -> T:
    """Retry `check` until it returns without AssertionError, within a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            return await check()
        except AssertionError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.01)
