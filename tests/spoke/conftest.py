"""A real hub in a background thread for the agent tests, and helpers to enroll spokes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from axle.api.spoketokens import bootstrap_secret, new_bootstrap_token
from axle.client import Client
from axle.errors import NotFound
from tests.client.hubthread import HubThread

T = TypeVar("T")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    thread = HubThread(tmp_path_factory.mktemp("hub")).start()
    yield thread
    thread.stop()


async def enroll(hub: HubThread, name: str, lease_seconds: int = 3) -> str:
    """Create the Spoke and a bootstrap token for it (what the pool installer does)."""
    token = new_bootstrap_token()
    async with Client(hub.url, hub.token) as admin:
        await admin.create(
            {
                "apiVersion": "axle.dev/v1alpha1",
                "kind": "Spoke",
                "metadata": {"name": name},
                "spec": {"leaseDurationSeconds": lease_seconds},
            }
        )
        await admin.create(bootstrap_secret(name, token))
    return token


async def until(check: Callable[[], Awaitable[T | None]], what: str, limit: float = 20.0) -> T:
    """Poll `check` until it returns something truthy (deadline, never a fixed sleep)."""
    deadline = time.monotonic() + limit
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except (AssertionError, NotFound) as exc:  # not there yet
            last = exc
        else:
            if last:
                return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
