"""Compute reconciler with a fake provider and fake time: resolution, cadence, writes, errors.

The reconciler is driven directly (`reconcile(key)`) over real shared informers on the store
fixture (in-memory fake and SQLite), so every test controls the clocks and sees exactly what
one sync did: what it returned (the requeue delay), what it wrote, what it asked the provider.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from axle.api.meta import get_condition
from axle.controllers.compute import ComputeReconciler
from axle.controllers.controller import Context, Controller, ControllerOptions
from axle.controllers.events import EventRecorder
from axle.controllers.informer import InformerSet
from axle.controllers.kinds import Kinds
from axle.controllers.objects import key_of
from axle.providers.base import (
    Capability,
    Host,
    InvalidConfiguration,
    InvalidCredentials,
    Provider,
    ProviderError,
    RateLimited,
    Unreachable,
)
from axle.store.base import Obj, Store
from tests.controllers.helpers import eventually
from tests.controllers.test_compute_inventory import fleet

K = Kinds.from_registry()
COMPUTE = K.registry.by_group_kind("axle.dev", "Compute")
PALETTE = {
    "apiKey": "k",
    "hostUrl": "https://palette.example.com",
    "tenant": "acme",
    "defaultProjectID": "p1",
}


@dataclass
class World:
    """What the fake Palette holds; every provider built from any Secret sees it."""

    hosts: list[Host] = field(default_factory=fleet)
    error: ProviderError | None = None
    calls: int = 0
    made: list[FakeProvider] = field(default_factory=list)
    build_error: ProviderError | None = None
    capabilities: frozenset[Capability] = frozenset({Capability.INVENTORY})

    def factory(self, data: Mapping[str, str], key: str) -> Provider:
        if self.build_error is not None:
            raise self.build_error
        doc = json.loads(base64.b64decode(data[key]))
        provider = FakeProvider(self, doc["apiKey"])
        self.made.append(provider)
        return provider


class FakeProvider:
    name = "fake"

    def __init__(self, world: World, api_key: str) -> None:
        self.world = world
        self.api_key = api_key
        self.capabilities = world.capabilities
        self.closed = False
        self.selectors: list[dict[str, str]] = []

    async def check_credentials(self) -> None:
        if self.world.error is not None:
            raise self.world.error

    async def list_hosts(self, tags: Mapping[str, str] | None = None) -> list[Host]:
        assert not self.closed, "a closed provider was used"
        self.world.calls += 1
        self.selectors.append(dict(tags or {}))
        if self.world.error is not None:
            raise self.world.error
        return [
            h for h in self.world.hosts if all(h.tags.get(k) == v for k, v in (tags or {}).items())
        ]

    async def get_host(self, uid: str) -> Host:
        return next(h for h in self.world.hosts if h.uid == uid)

    async def close(self) -> None:
        self.closed = True


class Clocks:
    def __init__(self) -> None:
        self.t = 1000.0
        self.wall = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.wall += timedelta(seconds=seconds)


@dataclass
class Harness:
    store: Store
    ctx: Context
    rec: ComputeReconciler
    world: World
    clocks: Clocks

    async def reconcile(self, key: str = "ml-prod/fleet") -> float | None:
        await self.caught_up()
        return await self.rec.reconcile(key)

    async def caught_up(self) -> None:
        """Wait until every informer has seen the store's latest writes."""
        for info in (COMPUTE, K.settings, K.secret, K.project, K.tenant, K.namespace):
            listed = await self.store.list(info)
            want = {key_of(o): o["metadata"]["resourceVersion"] for o in listed.items}
            cache = self.ctx.cache(info)

            def same(cache: Any = cache, want: dict[str, str] = want) -> bool:
                have = {
                    k: (cache.get(k) or {}).get("metadata", {}).get("resourceVersion")
                    for k in cache.cached_keys()
                }
                return have == want

            await eventually(same, what=f"{info.plural} cache")

    async def compute(self, key: str = "ml-prod/fleet") -> Obj:
        ns, _, name = key.partition("/")
        return await self.store.get(COMPUTE, ns, name)

    async def status(self, key: str = "ml-prod/fleet") -> dict[str, Any]:
        return dict((await self.compute(key)).get("status") or {})

    async def condition(self, type_: str, key: str = "ml-prod/fleet") -> dict[str, Any]:
        return get_condition(await self.compute(key), type_) or {}

    async def events(self, reason: str) -> list[Obj]:
        items = (await self.store.list(K.event, "ml-prod")).items
        return [e for e in items if e.get("reason") == reason]


