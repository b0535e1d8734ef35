"""A real Palette simulator on a real socket, for the client tests that must not use mocks.

`palette_sim` starts `axle.sim.palette.serve` in-process on port 0 (the event loop of the test
itself, so no threads) with a manual clock, so cluster lifecycles move only when a test
advances it. `SimHandle` reaches the simulator's `/admin` API (counters, faults, host health)
with a plain httpx client, and builds `PaletteClient`s pointed at it whose sleeps are recorded
instead of waited (`Sleeps`). Tests may import `axle.sim`; `src/axle/providers` never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from axle.providers.palette import PaletteClient, PaletteCredentials
from axle.sim.palette import ManualClock, SimConfig, serve
from tests.providers.helpers import Sleeps

ROOT = Path(__file__).resolve().parents[2]
SMALL_FLEET = ROOT / "examples" / "inventory" / "small-fleet.yaml"
API_KEY = "sim-api-key"
PROJECT = "acme-default"
PROFILE = "edge-k8s-1-32"


def small_fleet() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SMALL_FLEET.read_text())
    return data


def big_fleet(tagged: int, untagged: int) -> dict[str, Any]:
    """The small fleet's tenant and projects with `tagged` + `untagged` simple GPU hosts."""
    inv = small_fleet()
    host = {
        "architecture": "amd64",
        "cpuCores": 64,
        "memoryMB": 524288,
        "gpus": [{"vendor": "NVIDIA", "model": "L40S", "count": 4, "memoryMiB": 46068}],
    }
    inv["hosts"] = [
        {**host, "name": "bulk-{n:04d}", "count": tagged, "tags": {"palette.ai": "true"}},
        {**host, "name": "other-{n:04d}", "count": untagged, "tags": {"team": "ci"}},
    ]
    return inv


class SimHandle:
    """One running simulator: its URL, clock, admin API and client factory."""

    def __init__(self, url: str, clock: ManualClock | None = None) -> None:
        self.url = url
        self._clock = clock
        self.admin = httpx.AsyncClient(base_url=url, timeout=10.0)
        self.clients: list[PaletteClient] = []

    @property
    def clock(self) -> ManualClock:
        assert self._clock is not None, "this handle has no simulator clock"
        return self._clock

    def client(
        self,
        *,
        api_key: str = API_KEY,
        project: str = PROJECT,
        url: str | None = None,
        **options: Any,
    ) -> tuple[PaletteClient, Sleeps]:
        creds = PaletteCredentials.model_validate(
            {
                "apiKey": api_key,
                "hostUrl": url or self.url,
                "tenant": "acme",
                "defaultProjectID": project,
            }
        )
        sleeps = Sleeps()
        options.setdefault("rng", random.Random(11))
        client = PaletteClient(creds, sleep=sleeps, **options)
        self.clients.append(client)
        return client, sleeps

    async def counters(self) -> dict[str, Any]:
        response = await self.admin.get("/admin/requests")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    async def route_count(self, route: str) -> int:
        return int((await self.counters())["byRoute"].get(route, 0))

    async def reset_counters(self) -> None:
        (await self.admin.delete("/admin/requests")).raise_for_status()

    async def fault(self, **rule: Any) -> None:
        (await self.admin.post("/admin/faults", json=rule)).raise_for_status()

    async def set_host(self, ref: str, **fields: Any) -> None:
        (await self.admin.patch(f"/admin/hosts/{ref}", json=fields)).raise_for_status()

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        await self.admin.aclose()


@pytest.fixture
async def start_sim() -> AsyncIterator[Callable[..., Any]]:
    """`await start_sim(inventory=..., **SimConfig fields)` -> SimHandle; stopped at teardown."""
    running: list[tuple[asyncio.Task[None], SimHandle]] = []

    async def start(**overrides: Any) -> SimHandle:
        clock = ManualClock()
        fields: dict[str, Any] = {
            "inventory": small_fleet(),
            "port": 0,
            "provisioning_seconds": 60.0,
            "deletion_seconds": 10.0,
            "pending_seconds": 5.0,
            "tick_seconds": 0.0,
            "clock": clock,
        }
        fields.update(overrides)
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            serve(SimConfig(**fields), on_ready=lambda url: ready.set_result(url))
        )
        waiting: set[asyncio.Future[Any]] = {task, ready}
        done, _ = await asyncio.wait(waiting, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            task.cancel()
            raise RuntimeError(
                f"simulator did not start: {task.exception() if task.done() else 'timeout'}"
            )
        handle = SimHandle(ready.result(), clock)
        running.append((task, handle))
        return handle

    yield start
    for task, handle in running:
        await handle.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def sim(start_sim: Callable[..., Any]) -> SimHandle:
    """The example fleet (examples/inventory/small-fleet.yaml) on a manual clock."""
    handle: SimHandle = await start_sim()
    return handle
