"""Builders shared by the provider tests: edge host records in Palette's wire shape, a
recording fake `sleep`, and a MockTransport-backed client factory."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import httpx

from axle.providers.palette import PaletteClient, PaletteCredentials

CREDS = PaletteCredentials.model_validate(
    {
        "apiKey": "k-123",
        "hostUrl": "https://palette.example.test",
        "tenant": "acme",
        "defaultProjectID": "proj-1",
    }
)


def edge_host(
    uid: str,
    *,
    name: str | None = None,
    labels: dict[str, str] | None = None,
    state: str = "ready",
    health: str | None = "healthy",
    cores: int | None = 32,
    memory_mb: int | None = 262144,
    gpus: list[dict[str, Any]] | None = None,
    arch: str | None = "amd64",
    address: str | None = "10.0.0.1",
) -> dict[str, Any]:
    """A `v1EdgeHostsMetadata` record; None leaves a field out."""
    device: dict[str, Any] = {}
    if arch is not None:
        device["archType"] = arch
    if cores is not None:
        device["cpu"] = {"cores": cores}
    if memory_mb is not None:
        device["memory"] = {"sizeInMB": memory_mb}
    if gpus is not None:
        device["gpus"] = gpus
    status: dict[str, Any] = {"state": state}
    if health is not None:
        status["health"] = {"state": health, "message": "" if health == "healthy" else "bad"}
    spec: dict[str, Any] = {"device": device, "type": "edge-native"}
    if address is not None:
        spec["host"] = {"hostAddress": address, "macAddress": "aa:bb:cc:dd:ee:ff"}
    return {
        "metadata": {"uid": uid, "name": name or f"host-{uid}", "labels": labels or {}},
        "spec": spec,
        "status": status,
    }


class Sleeps:
    """A fake `sleep` that records the delays asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


Handler = Callable[[httpx.Request], httpx.Response]


def mock_client(handler: Handler, **options: Any) -> tuple[PaletteClient, Sleeps]:
    """A client whose network is `handler`; sleeps recorded, jitter seeded."""
    sleeps = Sleeps()
    options.setdefault("rng", random.Random(7))
    client = PaletteClient(CREDS, transport=httpx.MockTransport(handler), sleep=sleeps, **options)
    return client, sleeps


def body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None