def secret(ns: str, name: str, doc: dict[str, Any] | None = None) -> Obj:
    value = json.dumps(doc or PALETTE)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "data": {"palette": base64.b64encode(value.encode()).decode()},
    }


async def settings_with_status(
    store: Store, ns: str, name: str, palette_secret: tuple[str, str] | None
) -> Obj:
    """A Settings as the Settings controller leaves it (its effective Palette integration)."""
    obj = await store.create(
        K.settings,
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Settings",
            "metadata": {"name": name, "namespace": ns},
            "spec": {},
        },
    )
    eff: dict[str, Any] = {}
    if palette_secret is not None:
        sns, sname = palette_secret
        eff["palette"] = {
            "source": {"namespace": sns, "name": name},
            "secretRef": {"namespace": sns, "name": sname, "key": "palette"},
        }
    obj["status"] = {"effectiveSettings": eff, "conditions": []}
    return await store.update(K.settings, obj, subresource="status")


def compute(name: str = "fleet", ns: str = "ml-prod", **spec: Any) -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Compute",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def project(name: str, tenant: str = "acme", **spec: Any) -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name, "namespace": name},
        "spec": {"tenantRef": {"name": tenant}, **spec},
    }


@pytest.fixture
async def h(store: Store) -> AsyncIterator[Harness]:
    world = World()
    clocks = Clocks()
    informers = InformerSet(store)
    ctx = Context(store, K, informers, EventRecorder(store, K.event))
    rec = ComputeReconciler(
        ctx,
        sync_seconds=30.0,
        heartbeat_seconds=300.0,
        provider_factory=world.factory,
        clock=lambda: clocks.t,
        now=lambda: clocks.wall,
    )
    # The controller only wires the informers this reconciler watches; it is never started.
    Controller(rec, ControllerOptions())
    informers.start()
    await informers.wait_synced()
    try:
        yield Harness(store, ctx, rec, world, clocks)
    finally:
        await rec.aclose()
        await informers.stop()


async def project_with_settings(h: Harness) -> None:
    """ml-prod names its Settings; they carry the Palette integration (as in the quickstart)."""
    await h.store.create(K.secret, secret("ml-prod", "palette-credentials"))
    await settings_with_status(
        h.store, "ml-prod", "ml-prod-settings", ("ml-prod", "palette-credentials")
    )
    await h.store.create(K.project, project("ml-prod", settingsRef={"name": "ml-prod-settings"}))


