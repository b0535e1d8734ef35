"""Compute and Settings against the Palette simulator, through the real client over HTTP.

The simulator (`axle.sim.palette.serve`) runs in this test's event loop on a free port, seeded
from `examples/inventory/small-fleet.yaml`; the hub side is the whole controller manager with
its default reconcilers (the real `provider_from_secret_data`), on the in-memory and the
SQLite store, with a short `compute_sync_seconds` so "within one resync" is quick to observe.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from axle.api.meta import get_condition
from axle.controllers.manager import ControllerManager
from axle.sim.palette import SimConfig, serve
from axle.store.base import Obj, Store
from tests.controllers.conftest import fast_settings
from tests.controllers.helpers import eventually
from tests.controllers.test_tenant import K

ROOT = Path(__file__).resolve().parents[2]
SMALL_FLEET = ROOT / "examples" / "inventory" / "small-fleet.yaml"
COMPUTE = K.registry.by_group_kind("axle.dev", "Compute")
SYNC_SECONDS = 0.3


@pytest.fixture
async def palette_url() -> AsyncIterator[str]:
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    config = SimConfig(inventory=SMALL_FLEET, port=0, tick_seconds=0)
    task = asyncio.create_task(serve(config, on_ready=ready.set_result))
    try:
        yield await asyncio.wait_for(ready, 10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def hub(store: Store, tmp_path: Path) -> AsyncIterator[ControllerManager]:
    settings = fast_settings(tmp_path, compute_sync_seconds=SYNC_SECONDS)
    mgr = ControllerManager(store, settings, "test-hub")
    await mgr.start()
    await eventually(mgr.ready.is_set, what="controllers running")
    try:
        yield mgr
    finally:
        await mgr.stop()


def palette_secret(url: str, api_key: str = "sim-api-key") -> Obj:
    doc = {"apiKey": api_key, "hostUrl": url, "tenant": "acme", "defaultProjectID": "acme-default"}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "palette-credentials", "namespace": "acme-shared"},
        "data": {"palette": base64.b64encode(json.dumps(doc).encode()).decode()},
    }


async def quickstart(store: Store, url: str, api_key: str = "sim-api-key") -> None:
    """The examples/quickstart shape: tenant Palette Settings, project ml-prod, Compute fleet."""
    await store.create(
        K.namespace, {"metadata": {"name": "acme-shared", "labels": {"axle.dev/tenant": "acme"}}}
    )
    await store.create(K.secret, palette_secret(url, api_key))
    await store.create(
        K.settings,
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Settings",
            "metadata": {"name": "acme-palette", "namespace": "acme-shared"},
            "spec": {"palette": {"secretRef": {"name": "palette-credentials", "key": "palette"}}},
        },
    )
    await store.create(
        K.tenant,
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "acme"},
            "spec": {
                "tenantRoleMapping": {"groups": ["acme-platform"]},
                "settingsRef": {"name": "acme-palette", "namespace": "acme-shared"},
            },
        },
    )
    await store.create(
        K.project,
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Project",
            "metadata": {"name": "ml-prod", "namespace": "ml-prod"},
            "spec": {"tenantRef": {"name": "acme"}},
        },
    )
    await store.create(
        COMPUTE,
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Compute",
            "metadata": {"name": "fleet", "namespace": "ml-prod"},
            "spec": {},
        },
    )


async def compute_status(store: Store) -> dict[str, Any]:
    return dict((await store.get(COMPUTE, "ml-prod", "fleet")).get("status") or {})


def summary(group: dict[str, Any]) -> tuple[Any, ...]:
    gpu = group.get("gpu") or {}
    return (
        gpu.get("family"),
        gpu.get("gpuCount"),
        group["cpuCount"],
        group["memoryMiB"],
        group.get("resourceGroups", {}).get("axle.dev/resource-group"),
        {m["name"]: m["state"] for m in group["machines"]},
    )


async def test_the_example_fleet_through_the_simulator(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    await quickstart(store, palette_url)

    async def listed() -> dict[str, Any] | None:
        st = await compute_status(store)
        return st if st.get("totalMachines") else None

    st = await eventually(listed, what="the Compute inventory")
    assert [summary(g) for g in st["controlPlaneCompute"]] == [
        (None, None, 16, 65536, "rack-a", {f"cp-0{i}": "available" for i in (1, 2, 3)})
    ]
    assert [summary(g) for g in st["workerCompute"]] == [
        (
            "NVIDIA-A100",
            8,
            64,
            1048576,
            "rack-b",
            {
                "gpu-a100-01": "unhealthy",
                "gpu-a100-02": "available",
                "gpu-a100-03": "available",
                "gpu-a100-04": "available",
            },
        ),
        (
            "NVIDIA-H100",
            8,
            112,
            2097152,
            "rack-a",
            {f"gpu-h100-0{i}": "available" for i in (1, 2, 3, 4)},
        ),
        (
            "NVIDIA-L40S",
            4,
            48,
            524288,
            "rack-b",
            {"gpu-l40s-01": "available", "gpu-l40s-02": "available"},
        ),
    ]
    names = {
        m["name"] for g in st["controlPlaneCompute"] + st["workerCompute"] for m in g["machines"]
    }
    assert "build-runner-01" not in names  # untagged: never listed
    assert (st["totalMachines"], st["availableMachines"], st["unhealthyMachines"]) == (13, 12, 1)
    assert st["gpuSummary"] == "24/32 A100, 32/32 H100, 8/8 L40S"
    assert st["gpus"]["NVIDIA-A100"] == {"available": 24, "inUse": 0, "unhealthy": 8, "total": 32}
    sick = st["workerCompute"][0]["machines"][0]
    assert sick["message"] == "GPU 3: Xid 79, fallen off the bus"
    assert st["settings"] == {"namespace": "acme-shared", "name": "acme-palette"}
    compute = await store.get(COMPUTE, "ml-prod", "fleet")
    synced = get_condition(compute, "Synced") or {}
    assert synced["status"] == "True"
    assert f"from Palette {palette_url} (tenant acme)" in synced["message"]

    # The Settings found Palette reachable with a real call.
    async def reachable() -> dict[str, Any] | None:
        s = await store.get(K.settings, "acme-shared", "acme-palette")
        cond = get_condition(s, "PaletteReachable")
        return cond if cond and cond["status"] == "True" else None

    cond = await eventually(reachable, what="PaletteReachable")
    assert cond["reason"] == "Reachable"
    assert cond["message"] == f"Palette {palette_url} (tenant acme) accepted the API key"

    # Unchanged inventory: several syncs go by (counted by the simulator), nothing is written.
    rv = compute["metadata"]["resourceVersion"]
    async with httpx.AsyncClient(base_url=palette_url) as admin:

        async def searches() -> int:
            counts = (await admin.get("/admin/requests")).json()
            return sum(n for path, n in counts["byPath"].items() if "edgehosts/search" in path)

        start = await searches()
        await eventually(lambda: _at_least(searches, start + 3), what="three more syncs")
        assert (await store.get(COMPUTE, "ml-prod", "fleet"))["metadata"]["resourceVersion"] == rv

        # A host turns unhealthy in Palette: its state changes within one resync.
        reply = await admin.patch(
            "/admin/hosts/gpu-h100-02", json={"health": "unhealthy", "message": "PSU failure"}
        )
        assert reply.status_code == 200, reply.text

        async def h100_02() -> dict[str, Any] | None:
            st = await compute_status(store)
            for g in st["workerCompute"]:
                for m in g["machines"]:
                    if m["name"] == "gpu-h100-02" and m["state"] == "unhealthy":
                        return m
            return None

        machine = await eventually(h100_02, within=SYNC_SECONDS * 20, what="gpu-h100-02 unhealthy")
        assert machine["message"] == "PSU failure"
        st = await compute_status(store)
        assert st["gpuSummary"] == "24/32 A100, 24/32 H100, 8/8 L40S"
        assert st["availableMachines"] == 11


async def _at_least(count: Any, n: int) -> bool:
    return bool(await count() >= n)


async def test_a_bad_api_key_is_reported_by_settings_and_compute(
    store: Store, hub: ControllerManager, palette_url: str
) -> None:
    await quickstart(store, palette_url, api_key="wrong-key")

    async def compute_refused() -> dict[str, Any] | None:
        cond = get_condition(await store.get(COMPUTE, "ml-prod", "fleet"), "Synced")
        return cond if cond and cond["reason"] == "InvalidCredentials" else None

    cond = await eventually(compute_refused, what="Compute InvalidCredentials")
    assert cond["status"] == "False" and "no inventory yet" in cond["message"]

    async def settings_refused() -> Obj | None:
        s = await store.get(K.settings, "acme-shared", "acme-palette")
        cond = get_condition(s, "PaletteReachable")
        return s if cond and cond["reason"] == "InvalidCredentials" else None

    s = await eventually(settings_refused, what="Settings InvalidCredentials")
    ready = get_condition(s, "Ready") or {}
    assert ready["status"] == "False" and ready["reason"] == "InvalidCredentials"
    assert "acme-shared/palette-credentials" in ready["message"]

    # Fixing the key heals both, without waiting for the periodic checks.
    fixed = await store.get(K.secret, "acme-shared", "palette-credentials")
    fixed["data"] = palette_secret(palette_url)["data"]
    await store.update(K.secret, fixed)

    async def healed() -> bool:
        s = await store.get(K.settings, "acme-shared", "acme-palette")
        c = await store.get(COMPUTE, "ml-prod", "fleet")
        return (get_condition(s, "PaletteReachable") or {}).get("status") == "True" and (
            get_condition(c, "Synced") or {}
        ).get("status") == "True"

    await eventually(healed, what="Settings and Compute healed")


async def test_an_unreachable_palette(store: Store, hub: ControllerManager) -> None:
    # A port nothing listens on.
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    await quickstart(store, url)

    async def unreachable() -> dict[str, Any] | None:
        s = await store.get(K.settings, "acme-shared", "acme-palette")
        cond = get_condition(s, "PaletteReachable")
        return cond if cond and cond["reason"] == "Unreachable" else None

    cond = await eventually(unreachable, what="Settings Unreachable")
    assert cond["status"] == "False" and url in cond["message"]
    s = await store.get(K.settings, "acme-shared", "acme-palette")
    assert (get_condition(s, "Ready") or {}).get(
        "status"
    ) == "True"  # an outage, not a config error
