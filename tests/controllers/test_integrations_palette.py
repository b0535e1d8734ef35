"""Settings `PaletteReachable`: a real call through the provider, when it is re-checked, and
what its failures do to `Ready`. Fake provider and fake clock; the reconciler is driven
directly over real informers (in-memory and SQLite stores)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from axle.api.meta import get_condition
from axle.controllers.controller import Context, Controller, ControllerOptions
from axle.controllers.events import EventRecorder
from axle.controllers.informer import InformerSet
from axle.controllers.integrations import SettingsReconciler
from axle.controllers.objects import key_of
from axle.providers.base import (
    BadResponse,
    InvalidConfiguration,
    InvalidCredentials,
    RateLimited,
    Unreachable,
)
from axle.store.base import Obj, Store
from tests.controllers.helpers import eventually
from tests.controllers.test_compute import PALETTE, World, secret
from tests.controllers.test_tenant import K


@dataclass
class SettingsHarness:
    store: Store
    ctx: Context
    rec: SettingsReconciler
    world: World
    clock: list[float]

    @property
    def checks(self) -> int:
        return len(self.world.made)

    async def reconcile(self, key: str = "team/s") -> float | None:
        for info in (K.settings, K.secret):
            want = {
                key_of(o): o["metadata"]["resourceVersion"]
                for o in (await self.store.list(info)).items
            }
            cache = self.ctx.cache(info)

            def same(cache: Any = cache, want: dict[str, str] = want) -> bool:
                return {
                    k: (cache.get(k) or {})["metadata"]["resourceVersion"]
                    for k in cache.cached_keys()
                } == want

            await eventually(same, what=f"{info.plural} cache")
        return await self.rec.reconcile(key)

    async def condition(self, type_: str) -> dict[str, Any]:
        return get_condition(await self.store.get(K.settings, "team", "s"), type_) or {}


@pytest.fixture
async def sh(store: Store) -> AsyncIterator[SettingsHarness]:
    world = World()
    clock = [0.0]
    informers = InformerSet(store)
    ctx = Context(store, K, informers, EventRecorder(store, K.event))
    rec = SettingsReconciler(
        ctx,
        check_seconds=300.0,
        retry_base=5.0,
        provider_factory=world.factory,
        clock=lambda: clock[0],
    )
    Controller(rec, ControllerOptions())
    informers.start()
    await informers.wait_synced()
    await store.create(K.namespace, {"metadata": {"name": "team"}})
    try:
        yield SettingsHarness(store, ctx, rec, world, clock)
    finally:
        await informers.stop()


def settings(**integrations: str) -> Obj:
    return {
        "apiVersion": "axle.dev/v1alpha1",
        "kind": "Settings",
        "metadata": {"name": "s", "namespace": "team"},
        "spec": {
            k: {"secretRef": {"name": v, "key": "palette" if k == "palette" else "token"}}
            for k, v in integrations.items()
        },
    }


async def with_palette(sh: SettingsHarness) -> None:
    await sh.store.create(K.secret, secret("team", "creds"))
    await sh.store.create(K.settings, settings(palette="creds"))


async def test_reachable_names_host_and_tenant_and_is_rechecked_every_interval(
    sh: SettingsHarness,
) -> None:
    await with_palette(sh)
    assert await sh.reconcile() == 300.0
    cond = await sh.condition("PaletteReachable")
    assert cond["status"] == "True" and cond["reason"] == "Reachable"
    assert (
        cond["message"] == "Palette https://palette.example.com (tenant acme) accepted the API key"
    )
    assert (await sh.condition("Ready"))["status"] == "True"
    assert sh.checks == 1 and sh.world.made[0].closed  # one client per check, closed after it

    sh.clock[0] = 10.0  # e.g. woken by its own status write: not due yet
    assert await sh.reconcile() == pytest.approx(290.0)
    assert sh.checks == 1
    sh.clock[0] = 300.0
    assert await sh.reconcile() == 300.0
    assert sh.checks == 2


async def test_a_secret_or_settings_change_rechecks_at_once(sh: SettingsHarness) -> None:
    await with_palette(sh)
    await sh.reconcile()
    s = await sh.store.get(K.secret, "team", "creds")
    s["data"]["palette"] = base64.b64encode(
        json.dumps({**PALETTE, "apiKey": "new"}).encode()
    ).decode()
    await sh.store.update(K.secret, s)
    await sh.reconcile()
    assert [p.api_key for p in sh.world.made] == ["k", "new"]

    obj = await sh.store.get(K.settings, "team", "s")
    obj["spec"]["huggingFace"] = {"secretRef": {"name": "hf", "key": "token"}}
    await sh.store.update(K.settings, obj)  # a new generation
    await sh.reconcile()
    assert sh.checks == 3


async def test_refused_credentials_make_settings_not_ready_without_early_retries(
    sh: SettingsHarness,
) -> None:
    await with_palette(sh)
    sh.world.error = InvalidCredentials("401: invalid API key", status=401)
    assert await sh.reconcile() == 300.0
    cond = await sh.condition("PaletteReachable")
    assert cond["status"] == "False" and cond["reason"] == "InvalidCredentials"
    assert "401: invalid API key" in cond["message"]
    assert "put a valid apiKey in Secret team/creds" in cond["message"]
    ready = await sh.condition("Ready")
    assert ready["status"] == "False" and ready["reason"] == "InvalidCredentials"
    sh.clock[0] = 60.0
    await sh.reconcile()
    assert sh.checks == 1

    # Fixed by a new key: checked at once, Ready again.
    sh.world.error = None
    s = await sh.store.get(K.secret, "team", "creds")
    s["data"]["palette"] = base64.b64encode(
        json.dumps({**PALETTE, "apiKey": "good"}).encode()
    ).decode()
    await sh.store.update(K.secret, s)
    await sh.reconcile()
    assert (await sh.condition("PaletteReachable"))["status"] == "True"
    assert (await sh.condition("Ready"))["status"] == "True"


async def test_an_outage_backs_off_and_does_not_flip_ready(sh: SettingsHarness) -> None:
    await with_palette(sh)
    sh.world.error = Unreachable("connection refused")
    delays = []
    for _ in range(8):
        sh.clock[0] += delays[-1] if delays else 0
        delays.append(await sh.reconcile())
    assert delays == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]
    cond = await sh.condition("PaletteReachable")
    assert cond["reason"] == "Unreachable"
    assert "check hostUrl in Secret team/creds" in cond["message"]
    assert (await sh.condition("Ready"))["status"] == "True"

    sh.world.error = None
    sh.clock[0] += 300
    assert await sh.reconcile() == 300.0
    assert (await sh.condition("PaletteReachable"))["status"] == "True"
    sh.world.error = BadResponse("not JSON")
    sh.clock[0] += 300
    assert await sh.reconcile() == 5.0  # the backoff starts over after a success
    assert "is hostUrl the Palette API root" in (await sh.condition("PaletteReachable"))["message"]


async def test_rate_limited_waits_for_retry_after(sh: SettingsHarness) -> None:
    await with_palette(sh)
    sh.world.error = RateLimited("429", retry_after=120.0)
    assert await sh.reconcile() == 120.0
    assert (await sh.condition("PaletteReachable"))["reason"] == "RateLimited"


async def test_a_malformed_secret_is_invalid_configuration(sh: SettingsHarness) -> None:
    await with_palette(sh)
    sh.world.build_error = InvalidConfiguration("palette: invalid hostUrl must be an http URL")
    await sh.reconcile()
    cond = await sh.condition("PaletteReachable")
    assert cond["reason"] == "InvalidConfiguration"
    assert "fix the Palette JSON in Secret team/creds" in cond["message"]
    assert (await sh.condition("Ready"))["reason"] == "InvalidConfiguration"


async def test_no_call_without_a_usable_secret(sh: SettingsHarness) -> None:
    await sh.store.create(K.settings, settings(palette="missing"))
    assert await sh.reconcile() is None
    cond = await sh.condition("PaletteReachable")
    assert cond["status"] == "False" and cond["reason"] == "SecretNotFound"
    assert cond["message"] == "cannot call Palette: palette: Secret team/missing not found"
    assert sh.checks == 0

    # Missing JSON fields: the Settings' own check says which; still no call.
    await sh.store.create(K.secret, secret("team", "missing", {"apiKey": "k"}))
    await sh.reconcile()
    cond = await sh.condition("PaletteReachable")
    assert cond["reason"] == "SecretKeyMissing" and "lacks hostUrl" in cond["message"]
    assert sh.checks == 0


async def test_no_palette_no_condition(sh: SettingsHarness) -> None:
    await sh.store.create(K.secret, secret("team", "hf"))
    await sh.store.create(K.settings, settings(huggingFace="hf"))
    await sh.reconcile()
    assert await sh.condition("PaletteReachable") == {}
    assert sh.checks == 0