async def test_inventory_is_written_then_an_unchanged_sync_writes_nothing(h: Harness) -> None:
    await project_with_settings(h)
    await h.store.create(COMPUTE, compute())
    assert await h.reconcile() == 30.0
    st = await h.status()
    assert st["totalMachines"] == 13 and st["availableMachines"] == 12
    assert st["unhealthyMachines"] == 1 and st["inUseMachines"] == 0
    assert [g["instances"] for g in st["controlPlaneCompute"]] == [3]
    assert [g["gpu"]["family"] for g in st["workerCompute"]] == [
        "NVIDIA-A100",
        "NVIDIA-H100",
        "NVIDIA-L40S",
    ]
    assert st["gpuSummary"] == "24/32 A100, 32/32 H100, 8/8 L40S"
    assert st["gpus"]["NVIDIA-A100"] == {"available": 24, "inUse": 0, "unhealthy": 8, "total": 32}
    assert st["lastSyncTime"] == "2026-01-02T03:04:05Z"
    assert st["settings"] == {"namespace": "ml-prod", "name": "ml-prod-settings"}
    synced = await h.condition("Synced")
    assert synced["status"] == "True" and synced["reason"] == "InventoryListed"
    assert (
        "13 machines (12 available) from Palette https://palette.example.com (tenant acme)"
        in synced["message"]
    )
    assert (await h.condition("Ready"))["status"] == "True"
    assert h.world.made[0].selectors == [{"palette.ai": "true"}]
    assert len(await h.events("Synced")) == 1

    # The next sync finds the same hosts: nothing at all is written.
    before = await h.store.current_revision()
    h.clocks.advance(30)
    assert await h.reconcile() == 30.0
    assert h.world.calls == 2
    assert await h.store.current_revision() == before
    assert (await h.status())["lastSyncTime"] == "2026-01-02T03:04:05Z"


async def test_events_do_not_call_palette_before_the_sync_is_due(h: Harness) -> None:
    await project_with_settings(h)
    await h.store.create(COMPUTE, compute())
    assert await h.reconcile() == 30.0
    h.clocks.advance(10)
    # e.g. woken by its own status write: no call, just the time left until the next sync
    assert await h.reconcile() == pytest.approx(20.0)
    assert h.world.calls == 1


async def test_a_spec_change_syncs_at_once(h: Harness) -> None:
    await project_with_settings(h)
    await h.store.create(COMPUTE, compute())
    await h.reconcile()
    obj = await h.compute()
    obj["spec"]["tagSelector"] = {"palette.ai": "true", "site": "east"}
    await h.store.update(COMPUTE, obj)
    await h.reconcile()
    assert h.world.calls == 2
    assert h.world.made[0].selectors[-1] == {"palette.ai": "true", "site": "east"}
    assert (await h.status())["totalMachines"] == 0


async def test_a_host_turning_unhealthy_shows_on_the_next_sync(h: Harness) -> None:
    await project_with_settings(h)
    await h.store.create(COMPUTE, compute())
    await h.reconcile()
    h.world.hosts = [
        Host(**{**vars(x), "healthy": False, "health_message": "agent lost"})
        if x.name == "h100-2"
        else x
        for x in h.world.hosts
    ]
    h.clocks.advance(30)
    await h.reconcile()
    st = await h.status()
    h100 = next(g for g in st["workerCompute"] if g["gpu"]["family"] == "NVIDIA-H100")
    sick = next(m for m in h100["machines"] if m["name"] == "h100-2")
    assert sick["state"] == "unhealthy" and sick["message"] == "agent lost"
    assert st["gpus"]["NVIDIA-H100"]["unhealthy"] == 8
    assert st["gpuSummary"].startswith("24/32 A100, 24/32 H100")
    # The inventory changed, so lastSyncTime moved.
    assert st["lastSyncTime"] == "2026-01-02T03:04:35Z"
    events = await h.events("MachineUnhealthy")
    assert [e["message"] for e in events] == ["machine h100-2 is unhealthy"]
    assert events[0]["type"] == "Warning"


async def test_last_sync_time_is_refreshed_by_the_heartbeat(h: Harness) -> None:
    await project_with_settings(h)
    await h.store.create(COMPUTE, compute())
    await h.reconcile()
    for _ in range(9):  # 270 s: unchanged and younger than the heartbeat
        h.clocks.advance(30)
        await h.reconcile()
    assert (await h.status())["lastSyncTime"] == "2026-01-02T03:04:05Z"
    h.clocks.advance(30)  # 300 s
    await h.reconcile()
    assert (await h.status())["lastSyncTime"] == "2026-01-02T03:09:05Z"


