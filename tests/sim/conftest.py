"""Fixtures for the Palette simulator tests: an app on a manual clock, reached through httpx.

`SimHarness` bundles the ASGI app, its live `PaletteSim` and `Faults`, the manual clock, and
an httpx client whose default headers carry the example inventory's API key and project, so a
test reads like the client calls it makes. Requests go through httpx's ASGI transport (the
full Starlette stack, middleware included); `test_server.py` covers a real socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from axle.sim.palette import ManualClock, SimConfig, create_app
from axle.sim.palette.faults import Faults
from axle.sim.palette.simulator import PaletteSim

ROOT = Path(__file__).resolve().parents[2]
SMALL_FLEET = ROOT / "examples" / "inventory" / "small-fleet.yaml"
API_KEY = "sim-api-key"
PROJECT = "acme-default"
HEADERS = {"ApiKey": API_KEY, "ProjectUid": PROJECT}


@dataclass
class SimHarness:
    client: httpx.AsyncClient
    sim: PaletteSim
    faults: Faults
    clock: ManualClock
    config: SimConfig
    sleeps: list[float]


def tag_filter(key: str = "palette.ai", value: str = "true") -> dict[str, Any]:
    """The search body a client sends to list hosts carrying one tag."""
    return {
        "filter": {
            "conjunction": "and",
            "filterGroups": [
                {
                    "conjunction": "and",
                    "filters": [
                        {
                            "property": "tags",
                            "type": "keyValue",
                            "condition": {
                                "keyValue": {
                                    "key": key,
                                    "operator": "eq",
                                    "negation": False,
                                    "ignoreCase": False,
                                    "match": {"conjunction": "or", "values": [value]},
                                }
                            },
                        }
                    ],
                }
            ],
        },
        "sort": [],
    }


@pytest.fixture
async def make_sim(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Build harnesses: `await make_sim(**SimConfig fields)`; all closed at teardown."""
    clients: list[httpx.AsyncClient] = []

    async def make(**overrides: Any) -> SimHarness:
        clock = overrides.pop("clock", None) or ManualClock()
        sleeps: list[float] = []

        async def fake_sleep(seconds: float) -> None:
            sleeps.append(seconds)

        fields: dict[str, Any] = {
            "inventory": SMALL_FLEET,
            "provisioning_seconds": 60.0,
            "deletion_seconds": 10.0,
            "pending_seconds": 5.0,
            "clock": clock,
            "sleep": fake_sleep,
        }
        fields.update(overrides)
        config = SimConfig(**fields)
        app = create_app(config)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sim", headers=HEADERS
        )
        clients.append(client)
        return SimHarness(client, app.state.sim, app.state.faults, clock, config, sleeps)

    yield make
    for c in clients:
        await c.aclose()


@pytest.fixture
async def h(make_sim: Callable[..., Any]) -> SimHarness:
    """The example fleet on a manual clock: provisioning 60 s (5 s Pending), deletion 10 s."""
    harness: SimHarness = await make_sim()
    return harness