async def test_errors_keep_the_inventory_and_back_off_within_the_cadence(h: Harness) -> None:
    await project_with_settings(h)
    await h.store.create(COMPUTE, compute())
    await h.reconcile()
    good = await h.status()
    h.world.error = Unreachable("connection refused")
    delays = []
    for _ in range(7):
        h.clocks.advance(delays[-1] if delays else 30)
        delays.append(await h.reconcile())
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    st = await h.status()
    for k in ("controlPlaneCompute", "workerCompute", "totalMachines", "gpus", "lastSyncTime"):
        assert st[k] == good[k]
    synced = await h.condition("Synced")
    assert synced["status"] == "False" and synced["reason"] == "Unreachable"
    assert "connection refused" in synced["message"]
    assert "check hostUrl" in synced["message"]
    assert "showing the inventory last confirmed at 2026-01-02T03:04:05Z" in synced["message"]
    assert (await h.condition("Ready"))["reason"] == "Unreachable"
    assert len(await h.events("Unreachable")) == 1  # one Warning, not one per retry

    h.world.error = None
    h.clocks.advance(30)
    assert await h.reconcile() == 30.0
    assert (await h.condition("Synced"))["status"] == "True"
    assert any("syncing again" in e["message"] for e in await h.events("Synced"))


async def test_rate_limiting_honours_retry_after(h: Harness) -> None:
    await project_with_settings(h)
    await h.store.create(COMPUTE, compute())
    h.world.error = RateLimited("slow down", retry_after=90.0)
    assert await h.reconcile() == 90.0
    assert (await h.condition("Synced"))["reason"] == "RateLimited"
    assert "no inventory yet" in (await h.condition("Synced"))["message"]


async def test_bad_credentials_wait_for_a_secret_change(h: Harness) -> None:
    await project_with_settings(h)
    await h.store.create(COMPUTE, compute())
    h.world.error = InvalidCredentials("401 Unauthorized", status=401)
    assert await h.reconcile() == 30.0  # no fast retries: time does not fix a bad key
    assert await h.reconcile() == 30.0  # and an unrelated wake-up does not call again
    assert h.world.calls == 1
    cond = await h.condition("Synced")
    assert cond["reason"] == "InvalidCredentials" and "check the apiKey" in cond["message"]

    # A new key: the Secret's new resourceVersion syncs at once, with a new client.
    h.world.error = None
    s = await h.store.get(K.secret, "ml-prod", "palette-credentials")
    s["data"]["palette"] = base64.b64encode(
        json.dumps({**PALETTE, "apiKey": "k2"}).encode()
    ).decode()
    await h.store.update(K.secret, s)
    assert await h.reconcile() == 30.0
    assert h.world.calls == 2
    assert [p.api_key for p in h.world.made] == ["k", "k2"]
    assert h.world.made[0].closed and not h.world.made[1].closed
    assert (await h.condition("Synced"))["status"] == "True"


async def test_a_malformed_secret_is_reported(h: Harness) -> None:
    await project_with_settings(h)
    await h.store.create(COMPUTE, compute())
    h.world.build_error = InvalidConfiguration("palette: missing field(s) hostUrl")
    assert await h.reconcile() == 30.0
    cond = await h.condition("Synced")
    assert cond["reason"] == "InvalidConfiguration"
    assert "missing field(s) hostUrl" in cond["message"]


async def test_a_provider_without_inventory(h: Harness) -> None:
    await project_with_settings(h)
    await h.store.create(COMPUTE, compute())
    h.world.capabilities = frozenset({Capability.CLUSTERS})
    await h.reconcile()
    assert (await h.condition("Synced"))["reason"] == "InventoryNotSupported"


async def test_settings_resolution_problems(h: Harness) -> None:
    await h.store.create(K.namespace, {"metadata": {"name": "ml-prod"}})
    await h.store.create(COMPUTE, compute())
    await h.reconcile()
    assert (await h.condition("Synced"))["reason"] == "SettingsNotFound"
    assert "set spec.settingsRef" in (await h.condition("Synced"))["message"]

    obj = await h.compute()
    obj["spec"]["settingsRef"] = {"name": "mine"}
    await h.store.update(COMPUTE, obj)
    await h.reconcile()
    assert "Settings ml-prod/mine not found" in (await h.condition("Synced"))["message"]

    await h.store.create(
        K.settings,
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Settings",
            "metadata": {"name": "mine", "namespace": "ml-prod"},
            "spec": {},
        },
    )
    await h.reconcile()
    assert (await h.condition("Synced"))["reason"] == "SettingsNotReady"

    s = await h.store.get(K.settings, "ml-prod", "mine")
    s["status"] = {"effectiveSettings": {}}
    await h.store.update(K.settings, s, subresource="status")
    await h.reconcile()
    assert (await h.condition("Synced"))["reason"] == "PaletteNotConfigured"

    s = await h.store.get(K.settings, "ml-prod", "mine")
    s["status"] = {
        "effectiveSettings": {
            "palette": {
                "source": {"namespace": "ml-prod", "name": "mine"},
                "secretRef": {"name": "creds", "namespace": "ml-prod", "key": "palette"},
            }
        }
    }
    await h.store.update(K.settings, s, subresource="status")
    await h.reconcile()
    cond = await h.condition("Synced")
    assert cond["reason"] == "SecretNotFound" and "ml-prod/creds" in cond["message"]
    # The Secret appearing wakes this Compute (the reconciler remembers what it needed).
    assert h.rec._users_of_secret(secret("ml-prod", "creds")) == ["ml-prod/fleet"]
    await h.store.create(K.secret, secret("ml-prod", "creds"))
    await h.reconcile()
    assert (await h.condition("Synced"))["status"] == "True"


async def test_falls_back_to_the_tenants_settings(h: Harness) -> None:
    """A project with no Settings of its own uses its tenant's (notes section 7)."""
    await h.store.create(
        K.namespace, {"metadata": {"name": "acme-shared", "labels": {"axle.dev/tenant": "acme"}}}
    )
    await h.store.create(K.secret, secret("acme-shared", "palette-credentials"))
    await settings_with_status(
        h.store, "acme-shared", "acme-palette", ("acme-shared", "palette-credentials")
    )
    await h.store.create(
        K.tenant,
        {
            "apiVersion": "axle.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": "acme"},
            "spec": {"settingsRef": {"name": "acme-palette", "namespace": "acme-shared"}},
        },
    )
    await h.store.create(K.project, project("ml-research"))
    await h.store.create(COMPUTE, compute(ns="ml-research"))
    # and a Compute in the tenant's shared namespace (no project there: the namespace label)
    await h.store.create(COMPUTE, compute(ns="acme-shared"))
    for key in ("ml-research/fleet", "acme-shared/fleet"):
        assert await h.reconcile(key) == 30.0
        st = await h.status(key)
        assert st["settings"] == {"namespace": "acme-shared", "name": "acme-palette"}
        assert st["totalMachines"] == 13
    # Both share one client: one Secret, one provider.
    assert len(h.world.made) == 1
    # The tenant Settings wake both Computes.
    users = h.rec._users_of_settings(await h.store.get(K.settings, "acme-shared", "acme-palette"))
    assert users == ["acme-shared/fleet", "ml-research/fleet"]


async def test_deleting_the_last_compute_closes_its_client(h: Harness) -> None:
    await project_with_settings(h)
    await h.store.create(COMPUTE, compute())
    await h.reconcile()
    provider = h.world.made[0]
    await h.store.delete(COMPUTE, "ml-prod", "fleet")
    assert await h.reconcile() is None
    assert provider.closed


async def test_resource_group_prefix_from_the_spec(h: Harness) -> None:
    await project_with_settings(h)
    await h.store.create(COMPUTE, compute(resourceGroupPrefix="rg.axle.dev/"))
    await h.reconcile()
    st = await h.status()
    assert all("resourceGroups" not in g for g in st["workerCompute"] + st["controlPlaneCompute"])
